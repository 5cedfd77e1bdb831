"""Figure 7 (NIPS / arXiv v2): the CIFAR optimizer on CIFAR-10 and two label subsets.

Three panels, loss (log) against step over the whole evaluated horizon (paper.md §2.5):

* a, "CIFAR-10": the LSTM (two coordinatewise LSTMs, conv and fc) against the tuned baselines,
  fitting classifiers on the held-out test batch;
* b, "CIFAR-5" and c, "CIFAR-2": the same optimizers on label subsets, plus ``LSTM-sub``, the
  optimizer meta-trained only on labels disjoint from the subset (drawn in its own colour,
  solid, as every learned optimizer).

Each panel's data is its own curves envelope (``figure7a.json`` ... ``figure7c.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import figure4, style

# Panel name -> (steps shown: the whole curve, default title when the JSON has none).
PANELS: dict[str, tuple[None, str]] = {
    "figure7a": (None, "CIFAR-10"),
    "figure7b": (None, "CIFAR-5"),
    "figure7c": (None, "CIFAR-2"),
}


def build_figure7(datas: Sequence[Mapping[str, Any]]) -> Figure:
    """The three panels of Figure 7 from the figure7a, figure7b and figure7c envelopes."""
    return figure4.build_panels(datas, PANELS, "figure7")


def make_figure7(data_dir: Path, out_stem: Path) -> None:
    """Read ``data_dir/figure7{a,b,c}.json``; write ``out_stem.png`` and ``out_stem.pdf``."""
    datas = figure4.load_panels(data_dir, list(PANELS), "figure7")
    style.save(build_figure7(datas), Path(out_stem))


def make_figure7a(data_path: Path, out_stem: Path) -> None:
    """Read ``figure7a.json`` (CIFAR-10) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure7a", data_path, out_stem, PANELS)


def make_figure7b(data_path: Path, out_stem: Path) -> None:
    """Read ``figure7b.json`` (CIFAR-5) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure7b", data_path, out_stem, PANELS)


def make_figure7c(data_path: Path, out_stem: Path) -> None:
    """Read ``figure7c.json`` (CIFAR-2) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure7c", data_path, out_stem, PANELS)
