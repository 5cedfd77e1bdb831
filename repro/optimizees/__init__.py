"""Optimizee families (the paper's f) and where their problem instances come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from repro.config import Config
from repro.optimizees.base import Problem
from repro.optimizees.convnet import ConvNetFamily
from repro.optimizees.mlp import MLPFamily
from repro.optimizees.neural_art import NeuralArtFamily
from repro.optimizees.quadratic import QuadraticFamily


def make_family(
    config: Config,
) -> QuadraticFamily | MLPFamily | ConvNetFamily | NeuralArtFamily:
    """The problem family ``config.problem`` describes."""
    problem = config.problem
    if problem.family == "convnet":
        return ConvNetFamily(
            channels=tuple(problem.channels), kernel=problem.kernel, hidden=tuple(problem.hidden),
            classes=len(config.data.classes) or 10, init_std=problem.init_std,
            batch_size=problem.minibatch,
        )
    if problem.family == "neural_art":
        from repro.optimizees.neural_art import build_family

        return build_family(config.art)
    if problem.family == "mlp":
        return MLPFamily(
            hidden=tuple(problem.hidden), activation=problem.activation,
            init_std=problem.init_std, batch_size=problem.minibatch,
        )
    return QuadraticFamily(dim=problem.dim, scale=problem.scale, init_std=problem.init_std)


@dataclass
class ProblemSource:
    """Samples problem instances of a family for a split (``train``, ``val``, ``test``).

    Data-driven families draw from ``splits[split]`` (images, labels), moved to each device
    once.
    """

    family: Any
    seed: int
    splits: dict[str, tuple[Tensor, Tensor]] | None = None
    _on_device: dict[tuple[str, str], tuple[Tensor, Tensor]] = field(default_factory=dict)

    def with_family(self, family: Any) -> ProblemSource:
        """The same data and seed for another family (e.g. another architecture)."""
        return ProblemSource(family, self.seed, self.splits, self._on_device)

    def with_seed(self, seed: int) -> ProblemSource:
        """The same family and data with problem streams drawn from another seed."""
        return ProblemSource(self.family, seed, self.splits, self._on_device)

    def sample(self, split: str, index: int, count: int, device: torch.device | str) -> Problem:
        """``count`` instances from the stream of (seed, split, index) on ``device``."""
        if self.splits is None:
            return self.family.sample(self.seed, split, index, count, device)
        key = (split, str(device))
        if key not in self._on_device:
            images, labels = self.splits[split]
            self._on_device[key] = (images.to(device), labels.to(device))
        images, labels = self._on_device[key]
        return self.family.sample(self.seed, split, index, count, images, labels, device)
