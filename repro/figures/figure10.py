"""Figures 10-13 (arXiv v2 appendix): the learned update rule beside SGD and ADAM.

All four use the Neural Art optimizer on one test image (64x64, training style); one
coordinate is one colour channel of one pixel. Along the LSTM's own trajectory (its updates
are the ones applied), SGD and ADAM at their tuned learning rates are fed the same
gradients, each keeping its own state, and their proposals are recorded, not applied.

* Figure 10 (``figure10.json``): for two coordinates, the update each rule proposes at every
  step, with the gradient the rules saw underneath.
* Figures 11-13 (``figure11.json`` ...): for one coordinate each, at selected steps, the
  update each rule would propose as a function of the current gradient, its state held as
  the trajectory left it; a dotted line marks the gradient actually seen at that step. The
  y range fits the LSTM's and ADAM's responses; SGD's straight line may run off the panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from repro.figures import curves, style

RULES = ("ADAM", "SGD", "LSTM")
ZOOM_ON = ("LSTM", "ADAM")


def _label(name: str, data: Mapping[str, Any]) -> str:
    lr = (data.get("lr") or {}).get(name)
    if name == "LSTM":
        return "LSTM (applied)"
    return f"{name} (lr {lr:g}, not applied)" if lr is not None else name


def _coordinate(c: Mapping[str, Any]) -> str:
    return f"pixel ({c['row']}, {c['column']}), channel {c['channel']}"


def build_figure10(data: Mapping[str, Any]) -> Figure:
    """Update histories: one column per coordinate, updates above, gradients below."""
    coords = data["coordinates"]
    fig = style.new_figure((4.6 * len(coords), 4.6))
    axes = fig.subplots(2, len(coords), squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": (3, 1)})
    steps = data["steps"]
    for top, bottom, coord in zip(axes[0], axes[1], coords, strict=True):
        for name in RULES:
            top.plot(steps, coord["updates"][name], color=style.color(name),
                     linestyle=style.linestyle(name), lw=1.2, label=_label(name, data))
        top.axhline(0, color="0.6", lw=0.6)
        top.set_title(_coordinate(coord), fontsize=9)
        top.set_ylabel("proposed update")
        bottom.plot(steps, coord["grad"], color="0.3", lw=1.0)
        bottom.axhline(0, color="0.6", lw=0.6)
        bottom.set_ylabel("gradient")
        bottom.set_xlabel("Step")
        top.legend(fontsize=7, loc="best")
    fig.suptitle(data.get("title", ""), fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    style.stamp(fig, data)
    return fig


def build_response(data: Mapping[str, Any]) -> Figure:
    """Update against current gradient, one panel per selected step, for one coordinate."""
    panels = data["panels"]
    fig = style.new_figure((3.2 * len(panels), 3.3))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for name in RULES:
            ax.plot(panel["x"], panel["updates"][name], color=style.color(name),
                    linestyle=style.linestyle(name), lw=1.3, label=_label(name, data))
        ax.axvline(panel["grad"], color="0.3", lw=0.8, linestyle=":")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        span = max(abs(v) for name in ZOOM_ON for v in panel["updates"][name])
        if span > 0:
            ax.set_ylim(-1.3 * span, 1.3 * span)
        ax.set_title(f"Step {panel['step']}", fontsize=9)
        ax.set_xlabel("current gradient")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    axes[0].set_ylabel("proposed update")
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"{data.get('title', '')}: {_coordinate(data['coordinate'])}", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    style.stamp(fig, data)
    return fig


def make(data_path: Path, out_stem: Path) -> None:
    """Read ``figure10.json`` ... ``figure13.json`` (the file's name says which figure) and write
    ``out_stem.{png,pdf}``."""
    name = Path(data_path).stem
    build = build_figure10 if name == "figure10" else build_response
    style.save(build(curves.read(data_path, name)), Path(out_stem))
