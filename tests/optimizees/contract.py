"""The contract every optimizee family keeps (in the spirit of learned_optimization's
``smoketest_task_family``): each family's test file calls :func:`check_family` in a few lines.

- sampling by (split, index) is deterministic, and the splits draw different problems;
- a batch's instances are independent: one instance's loss and gradient do not move when
  another's theta does (so a batch computes what each instance alone would);
- the gradient equals autograd's through the loss's own graph (``create_graph``);
- the first-order (linearised) loss has the same value, and autograd through it gives the same
  gradient;
- ``describe()`` is stable and names the dataset.
"""

from __future__ import annotations

import json
from typing import Any

import torch

RTOL, ATOL = 1e-4, 1e-6


def _loss_and_grad(problem: Any, theta: torch.Tensor, step: int, create_graph: bool = False):
    theta = theta.detach().requires_grad_(True)
    loss, grad = problem.loss_and_grad(theta, step, create_graph=create_graph)
    return theta, loss, grad


def check_family(family: Any, count: int = 3, step: int = 2) -> None:
    """Assert the contract for ``family`` on ``count`` instances at minibatch ``step``."""
    first = family.sample("train", 0, count)
    again = family.sample("train", 0, count)
    theta0 = first.initial_params()
    assert theta0.shape == (count, family.n_params)
    assert torch.equal(theta0, again.initial_params())
    _, loss, grad = _loss_and_grad(first, theta0, step)
    _, loss_again, grad_again = _loss_and_grad(again, theta0, step)
    assert torch.equal(loss, loss_again) and torch.equal(grad, grad_again)
    other = family.sample("val", 0, count)
    _, other_loss, _ = _loss_and_grad(other, theta0, step)
    assert not torch.equal(other.initial_params(), theta0) or not torch.equal(other_loss, loss)

    # instances are independent: moving instance 1 leaves instance 0 as it was
    moved = theta0.clone()
    moved[1:] += 0.1 * torch.randn(moved[1:].shape, generator=torch.Generator().manual_seed(0))
    moved_theta, loss_moved, grad_moved = _loss_and_grad(first, moved, step)
    assert torch.equal(loss_moved[0], loss[0]) and torch.equal(grad_moved[0], grad[0])
    assert not torch.equal(loss_moved[1:], loss[1:])

    # the gradient is autograd's through the loss's own graph
    theta, exact, exact_grad = _loss_and_grad(first, moved, step, create_graph=True)
    (autograd,) = torch.autograd.grad(exact.sum(), theta)
    torch.testing.assert_close(exact_grad.detach(), autograd, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(grad_moved, autograd, rtol=RTOL, atol=ATOL)

    # the first-order loss: the same value, and autograd through it gives the same gradient
    torch.testing.assert_close(loss_moved.detach(), exact.detach(), rtol=RTOL, atol=ATOL)
    (through,) = torch.autograd.grad(loss_moved.sum(), moved_theta)
    torch.testing.assert_close(through, grad_moved, rtol=RTOL, atol=ATOL)

    described = family.describe()
    assert described == family.describe() and "dataset" in described
    json.dumps(described)
