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

import torch
import torch.nn.functional as F
from torch import Tensor

from repro.optimizees.base import (
    autograd_loss_and_grad,
    draw_instances,
    linearised_loss,
)
from repro.optimizees.family import DataFamily, Dataset
from repro.optimizees.mlp import minibatch_indices

BN_EPS = 1e-3
GROUPS = ("conv", "fc")


@dataclass(frozen=True)
class ConvNetFamily(DataFamily):
    """Distribution of conv-net classifiers on ``data``: architecture fixed, theta_0 and
    minibatches random."""

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

    @property
    def flat_features(self) -> int:
        """Inputs of the first dense layer: channels x side x side after the poolings (256)."""
        side = self.image[1] // 2 ** len(self.channels)
        return self.channels[-1] * side * side

    def layout(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, shape, offset) of every parameter in the flat theta, conv kernels first."""
        shapes: list[tuple[str, tuple[int, ...]]] = []
        fan_in = self.image[0]
        for k, out in enumerate(self.channels, 1):
            shapes.append((f"w{k}", (out, fan_in, self.kernel, self.kernel)))
            fan_in = out
        for k, out in enumerate(self.channels, 1):
            shapes += [(f"b{k}", (out,)), (f"beta{k}", (out,))]
        sizes = (self.flat_features, *self.hidden, self.classes)
        first = len(self.channels) + 1
        for k, (fan_in, out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), first):
            shapes += [(f"W{k}", (fan_in, out)), (f"b{k}", (out,))]
            if k < first + len(self.hidden):
                shapes.append((f"beta{k}", (out,)))
        views, offset = [], 0
        for name, shape in shapes:
            views.append((name, shape, offset))
            offset += math.prod(shape)
        return views

    @property
    def n_params(self) -> int:
        """Length of theta (22,682 for the 10-class net)."""
        name, shape, offset = self.layout()[-1]
        return offset + math.prod(shape)

    def groups(self) -> dict[str, slice]:
        """The contiguous groups of theta: ``conv`` (the kernels) and ``fc`` (everything else)."""
        conv = sum(math.prod(shape) for name, shape, _ in self.layout() if name[0] == "w")
        return {"conv": slice(0, conv), "fc": slice(conv, self.n_params)}

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> ConvNetProblems:
        """``count`` instances from the stream of (seed, split, index), on ``split``'s data.

        Its images are ``[N, 3, 32, 32]`` (uint8 0..255, or float already in [0, 1]), its labels
        ``[N]`` class ids below ``classes``.
        """
        images, labels = self.dataset(split, device)
        if tuple(images.shape[1:]) != self.image:
            raise ValueError(f"images must be [N, {', '.join(map(str, self.image))}], "
                             f"got {tuple(images.shape)}")
        theta0, keys = draw_instances(self.seed, split, index, count, self.n_params, self.init_std)
        for name, shape, offset in self.layout():
            if name.startswith("beta"):
                theta0[:, offset : offset + math.prod(shape)] = 0.0
        return ConvNetProblems(
            family=self, theta0=theta0.to(images.device), keys=keys.to(images.device),
            images=images, labels=labels,
        )


@dataclass(frozen=True)
class ConvNetProblems:
    """B conv-net instances on one dataset: ``theta0 [B, n]``, minibatch stream keys ``[B]``.

    ``linearised`` (default) makes the first-order loss carry its meta-gradient without the
    network's graph: see :meth:`loss_and_grad`. ``False`` keeps autograd's graph of the loss.
    """

    family: ConvNetFamily
    theta0: Tensor
    keys: Tensor
    images: Tensor
    labels: Tensor
    linearised: bool = True

    @property
    def batch(self) -> int:
        """B, the number of instances."""
        return self.theta0.shape[0]

    def initial_params(self) -> Tensor:
        """theta_0, shape ``[B, n]``."""
        return self.theta0

    def minibatch(self, step: int) -> tuple[Tensor, Tensor]:
        """Inputs ``[B, M, 3, 32, 32]`` in [0, 1] and labels ``[B, M]`` at ``step``."""
        idx = minibatch_indices(self.keys, step, self.family.batch_size, self.images.shape[0])
        flat = idx.reshape(-1)
        x = self.images.index_select(0, flat)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x.view(*idx.shape, *self.family.image), self.labels.index_select(0, flat).view(
            idx.shape
        )

    def params(self, theta: Tensor) -> dict[str, Tensor]:
        """Every parameter as a view of theta, shaped ``[B, *shape]``."""
        b = theta.shape[0]
        return {
            name: theta[:, offset : offset + math.prod(shape)].view(b, *shape)
            for name, shape, offset in self.family.layout()
        }

    def logits(self, theta: Tensor, x: Tensor) -> Tensor:
        """Logits ``[B, M, classes]`` of each instance on its own inputs ``x [B, M, 3, H, W]``."""
        fam, p = self.family, self.params(theta)
        b, m = x.shape[:2]
        # Instances as channel groups: [M, B*C, H, W], one grouped conv for all B networks.
        h = x.to(theta.dtype).transpose(0, 1).reshape(m, b * fam.image[0], *fam.image[1:])
        for k, out in enumerate(fam.channels, 1):
            weight = p[f"w{k}"].reshape(b * out, *p[f"w{k}"].shape[2:])
            h = F.conv2d(h, weight, p[f"b{k}"].reshape(-1), padding=fam.kernel // 2, groups=b)
            beta = p[f"beta{k}"].reshape(-1)
            # An explicit unit scale: torch's double backward of batch_norm needs a weight.
            h = F.batch_norm(
                h, None, None, torch.ones_like(beta), beta, training=True, eps=BN_EPS
            )
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

    def loss(self, theta: Tensor, step: int = 0) -> Tensor:
        """Mean cross-entropy of each instance on its own minibatch at ``step``, ``[B]``."""
        x, y = self.minibatch(step)
        logits = self.logits(theta, x)
        b, m, c = logits.shape
        return F.cross_entropy(
            logits.reshape(b * m, c), y.reshape(-1), reduction="none"
        ).view(b, m).mean(-1)

    def loss_and_grad(
        self, theta: Tensor, step: int = 0, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Losses ``[B]`` (with graph to theta) and the gradient ``[B, n]`` by autograd.

        First order (``create_graph`` false), the meta-gradient needs only d f / d theta at
        theta, which is the gradient itself: with ``linearised`` the loss is returned as
        :func:`~repro.optimizees.base.linearised_loss`, equal in value and in its gradient
        with respect to theta.
        """
        if create_graph or not self.linearised:
            return autograd_loss_and_grad(lambda th: self.loss(th, step), theta, create_graph)
        loss, grad = autograd_loss_and_grad(lambda th: self.loss(th, step), theta.detach())
        return linearised_loss(loss, grad, theta), grad
