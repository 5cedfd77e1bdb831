"""Figures of the paper: pure plotting, JSON in, figure out (no training code imported).

``FIGURES[name](data_dir / f"{name}.json", out_dir / name)`` writes ``<name>.png`` and
``<name>.pdf``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repro.figures.figure3 import make_figure3
from repro.figures.figure4 import make_figure4a

FIGURES: dict[str, Callable[[Path, Path], None]] = {
    "figure3": make_figure3,
    "figure4a": make_figure4a,
}

__all__ = ["FIGURES", "make_figure3", "make_figure4a"]
