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
    return torch.Generator(device=device).manual_seed(instance_seed(seed, split, index))


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


class _Linearised(torch.autograd.Function):
    """f(theta) whose gradient with respect to theta is the given ``grad`` (one graph node)."""

    @staticmethod
    def forward(ctx, theta: Tensor, loss: Tensor, grad: Tensor) -> Tensor:
        ctx.save_for_backward(grad)
        return loss.clone()

    @staticmethod
    def backward(ctx, d_loss: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * d_loss.unsqueeze(-1), None, None


def linearised_loss(loss: Tensor, grad: Tensor, theta: Tensor) -> Tensor:
    """The first-order loss ``[B]``: the value of ``loss`` and, with respect to ``theta``, the
    gradient ``grad`` ``[B, n]`` — what the meta-gradient needs when second derivatives are
    dropped, without the optimizee's graph (its activations are freed at once and the
    meta-backward never runs through the optimizee again)."""
    loss, grad = loss.detach(), grad.detach()
    if theta.requires_grad and torch.is_grad_enabled():
        return _Linearised.apply(theta, loss, grad)
    return loss
