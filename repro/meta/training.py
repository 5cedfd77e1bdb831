"""Lightning around the MetaLearner: the Trainer, resumable atomic checkpoints, preemption and
the export of the phi selected by validation."""

from __future__ import annotations

import logging
import resource
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from repro.config import Config
from repro.io import save_torch
from repro.meta.checkpoint import checkpoint_dir, export_optimizer
from repro.meta.learner import MetaLearner, MetaTrainingDiverged


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
        self.interrupted = False

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule,
                     exception: BaseException) -> None:
        """Notes a Ctrl-C, which Lightning's fit turns into ``SystemExit(1)``."""
        self.interrupted = isinstance(exception, KeyboardInterrupt)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        """Checks the flag Lightning's SIGTERM handler sets; all ranks decide together."""
        if trainer.strategy.reduce_boolean_decision(trainer.received_sigterm, all=False):
            trainer.save_checkpoint(self.last_path)
            trainer.should_stop = True
            self.stopped_at = trainer.global_step
            # Private: received_sigterm is read-only, and left set fit raises SIGTERMException.
            trainer._signal_connector.received_sigterm = False

    @property
    def last_path(self) -> Path:
        """Where the resumable checkpoint goes."""
        return Path(self.last.dirpath) / f"{self.last.CHECKPOINT_NAME_LAST}.ckpt"


def make_trainer(
    config: Config, run_dir: Path, loggers: list[Any] | bool
) -> tuple[L.Trainer, ModelCheckpoint, Preemption]:
    """The Trainer of a fit with its best-by-validation and resumable-last checkpoints.

    Lightning's notes (the hardware found, settings read) are silenced, its warnings kept: they
    go to stderr before ``Trainer.fit`` prepares the data, so a missing or corrupt dataset stays
    the one line there.
    """
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
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


def export_selected(
    path: Path, learner: MetaLearner, trainer: L.Trainer, best: ModelCheckpoint,
    resume: Path | None, seconds: float, meta: dict[str, Any],
) -> Path:
    """Write to ``path`` the phi ``best`` selected by validation (the last one when there was
    no validation) with the record of the fit that trained it; :class:`MetaTrainingDiverged`,
    writing nothing, when that phi is not finite."""
    config = learner.config
    selected, val_loss, truncation = "final", None, int(trainer.global_step)
    if best.best_model_path:
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
        learner.load_state_dict(state["state_dict"])
        truncation = int(state["global_step"])
        selected = f"best of validation at step {truncation}"
        val_loss = float(best.best_model_score)
    if not all(bool(p.isfinite().all()) for p in learner.optimizer_net.parameters()):
        raise MetaTrainingDiverged(
            f"phi is not finite at truncation {truncation}; no optimizer written: lower "
            "meta.lr or set meta.clip_grad_norm"
        )
    selection = {"seed": config.meta.phi_seed(config.seed), "truncation": truncation,
                 "val_loss": val_loss, "criterion": selected}
    fit = {
        "meta_steps": int(trainer.global_step), "skipped_truncations": learner.skipped,
        "clip_grad_norm": config.meta.clip_grad_norm or None, "world_size": trainer.world_size,
        "resumed_from": str(resume) if resume else None, "seconds": seconds,
        "seconds_per_truncation": seconds / max(learner.truncations_run, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return export_optimizer(learner.optimizer_net, config, path, selection, meta, fit)
