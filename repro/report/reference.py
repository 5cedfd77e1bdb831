"""The paper's values read off its plots (``paper_figures/reference.yaml``), beside ours."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Cell:
    """One optimizer at one step: the paper's value (with its note) and ours."""

    paper: float | None
    ours: float | None
    note: str = ""
    interval: tuple[float, float] | None = None

    @property
    def text(self) -> str:
        """``ours [lo–hi] / paper``, 3 significant digits each, the bracket our 95% interval
        where known (``—``: no value, ``diverged``)."""
        band = f" [{self.interval[0]:.3g}–{self.interval[1]:.3g}]" if self.interval else ""
        return f"{_number(self.ours)}{band} / {_number(self.paper)}"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return "diverged" if math.isinf(value) else f"{value:.3g}"


@dataclass(frozen=True)
class Comparison:
    """A panel's table: ``cells[optimizer][i]`` at ``steps[i]``; ``tag`` as in paper.md §0."""

    panel: str
    tag: str
    steps: tuple[int, ...]
    cells: dict[str, list[Cell]]


def load(path: Path) -> dict[str, Any]:
    """The reference file's ``panels`` mapping; empty when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("panels", {})


def value_at(curve: dict[str, Any], step: int) -> float | None:
    """A curve's mean loss at ``step``: None when the step is absent, ``inf`` if it diverged."""
    try:
        index = curve["step"].index(step)
    except ValueError:
        return None
    mean = curve["mean"][index]
    return float("inf") if mean is None else float(mean)


def interval_at(curve: dict[str, Any], step: int) -> tuple[float, float] | None:
    """A curve's 95% interval ``(lo, hi)`` at ``step``; None when absent or not finite."""
    try:
        index = curve["step"].index(step)
        lo, hi = curve["lo"][index], curve["hi"][index]
    except (ValueError, KeyError, IndexError):
        return None
    return None if lo is None or hi is None else (float(lo), float(hi))


def compare(panel: str, reference: dict[str, Any], data: dict[str, Any] | None) -> Comparison:
    """The paper's values for ``panel`` beside ours from its curves JSON ``data`` (if any)."""
    ref = reference[panel]
    steps = tuple(int(s) for s in ref["steps"])
    notes = ref.get("notes") or {}
    curves = (data or {}).get("curves") or {}
    names = [*ref["loss"], *[n for n in curves if n not in ref["loss"]]]
    cells = {}
    for name in names:
        paper = ref["loss"].get(name) or [None] * len(steps)
        ours = [value_at(curves[name], s) if name in curves else None for s in steps]
        cells[name] = [
            Cell(p, o, notes.get(f"{name}@{s}", ""),
                 interval_at(curves[name], s) if name in curves else None)
            for p, o, s in zip(paper, ours, steps, strict=True)
        ]
    return Comparison(panel, str(ref.get("tag", "fig")), steps, cells)
