"""Figures of curve panels side by side, loss (log) against step: each a :class:`CurvePanels`.

Figures 4 and 8 are made in their modules; Figures 5 and 7 (NIPS / arXiv v2) here:

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

from repro.figures import curves, style


def load_panels(data_dir: Path, names: Sequence[str], figure: str) -> list[dict[str, Any]]:
    """Read ``data_dir/<name>.json`` for each panel name, checking each is that panel's data.

    Raises FileNotFoundError (one line, naming every missing file) before reading any.
    """
    data_dir = Path(data_dir)
    paths = [data_dir / f"{name}.json" for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing panel data for {figure}: {', '.join(missing)}; run `make {figure}` first"
        )
    datas = [curves.load(p) for p in paths]
    for data, name in zip(datas, names, strict=True):
        curves.check_figure(data, name)
    return datas


def check_panels(
    datas: Sequence[Mapping[str, Any]], panels: Mapping[str, Any], figure: str
) -> None:
    """Raise ValueError unless ``datas`` are the envelopes of ``panels``, in order."""
    names = list(panels)
    if len(datas) != len(names):
        raise ValueError(f"{figure} has {len(names)} panels, got {len(datas)}")
    for data, name in zip(datas, names, strict=True):
        curves.check_figure(data, name)


def build_composite(
    datas: Sequence[Mapping[str, Any]],
    steps: Sequence[tuple[int, int]],
    default_titles: Sequence[str],
) -> Figure:
    """Curve panels side by side; titles from each JSON's "title" (else the default).

    The stamp lists every panel's profile, seed, dataset and commit (distinct values only),
    so panels made under different profiles or commits show it.
    """
    titled = [
        {**data, "title": data.get("title") or default}
        for data, default in zip(datas, default_titles, strict=True)
    ]
    return curves.build_panels(titled, list(steps))


@dataclass(frozen=True)
class CurvePanels:
    """A figure of curve panels side by side: its name and, per panel name, the steps shown
    (None: the whole curve) and the default title (used when the JSON has none)."""

    name: str
    panels: Mapping[str, tuple[tuple[int, int] | None, str]]

    def build(self, datas: Sequence[Mapping[str, Any]]) -> Figure:
        """The panels from their envelopes, in order."""
        check_panels(datas, self.panels, self.name)
        steps, titles = zip(*self.panels.values(), strict=True)
        return build_composite(datas, steps, titles)

    def build_panel(self, data: Mapping[str, Any], name: str) -> Figure:
        """Panel ``name`` from its envelope, as a figure of its own."""
        curves.check_figure(data, name)
        steps, title = self.panels[name]
        return build_composite([data], [steps], [title])

    def __call__(self, data_dir: Path, out_stem: Path) -> None:
        """Read ``data_dir/<panel>.json`` for each panel; write ``out_stem.{png,pdf}``."""
        datas = load_panels(data_dir, list(self.panels), self.name)
        style.save(self.build(datas), Path(out_stem))

    def panel(self, name: str, data_path: Path, out_stem: Path) -> None:
        """Read panel ``name``'s JSON and write it alone to ``out_stem.{png,pdf}``."""
        style.save(self.build_panel(curves.load(Path(data_path)), name), Path(out_stem))


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
