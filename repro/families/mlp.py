"""MLPs on MNIST or Fashion-MNIST (paper §3.2), optionally trained on several networks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from jsonargparse.typing import NonNegativeFloat, PositiveInt

from repro.config import Config
from repro.optimizees.family import Dataset
from repro.optimizees.mlp import Activation, MLPFamily
from repro.settings import ProblemSettings, non_empty, register, require, section


@register
@dataclass(frozen=True)
@section("problem")
class MLPProblem(ProblemSettings):
    """MLP classifiers of ``hidden`` layers and ``activation`` on minibatches of ``minibatch``.

    ``train_hidden`` (off when empty, as in the paper) lists the hidden layers of the networks
    meta-training cycles through, one per problem (e.g. ``[[20], [20, 20]]``); validation and
    evaluation keep ``hidden``.
    """

    family: Literal["mlp"] = "mlp"
    hidden: list[PositiveInt] = field(default_factory=lambda: [20])
    activation: Activation = "sigmoid"
    minibatch: PositiveInt = 128
    init_std: NonNegativeFloat = 0.01
    train_hidden: list[list[PositiveInt]] = field(default_factory=list)

    datasets = ("mnist", "fashion_mnist")
    architecture_grid = True

    def __post_init__(self) -> None:
        non_empty(self, "problem", "hidden")
        require(
            all(self.train_hidden),
            f"problem.train_hidden: {self.train_hidden!r} needs non-empty lists of positive "
            "widths, e.g. [[20], [20, 20]]",
        )

    def build(self, config: Config, data: Dataset | None = None) -> MLPFamily:
        """MLPs of ``hidden`` on ``data``, seeded by ``config.seed``."""
        return MLPFamily(hidden=tuple(self.hidden), activation=self.activation,
                         init_std=self.init_std, batch_size=self.minibatch, seed=config.seed,
                         data=data)

    def datamodule(self, config: Config) -> Any:
        """``data.name``'s images, split into train, validation and test (a ``ProblemData``)."""
        from repro.data.mnist import MNISTDataModule  # Lightning: only where data is read

        data = config.data
        return MNISTDataModule(data.name, data.root, data.download, data.val_size, config.seed)

    def training_sources(self, config: Config, source: MLPFamily) -> list[MLPFamily]:
        """One source per network of ``train_hidden`` (problem i takes network i mod their
        number), else ``source``'s network; seeded by ``meta.phi_seed``."""
        (seeded,) = super().training_sources(config, source)
        mix = self.train_hidden
        return [replace(seeded, hidden=tuple(h)) for h in mix] if mix else [seeded]
