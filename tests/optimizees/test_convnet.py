"""The CIFAR conv net: layout and groups, batched instances, parity with a torch.nn network."""

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from repro.optimizees.convnet import BN_EPS, ConvNetFamily
from repro.optimizees.family import Dataset
from tests.optimizees.contract import check_family

N = 64


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N, 3, 32, 32), generator=gen, dtype=torch.uint8)
    return images, torch.randint(0, 10, (N,), generator=gen)


@pytest.mark.parametrize(("classes", "n"), [(10, 22_682), (5, 22_517), (2, 22_418)])
def test_layout_size_and_head(classes, n):
    family = ConvNetFamily(classes=classes)
    assert family.n_params == n  # 22.7k for CIFAR-10 (paper.md §2.5)
    assert dict((name, shape) for name, shape, _ in family.layout())["W5"] == (32, classes)


@pytest.mark.parametrize("classes", [10, 2])
def test_groups_tile_theta_and_split_conv_kernels_from_the_rest(classes):
    family = ConvNetFamily(classes=classes)
    groups = family.groups()
    assert list(groups) == ["conv", "fc"]
    assert groups["conv"].start == 0 and groups["conv"].stop == groups["fc"].start
    assert groups["fc"].stop == family.n_params
    owner = torch.full((family.n_params,), -1)
    for k, part in enumerate(groups.values()):
        assert (owner[part] == -1).all()
        owner[part] = k
    assert (owner >= 0).all()  # every coordinate in exactly one group
    for name, shape, offset in family.layout():
        rows = owner[offset : offset + math.prod(shape)]
        expected = 0 if name in ("w1", "w2", "w3") else 1
        assert (rows == expected).all(), name
    assert groups["conv"].stop == 16 * 3 * 25 + 2 * 16 * 16 * 25


def test_initial_loss_near_ln_classes_offsets_zero_and_pixels_in_unit_range(data):
    images, labels = data
    family = ConvNetFamily(classes=10, batch_size=16)
    problems = replace(family, data=Dataset.one(images, labels)).sample("train", 0, 3)
    loss, grad = problems.loss_and_grad(problems.initial_params(), 0)
    assert loss.shape == (3,) and grad.shape == (3, family.n_params)
    assert torch.allclose(loss, torch.full((3,), math.log(10)), atol=0.05)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    for name, shape, offset in family.layout():
        if name.startswith("beta"):
            assert (problems.theta0[:, offset : offset + math.prod(shape)] == 0).all()
    x, y = problems.minibatch(5)
    assert x.shape == (3, 16, 3, 32, 32) and x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    assert torch.equal(problems.minibatch(5)[0], x)  # the same minibatch at the same step
    assert not torch.equal(problems.minibatch(6)[0], x)


def test_batched_instances_equal_each_instance_alone(data):
    images, labels = data
    problems = ConvNetFamily(batch_size=8, data=Dataset.one(images, labels)).sample("train", 0, 3)
    # A fixed draw, independent of the tests run before. With the draw the global generator gave
    # after the neural-art pipeline test, 7% of instance 2's gradient differed by up to 0.013:
    # one 2x2 max-pooling window of conv2 held two values 3.6e-7 apart, within the ~3e-6 by which
    # the grouped and the single convolution round differently, so the two picked different
    # maxima and routed the gradient through different pixels (max is not differentiable at a
    # tie; found by comparing the pooling indices of both paths).
    noise = torch.randn(problems.theta0.shape, generator=torch.Generator().manual_seed(0))
    theta = problems.initial_params() + 0.05 * noise
    loss, grad = problems.loss_and_grad(theta, 2)
    for i in range(3):
        alone = replace(problems, theta0=problems.theta0[i : i + 1], keys=problems.keys[i : i + 1])
        loss_i, grad_i = alone.loss_and_grad(theta[i : i + 1], 2)
        torch.testing.assert_close(loss_i, loss[i : i + 1], rtol=1e-5, atol=1e-6)
        # atol: the conv biases feed batch norm, so their gradient is 0 up to rounding (~1e-6)
        torch.testing.assert_close(grad_i, grad[i : i + 1], rtol=1e-4, atol=1e-5)


def _reference(family: ConvNetFamily, p: dict) -> nn.Module:
    """The same network in torch.nn layers, loaded with one instance's parameters."""
    layers: list[nn.Module] = []
    fan_in = 3
    for k, out in enumerate(family.channels, 1):
        conv = nn.Conv2d(fan_in, out, 5, padding=2)
        norm = nn.BatchNorm2d(out, eps=BN_EPS)
        conv.weight.data, conv.bias.data = p[f"w{k}"], p[f"b{k}"]
        norm.weight.data, norm.bias.data = torch.ones(out), p[f"beta{k}"]
        layers += [conv, norm, nn.ReLU(), nn.MaxPool2d(2)]
        fan_in = out
    fc, norm, head = nn.Linear(256, 32), nn.BatchNorm1d(32, eps=BN_EPS), nn.Linear(32, 10)
    fc.weight.data, fc.bias.data, norm.bias.data = p["W4"].T, p["b4"], p["beta4"]
    norm.weight.data = torch.ones(32)
    head.weight.data, head.bias.data = p["W5"].T, p["b5"]
    return nn.Sequential(*layers, nn.Flatten(), fc, norm, nn.ReLU(), head).train()


def test_logits_and_gradient_match_a_torch_nn_network(data):
    """Against the same network in torch.nn layers run in float64: a float32 reference may
    route a max-pool tie or a ReLU kink the other way (it did for 2 of 40 perturbations)."""
    images, labels = data
    family = ConvNetFamily(batch_size=16)
    problems = replace(family, seed=1, data=Dataset.one(images, labels)).sample("train", 0, 2)
    noise = torch.randn(problems.theta0.shape, generator=torch.Generator().manual_seed(0))
    theta = problems.initial_params() + 0.1 * noise
    x, y = problems.minibatch(0)
    loss, grad = problems.loss_and_grad(theta, 0)
    logits, loss, grad, x = (t.double() for t in (problems.logits(theta, x), loss, grad, x))
    for i in range(2):
        params = {k: v[0].detach().double() for k, v in family.views(theta[i : i + 1]).items()}
        net = _reference(family, params).double()
        ref_loss = nn.functional.cross_entropy(net(x[i]), y[i])
        torch.testing.assert_close(logits[i], net(x[i]), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(loss[i], ref_loss, rtol=1e-5, atol=1e-6)
        ref_loss.backward()
        conv1 = net[0].weight.grad.flatten()
        torch.testing.assert_close(grad[i, : conv1.numel()], conv1, rtol=1e-3, atol=1e-6)
        head = net[-1].weight.grad.T.flatten()
        torch.testing.assert_close(grad[i, -330:-10], head, rtol=1e-3, atol=1e-6)


def test_rejects_images_of_the_wrong_shape(data):
    images, labels = data
    with pytest.raises(ValueError, match="images must be"):
        ConvNetFamily(data=Dataset.one(images[:, :, :28, :28], labels)).sample("train", 0, 1)
    with pytest.raises(ValueError, match="must be odd"):
        ConvNetFamily(kernel=4)


@pytest.mark.parametrize("second_order", [False, True])
def test_linearised_loss_gives_autograds_meta_gradient(data, second_order):
    from repro.meta.unroll import meta_loss, start, unroll
    from repro.optimizers.lstm import LSTMOptimizer

    images, labels = data
    problems = ConvNetFamily(batch_size=8, data=Dataset.one(images, labels)).sample("train", 0, 2)
    grads = []
    for linearised in (True, False):
        torch.manual_seed(0)
        lstm = LSTMOptimizer(preprocessing="logsign", output_scale=0.1)
        problem = replace(problems, linearised=linearised)
        losses, _ = unroll(problem, lstm, start(problem, lstm), 3, second_order)
        grads.append(torch.autograd.grad(meta_loss(losses), list(lstm.parameters())))
        if linearised:
            first = losses.detach()
    torch.testing.assert_close(first, losses.detach(), rtol=1e-6, atol=1e-6)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


def test_the_family_contract(data):
    family = ConvNetFamily(batch_size=8, data=Dataset.one(*data))
    check_family(family, count=2)
