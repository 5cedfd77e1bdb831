"""The figure of a meta-training sweep or seed study's record (``repro sweep``): every point's
validation curve against the tuned baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw_sweep(path: Path, data: dict[str, Any]) -> Path:
    """Draw the record ``data`` as a PNG at ``path``; returns ``path``."""
    from repro.figures.style import new_figure, save

    fig = new_figure((6, 3.6))
    ax = fig.subplots()
    for record in data["points"]:
        steps = [s for s, v in record["history"] if v is not None]
        values = [v for _, v in record["history"] if v is not None]
        ax.plot(steps, values, label=record["name"], lw=1.2)
    for name, loss in data["baselines"]["val_loss"].items():
        ax.axhline(loss, ls=":", lw=0.8, color="grey")
        ax.annotate(f"tuned {name}", (1.0, loss), xycoords=("axes fraction", "data"),
                    fontsize=7, color="grey", va="bottom", ha="right")
    ax.set(xlabel="truncations", ylabel="validation loss (step 100)", yscale="log",
           title=f"{data['dataset']}: meta-training {data['part']}")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save(fig, path.with_suffix(""), formats=("png",))
    return path
