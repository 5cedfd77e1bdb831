"""The MetaLearner: one training_step is one truncation and one meta-optimizer step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torchmetrics

from repro.config import Config, OptimizerConfig
from repro.io import save_torch
from repro.meta.learned import make_learned
from repro.meta.unroll import Carry, meta_loss, rollout, start, truncate, unroll
from repro.optimizees import ProblemSource
from repro.optimizers import make_lstm


class MetaLearner(L.LightningModule):
    """Meta-trains an LSTMOptimizer on problems of the configured family by truncated BPTT.

    Problems are resampled and all states reset every ``meta.horizon`` optimizee steps; theta,
    the optimizer state and the step counter are carried, detached, between truncations.
    Validation rolls the current optimizer over fixed validation problems for the full horizon
    and logs their mean final loss, which selects the best checkpoint.
    """

    def __init__(self, config: Config, source: ProblemSource) -> None:
        super().__init__()
        self.config = config
        self.save_hyperparameters({"config": config.to_dict()})
        self.source = source
        self.optimizer_net = make_learned(config)
        self.val_final_loss = torchmetrics.MeanMetric()
        self.problem: Any = None
        self.carry: Carry | None = None
        self._val_problem: Any = None

    @property
    def truncations_per_episode(self) -> int:
        """Number of truncations in one problem's horizon."""
        return self.config.meta.horizon // self.config.meta.unroll

    def _start_episode(self, episode: int) -> None:
        index = episode * self.trainer.world_size + self.global_rank
        self.problem = self.source.sample("train", index, self.config.problem.batch, self.device)
        self.carry = start(self.problem, self.optimizer_net)

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        """Unroll one truncation on the current problem and return its meta-loss.

        The truncation's index is the number of meta-updates so far (no device sync).
        """
        index = self.global_step
        if self.carry is None or index % self.truncations_per_episode == 0:
            self._start_episode(index // self.truncations_per_episode)
        meta = self.config.meta
        losses, carry = unroll(
            self.problem, self.optimizer_net, self.carry, meta.unroll, meta.second_order
        )
        self.carry = truncate(carry)
        loss = meta_loss(losses)
        self.log("train/meta_loss", loss, prog_bar=True)
        self.log("train/last_loss", carry.loss.mean())
        return loss

    def validation_step(self, batch: int, batch_idx: int) -> None:
        """Mean final loss of the current optimizer over the validation problems."""
        if self._val_problem is None:
            self._val_problem = self.source.sample(
                "val", 0, self.config.meta.val_problems, self.device
            )
        losses = rollout(self._val_problem, self.optimizer_net, self.config.meta.horizon)
        self.val_final_loss.update(losses[-1])
        self.log("val/final_loss", self.val_final_loss, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """ADAM on phi, as in the paper."""
        return torch.optim.Adam(self.optimizer_net.parameters(), lr=self.config.meta.lr)


def export_optimizer(learner: MetaLearner, path: Path, **info: Any) -> Path:
    """Write phi with the settings it was trained under to ``path`` (atomically)."""
    state = {k: v.detach().cpu() for k, v in learner.optimizer_net.state_dict().items()}
    payload = {
        "experiment": learner.config.experiment,
        "optimizer": learner.config.to_dict()["optimizer"],
        "state_dict": state,
        **info,
    }
    return save_torch(path, payload)


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
        settings = OptimizerConfig(**{"compile": False, **payload["optimizer"]})
        state = payload["state_dict"]
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one-line error
        raise CheckpointError(
            f"checkpoint {path} is not a readable optimizer checkpoint ({error})"
        ) from None
    diff = [
        f"optimizer.{k}={getattr(settings, k)!r} (config: {getattr(expected, k)!r})"
        for k in OptimizerConfig.__dataclass_fields__
        if expected is not None and k != "compile" and getattr(settings, k) != getattr(expected, k)
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
