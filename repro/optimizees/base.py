"""What every optimizee offers the unroll: initial parameters and loss with gradient."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor

SPLITS = ("train", "val", "test")


class Problem(Protocol):
    """A batch of B problem instances with flat parameters ``theta`` of shape ``[B, n]``."""

    def initial_params(self) -> Tensor:
        """theta_0, shape ``[B, n]``."""
        ...

    def loss_and_grad(
        self, theta: Tensor, step: int, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Per-instance losses ``[B]`` (differentiable in theta) and the gradient ``[B, n]``.

        The gradient is detached unless ``create_graph`` (second derivatives) is set. ``step``
        selects the minibatch for stochastic problems.
        """
        ...


def instance_seed(seed: int, split: str, index: int) -> int:
    """A stable 63-bit seed for problem ``index`` of ``split``; disjoint streams per split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    digest = hashlib.sha256(f"{seed}/{split}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, split: str, index: int, device: torch.device | str = "cpu"):
    """A torch Generator seeded by :func:`instance_seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(instance_seed(seed, split, index))
    return gen


def autograd_loss_and_grad(
    loss_fn: Callable[[Tensor], Tensor], theta: Tensor, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """Losses and gradient of ``loss_fn`` at ``theta`` by autograd, keeping the loss's graph."""
    with torch.enable_grad():
        if not theta.requires_grad:
            theta = theta.detach().requires_grad_(True)
        loss = loss_fn(theta)
        (grad,) = torch.autograd.grad(
            loss.sum(), theta, create_graph=create_graph, retain_graph=True
        )
    return loss, grad if create_graph else grad.detach()
