"""The paper's figures, registered once: read by ``repro.figures``, the reports and the claims.

Each :class:`Figure` names its panels' data (``data/<panel>.json`` each), the function that
draws it, the make target that writes it and the data it needs. Makers are named by
``"module:attribute"`` and imported only when a figure is drawn, so reading the registry
imports no plotting library. The Makefile is checked against it (``tests/test_makefile.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

VARIANT_TARGETS = {"departure": "figure5b-mix"}
"""Sub-folders of a dataset folder that hold a departure from the paper's protocol, with the make
target that writes each."""


@dataclass(frozen=True)
class Figure:
    """One figure of the paper.

    ``maker`` draws the whole figure: ``maker(data_dir, out_stem)`` for several panels,
    ``maker(json_path, out_stem)`` for one. ``panel_maker``, when set, draws one panel alone:
    ``panel_maker(panel, json_path, out_stem)``. ``curves``: each panel's data is a curves
    envelope (:mod:`repro.figures.curves`).
    """

    name: str
    title: str
    panels: tuple[str, ...]
    maker: str
    target: str
    needs: str = ""
    panel_maker: str = ""
    curves: bool = False

    def make_command(self, profile: str = "paper", dataset: str = "mnist") -> str:
        """The command that makes this figure for ``profile`` and ``dataset`` (a source's
        dataset folder, e.g. ``fashion_mnist`` or ``fashion_mnist/departure``)."""
        dataset, _, variant = dataset.partition("/")
        words = ["make", VARIANT_TARGETS.get(variant, self.target)]
        if profile != "paper":
            words.append(f"PROFILE={profile}")
        if dataset not in ("mnist", "synthetic") and self.needs.startswith("MNIST"):
            words.append(f"DATASET={dataset}")
        return " ".join(words)


def _art(name: str, title: str) -> Figure:
    """One of the appendix's update-rule figures (10-13), drawn from ``<name>.json``."""
    return Figure(name, title, (name,), "repro.figures.figure10:make", name)


FIGURES: tuple[Figure, ...] = (
    Figure("figure3", "Figure 3: one step of the LSTM optimizer", ("figure3",),
           "repro.figures.figure3:make_figure3", "figure3"),
    Figure("figure4", "Figure 4: quadratics and the MNIST base network (100 and 200 steps)",
           ("figure4a", "figure4b", "figure4c"), "repro.figures.curve_panels:FIGURE4", "figure4",
           "MNIST-format data for panels b and c (DATA_ROOT, or DATASET=fashion_mnist)",
           "repro.figures.curve_panels:FIGURE4.panel", curves=True),
    Figure("figure5", "Figure 5: MNIST variants (40 units, 2 layers, ReLU)",
           ("figure5a", "figure5b", "figure5c"), "repro.figures.curve_panels:FIGURE5", "figure5",
           "MNIST-format data", "repro.figures.curve_panels:FIGURE5.panel", curves=True),
    Figure("figure6", "Figure 6: final MNIST loss across optimizee architectures", ("figure6",),
           "repro.figures.figure6:make_figure6", "figure6", "MNIST-format data"),
    Figure("figure7", "Figure 7: CIFAR-10, CIFAR-5, CIFAR-2 and LSTM-sub",
           ("figure7a", "figure7b", "figure7c"), "repro.figures.curve_panels:FIGURE7", "figure7",
           "CIFAR-10 data", "repro.figures.curve_panels:FIGURE7.panel", curves=True),
    Figure("figure8", "Figure 8: Neural Art curves", ("figure8a", "figure8b"),
           "repro.figures.curve_panels:FIGURE8", "figure8",
           panel_maker="repro.figures.curve_panels:FIGURE8.panel", curves=True),
    Figure("figure9", "Figure 9: Neural Art images", ("figure9a", "figure9b"),
           "repro.figures.figure9:make_figure9", "figure9"),
    _art("figure10", "Figure 10: the LSTM's proposed updates along a trajectory"),
    _art("figure11", "Figure 11: update against gradient (1)"),
    _art("figure12", "Figure 12: update against gradient (2)"),
    _art("figure13", "Figure 13: update against gradient (3)"),
)

BY_NAME = {figure.name: figure for figure in FIGURES}


@dataclass(frozen=True)
class Panel:
    """A curves panel: the data file ``<name>.json`` one evaluation writes, its ``title``
    (``{key}``: the experiment's ``problem.key``), the optimizee ``steps`` its rollouts run in
    the paper's protocol, the steps a figure draws of it (``shown``; None: all) and the title a
    figure draws where its data has none (``fallback``; empty: ``title``)."""

    name: str
    title: str
    steps: int
    shown: tuple[int, int] | None = None
    fallback: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", self.name):
            raise ValueError(f"panel name {self.name!r} is not a name (it names a file)")

    def capped(self, steps: int, note: str = "") -> Panel:
        """This panel evaluated for at most ``steps`` steps (0: its own), ``note`` added to
        its title."""
        return replace(self, steps=min(self.steps, steps) if steps else self.steps,
                       title=f"{self.title}: {note}" if note else self.title)


PANELS: tuple[Panel, ...] = (
    Panel("figure4a", "Quadratics", 100, (1, 100)),
    Panel("figure4b", "MNIST", 100, (1, 100)),
    Panel("figure4c", "MNIST, 200 steps", 200, (100, 200)),
    Panel("figure5a", "MNIST, 40 units", 100, (1, 100)),
    Panel("figure5b", "MNIST, 2 layers", 100, (1, 100)),
    Panel("figure5c", "MNIST, ReLU", 100, (1, 100)),
    Panel("figure7a", "CIFAR-10", 1000),
    Panel("figure7b", "CIFAR-5", 1000),
    Panel("figure7c", "CIFAR-2", 1000),
    Panel("cifar_sub", "CIFAR, labels 5-9", 1000),
    Panel("figure8a", "Training style, {size}x{size}", 128, (1, 128), "Training style, 64x64"),
    Panel("figure8b", "Test style, {size}x{size}", 128, (1, 128), "Test style, 128x128"),
)
"""The paper's curves panels."""
PANEL = {panel.name: panel for panel in PANELS}
"""Every curves panel an experiment can evaluate (``evaluate.panels`` names them): the paper's
and those a family's unit adds with :func:`add_panel`."""


def add_panel(panel: Panel) -> Panel:
    """Make ``panel`` one an experiment can evaluate (a family's own, outside the paper's
    figures); its name must be new."""
    if panel.name in PANEL:
        raise ValueError(f"a panel named {panel.name!r} exists already")
    PANEL[panel.name] = panel
    return panel


def drawn(names: tuple[str, ...]) -> dict[str, tuple[tuple[int, int] | None, str]]:
    """The steps shown and the title of each panel of ``names``, as a figure draws them."""
    return {name: (PANEL[name].shown, PANEL[name].fallback or PANEL[name].title)
            for name in names}
