"""The baselines' learning-rate search: best mean final loss on validation problems."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from repro.meta.evaluate import final_loss
from repro.meta.unroll import rollout
from repro.optimizees.base import Problem
from repro.optimizers.hand import make_baseline


def tune(
    problem: Problem,
    names: Sequence[str],
    grid: Sequence[float],
    steps: int,
    report: Callable[[str, float, float], None] = lambda name, lr, loss: None,
) -> dict[str, dict[str, Any]]:
    """For each baseline, the final loss at every learning rate and the best one.

    Non-finite final losses count as infinitely bad; ``report`` sees every (name, lr, loss).
    """
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        losses = {}
        for lr in grid:
            losses[lr] = final_loss(rollout(problem, make_baseline(name, lr), steps))
            report(name, lr, losses[lr])
        best = min(grid, key=lambda lr: losses[lr])
        if not math.isfinite(losses[best]):
            raise RuntimeError(f"{name} diverged at every learning rate of the grid {list(grid)}")
        results[name] = {
            "lr": best,
            "final_loss": losses[best],
            "grid": {str(lr): (v if math.isfinite(v) else None) for lr, v in losses.items()},
        }
        edge = best in (max(grid), min(grid))
        results[name]["at_grid_edge"] = edge
    return results
