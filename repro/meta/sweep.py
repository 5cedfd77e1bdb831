"""Recorded meta-training sweeps: what each fit's validation history says about its recipe.

A sweep is a plan of named points, each a set of config overrides, meta-trained one after the
other by ``python -m repro fit`` (``python -m repro sweep``: :mod:`repro.commands.sweep`). This
module turns a finished fit's run folder into one record: its validation curve, whether and
when it left the ln 10 plateau (the loss of a classifier that predicts every class equally), its
best validation loss and where it was reached, and whether that beats the tuned baselines on the
same validation problems.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repro.config import Config
from repro.meta.evaluate import final_loss
from repro.meta.experiments import make_source
from repro.meta.learned import load_learned
from repro.meta.unroll import rollout
from repro.tracking import read_csv_metrics

PLATEAU = math.log(10.0)
"""The loss of a 10-class classifier that predicts every class with probability 1/10."""
ESCAPE_MARGIN = 0.3
"""A validation loss this far below ln 10 counts as having left the plateau."""
VAL_KEY = "val/final_loss"


def validation_history(run_dir: Path) -> list[tuple[int, float]]:
    """``[(truncations, mean final validation loss), ...]`` of the fit in ``run_dir``.

    Lightning's CSV logger records the validation that follows truncation n at step n - 1 (the
    fit's best checkpoint, at ``global_step`` n, says n); a resumed fit that logged the same
    step twice keeps the later value.
    """
    history = dict(read_csv_metrics(run_dir).get(VAL_KEY, []))
    return [(step + 1, loss) for step, loss in sorted(history.items())]


def escape_truncation(history: Sequence[tuple[int, float]]) -> int | None:
    """The first validation step whose loss is below ``PLATEAU - ESCAPE_MARGIN``, or None."""
    for step, loss in history:
        if math.isfinite(loss) and loss < PLATEAU - ESCAPE_MARGIN:
            return step
    return None


def summarise(
    history: Sequence[tuple[int, float]], baselines: Mapping[str, float]
) -> dict[str, Any]:
    """One point's record: escape, best validation loss, its step, and baselines it beats.

    ``baselines`` maps a tuned baseline's name to its final validation loss on the same
    validation problems (from the tuned-rates JSON). A non-finite loss is never the best.
    """
    finite = [(step, loss) for step, loss in history if math.isfinite(loss)]
    best_step, best = min(finite, key=lambda item: item[1]) if finite else (None, math.inf)
    return {
        "escaped_at": escape_truncation(history),
        "best_val_loss": best if math.isfinite(best) else None,
        "best_at": best_step,
        "validations": len(history),
        "beats": sorted(name for name, loss in baselines.items() if best < loss),
        "history": [[step, loss if math.isfinite(loss) else None] for step, loss in history],
    }


SELECTION_STREAM = 1
"""The stream of split 'val' the seeds are compared on: stream 0 holds the validation problems
each fit selects its checkpoint on and the baselines are tuned on."""


def revalidate(config: Config, checkpoint: Path, problems: int) -> float:
    """Mean loss at the horizon of the phi at ``checkpoint`` on ``problems`` validation problems
    of :data:`SELECTION_STREAM`, fresh to every fit (``inf`` if any diverges)."""
    problem = make_source(config).sample("val", SELECTION_STREAM, problems, "cpu")
    return final_loss(rollout(problem, load_learned(checkpoint, config), config.meta.horizon))


def tuned_validation_losses(tuned: Mapping[str, Any]) -> dict[str, float]:
    """Each tuned baseline's final validation loss from a tuned-rates JSON."""
    return {name: float(entry["final_loss"]) for name, entry in tuned["optimizers"].items()}
