"""The figure registry's panels: the paper's, and one a family's unit adds."""

import pytest

from repro.figures import registry
from repro.figures.registry import PANEL, Panel, add_panel


def test_every_curves_figure_draws_registered_panels():
    for figure in registry.FIGURES:
        if figure.curves:
            assert all(name in PANEL for name in figure.panels), figure.name


def test_a_unit_adds_a_panel_once(monkeypatch):
    monkeypatch.setattr(registry, "PANEL", dict(PANEL))
    toy = add_panel(Panel("toy", "Toy", 50))
    assert registry.PANEL["toy"] is toy and toy.capped(20).steps == 20 and toy.capped(0) == toy
    with pytest.raises(ValueError, match="a panel named 'toy' exists already"):
        add_panel(Panel("toy", "Other", 10))
    with pytest.raises(ValueError, match="panel name '../toy' is not a name"):
        Panel("../toy", "Path", 10)
