"""The paper's plot conventions in one place (paper.md §2.0), and saving figures atomically.

* Colours are ColorBrewer Set1; ``LSTM-sub`` (Fig. 7) takes Set1's brown so it stays
  distinguishable from the ``LSTM``'s orange.
* Learned optimizers (names starting with ``LSTM``) are solid, hand-written ones dashed; the
  official code's optimizer, a reference beside ours, is black and dotted.
* Legend order: ADAM, RMSprop, SGD, NAG, LSTM, LSTM-sub, the reference; unknown names follow,
  sorted.
* The paper's own values, where a panel carries them, are small hollow circles in each
  optimizer's colour.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas: no pyplot, no
global backend switch, no figure manager to leak, so building figures is safe anywhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

OFFICIAL = "LSTM (official code's φ)"
"""The curve of the official code's optimizer (``evaluate.reference_label``'s default)."""
COLORS: dict[str, str] = {
    "ADAM": "#e41a1c",
    "RMSprop": "#377eb8",
    "SGD": "#4daf4a",
    "NAG": "#984ea3",
    "LSTM": "#ff7f00",
    "LSTM-sub": "#a65628",
    OFFICIAL: "#000000",
}
LINESTYLES: dict[str, Any] = {OFFICIAL: (0, (1, 1.3))}
"""Line styles that differ from the learned-solid, hand-written-dashed rule."""
LEGEND_ORDER: tuple[str, ...] = (
    "ADAM", "RMSprop", "SGD", "NAG", "LSTM", "LSTM-sub", OFFICIAL
)
PAPER_MARKER: dict[str, Any] = {"marker": "o", "markersize": 4.5, "markerfacecolor": "none",
                                "markeredgewidth": 1.1, "linestyle": "none"}
"""How the paper's read-off values are drawn (edge in the optimizer's colour)."""
PAPER_LABEL = "paper (read off)"
# Colours for names the paper does not use (Set1's remaining colours, then greys).
_EXTRA_COLORS: tuple[str, ...] = ("#f781bf", "#999999", "#ffd92f", "#1b9e77", "#666666")

LINEWIDTH = 1.6
BAND_ALPHA = 0.18
PNG_DPI = 200


def linestyle(name: str) -> Any:
    """Its own style for a name of :data:`LINESTYLES`; else solid for learned optimizers (every
    name starting with ``LSTM``), dashed for the others."""
    return LINESTYLES.get(name, "-" if name.startswith("LSTM") else "--")


def color(name: str) -> str:
    """The paper's colour for ``name``; a stable extra colour for names it does not use."""
    return COLORS.get(name, _EXTRA_COLORS[sum(map(ord, name)) % len(_EXTRA_COLORS)])


def ordered(names: Iterable[str]) -> list[str]:
    """``names`` in the paper's legend order; names the paper does not use follow, sorted."""
    names = list(names)
    known = [n for n in LEGEND_ORDER if n in names]
    return known + sorted(n for n in names if n not in LEGEND_ORDER)


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure drawn by Agg, independent of pyplot and of the session's backend."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def stamp_text(*datas: Mapping[str, Any]) -> str:
    """``"profile: paper · seed 0 · dataset mnist · encoder vgg19 · commit abc1234"``.

    Reads each data's ``profile`` (or ``meta.profile``) and, where present, ``meta`` seed,
    dataset, encoder and commit (shortened to 7 characters). Of several panels' data each field
    lists the distinct values, e.g. ``"profile: quick/paper"``; a field some panels lack shows
    the others' values.
    """
    keys = ("profile", "seed", "dataset", "encoder", "commit")
    fields: dict[str, list[str]] = {key: [] for key in keys}
    for data in datas:
        meta = data.get("meta") or {}
        values = {
            "profile": data.get("profile", meta.get("profile", "unknown")),
            **{key: meta.get(key) for key in ("seed", "dataset", "encoder")},
            "commit": str(meta["commit"])[:7] if meta.get("commit") else None,
        }
        for key, value in values.items():
            if value is not None and value != "" and str(value) not in fields[key]:
                fields[key].append(str(value))
    parts = [f"profile: {'/'.join(fields.pop('profile'))}"]
    return " · ".join(parts + [f"{key} {'/'.join(seen)}" for key, seen in fields.items() if seen])


def stamp(fig: Figure, *datas: Mapping[str, Any]) -> Text:
    """Write the data's profile (and seed, dataset, encoder, commit) small in the lower-right
    corner (see :func:`stamp_text`)."""
    return fig.text(0.995, 0.005, stamp_text(*datas), ha="right", va="bottom", fontsize=6,
                    color="0.45")


def save(fig: Figure, out_stem: Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``out_stem.<fmt>`` for each format atomically (a reader, or ``make``, never sees a
    half-written file), creating the folder if missing, and return the paths. PDFs carry no
    creation date, so they are reproducible."""
    out_stem = Path(out_stem)
    folder = out_stem.parent
    folder.mkdir(parents=True, exist_ok=True)
    options = {"png": {"dpi": PNG_DPI}, "pdf": {"metadata": {"CreationDate": None}}}
    written = []
    for fmt in formats:
        final = folder / f"{out_stem.name}.{fmt}"
        # Same folder (so os.replace is atomic), unique name, the usual permissions (umask).
        tmp = folder / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "xb") as handle:
                fig.savefig(handle, format=fmt, **options.get(fmt, {}))
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(final)
    return written
