"""Optimizee families (the paper's f)."""

from __future__ import annotations

from repro.config import ProblemConfig
from repro.optimizees.quadratic import QuadraticFamily


def make_family(config: ProblemConfig) -> QuadraticFamily:
    """The problem family named by ``config.family``."""
    return QuadraticFamily(dim=config.dim, scale=config.scale, init_std=config.init_std)
