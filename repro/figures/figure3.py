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
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from repro.figures import curves, style

FIGSIZE = (10.0, 5.2)  # inches; the drawing axes uses inches as data units
CMAP = "RdBu_r"
BOX_EDGE = style.COLORS["LSTM"]
BOX_FILL = "#fff3e4"
SHARED_FILL = "#f4f4f4"
ARROW_COLOR = "0.35"
TEXT_COLOR = "0.1"

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
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        text = f"{value:+.3g}" if sign else f"{value:.3g}"
        return text
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10**exponent
    text = f"{mantissa:+.2f}" if sign else f"{mantissa:.2f}"
    return rf"{text} \times 10^{{{exponent}}}"


def _optimizee_args(n: int) -> str:
    """``f(\\theta_1, \\ldots, \\theta_n)`` in mathtext, written out for n <= 2."""
    if n <= 2:
        return "f(" + ", ".join(f"\\theta_{{{k}}}" for k in range(1, n + 1)) + ")"
    return f"f(\\theta_1, \\ldots, \\theta_{{{n}}})"


def _columns(indices: Sequence[int], n: int) -> list[int | None]:
    """Column order: listed coordinate indices, with one ``None`` (dots) at the first gap."""
    order = sorted(indices)
    cols: list[int | None] = []
    placed = False
    expected = 0
    for index in order:
        if index > expected and not placed:
            cols.append(None)
            placed = True
        cols.append(index)
        expected = index + 1
    if not placed and expected < n:
        cols.append(None)
    return cols


def _arrow(ax, x: float, y0: float, y1: float) -> None:
    ax.annotate(
        "",
        xy=(x, y1),
        xytext=(x, y0),
        arrowprops={
            "arrowstyle": "-|>",
            "color": ARROW_COLOR,
            "lw": 1.1,
            "shrinkA": 0,
            "shrinkB": 0,
            "mutation_scale": 10,
        },
    )


def _strip_rows(y0: float, y1: float) -> tuple[float, float]:
    """Bottom and top of the hidden-state strip inside an LSTM box spanning y0..y1."""
    return y0 + 0.1, y1 - 0.3


def _hidden_scale(coords: Sequence[Mapping[str, Any]]) -> float:
    values = [
        np.abs(np.asarray(c[key], dtype=float)).max()
        for c in coords
        for key in ("h", "h_prev")
        if np.size(c.get(key, []))
    ]
    vmax = float(max(values, default=1.0))
    return vmax if vmax > 0 else 1.0


def build_figure3(data: Mapping[str, Any]) -> Figure:
    """The Figure 3 diagram from the ``figure3`` envelope."""
    if data.get("figure", "figure3") != "figure3":
        raise ValueError(f"expected figure3 data, got {data.get('figure')!r}")
    coords = {int(c["index"]): c for c in data["coordinates"]}
    n = int(data.get("n_coordinates", len(coords)))
    columns = _columns(list(coords), n)
    vmax = _hidden_scale(list(coords.values()))
    first = next(iter(coords.values()), None)
    units = len(first["h"][0]) if first and first.get("h") else 20

    width, height = FIGSIZE
    fig = style.new_figure(FIGSIZE)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()

    # Column widths: the dots column is narrower than a coordinate's.
    weights = [0.45 if c is None else 1.0 for c in columns]
    unit = (X_RIGHT - X_LEFT) / sum(weights)
    centres, x = [], X_LEFT
    for w in weights:
        centres.append(x + w * unit / 2)
        x += w * unit
    box_w = min(0.84 * unit, 1.5)

    # Shared weights: one band behind every LSTM box, labelled on the right.
    pad = 0.14
    shared = FancyBboxPatch(
        (X_LEFT, Y_L1[0] - pad),
        X_RIGHT - X_LEFT,
        Y_L2[1] - Y_L1[0] + 2 * pad,
        boxstyle="round,pad=0,rounding_size=0.12",
        facecolor=SHARED_FILL,
        edgecolor="0.6",
        linestyle=(0, (4, 3)),
        linewidth=0.9,
        zorder=0,
    )
    ax.add_patch(shared)
    side = {"ha": "left", "fontsize": 8.5, "color": TEXT_COLOR, "linespacing": 1.3}
    y_mid = (Y_L1[0] + Y_L2[1]) / 2
    ax.text(
        X_RIGHT + 0.12,
        y_mid + 0.62,
        "shared weights $\\phi$",
        va="bottom",
        fontweight="bold",
        **side,
    )
    ax.text(
        X_RIGHT + 0.12,
        y_mid + 0.58,
        f"every column runs\nthe same 2-layer\nLSTM ({units} units)",
        va="top",
        **side,
    )
    ax.text(X_RIGHT + 0.12, y_mid - 0.3, "own hidden state", va="bottom", fontweight="bold", **side)
    ax.text(
        X_RIGHT + 0.12,
        y_mid - 0.34,
        "$h$ per coordinate,\nbefore ($h_{t-1}$) and\nafter ($h_t$) this step",
        va="top",
        **side,
    )

    # Row labels on the left.
    label_kw = {"ha": "right", "va": "center", "fontsize": 9, "color": "0.35"}
    ax.text(X_LEFT - 0.12, Y_GRAD, "gradient in", **label_kw)
    for layer, (y0, y1) in enumerate((Y_L1, Y_L2)):
        sy0, sy1 = _strip_rows(y0, y1)
        ax.text(X_LEFT - 0.12, y1 - 0.15, f"layer {layer + 1}", **label_kw)
        ax.text(X_LEFT - 0.12, sy1 - (sy1 - sy0) / 4, r"$h_{t-1}$", **label_kw)
        ax.text(X_LEFT - 0.12, sy0 + (sy1 - sy0) / 4, r"$h_{t}$", **label_kw)
    ax.text(X_LEFT - 0.12, Y_UPDATE, "update out", **label_kw)
    ax.text(X_LEFT - 0.12, Y_THETA, r"$\theta_i \leftarrow \theta_i + g_i$", **label_kw)

    # Optimizee f across all columns.
    loss = data.get("loss")
    loss_text = f", loss ${_number(loss)}$" if loss is not None else ""
    ax.add_patch(
        FancyBboxPatch(
            (X_LEFT, Y_OPT[0]),
            X_RIGHT - X_LEFT,
            Y_OPT[1] - Y_OPT[0],
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor="#eef3fa",
            edgecolor="#377eb8",
            linewidth=1.0,
        )
    )
    ax.text(
        (X_LEFT + X_RIGHT) / 2,
        sum(Y_OPT) / 2,
        f"optimizee ${_optimizee_args(n)}${loss_text}",
        ha="center",
        va="center",
        fontsize=10,
        color=TEXT_COLOR,
    )

    image = None
    for col, xc in zip(columns, centres, strict=True):
        if col is None:
            for y in (Y_GRAD, sum(Y_L1) / 2, sum(Y_L2) / 2, Y_UPDATE, Y_THETA):
                ax.text(xc, y, r"$\cdots$", ha="center", va="center", fontsize=14, color="0.3")
            shown = len(coords)
            ax.text(
                xc,
                Y_GRAD - 0.24,
                f"{n - shown} more",
                ha="center",
                va="center",
                fontsize=7.5,
                color="0.35",
            )
            continue
        c = coords[col]
        i = col + 1
        ax.text(
            xc,
            Y_GRAD,
            f"$\\nabla_{{{i}}} = {_number(c['grad'])}$",
            ha="center",
            va="center",
            fontsize=10.5,
            color=TEXT_COLOR,
        )
        _arrow(ax, xc, Y_GRAD + 0.14, Y_L1[0])
        for layer, (y0, y1) in enumerate((Y_L1, Y_L2)):
            ax.add_patch(
                FancyBboxPatch(
                    (xc - box_w / 2, y0),
                    box_w,
                    y1 - y0,
                    boxstyle="round,pad=0,rounding_size=0.06",
                    facecolor=BOX_FILL,
                    edgecolor=BOX_EDGE,
                    linewidth=1.3,
                    zorder=2,
                )
            )
            ax.text(
                xc,
                y1 - 0.15,
                f"LSTM{layer + 1}",
                ha="center",
                va="center",
                fontsize=9,
                fontweight="bold",
                color="#b35900",
                zorder=3,
            )
            strip = np.array([c["h_prev"][layer], c["h"][layer]], dtype=float)
            sx0, sx1 = xc - box_w / 2 + 0.09, xc + box_w / 2 - 0.09
            sy0, sy1 = _strip_rows(y0, y1)
            image = ax.imshow(
                strip,
                cmap=CMAP,
                vmin=-vmax,
                vmax=vmax,
                extent=(sx0, sx1, sy0, sy1),
                aspect="auto",
                interpolation="nearest",
                zorder=3,
            )
        _arrow(ax, xc, Y_L1[1], Y_L2[0])
        _arrow(ax, xc, Y_L2[1], Y_UPDATE - 0.14)
        ax.text(
            xc,
            Y_UPDATE,
            f"$g_{{{i}}} = {_number(c['update'], sign=True)}$",
            ha="center",
            va="center",
            fontsize=10.5,
            color="#b35900",
        )
        _arrow(ax, xc, Y_UPDATE + 0.14, Y_THETA - 0.14)
        theta = c.get("theta")
        if theta is not None and c.get("update") is not None:
            text = (
                f"$\\theta_{{{i}}}$: ${{{_number(theta)}}} \\rightarrow "
                f"{{{_number(theta + c['update'])}}}$"
            )
        else:
            text = f"$\\theta_{{{i}}} \\leftarrow \\theta_{{{i}}} + g_{{{i}}}$"
        ax.text(
            xc,
            Y_THETA,
            text,
            ha="center",
            va="center",
            fontsize=9 if unit > 1.5 else 8,
            color=TEXT_COLOR,
        )
        _arrow(ax, xc, Y_THETA + 0.13, Y_OPT[0])

    # Colour bar for the hidden states, bottom right.
    if image is not None:
        cax = fig.add_axes(
            (
                (X_RIGHT + 0.15) / width,
                (Y_GRAD - 0.02) / height,
                1.0 / width,
                0.08 / height,
            )
        )
        bar = fig.colorbar(image, cax=cax, orientation="horizontal")
        bar.set_ticks([-vmax, 0, vmax])
        bar.set_ticklabels([f"\N{MINUS SIGN}{vmax:.2g}", "0", f"{vmax:.2g}"])
        bar.ax.tick_params(labelsize=7, length=2, pad=1)
        bar.ax.set_title("hidden state $h$", fontsize=7.5, pad=3)
        bar.outline.set_linewidth(0.5)

    title = data.get("title", "One step of the LSTM optimizer")
    ax.text(width / 2, height - 0.3, title, ha="center", va="center", fontsize=13)
    subtitle = [str(data["problem"])] if data.get("problem") else []
    if data.get("step") is not None:
        subtitle.append(f"step $t = {int(data['step'])}$")
    shown = f"all {n} shown" if len(coords) >= n else f"{len(coords)} shown"
    subtitle.append(f"{n} coordinates, {shown}")
    ax.text(
        width / 2,
        height - 0.62,
        " · ".join(subtitle),
        ha="center",
        va="center",
        fontsize=9.5,
        color="0.3",
    )
    style.stamp(fig, data)
    return fig


def make_figure3(data_path: Path, out_stem: Path) -> None:
    """Read ``figure3.json`` and write ``out_stem.png`` and ``out_stem.pdf``."""
    style.save(build_figure3(curves.load(Path(data_path))), Path(out_stem))
