"""Several update rules over contiguous groups of theta, composed into one update rule.

The CIFAR optimizer of the paper is two coordinatewise LSTMs, one for the conv kernels and one
for every other parameter (paper.md §2.5). :class:`GroupedRule` holds any number of
(name, slice of the last axis of theta, rule) groups, each a hand-written baseline or an
:class:`~repro.optimizers.lstm.LSTMOptimizer`; each step calls every rule once on its own
slice of the gradient and concatenates the updates. It is an ``nn.Module``, so the learned
rules' parameters are its parameters and its ``state_dict`` holds all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from repro.optimizers.base import State, UpdateRule

SEPARATOR = "/"


class GroupedRule(nn.Module):
    """One update rule per contiguous group of coordinates; the groups tile ``[0, n)`` in order.

    ``groups`` is a sequence of ``(name, slice, rule)``: the first slice starts at 0, each next
    one starts where the previous one stopped, all have step 1. Every coordinate is therefore in
    exactly one group. Rules that are modules are registered under their group's name; the
    state of group ``name`` is stored under keys ``"name/<key>"``.
    """

    def __init__(self, groups: Sequence[tuple[str, slice, UpdateRule]]) -> None:
        super().__init__()
        if not groups:
            raise ValueError("GroupedRule needs at least one group")
        start = 0
        for name, part, _ in groups:
            if not name or SEPARATOR in name or "." in name:
                raise ValueError(f"group name {name!r} must be non-empty, without '/' or '.'")
            if part.start != start or part.stop is None or part.stop <= start or part.step not in (
                None, 1,
            ):
                raise ValueError(
                    f"group {name!r}: slice {part} must start at {start} (where the previous "
                    "group stopped), end after it and have step 1"
                )
            start = part.stop
        self.names, self.slices, self.rules = (list(column) for column in zip(*groups, strict=True))
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"group names must be distinct, got {self.names}")
        for name, rule in zip(self.names, self.rules, strict=True):
            if isinstance(rule, nn.Module):
                self.add_module(name, rule)

    @property
    def size(self) -> int:
        """The number of coordinates the groups cover (theta's last axis)."""
        return self.slices[-1].stop

    def _check(self, tensor: Tensor) -> None:
        if tensor.shape[-1] != self.size:
            raise ValueError(
                f"the groups cover {self.size} coordinates, got a last axis of {tensor.shape[-1]}"
            )

    def init_state(self, theta: Tensor) -> State:
        """Every group's initial state for its slice of ``theta``, keys prefixed by its name."""
        self._check(theta)
        state: State = {}
        for name, part, rule in zip(self.names, self.slices, self.rules, strict=True):
            own = rule.init_state(theta[..., part])
            state.update({f"{name}{SEPARATOR}{key}": value for key, value in own.items()})
        return state

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Each group's rule on its slice of ``grad``; the updates concatenated in group order."""
        self._check(grad)
        updates: list[Tensor] = []
        new_state: State = {}
        for name, part, rule in zip(self.names, self.slices, self.rules, strict=True):
            prefix = f"{name}{SEPARATOR}"
            own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            update, own = rule.step(grad[..., part], own)
            updates.append(update)
            new_state.update({prefix + key: value for key, value in own.items()})
        return torch.cat(updates, dim=-1), new_state
