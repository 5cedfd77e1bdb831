"""A fit's checkpoints: the exported optimizer, resuming from ``last.ckpt``, RNG states.

An exported optimizer is a :class:`~repro.optimizers.phi_file.PhiFile` (read back without
Lightning); a fit's resumable ``last.ckpt`` is refused when it was trained under other settings.
Every refusal is a :class:`~repro.optimizers.phi_file.CheckpointError` whose message is one
line.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.config import EXECUTION_SETTINGS, Config
from repro.io import brief
from repro.optimizers.phi_file import CheckpointError, PhiFile

# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("meta.steps", "meta.val_every", "meta.checkpoint_every", "meta.max_skips",
                     *(f"optimizer.{key}" for key in EXECUTION_SETTINGS), "trainer", "tune",
                     "evaluate", "grid", "profile")


def rng_states() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) random generators."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore the generators from :func:`rng_states`."""
    random.setstate(states["python"])
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def export_optimizer(
    net: torch.nn.Module, config: Config, path: Path, selection: dict[str, Any],
    meta: dict[str, Any], fit: dict[str, Any],
) -> Path:
    """Write phi (``net``'s parameters) with the settings ``config`` trained it under, its
    ``selection``, provenance ``meta`` and ``fit`` record to ``path`` (atomically)."""
    phi = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return PhiFile(phi, config.to_dict()["optimizer"], selection,
                   {"experiment": config.experiment, **meta}, fit).save(path)


def checkpoint_dir(run_dir: Path) -> Path:
    """Folder of a fit's checkpoints."""
    return run_dir / "checkpoints"


def resume_from(config: Config, run_dir: Path) -> Path | None:
    """The last checkpoint of an interrupted fit of ``config`` in ``run_dir``, if it may resume.

    A checkpoint of a different experiment or different meta-training settings is refused with
    a one-line :class:`CheckpointError`.
    """
    last = checkpoint_dir(run_dir) / "last.ckpt"
    if not config.trainer.resume or not last.is_file():
        return None
    try:
        saved = torch.load(last, map_location="cpu", weights_only=False)["hyper_parameters"]
        saved = saved["config"]
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise CheckpointError(
            f"cannot resume from {last}: unreadable checkpoint ({brief(error)})"
        ) from None
    mine = _flatten(config.to_dict())
    theirs = _flatten(saved)
    changed = sorted(  # a key only the checkpoint has is a setting since removed
        key for key in mine
        if mine[key] != theirs.get(key) and not key.startswith(RESUMABLE_CHANGES)
    )
    if changed:
        key = changed[0]
        raise CheckpointError(
            f"cannot resume from {last}: it was trained with {key}={theirs.get(key)!r} "
            f"(config: {mine.get(key)!r}); delete {run_dir} or pass --trainer.resume false"
        )
    return last


def resumed_step(last: Path) -> int:
    """The truncation a fit resumed from ``last`` (a checkpoint :func:`resume_from` accepted)
    goes on from: its ``global_step``."""
    return int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
