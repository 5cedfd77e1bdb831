"""Regression checks on metrics: curves JSON against bounds stored in the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def final_mean(curves: dict[str, Any], name: str) -> float:
    """Mean loss of optimizer ``name`` at the last step; ``inf`` if it diverged."""
    curve = curves["curves"][name]
    value = curve["mean"][-1]
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
