"""Figures of the paper: pure plotting, JSON in, figure out (no training code imported).

What is drawn comes from :mod:`repro.figures.registry`: ``draw(name, data_dir, out_stem)``
reads ``data_dir / f"{panel}.json"`` for each panel of ``name`` (a figure, or one panel of a
figure whose panels are also drawn alone) and writes ``out_stem.png`` and ``out_stem.pdf``
(FileNotFoundError, naming the files, when a panel's data is missing). Importing this package
imports no plotting library; a figure's module is imported when it is drawn.
"""

from __future__ import annotations

import importlib
import operator
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from repro.figures.registry import BY_NAME, FIGURES, Figure

PANEL_OF: dict[str, Figure] = {
    panel: figure for figure in FIGURES if figure.panel_maker for panel in figure.panels
}
"""Each panel drawn alone, with the figure it belongs to."""

NAMES: tuple[str, ...] = tuple({**BY_NAME, **PANEL_OF})
"""Every name :func:`draw` draws: each figure, and each panel drawn alone."""


CURVE_PANELS: frozenset[str] = frozenset(
    panel for figure in FIGURES if figure.curves for panel in figure.panels
)
"""The data names whose files are curves envelopes."""


def check_data(name: str, data: Any) -> None:
    """A one-line ValueError unless ``data`` can be ``name``'s data: a JSON object of that
    figure and, for a curves panel, one or more curves whose values are numbers (or null), one
    per step."""
    if not isinstance(data, dict):
        names = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
        raise ValueError(f"expected a JSON object, got a {names.get(type(data), 'null')}")
    if data.get("figure", name) != name:
        raise ValueError(f"it holds {data['figure']!r}'s data")
    if name not in CURVE_PANELS:
        return
    curves = data.get("curves")
    if not isinstance(curves, dict) or not curves:
        raise ValueError("it holds no curves")
    for label, curve in curves.items():
        steps = curve.get("step") if isinstance(curve, dict) else None
        if not _numbers(steps) or not steps:
            raise ValueError(f"curve {label!r} has no list of steps")
        for key in ("mean", "lo", "hi"):
            values = curve.get(key)
            if values is not None and not _numbers(values):
                raise ValueError(f"curve {label!r}: {key!r} is not a list of numbers")
            if values is not None and len(values) != len(steps):
                raise ValueError(f"curve {label!r} has {len(steps)} steps but {len(values)} "
                                 f"values of {key!r}")


def _numbers(values: Any) -> bool:
    """Whether ``values`` is a JSON list of numbers and nulls."""
    return isinstance(values, list) and all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)


def _resolve(path: str) -> Callable[..., None]:
    """The object ``"module:attribute.attribute"`` names, importing its module."""
    module, _, attribute = path.partition(":")
    return operator.attrgetter(attribute)(importlib.import_module(module))


def inputs(name: str) -> tuple[str, ...]:
    """The data names (``data/<name>.json`` each) that drawing ``name`` reads."""
    return BY_NAME[name].panels if name in BY_NAME else (name,)


def maker(name: str) -> Callable[[Path, Path], None]:
    """The function that draws ``name``: called with the data folder when ``name`` has several
    panels, else with its one JSON file, and then the output stem."""
    if name in BY_NAME:
        return _resolve(BY_NAME[name].maker)
    return partial(_resolve(PANEL_OF[name].panel_maker), name)


def draw(name: str, data_dir: Path, out_stem: Path) -> None:
    """Draw ``name`` from the JSON in ``data_dir``; write ``out_stem.png`` and ``out_stem.pdf``."""
    data_dir = Path(data_dir)
    source = data_dir if len(inputs(name)) > 1 else data_dir / f"{name}.json"
    maker(name)(source, out_stem)
