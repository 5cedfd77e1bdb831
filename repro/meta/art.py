"""Neural Art's outputs beyond the curves: the image triples (Figure 9) and the appendix's
views of the learned update rule (Figures 10-13), written by ``repro evaluate``.

Figure 9's data for one condition is ``<name>.json`` (losses, sizes, file names) with the
images beside it: ``<name>.npz`` (float arrays ``content``, ``lstm``, ``style``,
``[3, S, S]`` in [0, 1] before clipping) and one PNG per image. Figure 10's data holds the
proposed updates of the LSTM, SGD and ADAM for two coordinates along the LSTM's trajectory;
Figures 11-13 each hold one coordinate's update-versus-gradient responses at selected steps.
``problem`` is a batch of :class:`repro.optimizees.neural_art.NeuralArtProblems` (not imported:
the family imports this module to write them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.config import Config
from repro.io import atomic_write, write_json
from repro.meta.probe import final_params, update_histories
from repro.optimizers.base import UpdateRule

UPDATE_FIGURES = ("figure10", "figure11", "figure12", "figure13")
HISTORY_RULES = ("LSTM", "SGD", "ADAM")


def coordinates(size: int) -> list[tuple[int, int, int]]:
    """The (channel, row, column) pixels shown: red at the centre, green and blue off-centre."""
    return [(0, size // 2, size // 2), (1, size // 4, 3 * size // 4), (2, 3 * size // 4, size // 4)]


def response_steps(horizon: int) -> list[int]:
    """The steps whose update responses are drawn: the first, an eighth, half, the last."""
    return sorted({1, max(1, horizon // 8), max(1, horizon // 2), horizon})


def _save_png(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    data = (np.clip(image.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    return atomic_write(path, lambda tmp: Image.fromarray(data).save(tmp, format="PNG"))


def write_images(
    config: Config, data_dir: Path, problem: Any, lstm: UpdateRule,
    meta: Mapping[str, Any], title: str,
) -> list[Path]:
    """Figure 9's triple for one condition: test content 0, the LSTM's result, the style."""
    name = config.problem.images
    first = problem.family.sample("test", 0, 1, problem.theta0.device)
    theta = final_params(first, lstm, config.meta.horizon)
    images = {
        "content": first.content[0].cpu().numpy(),
        "lstm": first.images(theta)[0].cpu().numpy(),
        "style": problem.family.style.cpu().numpy(),
    }
    npz = data_dir / f"{name}.npz"

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **images)

    written = [atomic_write(npz, save)]
    written += [_save_png(data_dir / f"{name}_{key}.png", array) for key, array in images.items()]
    with torch.no_grad():
        losses = {
            "initial": float(first.loss(first.initial_params())[0]),
            "lstm": float(first.loss(theta)[0]),
        }
    written.append(write_json(data_dir / f"{name}.json", {
        "figure": name, "title": title, "profile": config.profile,
        "size": config.problem.size, "steps": config.meta.horizon,
        "style": config.problem.style, "loss": losses, "images": npz.name,
        "meta": dict(meta),
    }))
    return written


def write_update_views(
    config: Config, data_dir: Path, problem: Any,
    rules: Mapping[str, tuple[UpdateRule, float | None]], meta: Mapping[str, Any],
) -> list[Path]:
    """Figure 10 (update histories) and Figures 11-13 (update vs gradient) data."""
    size, horizon = config.problem.size, config.meta.horizon
    pixels = coordinates(size)
    flat = [c * size * size + y * size + x for c, y, x in pixels]
    steps = response_steps(horizon)
    data = update_histories(
        problem, "LSTM", {name: rules[name][0] for name in HISTORY_RULES}, horizon, flat, steps
    )
    lrs = {name: rules[name][1] for name in HISTORY_RULES}
    common = {
        "profile": config.profile, "problem": f"neural art, {size}x{size}, test instance 0",
        "lr": lrs, "meta": dict(meta),
    }

    def describe(k: int) -> dict[str, Any]:
        channel, row, col = pixels[k]
        return {"index": flat[k], "channel": "RGB"[channel], "row": row, "column": col}

    written = [write_json(data_dir / f"{UPDATE_FIGURES[0]}.json", {
        "figure": UPDATE_FIGURES[0],
        "title": "Updates proposed along the LSTM's trajectory",
        "steps": data["steps"], "loss": data["loss"],
        "coordinates": [
            {**describe(k), "grad": data["grad"][flat[k]],
             "updates": {n: data["updates"][n][flat[k]] for n in HISTORY_RULES}}
            for k in range(2)
        ],
        **common,
    })]
    return written + [
        write_json(data_dir / f"{name}.json", {
            "figure": name, "title": "Proposed update as a function of the current gradient",
            "coordinate": describe(k), "panels": data["responses"][flat[k]], **common,
        })
        for k, name in enumerate(UPDATE_FIGURES[1:])
    ]
