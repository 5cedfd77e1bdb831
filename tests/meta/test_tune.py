"""The baselines' learning-rate search on a problem whose best rate is known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from repro.meta.evaluate import final_loss
from repro.meta.tune import describe, search, tune


class Parabola:
    """f(theta) = theta^2 / 2 per coordinate: SGD with rate 1 reaches 0 in one step, a rate
    above 2 diverges (|1 - lr| > 1 grows theta by that factor each step)."""

    def __init__(self, count: int = 2) -> None:
        self.theta0 = torch.linspace(1.0, 2.0, count).unsqueeze(1)

    def initial_params(self) -> Tensor:
        return self.theta0.clone()

    def loss_and_grad(self, theta: Tensor, step: int, create_graph: bool = False):
        return 0.5 * (theta**2).sum(1), theta.clone()


class Source:
    """Records the splits it was asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, int]] = []

    def sample(self, split: str, index: int, count: int, device) -> Parabola:
        self.asked.append((split, index, count))
        return Parabola(count)


def test_picks_the_lowest_rate_and_counts_divergence_as_infinitely_bad():
    seen = []
    results = tune(Parabola(), ["SGD"], [30.0, 1.0, 0.1], 200, lambda *row: seen.append(row))
    sgd = results["SGD"]
    assert sgd["lr"] == 1.0 and sgd["final_loss"] == 0.0
    assert sgd["grid"]["30.0"] is None  # 29^200 overflows: diverged
    assert 0 < sgd["grid"]["0.1"] < 1e-8
    assert [(name, lr) for name, lr, _ in seen] == [("SGD", 30.0), ("SGD", 1.0), ("SGD", 0.1)]
    assert math.isinf(seen[0][2])
    assert sgd["at_grid_edge"] is False


def test_a_best_rate_at_the_edge_of_the_grid_is_flagged():
    assert tune(Parabola(), ["SGD"], [1.0, 0.1, 0.01], 20)["SGD"]["at_grid_edge"] is True
    assert tune(Parabola(), ["SGD"], [0.01, 0.001], 20)["SGD"]["lr"] == 0.01


def test_every_rate_diverging_is_an_error_naming_the_grid():
    with pytest.raises(RuntimeError, match=r"SGD diverged at every learning rate .*\[30.0, 50.0\]"):
        tune(Parabola(), ["SGD"], [30.0, 50.0], 200)


def test_search_records_the_split_count_and_criterion_it_used():
    source = Source()
    record = search(source, "train", 3, ["SGD"], [1.0, 0.1], 5)
    assert source.asked == [("train", 0, 3)]
    assert (record["split"], record["problems"], record["steps"]) == ("train", 3, 5)
    assert record["grid"] == [1.0, 0.1] and record["optimizers"]["SGD"]["lr"] == 1.0
    assert record["criterion"] == describe(final_loss)
    assert record["criterion"].startswith("final_loss: Mean loss at the last step")

    def loss_at_start(losses: Tensor) -> float:
        """The mean loss before any step."""
        return float(losses[0].mean())

    other = search(Source(), "val", 2, ["SGD"], [1.0, 0.1], 5, criterion=loss_at_start)
    assert other["criterion"] == "loss_at_start: The mean loss before any step."
    assert other["optimizers"]["SGD"]["lr"] == 1.0  # a tie: the first rate of the grid
