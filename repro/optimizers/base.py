"""The one functional interface shared by every update rule, learned or hand-written."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

State = dict[str, Tensor]


@runtime_checkable
class UpdateRule(Protocol):
    """An optimizer m: maps the optimizee gradient and its own state to an additive update.

    Tensors may have any shape; every rule acts coordinatewise, so a batch of problems
    ``[B, n]`` is stepped in one call. The caller applies ``theta = theta + update``.
    """

    def init_state(self, theta: Tensor) -> State:
        """Return the zero state for parameters shaped like ``theta``."""
        ...

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Return ``(update, new_state)`` for the gradient ``grad``; never mutates ``state``."""
        ...
