"""Figures of curve panels side by side, loss (log) against step: each a :class:`CurvePanels`.

Figures 4, 5, 7 and 8 (NIPS / arXiv v2); each panel's data is its own curves envelope
(``figure4a.json`` ... ``figure8b.json``):

* Figure 4 (paper.md §2.1-2.2), learned (solid) vs hand-crafted (dashed) optimizers: a,
  "Quadratics", and b, "MNIST" (the base network, 1 x 20 sigmoid units), steps 1-100; c,
  "MNIST, 200 steps": the same optimizer run for 200 steps though trained on 100, only steps
  100-200 shown. Panel a drawn alone has the paper's title and axis labels whatever its JSON
  says.
* Figure 5 (paper.md §2.3), steps 1-100: the LSTM trained on the base network on 40 units, on
  2 layers of 20 and on 20 ReLU units. Where it diverges, a curve's ``diverged_at`` ends its
  line at an ``x`` (:func:`repro.figures.curves.plot_curves`).
* Figure 7 (paper.md §2.5), the whole evaluated horizon: the CIFAR optimizer (two
  coordinatewise LSTMs, conv and fc) against the tuned baselines on CIFAR-10 and on the label
  subsets CIFAR-5 and CIFAR-2, where ``LSTM-sub``, meta-trained only on labels disjoint from
  the subset, joins them (in its own colour, solid, as every learned optimizer).
* Figure 8 (paper.md §2.6), Neural Art on test content images: a, the training style at the
  training resolution (64x64); b, a style never seen in training at double resolution
  (128x128). The stamp names the profile and the encoder (pretrained VGG-19 or random) that
  made them; the y axis is zoomed to the curves that stayed finite, and optimizers that
  diverged are named in the panel (their lines stop at an ``x`` above it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from repro.figures import curves, style
from repro.figures.registry import BY_NAME, drawn


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
        """Read ``data_dir/<panel>.json`` for each panel; write ``out_stem.{png,pdf}``. A one-line
        FileNotFoundError, naming every missing file, before reading any."""
        paths = [Path(data_dir) / f"{name}.json" for name in self.panels]
        if missing := [str(p) for p in paths if not p.is_file()]:
            raise FileNotFoundError(f"missing panel data for {self.name}: {', '.join(missing)}; "
                                    f"run `make {self.name}` first")
        style.save(self.build([curves.load(p) for p in paths]), Path(out_stem))

    def panel(self, name: str, data_path: Path, out_stem: Path) -> None:
        """Read panel ``name``'s JSON and write it alone to ``out_stem.{png,pdf}``."""
        style.save(self.build_panel(curves.load(Path(data_path)), name), Path(out_stem))


class Figure8(CurvePanels):
    """Figure 8: both panels show every step the LSTM ran, zoomed by :func:`zoom`; a panel drawn
    alone (``figure8a``: training style at 64x64, ``figure8b``: test style at 128x128) shows
    steps 1-128."""

    def build(self, datas: Sequence[Mapping[str, Any]]) -> Figure:
        """Both panels of Figure 8 from the figure8a and figure8b envelopes."""
        check_panels(datas, self.panels, self.name)
        steps = [(1, len(data["curves"]["LSTM"]["step"])) for data in datas]
        fig = build_composite(datas, steps, [title for _, title in self.panels.values()])
        for ax, data in zip(fig.axes, datas, strict=True):
            zoom(ax, data)
        return fig


def zoom(ax: Axes, data: Mapping[str, Any]) -> None:
    """Fit the y axis to the curves that did not diverge; name the ones that did."""
    kept = [c for c in data["curves"].values() if c.get("diverged_at") is None]
    values = [v for c in kept for v in c["mean"] if v is not None and v > 0]
    if values:
        ax.set_ylim(min(values) / 1.3, max(values) * 1.3)
    diverged = [
        f"{name} (step {c['diverged_at']})" for name, c in data["curves"].items()
        if c.get("diverged_at") is not None
    ]
    if diverged:
        ax.text(0.02, 0.02, "diverged: " + ", ".join(diverged), transform=ax.transAxes,
                fontsize=7, color="0.25", va="bottom")


FIGURE4 = CurvePanels(
    "figure4", drawn(BY_NAME["figure4"].panels),
    alone={"figure4a": {"title": "Quadratics", "x": None, "y": None}},
)
FIGURE5 = CurvePanels("figure5", drawn(BY_NAME["figure5"].panels))
FIGURE7 = CurvePanels("figure7", drawn(BY_NAME["figure7"].panels))
FIGURE8 = Figure8("figure8", drawn(BY_NAME["figure8"].panels))
