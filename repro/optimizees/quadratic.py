"""Random quadratics f(theta) = ||W theta - y||^2 (10-d in the paper), many in one batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from repro.optimizees.base import generator
from repro.optimizees.family import Family


@dataclass(frozen=True)
class QuadraticFamily(Family):
    """Distribution of quadratics with Gaussian W and y and theta_0 ~ N(0, init_std^2).

    ``scale="mean"`` averages the squared residual over the ``dim`` outputs, which puts the
    initial loss near 1 as in the paper's figure; ``"sum"`` is the plain squared norm.
    """

    dim: int = 10
    scale: str = "mean"
    init_std: float = 0.01
    seed: int = 0

    @property
    def n_params(self) -> int:
        """Length of theta: ``dim``."""
        return self.dim

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> Quadratics:
        """``count`` instances drawn from the stream of (seed, split, index)."""
        gen = generator(self.seed, split, index)
        d = self.dim
        weights = torch.randn(count, d, d, generator=gen)
        targets = torch.randn(count, d, generator=gen)
        theta0 = torch.randn(count, d, generator=gen) * self.init_std
        return Quadratics(weights.to(device), targets.to(device), theta0.to(device), self.scale)


@dataclass(frozen=True)
class Quadratics:
    """A batch of quadratic problems: ``weights [B, d, d]``, ``targets [B, d]``."""

    weights: Tensor
    targets: Tensor
    theta0: Tensor
    scale: str = "mean"

    def initial_params(self) -> Tensor:
        """theta_0, shape ``[B, d]``."""
        return self.theta0

    def residual(self, theta: Tensor) -> Tensor:
        """W theta - y for every instance."""
        return torch.bmm(self.weights, theta.unsqueeze(-1)).squeeze(-1) - self.targets

    def loss(self, theta: Tensor) -> Tensor:
        """Per-instance loss ``[B]``, without the gradient :meth:`loss_and_grad` also computes."""
        squares = self.residual(theta).square()
        return squares.mean(-1) if self.scale == "mean" else squares.sum(-1)

    def loss_and_grad(
        self, theta: Tensor, step: int = 0, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Loss and its analytic gradient ``c W^T (W theta - y)`` with c = 2 or 2/d."""
        residual = self.residual(theta)
        squares = residual.square()
        factor = 2.0 / residual.shape[-1] if self.scale == "mean" else 2.0
        loss = squares.mean(-1) if self.scale == "mean" else squares.sum(-1)
        source = residual if create_graph else residual.detach()
        grad = factor * torch.bmm(self.weights.transpose(1, 2), source.unsqueeze(-1)).squeeze(-1)
        return loss, grad
