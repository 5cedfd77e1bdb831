"""Curves of rollouts: means, 95% intervals and where a run diverged."""

from __future__ import annotations

import math

import pytest
import torch

from repro.meta.evaluate import Z_95, Curve, diverged_as_inf, final_loss


def summarise(losses, lr=None):
    """The curve of one update with every problem."""
    curve = Curve(lr)
    curve.update(losses)
    return curve.compute()


def reference(losses, lr=None):
    """The hand-written aggregate :class:`Curve` replaced, kept as the parity reference."""
    losses = losses[1:].double()
    n = losses.shape[1]
    mean = losses.mean(1)
    sem = losses.std(1) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
    finite = torch.isfinite(mean) & torch.isfinite(sem)
    bad = (~finite).nonzero()
    diverged_at = int(bad[0]) + 1 if len(bad) else None

    def clean(values):
        return [
            float(v) if diverged_at is None or i + 1 < diverged_at else None
            for i, v in enumerate(values.tolist())
        ]

    return {
        "step": list(range(1, losses.shape[0] + 1)),
        "mean": clean(mean),
        "lo": clean(mean - Z_95 * sem),
        "hi": clean(mean + Z_95 * sem),
        "n": n,
        "lr": lr,
        "diverged_at": diverged_at,
    }


def rollouts(dtype, diverge_at=None, steps=100, problems=64):
    """Random losses ``[steps + 1, problems]`` over decades; problem 5 inf from ``diverge_at``
    and NaN two steps later."""
    gen = torch.Generator().manual_seed(7)
    losses = torch.rand(steps + 1, problems, generator=gen, dtype=torch.float64)
    losses = (losses * 10 ** torch.randint(-3, 3, (steps + 1, problems), generator=gen)).to(dtype)
    if diverge_at is not None:
        losses[diverge_at:, 5] = math.inf
        losses[diverge_at + 2:, 5] = math.nan
    return losses


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("diverge_at", [None, 17])
def test_the_metric_equals_the_hand_written_aggregate_exactly(dtype, diverge_at):
    losses = rollouts(dtype, diverge_at)
    expected = reference(losses, lr=0.3)
    assert expected["diverged_at"] == diverge_at
    assert summarise(losses, lr=0.3) == expected
    assert Curve(0.3)(losses) == expected  # forward gives the same


def test_the_parity_data_tells_the_reduction_layouts_apart():
    # over a transposed layout torch adds these float64 losses in another order: a metric that
    # reduced its [B, steps] state without the contiguous [steps, B] copy would fail above
    losses = rollouts(torch.float64)[1:]
    assert not torch.equal(losses.mean(1), losses.T.contiguous().T.mean(1))


@pytest.mark.parametrize("diverge_at", [None, 17])
def test_updates_with_parts_of_the_problems_equal_one_with_all_exactly(diverge_at):
    # "cat" joins the problems of every update (under DDP, every rank's) before compute()
    # reduces, so the sums run over the same [steps, B] values in the same order: exact
    losses = rollouts(torch.float64, diverge_at)
    parts = Curve(0.3)
    parts.update(losses[:, :20])
    parts.update(losses[:, 20:])
    assert parts.compute() == summarise(losses, lr=0.3)


def test_the_cat_reduction_across_ranks_equals_one_update_with_all_problems():
    losses = rollouts(torch.float64)
    other = Curve()
    other.update(losses[:, 20:])
    gathered = Curve(0.3, dist_sync_fn=lambda state, group=None: [state, other.losses[0]],
                     distributed_available_fn=lambda: True)
    gathered.update(losses[:, :20])  # this rank's problems; the other rank holds the rest
    assert gathered.compute() == summarise(losses, lr=0.3)


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
