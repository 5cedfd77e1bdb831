"""Views of a learned update rule (paper's appendix): what it proposes, beside other rules.

Along one trajectory of a *driver* rule (the LSTM), every rule sees the same gradients: each
keeps its own state, fed with the driver's gradients, and proposes an update; only the
driver's update is applied. :func:`update_histories` records those proposals for a few
coordinates at every step. :func:`update_responses` holds each rule's state at a step fixed
(as that trajectory left it) and asks what update it would propose for other values of the
current gradient of one coordinate.

Rules are used only through ``init_state`` and ``step``; a state tensor is recognised as
per-coordinate by its shape (``[B, n]`` like theta, or one row per coordinate ``[B * n, H]``),
anything else (e.g. a step counter) is shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from repro.meta.unroll import start, unroll
from repro.optimizees.base import Problem
from repro.optimizers.base import State, UpdateRule


def _coordinate_state(state: State, shape: torch.Size, index: int, count: int) -> State:
    """Instance 0's state for coordinate ``index``, replicated as ``count`` coordinates."""
    batch, n = shape
    out: State = {}
    for key, value in state.items():
        if value.shape == shape:
            out[key] = value[0, index].reshape(1, 1).expand(1, count).clone()
        elif value.ndim == 2 and value.shape[0] == batch * n:
            out[key] = value[index].unsqueeze(0).expand(count, -1).clone()
        else:
            out[key] = value
    return out


@torch.no_grad()
def update_histories(
    problem: Problem,
    driver: str,
    rules: Mapping[str, UpdateRule],
    steps: int,
    coordinates: Sequence[int],
    response_steps: Sequence[int] = (),
    response_points: int = 81,
) -> dict[str, Any]:
    """Proposed updates of every rule along the ``driver`` rule's trajectory (instance 0).

    Returns ``{"grad": {i: [...]}, "updates": {name: {i: [...]}}, "loss": [...],
    "responses": {i: [{"step", "grad", "x", "updates": {name: [...]}}]}}`` with steps
    1..``steps`` (step t's update is proposed from the gradient at theta_{t-1}); responses at
    each of ``response_steps`` span +-3 times the coordinate's largest gradient magnitude,
    with the gradient seen at that step inserted at position ``seen_at``.
    """
    carry = start(problem, rules[driver])
    theta, grad, loss = carry.theta, carry.grad, carry.loss
    states = {name: rule.init_state(theta) for name, rule in rules.items()}
    grads: dict[int, list[float]] = {i: [] for i in coordinates}
    updates: dict[str, dict[int, list[float]]] = {n: {i: [] for i in coordinates} for n in rules}
    held: dict[int, dict[str, State]] = {}
    held_grad: dict[int, Tensor] = {}
    losses = [float(loss[0])]
    for t in range(1, steps + 1):
        if t in response_steps:
            held[t] = dict(states)
            held_grad[t] = grad
        for i in coordinates:
            grads[i].append(float(grad[0, i]))
        applied = None
        for name, rule in rules.items():
            update, states[name] = rule.step(grad, states[name])
            for i in coordinates:
                updates[name][i].append(float(update[0, i]))
            if name == driver:
                applied = update
        theta = theta + applied
        loss, grad = problem.loss_and_grad(theta, t)
        losses.append(float(loss[0]))
    responses = {i: [_response(rules, held[t], held_grad[t], theta.shape, i, t,
                               3 * max(*(abs(g) for g in grads[i]), 1e-12), response_points)
                     for t in response_steps] for i in coordinates}
    return {
        "steps": list(range(1, steps + 1)),
        "loss": losses,
        "grad": grads,
        "updates": updates,
        "responses": responses,
    }


def _response(
    rules: Mapping[str, UpdateRule], states: Mapping[str, State], grad: Tensor,
    shape: torch.Size, i: int, step: int, scale: float, points: int,
) -> dict[str, Any]:
    """Each rule's update of coordinate ``i`` from its ``states`` at ``step``, over ``points``
    gradients spanning +-``scale`` and the gradient ``grad`` seen there."""
    grid = torch.linspace(-scale, scale, points, dtype=grad.dtype).to(grad.device)
    seen = grad[0, i]
    x, order = torch.sort(torch.cat((grid, seen.reshape(1))))
    proposals = {}
    for name, rule in rules.items():
        state = _coordinate_state(states[name], shape, i, len(x))
        update, _ = rule.step(x.unsqueeze(0), state)
        proposals[name] = update.reshape(-1).tolist()
    return {"step": step, "grad": float(seen), "seen_at": int((order == len(grid)).nonzero()),
            "x": x.tolist(), "updates": proposals}


def final_params(problem: Problem, rule: UpdateRule, steps: int) -> Tensor:
    """theta after ``steps`` steps of ``rule`` (no meta-gradients)."""
    with torch.no_grad():
        carry = start(problem, rule)
        _, carry = unroll(problem, rule, carry, steps)
    return carry.theta
