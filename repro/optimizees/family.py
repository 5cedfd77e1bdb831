"""What every optimizee family offers: problem batches by (split, index), its parameter groups,
what it is made of, and any outputs beyond the curves (in the spirit of learned_optimization's
TaskFamily).

A family holds everything a problem is drawn from (its seed and, for data-driven families,
its dataset), so ``sample(split, index, count, device)`` is the same call for every family.
Subclassing :class:`Family` gives the defaults: one group, synthetic data, no extra outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

import torch
from torch import Tensor

from repro.optimizees.base import SPLITS, Problem

if TYPE_CHECKING:
    from repro.config import Config


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

    def outputs(
        self, config: Config, folder: Path, problem: Problem,
        rules: Mapping[str, tuple[Any, float | None]], meta: Mapping[str, Any], title: str,
    ) -> list[Path]:
        """Data files beyond the curves that ``repro evaluate`` writes into ``folder``."""
        return []


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
    """A family whose problems are drawn from its dataset ``data``, whose name it records."""

    data: Dataset | None

    def dataset(self, split: str, device: torch.device | str) -> tuple[Tensor, Tensor]:
        """``split``'s images and labels on ``device``."""
        if self.data is None:
            raise ValueError(f"{type(self).__name__} has no dataset to draw problems from")
        return self.data.on(split, device)

    def describe(self) -> dict[str, str]:
        """``{"dataset": name}`` of the family's data."""
        return {"dataset": self.data.name if self.data is not None else "none"}
