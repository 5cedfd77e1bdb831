"""Optimizee families (the paper's f), built from a config with the data they draw from."""

from __future__ import annotations

from repro.config import Config
from repro.optimizees.convnet import ConvNetFamily
from repro.optimizees.family import Dataset, Family
from repro.optimizees.mlp import MLPFamily
from repro.optimizees.quadratic import QuadraticFamily


def make_family(config: Config, data: Dataset | None = None) -> Family:
    """The problem family ``config.problem`` describes, seeded by ``config.seed``; data-driven
    families draw from ``data``."""
    problem, seed = config.problem, config.seed
    if problem.family == "convnet":
        return ConvNetFamily(
            channels=tuple(problem.channels), kernel=problem.kernel, hidden=tuple(problem.hidden),
            classes=len(config.data.classes) or 10, init_std=problem.init_std,
            batch_size=problem.minibatch, seed=seed, data=data,
        )
    if problem.family == "neural_art":
        from repro.optimizees.neural_art import build_family

        return build_family(config.art, seed)
    if problem.family == "mlp":
        return MLPFamily(
            hidden=tuple(problem.hidden), activation=problem.activation,
            init_std=problem.init_std, batch_size=problem.minibatch, seed=seed, data=data,
        )
    return QuadraticFamily(dim=problem.dim, scale=problem.scale, init_std=problem.init_std,
                           seed=seed)
