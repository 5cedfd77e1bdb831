"""Figure 9 (NIPS / arXiv v2): Neural Art images made by the trained LSTM optimizer.

Two triples side by side, each content (left), the LSTM's result after 128 steps (centre)
and the style (right): the training style at 64x64, and a style never seen in training at
128x128. Each triple's data is ``figure9a.json`` / ``figure9b.json`` with its images in the
``.npz`` file it names (float arrays ``content``, ``lstm``, ``style``, ``[3, S, S]``);
images are shown clipped to [0, 1] at their own resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from repro.figures import curves, style

PANELS = ("figure9a", "figure9b")
KEYS = (("content", "Content"), ("lstm", "LSTM result"), ("style", "Style"))


def load_triple(data_dir: Path, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON of triple ``name`` and its images (``[H, W, 3]``, clipped to [0, 1])."""
    data = curves.read(Path(data_dir) / f"{name}.json", name, "figure9")
    with np.load(Path(data_dir) / data["images"]) as arrays:
        images = {key: np.clip(arrays[key].transpose(1, 2, 0), 0, 1) for key, _ in KEYS}
    return data, images


def build_figure9(triples: Sequence[tuple[Mapping[str, Any], Mapping[str, np.ndarray]]]) -> Figure:
    """One row: for each condition its content, LSTM result and style, titled."""
    fig = style.new_figure((2.0 * 3 * len(triples), 2.7))
    grid = fig.add_gridspec(1, len(triples), wspace=0.08)
    for column, (data, images) in enumerate(triples):
        sub = grid[0, column].subgridspec(1, 3, wspace=0.04)
        for k, (key, label) in enumerate(KEYS):
            ax = fig.add_subplot(sub[0, k])
            ax.imshow(images[key], interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            caption = label
            if key == "lstm":
                caption += f"\nloss {data['loss']['initial']:.3g} → {data['loss']['lstm']:.3g}"
            ax.set_xlabel(caption, fontsize=7)
            if k == 1:
                ax.set_title(data.get("title", ""), fontsize=9)
    style.stamp(fig, *(data for data, _ in triples))
    return fig


def make_figure9(data_dir: Path, out_stem: Path) -> None:
    """Read ``data_dir/figure9{a,b}.json`` and their images; write ``out_stem.{png,pdf}``."""
    style.save(build_figure9([load_triple(data_dir, name) for name in PANELS]), Path(out_stem))
