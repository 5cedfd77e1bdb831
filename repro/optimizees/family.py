"""What every optimizee family offers: problem batches by (split, index), its parameter groups
and what it is made of (in the spirit of learned_optimization's TaskFamily).

A family holds everything a problem is drawn from (its seed and, for data-driven families,
its dataset), so ``sample(split, index, count, device)`` is the same call for every family.
Subclassing :class:`Family` gives the defaults: one group, synthetic data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

import torch
from torch import Tensor

from repro.optimizees.base import SPLITS, Problem, generator


class Family(Protocol):
    """A distribution of optimization problems, drawn reproducibly from ``seed``."""

    seed: int

    @property
    def n_params(self) -> int:
        """Length of one instance's flat theta."""
        ...

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> Problem:
        """``count`` instances from the stream of (seed, split, index) on ``device``."""
        ...

    def groups(self) -> dict[str, slice]:
        """The named contiguous groups of theta a grouped optimizer gives one LSTM each."""
        return {"all": slice(0, self.n_params)}

    def describe(self) -> dict[str, str]:
        """What the family is made of, as the data files record it (``dataset``, ...)."""
        return {"dataset": "synthetic"}

    def with_seed(self, seed: int) -> Self:
        """The same family with problem streams drawn from ``seed``."""
        return dataclasses.replace(self, seed=seed)


@dataclass(eq=False)
class Dataset:
    """A named dataset's splits, ``{split: (images, labels)}``, moved to each device once."""

    name: str
    splits: Mapping[str, tuple[Tensor, Tensor]]
    _on_device: dict[tuple[str, str], tuple[Tensor, Tensor]] = field(default_factory=dict)

    @classmethod
    def one(cls, images: Tensor, labels: Tensor, name: str = "synthetic") -> Dataset:
        """The same ``images`` and ``labels`` for every split (tests, benchmarks)."""
        return cls(name, {split: (images, labels) for split in SPLITS})

    def on(self, split: str, device: torch.device | str) -> tuple[Tensor, Tensor]:
        """``split``'s images and int64 labels (one class id per image) on ``device``."""
        key = (split, str(device))
        if key not in self._on_device:
            if split not in self.splits:
                raise ValueError(f"dataset {self.name} has no split {split!r}")
            images, labels = self.splits[split]
            if labels.shape != images.shape[:1]:
                raise ValueError(f"labels must be [{images.shape[0]}], got {tuple(labels.shape)}")
            self._on_device[key] = (images.to(device), labels.to(device, torch.int64))
        return self._on_device[key]


class DataFamily(Family):
    """A family of networks on its dataset ``data`` (whose name it records), their parameters
    laid out in the flat theta as :meth:`shapes` lists them."""

    data: Dataset | None
    init_std: float
    batch_size: int

    def dataset(self, split: str, device: torch.device | str) -> tuple[Tensor, Tensor]:
        """``split``'s images and labels on ``device``."""
        if self.data is None:
            raise ValueError(f"{type(self).__name__} has no dataset to draw problems from")
        return self.data.on(split, device)

    def describe(self) -> dict[str, str]:
        """``{"dataset": name}`` of the family's data."""
        return {"dataset": self.data.name if self.data is not None else "none"}

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter, in theta's order."""
        raise NotImplementedError

    def layout(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(name, shape, offset) of every parameter in the flat theta."""
        views, offset = [], 0
        for name, shape in self.shapes():
            views.append((name, shape, offset))
            offset += math.prod(shape)
        return views

    @property
    def n_params(self) -> int:
        """Length of theta."""
        return sum(math.prod(shape) for _, shape in self.shapes())

    def views(self, theta: Tensor) -> dict[str, Tensor]:
        """Every parameter as a view of theta, shaped ``[B, *shape]``."""
        b = theta.shape[0]
        return {
            name: theta[:, offset : offset + math.prod(shape)].reshape(b, *shape)
            for name, shape, offset in self.layout()
        }

    def draw(
        self, split: str, index: int, count: int, device: torch.device | str, image: tuple[int, ...]
    ) -> dict[str, Any]:
        """The fields of ``count`` instances of the stream (seed, split, index) on ``split``'s
        images (which must be ``[N, *image]``) and labels: theta_0 ~ N(0, init_std^2), with
        batch-norm offsets (``beta*``) at 0, and the 63-bit minibatch stream keys."""
        images, labels = self.dataset(split, device)
        if tuple(images.shape[1:]) != image:
            raise ValueError(f"images must be [N, {', '.join(map(str, image))}], "
                             f"got {tuple(images.shape)}")
        gen = generator(self.seed, split, index)
        theta0 = torch.randn(count, self.n_params, generator=gen) * self.init_std
        keys = torch.randint(0, 2**63 - 1, (count,), generator=gen, dtype=torch.int64)
        for name, shape, offset in self.layout():
            if name.startswith("beta"):
                theta0[:, offset : offset + math.prod(shape)] = 0.0
        return dict(family=self, theta0=theta0.to(images.device), keys=keys.to(images.device),
                    images=images, labels=labels)
