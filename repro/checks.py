"""Regression checks on metrics: curves JSON against bounds stored in the repository."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import yaml


def final_mean(curves: dict[str, Any], name: str) -> float:
    """Mean loss of optimizer ``name`` at the last step; ``inf`` if it diverged."""
    value = curves["curves"][name]["mean"][-1]
    return float("inf") if value is None else float(value)


def failures(curves: dict[str, Any], bounds: dict[str, Any]) -> list[str]:
    """Every violated bound, as a readable line; empty when all hold.

    ``bounds`` holds ``learned`` (the optimizer name), ``below`` (names it must beat at the last
    step), and ``final_range`` ([lo, hi] for its final mean loss).
    """
    learned = bounds["learned"]
    ours = final_mean(curves, learned)
    found = []
    for other in bounds.get("below", []):
        theirs = final_mean(curves, other)
        if not ours < theirs:
            found.append(f"{learned} final loss {ours:.4g} is not below {other}'s {theirs:.4g}")
    lo, hi = bounds.get("final_range", [0.0, float("inf")])
    if not lo <= ours <= hi:
        found.append(f"{learned} final loss {ours:.4g} is outside the stored range [{lo}, {hi}]")
    return found


def load_bounds(path: Path, key: str) -> dict[str, Any]:
    """The bounds stored under ``key`` in the YAML file at ``path``."""
    return yaml.safe_load(Path(path).read_text())[key]


def curve_metrics(curves: dict[str, Any]) -> dict[str, float]:
    """The checked metrics of a curves record: each optimizer's mean loss at the last step
    (``<name>.final``) and over all steps (``<name>.mean``, which a mistuned rate moves where
    the final loss, flat at the tuned optimum, barely does; ``inf`` once diverged), and each
    tuned baseline's learning rate (``<name>.lr``)."""
    out = {}
    for name, curve in curves["curves"].items():
        out[f"{name}.final"] = final_mean(curves, name)
        means = curve["mean"]
        out[f"{name}.mean"] = (float("inf") if None in means
                               else float(sum(means) / len(means)))
        if curve.get("lr") is not None:
            out[f"{name}.lr"] = float(curve["lr"])
    return out


FLOOR = 0.05
"""The narrowest band: a metric may move this fraction of its median before a check fails."""


def reference(samples: list[float]) -> dict[str, Any]:
    """A metric's reference from repeated runs: their median, spread (population standard
    deviation), and the band median +- max(5% of the median, 3 sigma). A run that diverged
    (a sample that is not finite) leaves no reference: :class:`ValueError`."""
    if not all(math.isfinite(x) for x in samples):
        raise ValueError(f"a calibration run diverged (samples {samples}); no reference")
    median = statistics.median(samples)
    sigma = statistics.pstdev(samples)
    tolerance = max(FLOOR * abs(median), 3 * sigma)
    return {"median": median, "sigma": sigma, "tolerance": tolerance,
            "band": [median - tolerance, median + tolerance], "n": len(samples),
            "samples": list(samples)}


def outside(measured: dict[str, float], references: dict[str, dict[str, Any]]) -> list[str]:
    """Every metric outside its reference band (either way), not measured, or without a
    reference, as a readable line; empty when all are within."""
    found = [f"{name}: no reference (rerun make calibrate)" for name in measured
             if name not in references]
    for name, ref in references.items():
        lo, hi = ref["band"]
        if name not in measured:
            found.append(f"{name}: not measured")
        elif not lo <= measured[name] <= hi:
            found.append(f"{name}: {measured[name]:.5g} outside [{lo:.5g}, {hi:.5g}] "
                         f"(median {ref['median']:.5g})")
    return found


def table(measured: dict[str, float], references: dict[str, dict[str, Any]]) -> str:
    """Every measured metric beside its reference median and band, one line each."""
    lines = []
    for name in sorted(set(measured) | set(references)):
        value, ref = measured.get(name), references.get(name)
        band = "no reference" if ref is None else (
            f"median {ref['median']:.5g} band [{ref['band'][0]:.5g}, {ref['band'][1]:.5g}]")
        shown = "not measured" if value is None else f"{value:.5g}"
        lines.append(f"{name:>14} {shown:>12}  {band}")
    return "\n".join(lines)
