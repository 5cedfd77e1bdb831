import torch

from repro.optimizees.base import autograd_loss_and_grad, instance_seed
from repro.optimizees.quadratic import QuadraticFamily
from tests.optimizees.contract import check_family


def test_analytic_gradient_matches_autograd_for_both_scales():
    for scale in ("mean", "sum"):
        problem = QuadraticFamily(scale=scale).sample("train", 3, 5)
        theta = torch.randn(5, 10)
        loss, grad = problem.loss_and_grad(theta)
        ref_loss, ref_grad = autograd_loss_and_grad(problem.loss, theta)
        torch.testing.assert_close(loss, ref_loss)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)


def test_mean_scale_is_sum_over_dim_and_starts_near_one():
    mean = QuadraticFamily(scale="mean").sample("test", 0, 200)
    total = QuadraticFamily(scale="sum").sample("test", 0, 200)
    theta = mean.initial_params()
    torch.testing.assert_close(total.loss(theta), 10 * mean.loss(theta))
    assert 0.7 < mean.loss(theta).mean() < 1.3


def test_instances_are_reproducible_and_splits_disjoint():
    fam = QuadraticFamily()
    a, b = fam.sample("val", 0, 4), fam.sample("val", 0, 4)
    assert torch.equal(a.weights, b.weights)
    c = fam.sample("test", 0, 4)
    assert not torch.equal(a.weights, c.weights)
    seeds = {instance_seed(0, split, i) for split in ("train", "val", "test") for i in range(50)}
    assert len(seeds) == 150


def test_second_order_gradient_keeps_graph():
    problem = QuadraticFamily().sample("train", 0, 2)
    theta = torch.randn(2, 10, requires_grad=True)
    _, grad = problem.loss_and_grad(theta, create_graph=True)
    assert grad.requires_grad
    _, detached = problem.loss_and_grad(theta)
    assert not detached.requires_grad


def test_the_family_contract():
    check_family(QuadraticFamily(seed=3))
