"""An experiment of the paper: the :class:`~repro.meta.learner.MetaLearner` of a config and the
data module its problem family names (``config.problem.datamodule``).

A fit hands both to ``Trainer.fit``, which runs the data module's ``prepare_data`` (once per
node) and ``setup`` (on every rank) before the learner draws problems from it. Tuning and
evaluation run without a Trainer and get the same problems from :func:`make_source`, which
prepares and sets up the data module itself.
"""

from __future__ import annotations

from repro.config import Config
from repro.data.problems import ProblemData
from repro.meta.learner import MetaLearner, problem_source
from repro.optimizees import Family


def make_experiment(config: Config) -> tuple[MetaLearner, ProblemData]:
    """``config``'s learner and its data module, as a fit hands them to ``Trainer.fit``."""
    return MetaLearner(config), config.problem.datamodule(config)


def make_source(config: Config) -> Family:
    """The problems of ``config``'s experiment outside a Trainer: its data module prepared
    (``prepare_data``, which may download) and set up (every split) here."""
    data = config.problem.datamodule(config)
    data.prepare_data()
    data.setup(None)
    return problem_source(config, config.problem.build(config), data)
