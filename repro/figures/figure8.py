"""Figure 8 (NIPS / arXiv v2): Neural Art optimization curves on test content images.

Two panels, loss (log) against steps 1-128 (paper.md §2.6):

* a, training style at the training resolution (64x64);
* b, a style never seen in training at double resolution (128x128).

Each panel's data is its own curves envelope (``figure8a.json``, ``figure8b.json``); the
stamp names the profile and the encoder (pretrained VGG-19 or random) that made them. The y
axis is zoomed to the curves that stayed finite; optimizers that diverged are named in the
panel (their lines stop at an ``x`` above it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from repro.figures.curve_panels import CurvePanels, build_composite, check_panels
from repro.figures.registry import BY_NAME, drawn

PANELS = drawn(BY_NAME["figure8"].panels)


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


FIGURE8 = Figure8("figure8", PANELS)


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
