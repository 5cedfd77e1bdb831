"""The CIFAR conv net of the official code (paper.md §2.5), many instances in one batch.

Three 5x5 conv layers of 16 channels (stride 1, SAME padding), each followed by batch norm,
ReLU and 2x2 max-pooling; then a fully connected layer of 32 units with batch norm and ReLU;
then the linear classifier (``classes`` outputs: 10 for CIFAR-10, 5 or 2 for the subsets);
softmax cross-entropy on minibatches of 128. Batch norm has the offset beta only (no scale, as
Sonnet's default), uses each minibatch's statistics and eps 1e-3 (Sonnet's default).

Each of the B instances has its own flat theta ``[B, n]``: the B networks run together as one
grouped convolution (instances as channel groups) and one ``torch.bmm`` per dense layer, on views
of theta; gradients come from autograd. Layout, in two contiguous groups (the official code's
``cifar-multi`` split): ``conv`` = the conv kernels w1, w2, w3; ``fc`` = the conv biases and
batch-norm offsets (b1, beta1, b2, beta2, b3, beta3), then W4, b4, beta4, W5, b5. Kernels,
weights and biases start N(0, init_std^2), offsets at 0 (Sonnet's BatchNorm).

Minibatches are drawn uniformly with replacement by the same counter-based hash of (instance,
step) as the MLP's (:func:`repro.optimizees.mlp.minibatch_indices`), so every optimizer sees the
same minibatches; images are uint8 and scaled to [0, 1] when drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor

from repro.optimizees.base import autograd_loss_and_grad, linearised_loss
from repro.optimizees.family import DataFamily, Dataset
from repro.optimizees.mlp import Classifiers

BN_EPS = 1e-3


@dataclass(frozen=True)
class ConvNetFamily(DataFamily):
    """Distribution of conv-net classifiers on ``data``: architecture fixed, theta_0 and
    minibatches random (theta has 22,682 coordinates for the 10-class net)."""

    channels: tuple[int, ...] = (16, 16, 16)
    kernel: int = 5
    hidden: tuple[int, ...] = (32,)
    classes: int = 10
    init_std: float = 0.01
    batch_size: int = 128
    image: tuple[int, int, int] = (3, 32, 32)
    seed: int = 0
    data: Dataset | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel {self.kernel} must be odd (SAME padding keeps the size)")
        side = self.image[1]
        if self.image[1] != self.image[2] or side % 2 ** len(self.channels):
            raise ValueError(
                f"image {self.image} must be square with a side divisible by "
                f"2^{len(self.channels)} (one 2x2 pooling per conv layer)"
            )

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """The conv kernels, then the conv biases and offsets, then the dense layers'."""
        size = self.kernel
        shapes: list[tuple[str, tuple[int, ...]]] = [
            (f"w{k}", (out, fan_in, size, size))
            for k, (fan_in, out) in enumerate(pairwise((self.image[0], *self.channels)), 1)
        ]
        for k, out in enumerate(self.channels, 1):
            shapes += [(f"b{k}", (out,)), (f"beta{k}", (out,))]
        side = self.image[1] // 2 ** len(self.channels)  # after the poolings
        sizes = (self.channels[-1] * side * side, *self.hidden, self.classes)
        first = len(self.channels) + 1
        for k, (fan_in, out) in enumerate(pairwise(sizes), first):
            shapes += [(f"W{k}", (fan_in, out)), (f"b{k}", (out,))]
            if k < first + len(self.hidden):
                shapes.append((f"beta{k}", (out,)))
        return shapes

    def groups(self) -> dict[str, slice]:
        """The contiguous groups of theta: ``conv`` (the kernels) and ``fc`` (everything else)."""
        conv = sum(math.prod(shape) for name, shape in self.shapes() if name[0] == "w")
        return {"conv": slice(0, conv), "fc": slice(conv, self.n_params)}

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> ConvNetProblems:
        """``count`` instances from the stream of (seed, split, index), on ``split``'s data.

        Its images are ``[N, 3, 32, 32]`` (uint8 0..255, or float already in [0, 1]), its labels
        ``[N]`` class ids below ``classes``.
        """
        return ConvNetProblems(**self.draw(split, index, count, device, self.image))


@dataclass(frozen=True)
class ConvNetProblems(Classifiers):
    """B conv-net instances on one dataset: ``theta0 [B, n]``, minibatch stream keys ``[B]``.

    ``linearised`` (default) makes the first-order loss carry its meta-gradient without the
    network's graph: see :meth:`loss_and_grad`. ``False`` keeps autograd's graph of the loss.
    """

    family: ConvNetFamily
    linearised: bool = True

    def minibatch(self, step: int) -> tuple[Tensor, Tensor]:
        """Inputs ``[B, M, 3, 32, 32]`` in [0, 1] and labels ``[B, M]`` at ``step``."""
        x, y = super().minibatch(step)
        return (x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()), y

    def logits(self, theta: Tensor, x: Tensor) -> Tensor:
        """Logits ``[B, M, classes]`` of each instance on its own inputs ``x [B, M, 3, H, W]``."""
        fam, p = self.family, self.family.views(theta)
        b, m = x.shape[:2]
        # Instances as channel groups: [M, B*C, H, W], one grouped conv for all B networks.
        h = x.to(theta.dtype).transpose(0, 1).reshape(m, b * fam.image[0], *fam.image[1:])
        for k, out in enumerate(fam.channels, 1):
            weight = p[f"w{k}"].reshape(b * out, *p[f"w{k}"].shape[2:])
            h = F.conv2d(h, weight, p[f"b{k}"].reshape(-1), padding=fam.kernel // 2, groups=b)
            beta = p[f"beta{k}"].reshape(-1)
            # An explicit unit scale: torch's double backward of batch_norm needs a weight.
            h = F.batch_norm(h, None, None, torch.ones_like(beta), beta, training=True, eps=BN_EPS)
            h = F.max_pool2d(F.relu(h), 2)
        h = h.reshape(m, b, -1).transpose(0, 1)
        first = len(fam.channels) + 1
        last = first + len(fam.hidden)
        for k in range(first, last + 1):
            h = torch.baddbmm(p[f"b{k}"].unsqueeze(1), h, p[f"W{k}"])
            if k < last:
                mean = h.mean(1, keepdim=True)
                var = h.var(1, unbiased=False, keepdim=True)
                h = F.relu((h - mean) * torch.rsqrt(var + BN_EPS) + p[f"beta{k}"].unsqueeze(1))
        return h

    def loss_and_grad(
        self, theta: Tensor, step: int = 0, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Losses ``[B]`` (with graph to theta) and the gradient ``[B, n]`` by autograd.

        First order, the meta-gradient needs only d f / d theta, the gradient itself: with
        ``linearised`` the loss is :func:`~repro.optimizees.base.linearised_loss`.
        """
        if create_graph or not self.linearised:
            return autograd_loss_and_grad(lambda th: self.loss(th, step), theta, create_graph)
        loss, grad = autograd_loss_and_grad(lambda th: self.loss(th, step), theta.detach())
        return linearised_loss(loss, grad, theta), grad
