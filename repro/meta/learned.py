"""The learned optimizer an experiment meta-trains: one LSTM, or one LSTM per parameter group.

With ``optimizer.groups`` empty this is the paper's single coordinatewise LSTM. Otherwise
(CIFAR, paper.md §2.5) it is a :class:`~repro.optimizers.grouped.GroupedRule` of one freshly
initialised LSTM per named group of the optimizee family (``conv``, ``fc``), so one checkpoint
holds every LSTM.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch import nn

from repro.config import Config, OptimizerConfig
from repro.optimizees import Family
from repro.optimizers import make_lstm
from repro.optimizers.grouped import GroupedRule
from repro.optimizers.phi_file import PhiFile
from repro.settings import ConfigError


def make_learned(config: Config) -> nn.Module:
    """A freshly initialised learned optimizer for ``config``'s problem family."""
    settings = config.optimizer
    if not settings.groups:
        return make_lstm(settings)
    family = config.problem.build(config)
    parts = family.groups()
    if list(settings.groups) != list(parts):
        raise ConfigError(
            f"optimizer.groups: {settings.groups!r} must list the {config.problem.family} "
            f"family's groups in order: {list(parts)}"
        )
    return GroupedRule([(name, parts[name], make_lstm(settings)) for name in settings.groups])


def load_learned(checkpoint: PhiFile | Path, config: Config) -> nn.Module:
    """The learned optimizer stored in ``checkpoint`` (read already, or its path), built for
    ``config``'s problem family.

    A grouped optimizer's LSTMs act coordinatewise, so they load into any network of the
    family (another label subset's classifier head included).
    """
    def build(settings: OptimizerConfig) -> nn.Module:
        return make_learned(replace(config, optimizer=settings))

    if not isinstance(checkpoint, PhiFile):
        checkpoint = PhiFile.read(checkpoint)
    return checkpoint.optimizer_net(config.optimizer, build=build)


def note_differences(checkpoint: PhiFile, family: Family) -> None:
    """Say so where the optimizer was meta-trained on another family description (dataset,
    encoder) than the one it is evaluated on."""
    trained = checkpoint.meta
    for key, now in family.describe().items():
        if trained.get(key) not in (None, "none", now):  # shipped files may record "none"
            print(f"note: the optimizer was meta-trained with {key} {trained[key]}; "
                  f"evaluating with {now}")
