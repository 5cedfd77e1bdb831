"""Reading a learned optimizer's checkpoint: phi with the settings it was trained under.

The files are those ``python -m repro fit`` exports (``optimizer.ckpt``) and the shipped ones
under ``repro/weights/``; both hold ``{"state_dict": phi, "optimizer": OptimizerConfig fields}``.
Kept apart from the meta-learner so that loading phi does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from repro.config import EXECUTION_SETTINGS, INIT_SETTINGS, OptimizerConfig
from repro.io import brief
from repro.optimizers import make_lstm


class CheckpointError(ValueError):
    """A missing or incompatible optimizer checkpoint; the message is one line."""


def load_optimizer(
    path: Path, expected: OptimizerConfig | None = None, build: Callable = make_lstm
) -> torch.nn.Module:
    """The optimizer stored at ``path``, made by ``build``; checks it against ``expected``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; run 'python -m repro fit' first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        settings = OptimizerConfig(**payload["optimizer"])
        state = payload["state_dict"]
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise CheckpointError(
            f"checkpoint {path} is not a readable optimizer checkpoint ({brief(error)})"
        ) from None
    diff = [
        f"optimizer.{k}={getattr(settings, k)!r} (config: {getattr(expected, k)!r})"
        for k in OptimizerConfig.__dataclass_fields__
        if expected is not None
        and k not in EXECUTION_SETTINGS + INIT_SETTINGS
        and getattr(settings, k) != getattr(expected, k)
    ]
    if diff:
        raise CheckpointError(f"checkpoint {path} was trained with {', '.join(diff)}")
    lstm = build(settings if expected is None else expected)
    try:
        lstm.load_state_dict(state)
    except RuntimeError:
        raise CheckpointError(
            f"checkpoint {path} does not match the LSTM of its own settings"
        ) from None
    return lstm
