"""Reading a learned optimizer's checkpoint: phi with the settings it was trained under.

The files are those ``python -m repro fit`` exports (``optimizer.ckpt``) and the shipped ones
under ``repro/weights/``; both hold ``{"state_dict": phi, "optimizer": OptimizerConfig fields}``.
Kept apart from the meta-learner so that loading phi does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from repro.config import EXECUTION_SETTINGS, INIT_SETTINGS, OptimizerConfig
from repro.io import brief
from repro.optimizers import make_lstm


class CheckpointError(ValueError):
    """A missing or incompatible optimizer checkpoint; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    """An optimizer file read once: its path, its settings and the whole payload."""

    path: Path
    payload: dict[str, Any]
    settings: OptimizerConfig

    @classmethod
    def read(cls, path: Path) -> Checkpoint:
        """The checkpoint at ``path``; a one-line :class:`CheckpointError` if missing or bad."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {path} does not exist; run 'python -m repro fit' first"
            )
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any unreadable file gets the same error
            raise CheckpointError(
                f"checkpoint {path} is not a readable optimizer checkpoint (not a file torch.save "
                "wrote)"
            ) from None
        if isinstance(payload, dict) and "pytorch-lightning_version" in payload:
            raise CheckpointError(
                f"checkpoint {path} is a fit's resumable checkpoint, not an optimizer; pass "
                f"{_exported(path)}"
            )
        try:
            settings = OptimizerConfig(**payload["optimizer"])
            if "state_dict" not in payload:
                raise KeyError("state_dict")
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same error
            raise CheckpointError(
                f"checkpoint {path} is not a readable optimizer checkpoint ({brief(error)})"
            ) from None
        return cls(path, payload, settings)

    @property
    def meta(self) -> dict[str, Any]:
        """The provenance the file records (``{}`` when none)."""
        return self.payload.get("meta") or {}

    def optimizer(
        self, expected: OptimizerConfig | None = None, build: Callable = make_lstm
    ) -> torch.nn.Module:
        """The stored optimizer, made by ``build``; checks it against ``expected``."""
        settings = self.settings
        diff = [
            f"optimizer.{k}={getattr(settings, k)!r} (config: {getattr(expected, k)!r})"
            for k in OptimizerConfig.__dataclass_fields__
            if expected is not None
            and k not in EXECUTION_SETTINGS + INIT_SETTINGS
            and getattr(settings, k) != getattr(expected, k)
        ]
        if diff:
            raise CheckpointError(f"checkpoint {self.path} was trained with {', '.join(diff)}")
        lstm = build(settings if expected is None else expected)
        try:
            lstm.load_state_dict(self.payload["state_dict"])
        except RuntimeError:
            raise CheckpointError(
                f"checkpoint {self.path} does not match the LSTM of its own settings"
            ) from None
        return lstm

    def selection(self) -> dict[str, Any]:
        """Which phi the file holds: its seed, the truncation selected on validation and that
        validation loss (from a fit's export or a shipped weights file)."""
        meta = self.meta
        if "truncation" in meta:  # a shipped weights file (repro/weights)
            keys = ("dataset", "seed", "truncation", "val_loss", "commit")
            return {key: meta.get(key) for key in keys}
        return {
            "seed": meta.get("phi_seed", meta.get("seed")),
            "truncation": self.payload.get("selected_truncation", self.payload.get("meta_steps")),
            "val_loss": self.payload.get("val_final_loss"),
            "commit": meta.get("commit"),
        }


def _exported(resumable: Path) -> Path:
    """The optimizer a fit exports beside ``<run>/fit/checkpoints/<name>.ckpt``."""
    parts = resumable.parent.parent
    return parts.parent / "optimizer.ckpt" if parts.name == "fit" else Path("optimizer.ckpt")


def load_optimizer(
    path: Path, expected: OptimizerConfig | None = None, build: Callable = make_lstm
) -> torch.nn.Module:
    """The optimizer stored at ``path``, made by ``build``; checks it against ``expected``."""
    return Checkpoint.read(path).optimizer(expected, build)
