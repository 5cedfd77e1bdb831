"""Curves of rollouts: means, 95% intervals and where a run diverged."""

from __future__ import annotations

import math

import torch

from repro.meta.evaluate import Z_95, diverged_as_inf, final_loss, summarise


def test_mean_and_interval_of_known_losses():
    # step 0 (theta_0) is dropped; steps 1 and 2 over 4 problems
    losses = torch.tensor([[9.0, 9.0, 9.0, 9.0], [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]])
    curve = summarise(losses, lr=0.1)
    assert curve["step"] == [1, 2] and curve["n"] == 4 and curve["lr"] == 0.1
    assert curve["mean"] == [2.5, 2.0]
    half = Z_95 * math.sqrt(5 / 3) / 2  # sample std of 1..4 is sqrt(5/3); sem = std / sqrt(4)
    assert math.isclose(curve["lo"][0], 2.5 - half, rel_tol=1e-12)
    assert math.isclose(curve["hi"][0], 2.5 + half, rel_tol=1e-12)
    assert curve["lo"][1] == curve["hi"][1] == 2.0  # no spread, no interval
    assert curve["diverged_at"] is None


def test_one_problem_has_no_interval():
    curve = summarise(torch.tensor([[1.0], [0.5], [0.25]]))
    assert curve["lo"] == curve["mean"] == curve["hi"] == [0.5, 0.25]


def test_divergence_on_one_problem_ends_the_curve_at_that_step():
    losses = torch.ones(6, 3)
    losses[3, 1] = math.inf  # problem 1 diverges at step 3
    losses[4:, 1] = math.nan
    curve = summarise(losses)
    assert curve["diverged_at"] == 3
    assert curve["mean"] == [1.0, 1.0, None, None, None]
    assert curve["lo"][2:] == curve["hi"][2:] == [None, None, None]


def test_a_nan_counts_as_divergence_like_inf():
    losses = torch.ones(3, 4)
    losses[2, 0] = math.nan
    assert summarise(losses)["diverged_at"] == 2
    assert final_loss(losses) == math.inf
    assert final_loss(torch.ones(3, 4)) == 1.0


def test_diverged_as_inf_replaces_only_non_finite_values():
    values = torch.tensor([0.5, math.nan, -math.inf, math.inf, 2.0])
    out = diverged_as_inf(values)
    assert out.tolist() == [0.5, math.inf, math.inf, math.inf, 2.0]
    assert float(out.mean()) == math.inf
