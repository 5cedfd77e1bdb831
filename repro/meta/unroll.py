"""Running an update rule on a problem: truncated unrolls for meta-training, rollouts for tests.

One truncation takes K optimizee steps theta_{t+1} = theta_t + g_t from a carried state and
returns the losses f(theta_1..theta_K), which stay differentiable with respect to phi through
the updates. The meta-loss is their plain sum (w_t = 1). By default the gradient the optimizer
sees is detached (the paper drops second derivatives); ``second_order=True`` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from repro.optimizees.base import Problem
from repro.optimizers.base import State, UpdateRule


@dataclass(frozen=True)
class Carry:
    """What crosses a truncation boundary: theta_t, the optimizer state, grad and loss at theta_t.

    ``step`` counts optimizee steps taken since the problem was sampled.
    """

    theta: Tensor
    opt_state: State
    grad: Tensor
    loss: Tensor
    step: int = 0


def start(problem: Problem, rule: UpdateRule) -> Carry:
    """The carry at step 0 of a freshly sampled problem: theta_0, zero state, grad at theta_0."""
    theta = problem.initial_params()
    loss, grad = problem.loss_and_grad(theta, 0)
    return Carry(theta, rule.init_state(theta), grad, loss.detach(), 0)


def unroll(
    problem: Problem, rule: UpdateRule, carry: Carry, steps: int, second_order: bool = False
) -> tuple[Tensor, Carry]:
    """Take ``steps`` optimizee steps; return losses ``[steps, B]`` and the new carry (not cut)."""
    theta, state, grad = carry.theta, carry.opt_state, carry.grad
    losses = []
    for k in range(steps):
        update, state = rule.step(grad, state)
        theta = theta + update
        loss, grad = problem.loss_and_grad(theta, carry.step + k + 1, create_graph=second_order)
        losses.append(loss)
    stacked = torch.stack(losses)
    return stacked, Carry(theta, state, grad, stacked[-1], carry.step + steps)


def truncate(carry: Carry) -> Carry:
    """Cut the graph at a truncation boundary: every carried tensor detached."""
    return replace(
        carry,
        theta=carry.theta.detach(),
        opt_state={key: value.detach() for key, value in carry.opt_state.items()},
        grad=carry.grad.detach(),
        loss=carry.loss.detach(),
    )


def meta_loss(losses: Tensor) -> Tensor:
    """Sum over the truncation's steps, mean over the batch of problems."""
    return losses.sum(0).mean()


@torch.no_grad()
def rollout(problem: Problem, rule: UpdateRule, steps: int) -> Tensor:
    """Losses ``[steps + 1, B]`` of f(theta_0..theta_steps), without meta-gradients."""
    carry = start(problem, rule)
    losses, _ = unroll(problem, rule, carry, steps)
    return torch.cat((carry.loss.unsqueeze(0), losses.detach()))
