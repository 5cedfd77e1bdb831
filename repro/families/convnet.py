"""Conv nets on CIFAR-10 or a subset of its labels (paper §3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from jsonargparse.typing import NonNegativeFloat, PositiveInt

from repro.config import Config
from repro.optimizees.convnet import ConvNetFamily
from repro.optimizees.family import Dataset
from repro.settings import ProblemSettings, non_empty, register, require, section


@register
@dataclass(frozen=True)
@section("problem")
class ConvNetProblem(ProblemSettings):
    """Conv nets of ``channels`` (``kernel`` x ``kernel``) and a fully connected ``hidden``."""

    family: Literal["convnet"] = "convnet"
    channels: list[PositiveInt] = field(default_factory=lambda: [16, 16, 16])
    kernel: PositiveInt = 5
    hidden: list[PositiveInt] = field(default_factory=lambda: [20])
    minibatch: PositiveInt = 128
    init_std: NonNegativeFloat = 0.01

    datasets = ("cifar10",)
    label_subsets = True
    parameter_groups = ("conv", "fc")

    def __post_init__(self) -> None:
        non_empty(self, "problem", "hidden", "channels")

    def check(self, config: Config) -> None:
        """Refuse ``data.classes`` that are not two or more distinct CIFAR-10 labels."""
        classes = config.data.classes
        require(
            not classes or (len(set(classes)) == len(classes) >= 2 and max(classes) <= 9),
            f"data.classes: {classes!r} must be two or more distinct CIFAR-10 labels (0..9), "
            "for data.name cifar10",
        )

    def build(self, config: Config, data: Dataset | None = None) -> ConvNetFamily:
        """Conv nets classifying ``data.classes`` (all ten when empty), on ``data``."""
        return ConvNetFamily(
            channels=tuple(self.channels), kernel=self.kernel, hidden=tuple(self.hidden),
            classes=len(config.data.classes) or 10, init_std=self.init_std,
            batch_size=self.minibatch, seed=config.seed, data=data,
        )

    def datamodule(self, config: Config) -> Any:
        """CIFAR-10's images of ``data.classes``, split into train, validation and test (a
        ``ProblemData``)."""
        from repro.data.cifar import CIFARDataModule  # Lightning: only where data is read

        data = config.data
        return CIFARDataModule(
            data.root, data.download, data.val_size, config.seed, data.classes or range(10)
        )
