"""Hand-designed baseline update rules from the paper's figures, with Torch7 ``optim`` defaults.

Each rule is a pure, coordinatewise :class:`~repro.optimizers.base.UpdateRule`: tensor ops
only, no host sync, so it runs on any device, on batches ``[B, n]``, and inside autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from repro.optimizers.base import State, UpdateRule


@dataclass(frozen=True)
class SGD:
    """Plain gradient descent: ``update = -lr * g``. Stateless."""

    lr: float

    def init_state(self, theta: Tensor) -> State:
        """Return the empty state (SGD keeps none)."""
        return {}

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Return ``(-lr * grad, {})``."""
        return -self.lr * grad, {}


@dataclass(frozen=True)
class RMSprop:
    """RMSprop with Torch7 / ``torch.optim.RMSprop`` defaults.

    Keeps a running mean of squared gradients ``m`` (starting at 0) with decay ``alpha`` and
    scales the step by ``1 / (sqrt(m) + eps)``.
    """

    lr: float
    alpha: float = 0.99
    eps: float = 1e-8

    def init_state(self, theta: Tensor) -> State:
        """Return ``{"m": zeros_like(theta)}``."""
        return {"m": torch.zeros_like(theta)}

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Return the RMSprop update and the new squared-gradient average."""
        m = self.alpha * state["m"] + (1.0 - self.alpha) * grad * grad
        update = -self.lr * grad / (m.sqrt() + self.eps)
        return update, {"m": m}


@dataclass(frozen=True)
class Adam:
    """Adam with bias-corrected first and second moments, Torch7 defaults.

    The arithmetic is ``torch.optim.Adam``'s: ``eps`` is added after dividing ``sqrt(v)`` by
    ``sqrt(1 - beta2^t)``. Torch7's ``optim.adam`` adds ``eps`` to ``sqrt(v)`` before the bias
    correction; written in Torch7's form, its denominator ``sqrt(v) + eps`` becomes
    ``sqrt(v) + eps * sqrt(1 - beta2^t)`` here, so the two differ only in that ``eps`` term.
    We follow ``torch.optim`` for exact parity.
    """

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def init_state(self, theta: Tensor) -> State:
        """Return zero moments ``m``, ``v`` and a 0-d step counter ``t``."""
        return {
            "m": torch.zeros_like(theta),
            "v": torch.zeros_like(theta),
            # At least float32, so the count stays exact past 256 steps for bf16 parameters.
            "t": torch.zeros(
                (), dtype=torch.promote_types(theta.dtype, torch.float32), device=theta.device
            ),
        }

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Return the Adam update and the new moments and step count."""
        t = state["t"] + 1
        m = torch.lerp(state["m"], grad, 1.0 - self.beta1)
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad
        # 1 - beta^t via expm1: torch.optim evaluates it in float64 on the host, and the plain
        # float32 form loses ~1e-5 relative precision at small t (beta2 rounds to 0.99900001).
        bc1 = -torch.expm1(t * math.log(self.beta1))  # 1 - beta1^t
        bc2 = -torch.expm1(t * math.log(self.beta2))  # 1 - beta2^t
        denom = v.sqrt() / bc2.sqrt() + self.eps
        update = -(self.lr / bc1) * (m / denom)
        return update, {"m": m, "v": v, "t": t}


@dataclass(frozen=True)
class NAG:
    """Nesterov accelerated gradient, as ``torch.optim.SGD(momentum=..., nesterov=True)``.

    This is PyTorch's reparametrisation of Torch7's ``optim.nag``: the stored parameters are
    the look-ahead point, so the gradient is evaluated where the caller's ``theta`` is.
    The velocity buffer starts at 0, which reproduces PyTorch's first-step ``buf = g``.
    """

    lr: float
    momentum: float = 0.9

    def init_state(self, theta: Tensor) -> State:
        """Return a zero velocity buffer ``buf``."""
        return {"buf": torch.zeros_like(theta)}

    def step(self, grad: Tensor, state: State) -> tuple[Tensor, State]:
        """Return the Nesterov update and the new velocity buffer."""
        buf = self.momentum * state["buf"] + grad
        update = -self.lr * (grad + self.momentum * buf)
        return update, {"buf": buf}


BASELINES: dict[str, type] = {"ADAM": Adam, "RMSprop": RMSprop, "SGD": SGD, "NAG": NAG}
"""The paper's baseline optimizers, keyed by their legend names, in legend order."""


def make_baseline(name: str, lr: float) -> UpdateRule:
    """Build the baseline called ``name`` (a key of :data:`BASELINES`) with learning rate ``lr``."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; expected one of: {', '.join(BASELINES)}")
    return BASELINES[name](lr=lr)
