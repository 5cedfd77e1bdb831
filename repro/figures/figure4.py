"""Figure 4 (NIPS / arXiv v2): learned (solid) vs hand-crafted (dashed) optimizers.

Panel a, "Quadratics": mean loss over the test quadratics, steps 1-100, log y axis
(paper.md §2.1). Panels b and c (MNIST) come later through
:func:`repro.figures.curves.figure_from_panels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import curves, style

FIGURE4A_STEPS = (1, 100)


def build_figure4a(data: Mapping[str, Any]) -> Figure:
    """The left panel of Figure 4 from the ``figure4a`` curves envelope."""
    if data.get("figure", "figure4a") != "figure4a":
        raise ValueError(f"expected figure4a data, got {data.get('figure')!r}")
    fig = style.new_figure(curves.PANEL_SIZE)
    ax = fig.add_subplot()
    curves.plot_curves(ax, data, steps=FIGURE4A_STEPS)
    ax.set_title("Quadratics")
    ax.set_xlabel("Step")
    ax.set_ylabel("Loss")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    style.stamp(fig, data)
    return fig


def make_figure4a(data_path: Path, out_stem: Path) -> None:
    """Read ``figure4a.json`` and write ``out_stem.png`` and ``out_stem.pdf``."""
    style.save(build_figure4a(curves.load(Path(data_path))), Path(out_stem))
