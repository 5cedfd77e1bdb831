"""The MetaLearner: one training_step is one truncation and one meta-optimizer step.

It is the base of each experiment's LightningModule (:mod:`repro.meta.experiments`), which
names the experiment's data module; the learner draws its problems from that data module once
``Trainer.fit`` has prepared and set it up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torchmetrics

from repro.config import Config, MetaConfig
from repro.data.problems import ProblemData
from repro.errors import Diverged
from repro.meta.checkpoint import rng_states, set_rng_states
from repro.meta.evaluate import diverged_as_inf
from repro.meta.learned import make_learned
from repro.meta.unroll import Carry, meta_loss, rollout, start, truncate, unroll
from repro.optimizees import Dataset, Family


class MetaTrainingDiverged(Diverged):
    """More truncations in a row than ``meta.max_skips`` had a non-finite meta-loss or gradient."""


class MetaLearner(L.LightningModule):
    """Meta-trains an LSTMOptimizer on problems of the configured family by truncated BPTT.

    A problem is sampled and all states reset every ``meta.horizon`` optimizee steps; theta,
    the optimizer state and the step counter are carried, detached, between truncations.
    Under DDP each rank draws its own problems (rank r of R takes instances r, R + r, ...).
    A truncation whose meta-loss or meta-gradient is not finite on any rank is skipped (no
    meta-optimizer step) and its episode reset. Checkpoints hold the episode state and the
    RNG states, so a resumed run continues exactly where it stopped.
    Validation rolls the current optimizer over fixed validation problems for the full horizon
    and logs their mean final loss, which selects the best checkpoint.

    Problems come from ``source`` when one is given, else from the data module ``Trainer.fit``
    received, once it is set up (:meth:`setup`): the one its problem family names
    (``config.problem.datamodule``), as its training sources are (``training_sources``).
    """

    def __init__(self, config: Config, source: Family | None = None) -> None:
        super().__init__()
        self.config = config
        self.save_hyperparameters({"config": config.to_dict()})
        # The family is built before phi: the Neural Art encoder's layers draw from torch's
        # global generator, so phi's initial values depend on this order.
        self.family = config.problem.build(config) if source is None else None
        self.source = source
        self.train_sources = (
            [] if source is None else config.problem.training_sources(config, source))
        self.optimizer_net = make_learned(config)
        # a NaN never reaches it (diverged_as_inf); if one did, that is a bug: raise
        self.val_final_loss = torchmetrics.MeanMetric(nan_strategy="error")
        self.problem: Any = None
        self.problem_index: int | None = None
        self.carry: Carry | None = None
        self.episodes = 0
        self.skipped = 0
        self.skipped_in_row = 0
        self.truncations_run = 0
        self._loss: torch.Tensor | None = None
        self._val_problem: Any = None

    def setup(self, stage: str) -> None:
        """Draw problems from the data module ``Trainer.fit`` set up (unless given a source)."""
        if self.source is None:
            self.source = problem_source(self.config, self.family, self.trainer.datamodule)
            self.train_sources = self.config.problem.training_sources(self.config, self.source)

    def _sample(self, index: int) -> None:
        batch = self.config.problem.batch
        source = self.train_sources[index % len(self.train_sources)]
        self.problem = source.sample("train", index, batch, self.device)
        self.problem_index = index

    def _start_episode(self) -> None:
        self._sample(self.episodes * self.trainer.world_size + self.global_rank)
        self.episodes += 1
        self.carry = start(self.problem, self.optimizer_net)

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        """Unroll one truncation on the current problem and return its meta-loss."""
        meta = self.config.meta
        if self.carry is None or self.carry.step >= meta.horizon:
            self._start_episode()
        elif self.problem is None:
            self._sample(self.problem_index)
        losses, carry = unroll(
            self.problem, self.optimizer_net, self.carry, meta.unroll, meta.second_order
        )
        self.carry = truncate(carry)
        loss = meta_loss(losses)
        self._loss = loss.detach()
        self.truncations_run += 1
        self.log("train/meta_loss", loss, prog_bar=True)
        self.log("train/last_loss", carry.loss.mean())
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skip the meta-update (and reset the episode) when the truncation went non-finite."""
        grads = [p.grad for p in self.optimizer_net.parameters() if p.grad is not None]
        finite = torch.stack([torch.isfinite(self._loss)] + [g.isfinite().all() for g in grads])
        if self.trainer.strategy.reduce_boolean_decision(bool(finite.all()), all=True):
            self.skipped_in_row = 0
        else:
            for parameter in self.optimizer_net.parameters():
                parameter.grad = None
            self.carry = None
            self.skipped += 1
            self.skipped_in_row += 1
            if self.skipped_in_row > self.config.meta.max_skips:
                raise MetaTrainingDiverged(
                    f"meta-training diverged: {self.skipped_in_row} truncations in a row had a "
                    f"non-finite meta-loss or meta-gradient (meta.max_skips is "
                    f"{self.config.meta.max_skips}); lower meta.lr or set meta.clip_grad_norm"
                )
        self.log("train/skipped", float(self.skipped))

    def validation_step(self, batch: int, batch_idx: int) -> None:
        """Mean final loss of the current optimizer over the validation problems; inf when it
        diverged on any of them (as in the baselines' tuning)."""
        if self._val_problem is None:
            self._val_problem = self.source.sample(
                "val", 0, self.config.meta.val_problems, self.device
            )
        losses = rollout(self._val_problem, self.optimizer_net, self.config.meta.horizon)
        self.val_final_loss.update(diverged_as_inf(losses[-1]))
        self.log("val/final_loss", self.val_final_loss, prog_bar=True)

    def configure_optimizers(self) -> dict[str, Any]:
        """ADAM on phi, as in the paper, with the meta-learning rate's schedule per truncation."""
        adam = torch.optim.Adam(self.optimizer_net.parameters(), lr=self.config.meta.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(adam, lr_factor(self.config.meta))
        return {"optimizer": adam, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add every rank's episode state, the skip counters and the RNG states."""
        carry = None
        if self.carry is not None:
            carry = self.all_gather(
                {"theta": self.carry.theta, "grad": self.carry.grad, "loss": self.carry.loss,
                 "opt_state": dict(self.carry.opt_state)}
            )
        checkpoint["episode"] = {
            "world_size": self.trainer.world_size,
            "carry": carry,
            "step": None if self.carry is None else self.carry.step,
            "problem_index": self.all_gather(torch.tensor(self.problem_index or 0)),
            "episodes": self.episodes,
            "skipped": self.skipped,
            "skipped_in_row": self.skipped_in_row,
        }
        checkpoint["rng"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` added (episodes restart on a new world size)."""
        episode = checkpoint["episode"]
        self.episodes = episode["episodes"]
        self.skipped = episode["skipped"]
        self.skipped_in_row = episode["skipped_in_row"]
        set_rng_states(checkpoint["rng"])
        world = episode["world_size"]
        if episode["carry"] is None or world != self.trainer.world_size:
            self.carry = None
            return

        def mine(tensor: torch.Tensor) -> torch.Tensor:
            return (tensor[self.global_rank] if world > 1 else tensor).to(self.device)

        saved = episode["carry"]
        self.carry = Carry(
            mine(saved["theta"]),
            {key: mine(value) for key, value in saved["opt_state"].items()},
            mine(saved["grad"]),
            mine(saved["loss"]),
            episode["step"],
        )
        self.problem = None
        self.problem_index = int(mine(episode["problem_index"]))


def problem_source(config: Config, family: Family, data: ProblemData) -> Family:
    """``family``, drawing from the splits of ``data`` (after its ``setup``) when it holds a
    dataset."""
    if not data.splits:
        return family
    return dataclasses.replace(family, data=Dataset(config.data.name, data.splits))


def lr_factor(meta: MetaConfig) -> Callable[[int], float]:
    """The meta-learning rate's factor after ``t`` truncations: a linear warm-up over
    ``meta.warmup`` truncations, then 1 (``constant``) or a cosine decay to 0 at ``meta.steps``."""

    def factor(t: int) -> float:
        if t < meta.warmup:
            return (t + 1) / meta.warmup
        if meta.lr_schedule == "constant":
            return 1.0
        span = max(meta.steps - meta.warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(t - meta.warmup, span) / span))

    return factor
