"""Figures of curve panels side by side, loss (log) against step: each a :class:`CurvePanels`.

Figures 4 and 8 are made in their modules; Figures 5 and 7 (NIPS / arXiv v2) here:

* Figure 5 (paper.md §2.3), steps 1-100: the LSTM trained on the base network (1 x 20 sigmoid
  units) on 40 units, on 2 layers of 20 and on 20 ReLU units. Where it diverges, a curve's
  ``diverged_at`` ends its line at an ``x`` (:func:`repro.figures.curves.plot_curves`).
* Figure 7 (paper.md §2.5), the whole evaluated horizon: the CIFAR optimizer (two
  coordinatewise LSTMs, conv and fc) against the tuned baselines on CIFAR-10 and on the label
  subsets CIFAR-5 and CIFAR-2, where ``LSTM-sub``, meta-trained only on labels disjoint from
  the subset, joins them (in its own colour, solid, as every learned optimizer).

Each panel's data is its own curves envelope (``figure5a.json`` ... ``figure7c.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import curves, style
from repro.figures.registry import BY_NAME, drawn


def load_panels(data_dir: Path, names: Sequence[str], figure: str) -> list[dict[str, Any]]:
    """Read ``data_dir/<name>.json`` for each panel name.

    Raises FileNotFoundError (one line, naming every missing file) before reading any.
    """
    paths = [Path(data_dir) / f"{name}.json" for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing panel data for {figure}: {', '.join(missing)}; run `make {figure}` first"
        )
    return [curves.load(p) for p in paths]


def check_panels(datas: Sequence[Mapping[str, Any]], panels: Mapping[str, Any],
                 figure: str) -> None:
    """Raise ValueError unless ``datas`` are the envelopes of ``panels``, in order."""
    if len(datas) != len(panels):
        raise ValueError(f"{figure} has {len(panels)} panels, got {len(datas)}")
    for data, name in zip(datas, panels, strict=True):
        curves.check_figure(data, name)


def build_composite(datas: Sequence[Mapping[str, Any]], steps: Sequence[curves.Steps],
                    default_titles: Sequence[str]) -> Figure:
    """Curve panels side by side; titles from each JSON's "title" (else the default), the stamp
    listing every panel's distinct profiles, seeds, datasets and commits."""
    titled = [{**data, "title": data.get("title") or default}
              for data, default in zip(datas, default_titles, strict=True)]
    return curves.build_panels(titled, list(steps))


@dataclass(frozen=True)
class CurvePanels:
    """A figure of curve panels side by side: its name and, per panel name, the steps shown
    (None: the whole curve) and the default title (used when the JSON has none); ``alone``,
    per panel, the fields that replace its JSON's when it is drawn alone."""

    name: str
    panels: Mapping[str, tuple[curves.Steps, str]]
    alone: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def build(self, datas: Sequence[Mapping[str, Any]]) -> Figure:
        """The panels from their envelopes, in order."""
        check_panels(datas, self.panels, self.name)
        steps, titles = zip(*self.panels.values(), strict=True)
        return build_composite(datas, steps, titles)

    def build_panel(self, data: Mapping[str, Any], name: str) -> Figure:
        """Panel ``name`` from its envelope, as a figure of its own."""
        curves.check_figure(data, name)
        steps, title = self.panels[name]
        return build_composite([{**data, **self.alone.get(name, {})}], [steps], [title])

    def __call__(self, data_dir: Path, out_stem: Path) -> None:
        """Read ``data_dir/<panel>.json`` for each panel; write ``out_stem.{png,pdf}``."""
        datas = load_panels(data_dir, list(self.panels), self.name)
        style.save(self.build(datas), Path(out_stem))

    def panel(self, name: str, data_path: Path, out_stem: Path) -> None:
        """Read panel ``name``'s JSON and write it alone to ``out_stem.{png,pdf}``."""
        style.save(self.build_panel(curves.load(Path(data_path)), name), Path(out_stem))


FIGURE5 = CurvePanels("figure5", drawn(BY_NAME["figure5"].panels))
FIGURE7 = CurvePanels("figure7", drawn(BY_NAME["figure7"].panels))
