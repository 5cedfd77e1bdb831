"""Helpers shared by the figure tests."""

import io
import warnings

import numpy as np


def legend_texts(legend) -> list[str]:
    """The entries of a matplotlib legend, in order."""
    return [t.get_text() for t in legend.get_texts()]


def curve_lines(ax) -> dict:
    """The labelled lines of an Axes, by label."""
    return {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def render_without_warnings(fig) -> None:
    """Draw the figure, turning any warning (e.g. a missing glyph) into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png", dpi=40)


def synthetic_curve(start: float, rate: float, steps: int = 100, **extra) -> dict:
    """An exponential decay with a ±10% band: obviously made up."""
    step = np.arange(1, steps + 1)
    mean = start * np.exp(-rate * step) + 0.01
    return {
        "step": step.tolist(),
        "mean": mean.tolist(),
        "lo": (0.9 * mean).tolist(),
        "hi": (1.1 * mean).tolist(),
        "n": 3,
        "lr": None,
        **extra,
    }
