"""The baselines' learning-rate search: best mean final loss on validation problems."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

from repro.errors import Diverged
from repro.meta.evaluate import final_loss
from repro.meta.unroll import rollout
from repro.optimizees.base import Problem
from repro.optimizees.family import Family
from repro.optimizers.hand import make_baseline

Report = Callable[[str, float, float], None]


def describe(criterion: Callable[[Tensor], float]) -> str:
    """A criterion's name and the first line of its docstring, e.g. ``final_loss: Mean ...``."""
    doc = (criterion.__doc__ or "").strip().splitlines()
    return f"{criterion.__name__}: {doc[0].replace('``', '') if doc else ''}".rstrip(": ")


def search(
    family: Family, split: str, count: int, names: Sequence[str], grid: Sequence[float],
    steps: int, device: Any = "cpu", report: Report = lambda name, lr, loss: None,
    criterion: Callable[[Tensor], float] = final_loss,
) -> dict[str, Any]:
    """The search on problems 0..count-1 of ``split`` of ``family``, with what it did: the
    split, problem count, steps, grid and criterion it used, and :func:`tune`'s results."""
    problem = family.sample(split, 0, count, device)
    return {
        "criterion": describe(criterion), "split": split, "problems": count, "steps": steps,
        "grid": list(grid), "optimizers": tune(problem, names, grid, steps, report, criterion),
    }


def tune(
    problem: Problem,
    names: Sequence[str],
    grid: Sequence[float],
    steps: int,
    report: Report = lambda name, lr, loss: None,
    criterion: Callable[[Tensor], float] = final_loss,
) -> dict[str, dict[str, Any]]:
    """For each baseline, ``criterion`` of its rollout at every learning rate and the best one.

    The criterion is inf where the rollout diverged; ``report`` sees every (name, lr, loss).
    """
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        losses = {}
        for lr in grid:
            losses[lr] = criterion(rollout(problem, make_baseline(name, lr), steps))
            report(name, lr, losses[lr])
        best = min(grid, key=lambda lr: losses[lr])
        if not math.isfinite(losses[best]):
            raise Diverged(f"{name} diverged at every learning rate of the grid {list(grid)}; "
                           "add smaller rates to tune.grid")
        results[name] = {
            "lr": best,
            "final_loss": losses[best],
            "grid": {str(lr): (v if math.isfinite(v) else None) for lr, v in losses.items()},
            "at_grid_edge": best in (max(grid), min(grid)),
        }
    return results
