"""Small MNIST MLPs (784 -> 20 -> 10 sigmoid in the paper), many instances in one batch, and
what the problems of every classifier family share (minibatch stream, loss).

Each of the B instances has its own flat parameters theta ``[B, n]`` (layout: W1, b1, W2, b2,
..., weights stored ``[in, out]``), its own theta_0 ~ N(0, init_std^2) and its own minibatch
stream. The B networks run together with one ``torch.bmm`` per layer on views of theta.

Minibatches are drawn uniformly with replacement (as the official code does), but without a
stateful generator: the indices for step t are a counter-based hash of (instance key, t, j),
computed on the device in exact 32-bit integer arithmetic held in int64 (every product stays
below 2^63, so CPU and CUDA give the same indices). Any step number works, each (instance,
step) always gets the same minibatch, and every optimizer run on the same problems sees the
same minibatches at the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from repro.optimizees.base import autograd_loss_and_grad, linearised_loss
from repro.optimizees.family import DataFamily, Dataset

Activation = Literal["sigmoid", "relu", "tanh"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)

_MASK32 = 0xFFFFFFFF
_HASH_MUL = 0x045D9F3B  # odd and < 2^27, so x * _HASH_MUL < 2^59 for any 32-bit x
_LANE_B = 0x68E31DA4  # decorrelates the second 32-bit lane of the stream state


def hash32(x: Tensor) -> Tensor:
    """A bijective 32-bit integer mix (Mueller's xorshift-multiply) on int64 values in [0, 2^32)."""
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    return (x >> 16) ^ x


def hash32_int(x: int) -> int:
    """:func:`hash32` on one Python int (the reference the tensor version must equal)."""
    x &= _MASK32
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    return (x >> 16) ^ x


def minibatch_indices(keys: Tensor, step: int, batch_size: int, size: int) -> Tensor:
    """Indices ``[B, batch_size]`` into a dataset of ``size`` rows for ``step`` (mod 2^32).

    ``keys`` are the instances' 63-bit stream keys (int64 ``[B]``). The per-(instance, step)
    state is two 32-bit lanes (A, C) = mix(key halves ^ mix(step)); element j of the minibatch
    is ``(mix(A ^ mix(j)) ^ C) mod size``. Two minibatches coincide only if both lanes do
    (probability ~2^-64); the modulo bias is below size / 2^32.
    """
    return _indices(_stream(keys, batch_size), step, size)


def _stream(keys: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """What no step changes: the keys' two 32-bit lanes ``[B, 2]`` and the salts of j."""
    lanes = torch.stack((keys & _MASK32, (keys >> 32) ^ _LANE_B), dim=-1)
    return lanes, hash32(torch.arange(batch_size, dtype=torch.int64, device=keys.device))


def _indices(stream: tuple[Tensor, Tensor], step: int, size: int) -> Tensor:
    lanes, salt = stream
    state = hash32(lanes ^ hash32_int(step))
    return (hash32(state[:, :1] ^ salt) ^ state[:, 1:]) % size


@dataclass(frozen=True)
class Classifiers:
    """B classifier instances on one dataset: ``theta0 [B, n]``, minibatch stream keys ``[B]``."""

    family: DataFamily
    theta0: Tensor
    keys: Tensor
    images: Tensor
    labels: Tensor

    def initial_params(self) -> Tensor:
        """theta_0, shape ``[B, n]``."""
        return self.theta0

    @cached_property
    def _key_stream(self) -> tuple[Tensor, Tensor]:
        return _stream(self.keys, self.family.batch_size)

    def indices(self, step: int) -> Tensor:
        """Dataset rows of each instance's minibatch at ``step``, ``[B, batch_size]``."""
        return _indices(self._key_stream, step, self.images.shape[0])

    def minibatch(self, step: int) -> tuple[Tensor, Tensor]:
        """Inputs ``[B, batch_size, *image]`` and labels ``[B, batch_size]`` at ``step``."""
        idx = self.indices(step)
        flat = idx.reshape(-1)
        x = self.images.index_select(0, flat).view(*idx.shape, *self.images.shape[1:])
        return x, self.labels.index_select(0, flat).view(idx.shape)

    def logits(self, theta: Tensor, x: Tensor) -> Tensor:
        """Logits ``[B, M, classes]`` of each instance on its own inputs ``x [B, M, *image]``."""
        raise NotImplementedError

    def loss(self, theta: Tensor, step: int = 0) -> Tensor:
        """Mean cross-entropy of each instance on its own minibatch at ``step``, ``[B]``."""
        x, y = self.minibatch(step)
        logits = self.logits(theta, x)
        b, m, c = logits.shape
        loss = F.cross_entropy(logits.reshape(b * m, c), y.reshape(-1), reduction="none")
        return loss.view(b, m).mean(-1)


@dataclass(frozen=True)
class MLPFamily(DataFamily):
    """Distribution of MLP classifiers on ``data``: architecture fixed, theta_0 and minibatches
    random (theta has 15,910 coordinates for the paper's 784-20-10 net)."""

    hidden: tuple[int, ...] = (20,)
    activation: str = "sigmoid"
    init_std: float = 0.01
    batch_size: int = 128
    inputs: int = 784
    classes: int = 10
    seed: int = 0
    data: Dataset | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths from input to output, e.g. (784, 20, 10)."""
        return (self.inputs, *self.hidden, self.classes)

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """W1 ``[in, out]``, b1, W2, b2, ..."""
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for layer, (fan_in, fan_out) in enumerate(pairwise(self.sizes), 1):
            shapes += [(f"W{layer}", (fan_in, fan_out)), (f"b{layer}", (fan_out,))]
        return shapes

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> MLPProblems:
        """``count`` instances from the stream of (seed, split, index), on ``split``'s data.

        Its images are ``[N, inputs]`` (float, flattened), its labels ``[N]`` class ids.
        """
        return MLPProblems(**self.draw(split, index, count, device, (self.inputs,)))


@dataclass(frozen=True)
class MLPProblems(Classifiers):
    """B MLP instances on one dataset: ``theta0 [B, n]``, minibatch stream keys ``[B]``.

    ``analytic`` selects the hand-written backward in :meth:`loss_and_grad` (default; it
    equals autograd and is differentiable itself, so ``create_graph`` works with it too);
    ``False`` uses autograd.
    """

    family: MLPFamily
    analytic: bool = True

    def params(self, theta: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(W ``[B, in, out]``, b ``[B, out]``) per layer, as views of theta."""
        views = self.family.views(theta)
        return [(views[f"W{k}"], views[f"b{k}"]) for k in range(1, len(self.family.sizes))]

    def _forward(self, theta: Tensor, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits and layer inputs [x, a_1, ..., a_{L-1}]; x is ``[B, M, in]`` or ``[M, in]``."""
        *hidden, (weight, bias) = self.params(theta)
        acts = [x.to(theta.dtype)]
        for w, b in hidden:
            acts.append(_ACTIVATE[self.family.activation](_affine(acts[-1], w, b)))
        return _affine(acts[-1], weight, bias), acts

    def logits(self, theta: Tensor, x: Tensor) -> Tensor:
        """Logits ``[B, M, classes]`` of each instance on ``x``, ``[B, M, in]`` or ``[M, in]``."""
        return self._forward(theta, x)[0]

    def loss_and_grad(
        self, theta: Tensor, step: int = 0, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Losses ``[B]`` (with graph to theta) and the gradient ``[B, n]``."""
        if not self.analytic:
            return autograd_loss_and_grad(lambda th: self.loss(th, step), theta, create_graph)
        x, y = self.minibatch(step)
        if create_graph:
            loss, log_probs, acts = self._loss(theta, x, y)
            return loss, self._backward(theta, log_probs, y, acts)
        with torch.no_grad():  # first order: the loss carries its gradient (linearised_loss)
            at = theta.detach()
            loss, log_probs, acts = self._loss(at, x, y)
            grad = self._backward(at, log_probs, y, acts)
        return linearised_loss(loss, grad, theta), grad

    def _loss(self, theta: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Mean cross-entropy ``[B]``, the log-probabilities and the layer inputs."""
        logits, acts = self._forward(theta, x)
        log_probs = torch.log_softmax(logits, dim=-1)
        return -log_probs.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(-1), log_probs, acts

    def _backward(self, theta: Tensor, log_probs: Tensor, y: Tensor, acts: list[Tensor]) -> Tensor:
        """d(mean CE)/d theta from the forward's log-probabilities and layer inputs."""
        delta = log_probs.exp() - F.one_hot(y, self.family.classes).to(log_probs.dtype)
        delta = delta / y.shape[-1]
        derivative = _DERIVATIVE[self.family.activation]
        layers = self.params(theta)
        pieces: list[Tensor] = []
        for k in range(len(layers) - 1, -1, -1):
            grad_w = torch.bmm(acts[k].transpose(1, 2), delta)
            pieces += [delta.sum(1), grad_w.flatten(1)]
            if k > 0:
                delta = torch.bmm(delta, layers[k][0].transpose(1, 2)) * derivative(acts[k])
        return torch.cat(pieces[::-1], dim=1)


def _affine(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """h W + b per instance, for inputs ``[B, M, in]`` or ``[M, in]`` shared by all."""
    if h.ndim == 3:
        return torch.baddbmm(bias.unsqueeze(1), h, weight)
    return torch.matmul(h, weight) + bias.unsqueeze(1)


_ACTIVATE = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}
_DERIVATIVE = {  # each activation's derivative, written in terms of its output a
    "sigmoid": lambda a: a * (1 - a),
    "relu": lambda a: (a > 0).to(a.dtype),
    "tanh": lambda a: 1 - a * a,
}
