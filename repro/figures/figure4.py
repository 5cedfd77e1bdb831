"""Figure 4 (NIPS / arXiv v2): learned (solid) vs hand-crafted (dashed) optimizers.

Three panels, loss (log) against step (paper.md §2.1-2.2):

* a, "Quadratics": mean loss over the test quadratics, steps 1-100;
* b, "MNIST": the base network (1 x 20 sigmoid units), steps 1-100;
* c, "MNIST, 200 steps": the same optimizer run for 200 steps though trained on 100;
  only steps 100-200 are shown.

Each panel's data is its own curves envelope (``figure4a.json`` ... ``figure4c.json``);
:data:`FIGURE4` reads all three from a data folder, or draws one panel alone (panel a with
the paper's title and axis labels whatever its JSON says).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from repro.figures.curve_panels import CurvePanels
from repro.figures.registry import BY_NAME, drawn

PANELS = drawn(BY_NAME["figure4"].panels)
"""Panel name -> (steps shown, default title when the JSON has none)."""
FIGURE4 = CurvePanels(
    "figure4", PANELS, alone={"figure4a": {"title": "Quadratics", "x": None, "y": None}}
)


def build_figure4a(data: Mapping[str, Any]) -> Figure:
    """The left panel of Figure 4 alone from the ``figure4a`` curves envelope, with the paper's
    title and axis labels whatever the JSON says."""
    return FIGURE4.build_panel(data, "figure4a")
