"""Helpers shared by the figure tests."""

import io
import warnings


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
