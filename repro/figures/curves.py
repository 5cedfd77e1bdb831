"""Loss-curve panels from the curves JSON envelope (design.md, "Curves data").

One panel: log y axis, x = step; per optimizer its mean line and a shaded band between
``lo`` and ``hi`` (the 95% interval), styled as in the paper (:mod:`repro.figures.style`).
A curve may carry ``"diverged_at"`` (a step, or null): its line and band stop there and
the last drawn point is marked with an ``x``. An envelope may carry ``"paper"``, the paper's
values at its steps (``paper_figures/reference.yaml``): drawn as hollow markers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from repro.figures import style

PANEL_SIZE = (4.2, 3.4)  # inches per panel
# Where lo <= 0 the band is clipped this far below the curve's smallest positive mean
# (a log axis cannot show it, and a floor near 0 would stretch the axis over decades).
LO_FLOOR_FACTOR = 0.1
ABS_FLOOR = 1e-12

Steps = tuple[int, int] | None


def load(path: Path) -> dict[str, Any]:
    """Read one curves JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def check_figure(data: Mapping[str, Any], name: str) -> None:
    """Raise ValueError unless ``data`` is ``name``'s data (a missing "figure" is accepted)."""
    if data.get("figure", name) != name:
        raise ValueError(f"expected {name} data, got {data.get('figure')!r}")


def read(path: Path, name: str, figure: str | None = None) -> dict[str, Any]:
    """``name``'s JSON, checked to be its data; FileNotFoundError, naming the make target of
    ``figure`` (default: ``name``), when the file is missing."""
    figure = figure or name
    if not Path(path).is_file():
        raise FileNotFoundError(f"missing data for {figure}: {path}; run `make {figure}` first")
    data = load(path)
    check_figure(data, name)
    return data


def as_float(values: Sequence[Any] | None, length: int) -> np.ndarray:
    """Floats, with None / missing values as NaN (JSON has no NaN or inf)."""
    if values is None:
        return np.full(length, np.nan)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def plot_mean(ax: Axes, name: str, x: np.ndarray, mean: np.ndarray,
              **kwargs: Any) -> tuple[Line2D, np.ndarray, float]:
    """Draw optimizer ``name``'s ``mean`` against ``x`` in its style, leaving out non-finite or
    non-positive values (gaps). Returns the line, which points were drawn and the floor for a
    band's or error bar's low end on the log axis (NaN when no point was drawn)."""
    valid = np.isfinite(mean) & (mean > 0)
    (line,) = ax.plot(x, np.where(valid, mean, np.nan), lw=style.LINEWIDTH, label=name,
                      color=style.color(name), linestyle=style.linestyle(name), **kwargs)
    floor = max(LO_FLOOR_FACTOR * mean[valid].min(), ABS_FLOOR) if valid.any() else np.nan
    return line, valid, floor


def plot_curves(ax: Axes, data: Mapping[str, Any], steps: Steps = None) -> None:
    """Draw one curve panel of ``data`` (a curves envelope) on ``ax``.

    ``steps`` = (first, last), inclusive, limits the x range (and the points drawn).
    Non-finite or non-positive means are left out (gaps); ``lo`` is clipped to a small
    positive number for the log axis. The legend lists optimizers in the paper's order.
    """
    curves: Mapping[str, Mapping[str, Any]] = data.get("curves", {})
    ax.set_yscale("log")
    handles = []
    x_min, x_max = np.inf, -np.inf
    for name in style.ordered(curves):
        curve = curves[name]
        step = np.asarray(curve["step"], dtype=float)
        mean, lo, hi = (as_float(curve.get(key), len(step)) for key in ("mean", "lo", "hi"))
        keep = np.ones(len(step), dtype=bool)
        if steps is not None:
            keep &= (step >= steps[0]) & (step <= steps[1])
        diverged_at = curve.get("diverged_at")
        if diverged_at is not None:
            keep &= step <= diverged_at
        step, mean, lo, hi = step[keep], mean[keep], lo[keep], hi[keep]
        if len(step):
            x_min, x_max = min(x_min, step.min()), max(x_max, step.max())

        line, valid, floor = plot_mean(ax, name, step, mean)
        handles.append(line)
        if valid.any():
            band = valid & np.isfinite(lo) & np.isfinite(hi)
            lo_clipped = np.maximum(np.where(band, lo, floor), floor)
            hi_clipped = np.maximum(np.where(band, hi, floor), floor)
            ax.fill_between(step, lo_clipped, hi_clipped, where=band, color=style.color(name),
                            alpha=style.BAND_ALPHA, linewidth=0, interpolate=False)
            if diverged_at is not None:
                last = np.flatnonzero(valid)[-1]
                ax.plot([step[last]], [mean[last]], marker="x", markersize=7, mew=2,
                        linestyle="none", color=style.color(name), label="_diverged")

    if paper_marks := plot_paper(ax, data.get("paper") or {}, steps):
        handles.append(paper_marks)
    if steps is not None:
        ax.set_xlim(steps[0], steps[1])
    elif np.isfinite(x_min) and x_max > x_min:
        ax.set_xlim(x_min, x_max)
    finish(ax, data, data.get("title", ""), ("Step", "Loss"), handles)


def plot_paper(ax: Axes, paper: Mapping[str, Any], steps: Steps = None) -> Line2D | None:
    """Draw the paper's values (``{"steps": [...], "loss": {name: [value or null, ...]}}``) as
    hollow markers in each optimizer's colour, within ``steps``; returns a grey legend handle
    for them (None when nothing was drawn)."""
    at = np.asarray(paper.get("steps") or [], dtype=float)
    keep = np.ones(len(at), dtype=bool) if steps is None else (at >= steps[0]) & (at <= steps[1])
    drawn = False
    for name in style.ordered(paper.get("loss") or {}):
        values = as_float(paper["loss"][name], len(at))
        shown = keep & np.isfinite(values) & (values > 0)
        if shown.any():
            ax.plot(at[shown], values[shown], color=style.color(name), label="_paper",
                    **style.PAPER_MARKER)
            drawn = True
    if not drawn:
        return None
    return Line2D([], [], color="0.35", label=style.PAPER_LABEL, **style.PAPER_MARKER)


def finish(ax: Axes, data: Mapping[str, Any], title: str, labels: tuple[str, str],
           handles: Sequence[Line2D]) -> None:
    """Title ``ax``, label its axes (the JSON's ``x`` and ``y``, else ``labels``), grid it and
    list ``handles`` in a legend (none when there are none)."""
    ax.set_title(title)
    ax.set_xlabel(str(data["x"]).capitalize() if data.get("x") else labels[0])
    ax.set_ylabel(str(data["y"]).capitalize() if data.get("y") else labels[1])
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if handles:
        ax.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8, framealpha=0.9)


def build_panels(datas: Sequence[Mapping[str, Any]],
                 steps: Steps | Sequence[Steps] = None) -> Figure:
    """A figure of 1..3 curve panels side by side, stamped with every panel's provenance."""
    if not 1 <= len(datas) <= 3:
        raise ValueError(f"a figure has 1 to 3 panels, got {len(datas)}")
    if steps is None or (len(steps) == 2 and all(isinstance(s, (int, np.integer)) for s in steps)):
        steps = [steps] * len(datas)  # type: ignore[list-item]  # the same for every panel
    fig = style.new_figure((PANEL_SIZE[0] * len(datas), PANEL_SIZE[1]))
    axes = fig.subplots(1, len(datas), squeeze=False)[0]
    for ax, data, panel_steps in zip(axes, datas, steps, strict=True):
        plot_curves(ax, data, panel_steps)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    style.stamp(fig, *datas)
    return fig
