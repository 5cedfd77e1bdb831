"""The one file format of a trained optimizer (``.ckpt`` a fit exports, ``.pt`` shipped under
``repro/weights``): phi with the settings it runs under, which phi it is, where it came from.

Written only by :meth:`PhiFile.save` and read only by :meth:`PhiFile.read`, as a plain dict that
``torch.load(path, weights_only=True)`` reads back::

    {"format": 1, "state_dict": phi, "optimizer": OptimizerConfig fields,
     "selection": {"seed", "truncation", "val_loss", "criterion"},
     "meta": {"experiment", "dataset", "config", "seed", "commit", ...},
     "fit": {"meta_steps", "seconds", ...}}

No path in it is absolute. Kept apart from the meta-learner so that loading phi does not
import Lightning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from repro.config import EXECUTION_SETTINGS, INIT_SETTINGS, OptimizerConfig
from repro.io import brief, portable, save_torch
from repro.optimizers import make_lstm

FORMAT = 1
SELECTION = ("seed", "truncation", "val_loss", "criterion")
"""Which phi a file holds: the seed of its fit, the truncation selected, that truncation's
validation loss, and how it was chosen (None where not ours to say, as for converted files)."""


class CheckpointError(ValueError):
    """A missing or incompatible optimizer file; the message is one line."""


@dataclass(frozen=True)
class PhiFile:
    """A trained optimizer: ``phi`` (its parameters), the ``optimizer`` settings it runs under,
    its ``selection`` (:data:`SELECTION`), its provenance ``meta`` and, when a fit here made it,
    that fit's record ``fit``. ``path``: where it was read from (not saved)."""

    phi: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    selection: dict[str, Any]
    meta: dict[str, Any]
    fit: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        OptimizerConfig(**self.optimizer)  # refused here, not when the file is read back
        if set(self.selection) != set(SELECTION):
            raise ValueError(f"selection must hold {', '.join(SELECTION)}, got {self.selection}")

    @property
    def settings(self) -> OptimizerConfig:
        """The optimizer settings phi was trained under."""
        return OptimizerConfig(**self.optimizer)

    def save(self, path: Path) -> Path:
        """Write the file to ``path`` atomically, its paths made portable."""
        meta = {**self.meta, "config": _relative(self.meta.get("config"))}
        fit = {**self.fit, **({"resumed_from": _relative(self.fit["resumed_from"])}
                              if "resumed_from" in self.fit else {})}
        return save_torch(path, {
            "format": FORMAT, "state_dict": self.phi, "optimizer": self.optimizer,
            "selection": self.selection, "meta": meta, "fit": fit,
        })

    @classmethod
    def read(cls, path: Path) -> PhiFile:
        """The file at ``path``; a one-line :class:`CheckpointError` if missing or not one."""
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
            if not isinstance(payload, dict):
                raise TypeError(f"holds a {type(payload).__name__}")
            payload = payload if payload.get("format") == FORMAT else _upgrade(payload)
            parts = {key: payload[key] for key in ("optimizer", "selection", "meta", "fit")}
            return cls(payload["state_dict"], **parts, path=path)
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same error
            raise CheckpointError(
                f"checkpoint {path} is not a readable optimizer checkpoint ({brief(error)})"
            ) from None

    def replace(self, **changes: Any) -> PhiFile:
        """This file with ``changes`` (fields, or keys of ``meta`` and ``selection``)."""
        own = {key: changes.pop(key) for key in list(changes) if key in _FIELDS}
        selection = {k: changes.pop(k) for k in list(changes) if k in SELECTION}
        return dataclasses.replace(self, **own, selection={**self.selection, **selection},
                                   meta={**self.meta, **changes})

    def optimizer_net(
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
            lstm.load_state_dict(self.phi)
        except RuntimeError:
            raise CheckpointError(
                f"checkpoint {self.path} does not match the LSTM of its own settings"
            ) from None
        return lstm

    def selected(self) -> dict[str, Any]:
        """Which phi the file holds, as data files record it: the dataset it was meta-trained
        on, its seed, the truncation selected, that validation loss and the commit of its fit."""
        chosen = self.selection
        return {"dataset": self.meta.get("dataset"), "seed": chosen["seed"],
                "truncation": chosen["truncation"], "val_loss": chosen["val_loss"],
                "commit": self.meta.get("commit")}


_FIELDS = {f.name for f in dataclasses.fields(PhiFile)}


def _upgrade(old: dict[str, Any]) -> dict[str, Any]:
    """A file written before :data:`FORMAT` 1 in its layout: a fit's export (phi, the fit's
    record and its provenance at the top level) or a shipped file (the selection in ``meta``)."""
    rest = {k: v for k, v in old.items() if k not in ("state_dict", "optimizer", "meta")}
    meta = dict(old.get("meta") or {})
    if "truncation" in meta:  # shipped
        selection = {key: meta.pop(key) for key in ("seed", "truncation", "val_loss")}
        selection["criterion"] = meta.pop("selected")
        return {**old, "selection": selection, "meta": meta, "fit": {}}
    selection = {"seed": meta.get("phi_seed", meta.get("seed")),
                 "truncation": rest.pop("selected_truncation", old.get("meta_steps")),
                 "val_loss": rest.pop("val_final_loss", None),
                 "criterion": rest.pop("selected", None)}
    meta["experiment"] = rest.pop("experiment", None)
    return {**old, "selection": selection, "meta": meta, "fit": rest}


def _relative(path: str | None) -> str | None:
    """``path`` relative to the checkout holding it, else its file name: never absolute."""
    if path is None:
        return None
    named = portable(path)
    return Path(named).name if Path(named).is_absolute() else named


def _exported(resumable: Path) -> Path:
    """The optimizer a fit exports beside ``<run>/fit/checkpoints/<name>.ckpt``."""
    parts = resumable.parent.parent
    return parts.parent / "optimizer.ckpt" if parts.name == "fit" else Path("optimizer.ckpt")


def load_optimizer(
    path: Path, expected: OptimizerConfig | None = None, build: Callable = make_lstm
) -> torch.nn.Module:
    """The optimizer stored at ``path``, made by ``build``; checks it against ``expected``."""
    return PhiFile.read(path).optimizer_net(expected, build)
