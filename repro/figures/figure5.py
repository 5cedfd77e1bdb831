"""Figure 5 (NIPS / arXiv v2): the MNIST optimizer on other optimizee architectures.

All three panels re-use the LSTM trained on the base network (1 x 20 sigmoid units) and
show loss (log) against steps 1-100 (paper.md §2.3):

* a, "MNIST, 40 units": one hidden layer of 40 units;
* b, "MNIST, 2 layers": two hidden layers of 20 units;
* c, "MNIST, ReLU": 20 ReLU units. The LSTM may diverge here; a curve's ``diverged_at``
  stops its line there, marked with an ``x`` (:func:`repro.figures.curves.plot_curves`).

Each panel's data is its own curves envelope (``figure5a.json`` ... ``figure5c.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import figure4, style

# Panel name -> (steps shown, default title when the JSON has none).
PANELS: dict[str, tuple[tuple[int, int], str]] = {
    "figure5a": ((1, 100), "MNIST, 40 units"),
    "figure5b": ((1, 100), "MNIST, 2 layers"),
    "figure5c": ((1, 100), "MNIST, ReLU"),
}


def build_figure5(datas: Sequence[Mapping[str, Any]]) -> Figure:
    """The three panels of Figure 5 from the figure5a, figure5b and figure5c envelopes."""
    return figure4.build_panels(datas, PANELS, "figure5")


def make_figure5(data_dir: Path, out_stem: Path) -> None:
    """Read ``data_dir/figure5{a,b,c}.json``; write ``out_stem.png`` and ``out_stem.pdf``."""
    datas = figure4.load_panels(data_dir, list(PANELS), "figure5")
    style.save(build_figure5(datas), Path(out_stem))


def make_figure5a(data_path: Path, out_stem: Path) -> None:
    """Read ``figure5a.json`` (MNIST, 40 units) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure5a", data_path, out_stem, PANELS)


def make_figure5b(data_path: Path, out_stem: Path) -> None:
    """Read ``figure5b.json`` (MNIST, 2 layers) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure5b", data_path, out_stem, PANELS)


def make_figure5c(data_path: Path, out_stem: Path) -> None:
    """Read ``figure5c.json`` (MNIST, ReLU) and write ``out_stem.{png,pdf}``."""
    figure4.make_panel("figure5c", data_path, out_stem, PANELS)
