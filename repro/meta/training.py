"""Lightning around the MetaLearner: the Trainer, resumable atomic checkpoints, preemption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from repro.config import EXECUTION_SETTINGS, Config
from repro.io import brief, save_torch
from repro.optimizers.checkpoint import CheckpointError

# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("meta.steps", "meta.val_every", "meta.checkpoint_every", "meta.max_skips",
                     *(f"optimizer.{key}" for key in EXECUTION_SETTINGS), "trainer", "tune",
                     "evaluate", "grid", "profile")


class Preempted(RuntimeError):
    """Meta-training stopped on SIGTERM after writing its last checkpoint."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed into place: never half-written."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        """``torch.save`` through :func:`repro.io.save_torch`."""
        save_torch(Path(path), checkpoint)


class Preemption(Callback):
    """On SIGTERM (any rank), write the last checkpoint after the current truncation and stop."""

    def __init__(self, last: ModelCheckpoint) -> None:
        self.last = last
        self.stopped_at: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Checks the flag Lightning's SIGTERM handler sets; all ranks decide together."""
        if trainer.strategy.reduce_boolean_decision(trainer.received_sigterm, all=False):
            trainer.save_checkpoint(self.last_path)
            trainer.should_stop = True
            self.stopped_at = trainer.global_step
            # Handled here: otherwise Lightning ends the process with exit code 0 at epoch end.
            trainer._signal_connector.received_sigterm = False

    @property
    def last_path(self) -> Path:
        """Where the resumable checkpoint goes."""
        return Path(self.last.dirpath) / f"{self.last.CHECKPOINT_NAME_LAST}.ckpt"


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
    changed = sorted(
        key for key in set(mine) | set(theirs)
        if mine.get(key) != theirs.get(key) and not key.startswith(RESUMABLE_CHANGES)
    )
    if changed:
        key = changed[0]
        raise CheckpointError(
            f"cannot resume from {last}: it was trained with {key}={theirs.get(key)!r} "
            f"(config: {mine.get(key)!r}); delete {run_dir} or pass --trainer.resume false"
        )
    return last


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def make_trainer(
    config: Config, run_dir: Path, loggers: list[Any] | bool
) -> tuple[L.Trainer, ModelCheckpoint, Preemption]:
    """The Trainer of a fit with its best-by-validation and resumable-last checkpoints."""
    best = ModelCheckpoint(
        dirpath=checkpoint_dir(run_dir), filename="best", monitor="val/final_loss", mode="min",
        save_top_k=1,
    )
    last = ModelCheckpoint(
        dirpath=checkpoint_dir(run_dir), save_top_k=0, save_last=True,
        every_n_train_steps=config.meta.checkpoint_every,
    )
    preemption = Preemption(last)
    trainer_config = config.trainer
    callbacks: list[Callback] = [best, last, preemption]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer = L.Trainer(
        max_steps=config.meta.steps,
        val_check_interval=config.meta.val_every,
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        inference_mode=False,
        accelerator=trainer_config.accelerator,
        devices=trainer_config.devices,
        num_nodes=trainer_config.num_nodes,
        strategy=trainer_config.strategy,
        deterministic=trainer_config.deterministic,
        gradient_clip_val=config.meta.clip_grad_norm or None,
        gradient_clip_algorithm="norm",
        plugins=[AtomicCheckpointIO()],
        logger=loggers,
        callbacks=callbacks,
        log_every_n_steps=trainer_config.log_every,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    return trainer, best, preemption
