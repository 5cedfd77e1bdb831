"""Figures 5 and 7 (NIPS / arXiv v2): three curve panels, loss (log) against step, one maker.

* Figure 5, the MNIST optimizer on other optimizee architectures (paper.md §2.3). All three
  panels re-use the LSTM trained on the base network (1 x 20 sigmoid units), steps 1-100:
  a, "MNIST, 40 units" (one hidden layer of 40 units); b, "MNIST, 2 layers" (two hidden layers
  of 20 units); c, "MNIST, ReLU" (20 ReLU units). The LSTM may diverge there; a curve's
  ``diverged_at`` stops its line there, marked with an ``x``
  (:func:`repro.figures.curves.plot_curves`).
* Figure 7, the CIFAR optimizer on CIFAR-10 and two label subsets (paper.md §2.5), the whole
  evaluated horizon: a, "CIFAR-10", the LSTM (two coordinatewise LSTMs, conv and fc) against
  the tuned baselines, fitting classifiers on the held-out test batch; b, "CIFAR-5" and
  c, "CIFAR-2", the same optimizers on label subsets, plus ``LSTM-sub``, the optimizer
  meta-trained only on labels disjoint from the subset (drawn in its own colour, solid, as
  every learned optimizer).

Each panel's data is its own curves envelope (``figure5a.json`` ... ``figure7c.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import figure4, style


@dataclass(frozen=True)
class CurvePanels:
    """A figure of curve panels side by side: its name and, per panel name, the steps shown
    (None: the whole curve) and the default title (used when the JSON has none)."""

    name: str
    panels: Mapping[str, tuple[tuple[int, int] | None, str]]

    def build(self, datas: Sequence[Mapping[str, Any]]) -> Figure:
        """The panels from their envelopes, in order."""
        return figure4.build_panels(datas, self.panels, self.name)

    def __call__(self, data_dir: Path, out_stem: Path) -> None:
        """Read ``data_dir/<panel>.json`` for each panel; write ``out_stem.{png,pdf}``."""
        datas = figure4.load_panels(data_dir, list(self.panels), self.name)
        style.save(self.build(datas), Path(out_stem))

    def panel(self, name: str, data_path: Path, out_stem: Path) -> None:
        """Read panel ``name``'s JSON and write it alone to ``out_stem.{png,pdf}``."""
        figure4.make_panel(name, data_path, out_stem, self.panels)


FIGURE5 = CurvePanels("figure5", {
    "figure5a": ((1, 100), "MNIST, 40 units"),
    "figure5b": ((1, 100), "MNIST, 2 layers"),
    "figure5c": ((1, 100), "MNIST, ReLU"),
})
FIGURE7 = CurvePanels("figure7", {
    "figure7a": (None, "CIFAR-10"),
    "figure7b": (None, "CIFAR-5"),
    "figure7c": (None, "CIFAR-2"),
})
