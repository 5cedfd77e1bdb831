"""The paper's experiments, one LightningModule each, and the data module each hands to a fit.

Every experiment is a :class:`~repro.meta.learner.MetaLearner` that names its data module;
:data:`EXPERIMENTS` picks it by ``problem.family``. A fit hands both to ``Trainer.fit``, which
runs the data module's ``prepare_data`` (once per node) and ``setup`` (on every rank) before the
learner draws problems from it. Tuning and evaluation run without a Trainer and get the same
problems from :func:`make_source`, which prepares and sets up the data module itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from repro.config import Config
from repro.data.cifar import CIFARDataModule
from repro.data.mnist import MNISTDataModule
from repro.data.problems import ProblemData
from repro.meta import art
from repro.meta.learner import MetaLearner, problem_source
from repro.optimizees import Family, make_family
from repro.optimizees.base import Problem


class QuadraticLearner(MetaLearner):
    """Random quadratics (paper §3.1): problems drawn from seeds alone, no dataset."""


class MNISTLearner(MetaLearner):
    """MLPs on MNIST or Fashion-MNIST (paper §3.2), optionally trained on several networks."""

    @staticmethod
    def datamodule(config: Config) -> MNISTDataModule:
        """``data.name``'s images, split into train, validation and test."""
        data = config.data
        return MNISTDataModule(data.name, data.root, data.download, data.val_size, config.seed)

    @classmethod
    def training_sources(cls, config: Config, source: Family) -> list[Family]:
        """One source per network of ``problem.train_hidden`` (problem i takes network i mod
        their number), else ``source``'s network; seeded by ``meta.phi_seed``."""
        (seeded,) = super().training_sources(config, source)
        mix = config.problem.train_hidden
        return [replace(seeded, hidden=tuple(h)) for h in mix] if mix else [seeded]


class CIFARLearner(MetaLearner):
    """Conv nets on CIFAR-10 or a subset of its labels (paper §3.4)."""

    @staticmethod
    def datamodule(config: Config) -> CIFARDataModule:
        """CIFAR-10's images of ``data.classes``, split into train, validation and test."""
        data = config.data
        return CIFARDataModule(
            data.root, data.download, data.val_size, config.seed, data.classes or range(10)
        )


class NeuralArtLearner(MetaLearner):
    """Neural Art (paper §3.5): styling crops of the ``art`` section's photographs (the family
    holds them and the style image, so its data module is the default one)."""

    @staticmethod
    def outputs(
        config: Config, folder: Path, problem: Problem,
        rules: Mapping[str, tuple[Any, float | None]], meta: Mapping[str, Any], title: str,
    ) -> list[Path]:
        """Figure 9's image triple and the update-rule views (Figures 10-13), as ``config.art``
        asks (:mod:`repro.meta.art`)."""
        written = []
        if config.art.images:
            written += art.write_images(config, folder, problem, rules["LSTM"][0], meta, title)
        if config.art.update_views:
            written += art.write_update_views(config, folder, problem, rules, meta)
        return written


EXPERIMENTS: dict[str, type[MetaLearner]] = {
    "quadratic": QuadraticLearner,
    "mlp": MNISTLearner,
    "convnet": CIFARLearner,
    "neural_art": NeuralArtLearner,
}
"""The experiment of each ``problem.family``."""


def experiment_of(config: Config) -> type[MetaLearner]:
    """The experiment of ``config``'s problem family."""
    return EXPERIMENTS[config.problem.family]


def make_experiment(config: Config) -> tuple[MetaLearner, ProblemData]:
    """``config``'s experiment and its data module, as a fit hands them to ``Trainer.fit``."""
    experiment = experiment_of(config)
    return experiment(config), experiment.datamodule(config)


def make_source(config: Config) -> Family:
    """The problems of ``config``'s experiment outside a Trainer: its data module prepared
    (``prepare_data``, which may download) and set up (every split) here."""
    data = experiment_of(config).datamodule(config)
    data.prepare_data()
    data.setup(None)
    return problem_source(config, make_family(config), data)
