"""Figures of the paper: pure plotting, JSON in, figure out (no training code imported).

``FIGURES[name](data_dir / f"{name}.json", out_dir / name)`` writes ``<name>.png`` and
``<name>.pdf`` (one panel, or a one-panel figure such as Figure 6).

Multi-panel figures read one JSON per panel: ``COMPOSITES[name]`` lists the panels' data
names, and ``COMPOSITE_MAKERS[name](data_dir, out_dir / name)`` reads
``data_dir / f"{panel}.json"`` for each and writes ``<name>.png`` and ``<name>.pdf``
(FileNotFoundError, naming the files, when a panel's data is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repro.figures.figure3 import make_figure3
from repro.figures.figure4 import make_figure4, make_figure4a, make_figure4b, make_figure4c
from repro.figures.figure5 import make_figure5, make_figure5a, make_figure5b, make_figure5c
from repro.figures.figure6 import make_figure6
from repro.figures.figure7 import make_figure7, make_figure7a, make_figure7b, make_figure7c
from repro.figures.figure8 import make_figure8, make_figure8a, make_figure8b
from repro.figures.figure9 import make_figure9
from repro.figures.figure10 import make_figure10, make_figure11, make_figure12, make_figure13

FIGURES: dict[str, Callable[[Path, Path], None]] = {
    "figure3": make_figure3,
    "figure4a": make_figure4a,
    "figure4b": make_figure4b,
    "figure4c": make_figure4c,
    "figure5a": make_figure5a,
    "figure5b": make_figure5b,
    "figure5c": make_figure5c,
    "figure6": make_figure6,
    "figure7a": make_figure7a,
    "figure7b": make_figure7b,
    "figure7c": make_figure7c,
    "figure8a": make_figure8a,
    "figure8b": make_figure8b,
    "figure10": make_figure10,
    "figure11": make_figure11,
    "figure12": make_figure12,
    "figure13": make_figure13,
}

COMPOSITES: dict[str, tuple[str, ...]] = {
    "figure4": ("figure4a", "figure4b", "figure4c"),
    "figure5": ("figure5a", "figure5b", "figure5c"),
    "figure7": ("figure7a", "figure7b", "figure7c"),
    "figure8": ("figure8a", "figure8b"),
    "figure9": ("figure9a", "figure9b"),
}

COMPOSITE_MAKERS: dict[str, Callable[[Path, Path], None]] = {
    "figure4": make_figure4,
    "figure5": make_figure5,
    "figure7": make_figure7,
    "figure8": make_figure8,
    "figure9": make_figure9,
}

__all__ = [
    "COMPOSITES",
    "COMPOSITE_MAKERS",
    "FIGURES",
    "make_figure3",
    "make_figure4",
    "make_figure4a",
    "make_figure4b",
    "make_figure4c",
    "make_figure5",
    "make_figure5a",
    "make_figure5b",
    "make_figure5c",
    "make_figure6",
    "make_figure7",
    "make_figure7a",
    "make_figure7b",
    "make_figure7c",
    "make_figure8",
    "make_figure8a",
    "make_figure8b",
    "make_figure9",
    "make_figure10",
    "make_figure11",
    "make_figure12",
    "make_figure13",
]
