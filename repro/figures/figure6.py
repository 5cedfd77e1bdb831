"""Figure 6 (NIPS / arXiv v2): final MNIST loss as the optimizee architecture varies.

The LSTM trained on one architecture (1 layer x 20 sigmoid units) and the baselines
(re-tuned per architecture) each optimize sigmoid MLPs of other widths and depths for 100
steps (paper.md §2.4). One panel per number of hidden layers; x = hidden units per layer,
y = final loss (log), one line with markers per optimizer, error bars from ``lo``/``hi``.
In the panel of the training depth a vertical dashed line marks the training width and a
horizontal one the LSTM's final loss there. The data (``figure6.json``), written by the
evaluation code:

```
{"figure": "figure6", "title": "MNIST architectures", "profile": "quick",
 "x": "hidden units", "y": "final loss", "train_architecture": {"layers": 1, "width": 20},
 "panels": [{"layers": 1, "widths": [5, 10, 20, 35, 50],
             "curves": {"ADAM": {"mean": [...], "lo": [...], "hi": [...], "lr": [...]},
                        ..., "LSTM": {"mean": [...], "lo": [...], "hi": [...], "lr": null}}},
            {"layers": 2, ...}, {"layers": 3, ...}],
 "meta": {"config": "...", "seed": 0, "commit": "...", "created": "...", "dataset": "mnist"}}
```

``mean``, ``lo`` and ``hi`` have one value per width; ``null`` (diverged or missing)
leaves that point out, and the line has a gap there.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from repro.figures import curves, style

MARKER = "o"
MARKERSIZE = 4.0
CAPSIZE = 2.5
TRAIN_MARK = {"color": "0.45", "linestyle": "--", "lw": 1.0, "zorder": 1}
TRAIN_WIDTH_LABEL = "_training width"
TRAIN_LOSS_LABEL = "_LSTM at training architecture"
LEGEND_WIDTH = 1.2  # inches to the right of the panels for the one shared legend
LEGEND_CHARS = 15  # longer names wrap onto a second line to fit in it


def _values(curve: Mapping[str, Any], key: str, n: int, where: str) -> np.ndarray:
    """``curve[key]`` as floats (null -> NaN), checked to hold one value per width."""
    values = curve.get(key)
    if values is not None and len(values) != n:
        raise ValueError(f"{where}: {key!r} has {len(values)} values for {n} widths")
    return curves.as_float(values, n)


def plot_architecture_panel(ax: Axes, panel: Mapping[str, Any], data: Mapping[str, Any],
                            train: Mapping[str, Any] | None) -> dict[str, Line2D]:
    """Draw one panel (a fixed number of layers) of Figure 6 on ``ax``, with no legend.

    ``train`` = ``{"layers": L, "width": W}``: in the panel with ``L`` layers, mark width
    ``W`` (vertical dashed line) and the LSTM's final loss there (horizontal line).
    Returns each optimizer's line (for the shared legend).
    """
    layers = panel.get("layers")
    widths = np.asarray(panel["widths"], dtype=float)
    n = len(widths)
    ax.set_yscale("log")
    handles, drawn = {}, {}
    panel_curves: Mapping[str, Mapping[str, Any]] = panel.get("curves", {})
    for name in style.ordered(panel_curves):
        where = f"figure6 panel with {layers} layers, {name}"
        mean, lo, hi = (_values(panel_curves[name], key, n, where) for key in ("mean", "lo", "hi"))
        line, valid, floor = curves.plot_mean(ax, name, widths, mean, marker=MARKER,
                                              markersize=MARKERSIZE)
        handles[name] = line
        drawn[name] = np.where(valid, mean, np.nan)
        bars = valid & np.isfinite(lo) & np.isfinite(hi)
        if bars.any():  # a log axis cannot show lo <= 0: clipped to the floor
            lower = mean[bars] - np.clip(lo[bars], floor, mean[bars])
            upper = np.maximum(hi[bars], mean[bars]) - mean[bars]
            ax.errorbar(widths[bars], mean[bars], yerr=np.vstack([lower, upper]), fmt="none",
                        ecolor=style.color(name), elinewidth=1.0, capsize=CAPSIZE,
                        label="_error bars")

    width = (train or {}).get("width")
    if train and layers is not None and train.get("layers") == layers and width is not None:
        ax.axvline(width, label=TRAIN_WIDTH_LABEL, **TRAIN_MARK)
        at = np.flatnonzero(np.isclose(widths, float(width)))
        loss = drawn["LSTM"][at[0]] if "LSTM" in drawn and len(at) else np.nan
        if np.isfinite(loss):
            ax.axhline(loss, label=TRAIN_LOSS_LABEL, **TRAIN_MARK)

    ax.set_xticks(widths)
    ax.set_xticklabels([f"{w:g}" for w in widths])
    title = "" if layers is None else f"{layers} layer" + ("" if layers == 1 else "s")
    curves.finish(ax, data, title, ("Hidden units", "Final loss"), [])
    return handles


def build_figure6(data: Mapping[str, Any]) -> Figure:
    """Figure 6 from the ``figure6`` data: one panel per entry of ``panels``, side by side."""
    curves.check_figure(data, "figure6")
    panels: Sequence[Mapping[str, Any]] = data.get("panels") or []
    if not 1 <= len(panels) <= 3:
        raise ValueError(f"figure6 has 1 to 3 panels, got {len(panels)}")
    width = curves.PANEL_SIZE[0] * len(panels) + LEGEND_WIDTH
    fig = style.new_figure((width, curves.PANEL_SIZE[1]))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    lines: dict[str, Line2D] = {}
    train = data.get("train_architecture")
    for ax, panel in zip(axes, panels, strict=True):
        for name, line in plot_architecture_panel(ax, panel, data, train).items():
            lines.setdefault(name, line)
    for ax in axes[1:]:
        ax.set_ylabel("")  # shared y axis: label once
    # One legend for all panels, right of them, in the paper's order.
    right = 1 - LEGEND_WIDTH / width
    fig.tight_layout(rect=(0, 0.03, right, 1))
    if lines:
        names = style.ordered(lines)
        handles = [lines[n] for n in names]
        labels = [textwrap.fill(name, LEGEND_CHARS) for name in names]
        marks = [line for ax in axes for line in ax.get_lines()
                 if line.get_label() == TRAIN_WIDTH_LABEL]
        if marks:  # one grey entry explaining the training-architecture lines
            handles.append(marks[0])
            labels.append(f"trained on\n{train['layers']}×{train['width']}")
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(right, 0.55), fontsize=8,
                   frameon=False)
    style.stamp(fig, data)
    return fig


def make_figure6(data_path: Path, out_stem: Path) -> None:
    """Read ``figure6.json`` and write ``out_stem.png`` and ``out_stem.pdf``."""
    style.save(build_figure6(curves.load(Path(data_path))), Path(out_stem))
