"""Figure 3: one step of the coordinatewise LSTM optimizer, drawn from real data.

The paper's Figure 3 is a schematic: every coordinate θ_i of the optimizee has its own
2-layer LSTM; all of them share the same weights φ but keep their own hidden state; each
takes its gradient ∇_i and emits an update g_i, and θ_i ← θ_i + g_i. Ours draws the same
picture from one real step written by the evaluation code (``figure3.json``):

```
{"figure": "figure3", "title": ..., "profile": ..., "step": 10, "problem": "...",
 "n_coordinates": 10, "loss": 0.21, "meta": {...},
 "coordinates": [{"index": 0, "theta": 0.31, "grad": -0.52, "update": 0.041,
                  "h": [[20 floats], [20 floats]], "h_prev": [[20], [20]]}, ...]}
```

``index`` is 0-based; labels use the paper's 1-based θ_1..θ_n. ``theta`` is read as θ_t,
the value whose gradient is ``grad``; the drawing shows θ_t → θ_t + g_t. Per coordinate
(one column each) it shows the gradient going in, the two LSTM layers, each with its hidden
state before (h_{t-1}) and after (h_t) the step as a 2×20 heat strip on one shared,
symmetric colour scale, and the update coming out. One column of dots stands for the
coordinates not listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import FancyBboxPatch

from repro.figures import curves, style

FIGSIZE = (10.0, 5.2)  # inches; the drawing axes uses inches as data units
CMAP = "RdBu_r"
BOX_EDGE = style.COLORS["LSTM"]
BOX_FILL = "#fff3e4"
SHARED_FILL = "#f4f4f4"
LSTM_TEXT = "#b35900"  # the LSTM boxes' labels and the updates they emit
TEXT_COLOR = "0.1"
ARROW = {"arrowstyle": "-|>", "color": "0.35", "lw": 1.1, "shrinkA": 0, "shrinkB": 0,
         "mutation_scale": 10}

# Row positions (inches from the bottom) of the drawing.
Y_GRAD = 0.52
Y_L1 = (0.88, 1.72)  # LSTM1 box: bottom, top
Y_L2 = (2.06, 2.90)  # LSTM2 box
Y_UPDATE = 3.26
Y_THETA = 3.72
Y_OPT = (4.02, 4.38)  # optimizee box
X_LEFT = 1.3  # where the columns start (row labels to the left)
X_RIGHT = 8.5  # where they end (shared-weights label and colour bar to the right)


def _number(value: float, sign: bool = False) -> str:
    """A number for mathtext: 3 significant digits, ``a \\times 10^{b}`` when tiny or huge."""
    if value is None or not math.isfinite(value):
        return r"\mathrm{nan}"
    plus = "+" if sign else ""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:{plus}.3g}"
    exponent = math.floor(math.log10(abs(value)))
    return rf"{value / 10**exponent:{plus}.2f} \times 10^{{{exponent}}}"


def _optimizee_args(n: int) -> str:
    """``f(\\theta_1, \\ldots, \\theta_n)`` in mathtext, written out for n <= 2."""
    if n <= 2:
        return "f(" + ", ".join(f"\\theta_{{{k}}}" for k in range(1, n + 1)) + ")"
    return f"f(\\theta_1, \\ldots, \\theta_{{{n}}})"


def _columns(indices: Sequence[int], n: int) -> list[int | None]:
    """Column order: listed coordinate indices, with one ``None`` (dots) at the first gap."""
    cols: list[int | None] = sorted(indices)
    gap = next((k for k, index in enumerate(cols) if index != k), len(cols))
    if gap < len(cols) or len(cols) < n:
        cols.insert(gap, None)
    return cols


def _layout(columns: Sequence[int | None]) -> tuple[list[float], float]:
    """Each column's centre, and the width of a coordinate's column (the dots' is narrower)."""
    weights = [0.45 if c is None else 1.0 for c in columns]
    unit = (X_RIGHT - X_LEFT) / sum(weights)
    centres, x = [], X_LEFT
    for w in weights:
        centres.append(x + w * unit / 2)
        x += w * unit
    return centres, unit


def _hidden_scale(coords: Sequence[Mapping[str, Any]]) -> float:
    """The largest absolute hidden-state value shown (1 when there is none): the colour scale."""
    values = [np.abs(np.asarray(c[key], dtype=float)).max()
              for c in coords for key in ("h", "h_prev") if np.size(c.get(key, []))]
    vmax = float(max(values, default=1.0))
    return vmax if vmax > 0 else 1.0


def _strip_rows(y0: float, y1: float) -> tuple[float, float]:
    """Bottom and top of the hidden-state strip inside an LSTM box spanning y0..y1."""
    return y0 + 0.1, y1 - 0.3


def _text(ax: Axes, x: float, y: float, text: str, size: float, color: str | None = TEXT_COLOR,
          **kwargs: Any) -> None:
    """``text`` centred on (x, y)."""
    ax.text(x, y, text, ha="center", va="center", fontsize=size, color=color, **kwargs)


def _box(ax: Axes, corner: tuple[float, float], width: float, height: float, rounding: float,
         **kwargs: Any) -> None:
    """A rounded box with its lower-left corner at ``corner``."""
    ax.add_patch(FancyBboxPatch(corner, width, height,
                                boxstyle=f"round,pad=0,rounding_size={rounding}", **kwargs))


def _arrow(ax: Axes, x: float, y0: float, y1: float) -> None:
    """An arrow up from ``y0`` to ``y1`` at ``x``."""
    ax.annotate("", xy=(x, y1), xytext=(x, y0), arrowprops=ARROW)


def _shared_weights(ax: Axes, units: int) -> None:
    """The band behind every LSTM box, with what it means written on its right."""
    pad = 0.14
    _box(ax, (X_LEFT, Y_L1[0] - pad), X_RIGHT - X_LEFT, Y_L2[1] - Y_L1[0] + 2 * pad, 0.12,
         facecolor=SHARED_FILL, edgecolor="0.6", linestyle=(0, (4, 3)), linewidth=0.9, zorder=0)
    y_mid = (Y_L1[0] + Y_L2[1]) / 2
    for dy, text, va, weight in (
        (0.62, "shared weights $\\phi$", "bottom", "bold"),
        (0.58, f"every column runs\nthe same 2-layer\nLSTM ({units} units)", "top", "normal"),
        (-0.3, "own hidden state", "bottom", "bold"),
        (-0.34, "$h$ per coordinate,\nbefore ($h_{t-1}$) and\nafter ($h_t$) this step", "top",
         "normal"),
    ):
        ax.text(X_RIGHT + 0.12, y_mid + dy, text, ha="left", va=va, fontsize=8.5,
                color=TEXT_COLOR, linespacing=1.3, fontweight=weight)


def _row_labels(ax: Axes) -> None:
    """What each row is, left of the columns."""
    rows = [(Y_GRAD, "gradient in")]
    for layer, (y0, y1) in enumerate((Y_L1, Y_L2)):
        sy0, sy1 = _strip_rows(y0, y1)
        rows += [(y1 - 0.15, f"layer {layer + 1}"), (sy1 - (sy1 - sy0) / 4, r"$h_{t-1}$"),
                 (sy0 + (sy1 - sy0) / 4, r"$h_{t}$")]
    rows += [(Y_UPDATE, "update out"), (Y_THETA, r"$\theta_i \leftarrow \theta_i + g_i$")]
    for y, text in rows:
        ax.text(X_LEFT - 0.12, y, text, ha="right", va="center", fontsize=9, color="0.35")


def _optimizee(ax: Axes, n: int, loss: float | None) -> None:
    """The optimizee f across all columns, with its loss when known."""
    _box(ax, (X_LEFT, Y_OPT[0]), X_RIGHT - X_LEFT, Y_OPT[1] - Y_OPT[0], 0.08,
         facecolor="#eef3fa", edgecolor="#377eb8", linewidth=1.0)
    loss_text = f", loss ${_number(loss)}$" if loss is not None else ""
    _text(ax, (X_LEFT + X_RIGHT) / 2, sum(Y_OPT) / 2,
          f"optimizee ${_optimizee_args(n)}${loss_text}", 10)


def _dots(ax: Axes, x: float, hidden: int) -> None:
    """The column standing for the ``hidden`` coordinates not listed."""
    for y in (Y_GRAD, sum(Y_L1) / 2, sum(Y_L2) / 2, Y_UPDATE, Y_THETA):
        _text(ax, x, y, r"$\cdots$", 14, "0.3")
    _text(ax, x, Y_GRAD - 0.24, f"{hidden} more", 7.5, "0.35")


def _lstm(ax: Axes, x: float, width: float, layer: int, strip: np.ndarray,
          vmax: float) -> AxesImage:
    """One LSTM layer's box with its hidden state before (top) and after the step."""
    y0, y1 = (Y_L1, Y_L2)[layer]
    _box(ax, (x - width / 2, y0), width, y1 - y0, 0.06, facecolor=BOX_FILL, edgecolor=BOX_EDGE,
         linewidth=1.3, zorder=2)
    _text(ax, x, y1 - 0.15, f"LSTM{layer + 1}", 9, LSTM_TEXT, fontweight="bold", zorder=3)
    sy0, sy1 = _strip_rows(y0, y1)
    return ax.imshow(strip, cmap=CMAP, vmin=-vmax, vmax=vmax, aspect="auto", zorder=3,
                     extent=(x - width / 2 + 0.09, x + width / 2 - 0.09, sy0, sy1),
                     interpolation="nearest")


def _coordinate(ax: Axes, x: float, index: int, c: Mapping[str, Any], unit: float,
                vmax: float) -> AxesImage:
    """Coordinate ``index``'s column: gradient in, both LSTM layers, update out, new θ."""
    i = index + 1
    width = min(0.84 * unit, 1.5)
    _text(ax, x, Y_GRAD, f"$\\nabla_{{{i}}} = {_number(c['grad'])}$", 10.5)
    _arrow(ax, x, Y_GRAD + 0.14, Y_L1[0])
    strips = [np.array([c["h_prev"][layer], c["h"][layer]], dtype=float) for layer in (0, 1)]
    image = [_lstm(ax, x, width, layer, strip, vmax) for layer, strip in enumerate(strips)][-1]
    _arrow(ax, x, Y_L1[1], Y_L2[0])
    _arrow(ax, x, Y_L2[1], Y_UPDATE - 0.14)
    _text(ax, x, Y_UPDATE, f"$g_{{{i}}} = {_number(c['update'], sign=True)}$", 10.5, LSTM_TEXT)
    _arrow(ax, x, Y_UPDATE + 0.14, Y_THETA - 0.14)
    theta = c.get("theta")
    if theta is not None and c.get("update") is not None:
        text = (f"$\\theta_{{{i}}}$: ${{{_number(theta)}}} \\rightarrow "
                f"{{{_number(theta + c['update'])}}}$")
    else:
        text = f"$\\theta_{{{i}}} \\leftarrow \\theta_{{{i}}} + g_{{{i}}}$"
    _text(ax, x, Y_THETA, text, 9 if unit > 1.5 else 8)
    _arrow(ax, x, Y_THETA + 0.13, Y_OPT[0])
    return image


def _colour_bar(fig: Figure, image: AxesImage, vmax: float) -> None:
    """The hidden states' colour scale, bottom right."""
    width, height = FIGSIZE
    rect = ((X_RIGHT + 0.15) / width, (Y_GRAD - 0.02) / height, 1.0 / width, 0.08 / height)
    bar = fig.colorbar(image, cax=fig.add_axes(rect), orientation="horizontal")
    bar.set_ticks([-vmax, 0, vmax])
    bar.set_ticklabels([f"\N{MINUS SIGN}{vmax:.2g}", "0", f"{vmax:.2g}"])
    bar.ax.tick_params(labelsize=7, length=2, pad=1)
    bar.ax.set_title("hidden state $h$", fontsize=7.5, pad=3)
    bar.outline.set_linewidth(0.5)


def _titles(ax: Axes, data: Mapping[str, Any], n: int, shown: int) -> None:
    """The title and, under it, the problem, the step and how many coordinates are shown."""
    width, height = FIGSIZE
    _text(ax, width / 2, height - 0.3, data.get("title", "One step of the LSTM optimizer"), 13,
          None)
    subtitle = [str(data["problem"])] if data.get("problem") else []
    if data.get("step") is not None:
        subtitle.append(f"step $t = {int(data['step'])}$")
    subtitle.append(f"{n} coordinates, " + (f"all {n} shown" if shown >= n else f"{shown} shown"))
    _text(ax, width / 2, height - 0.62, " · ".join(subtitle), 9.5, "0.3")


def build_figure3(data: Mapping[str, Any]) -> Figure:
    """The Figure 3 diagram from the ``figure3`` envelope."""
    curves.check_figure(data, "figure3")
    coords = {int(c["index"]): c for c in data["coordinates"]}
    n = int(data.get("n_coordinates", len(coords)))
    vmax = _hidden_scale(list(coords.values()))
    first = next(iter(coords.values()), None)
    fig = style.new_figure(FIGSIZE)
    ax = fig.add_axes((0, 0, 1, 1), xlim=(0, FIGSIZE[0]), ylim=(0, FIGSIZE[1]))
    ax.set_axis_off()
    _shared_weights(ax, len(first["h"][0]) if first and first.get("h") else 20)
    _row_labels(ax)
    _optimizee(ax, n, data.get("loss"))
    columns = _columns(list(coords), n)
    centres, unit = _layout(columns)
    image = None
    for index, x in zip(columns, centres, strict=True):
        if index is None:
            _dots(ax, x, n - len(coords))
        else:
            image = _coordinate(ax, x, index, coords[index], unit, vmax)
    if image is not None:
        _colour_bar(fig, image, vmax)
    _titles(ax, data, n, len(coords))
    style.stamp(fig, data)
    return fig


def make_figure3(data_path: Path, out_stem: Path) -> None:
    """Read ``figure3.json`` and write ``out_stem.png`` and ``out_stem.pdf``."""
    style.save(build_figure3(curves.load(Path(data_path))), Path(out_stem))
