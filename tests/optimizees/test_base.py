"""Helpers shared by the optimizee families."""

import torch


def test_linearised_loss_has_the_value_and_the_given_gradient():
    from repro.optimizees.base import linearised_loss

    theta = torch.randn(3, 5, requires_grad=True)
    loss, grad = torch.tensor([1.0, 2.0, 3.0]), torch.randn(3, 5)
    out = linearised_loss(loss, grad, theta)
    assert torch.equal(out, loss)
    weights = torch.tensor([0.5, -1.0, 2.0])
    (d_theta,) = torch.autograd.grad((out * weights).sum(), theta)
    torch.testing.assert_close(d_theta, grad * weights.unsqueeze(-1))
    with torch.no_grad():
        assert not linearised_loss(loss, grad, theta).requires_grad


def test_first_order_mlp_loss_carries_the_autograd_gradient():
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(300, 784, generator=gen)
    labels = torch.randint(0, 10, (300,), generator=gen)
    problem = MLPFamily(batch_size=16, data=Dataset.one(images, labels)).sample("train", 0, 2)
    theta = problem.initial_params().clone().requires_grad_()
    loss, grad = problem.loss_and_grad(theta, 3)
    (d_theta,) = torch.autograd.grad(loss.sum(), theta)
    start = theta.detach().requires_grad_()
    reference = problem.loss(start, 3)
    (d_reference,) = torch.autograd.grad(reference.sum(), start)
    torch.testing.assert_close(loss, reference.detach())
    torch.testing.assert_close(d_theta, d_reference)
    torch.testing.assert_close(grad, d_reference)
