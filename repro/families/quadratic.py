"""Random quadratics (paper §3.1): problems drawn from seeds alone, no dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jsonargparse.typing import NonNegativeFloat, PositiveInt

from repro.config import Config
from repro.optimizees.quadratic import QuadraticFamily
from repro.settings import ProblemSettings, register, require, section


@register
@dataclass(frozen=True)
@section("problem")
class QuadraticProblem(ProblemSettings):
    """``dim``-dimensional quadratics ||W theta - y||^2, averaged (``mean``) or summed."""

    family: Literal["quadratic"] = "quadratic"
    dim: PositiveInt = 10
    scale: Literal["mean", "sum"] = "mean"
    init_std: NonNegativeFloat = 0.01

    default = True

    def check(self, config: Config) -> None:
        """Refuse a one-step trace of more coordinates than a problem has."""
        ev = config.evaluate
        require(
            not (ev.trace and ev.trace_coordinates > self.dim),
            f"evaluate.trace_coordinates ({ev.trace_coordinates}) exceeds problem.dim "
            f"({self.dim})",
        )

    def build(self, config: Config, data: None = None) -> QuadraticFamily:
        """Quadratics of ``dim`` seeded by ``config.seed``."""
        return QuadraticFamily(dim=self.dim, scale=self.scale, init_std=self.init_std,
                               seed=config.seed)
