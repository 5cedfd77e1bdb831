import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.func import functional_call

from repro.optimizees.family import Dataset
from repro.optimizees.mlp import MLPFamily, hash32, hash32_int, minibatch_indices
from tests.optimizees.contract import check_family

N = 96


def _data(seed=0, n=N):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _sample(fam, count=3, seed=0, split="train", index=0):
    images, labels = _data()
    return replace(fam, seed=seed, data=Dataset.one(images, labels)).sample(split, index, count)


def _sequential(fam, problems, theta, b):
    """An nn.Sequential equal to instance b, with its parameters taken from theta's views."""
    modules, state = [], {}
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[fam.activation]
    for k, (weight, bias) in enumerate(problems.params(theta)):
        modules.append(nn.Linear(*weight.shape[1:]))
        state[f"{len(modules) - 1}.weight"] = weight[b].T
        state[f"{len(modules) - 1}.bias"] = bias[b]
        if k < len(fam.hidden):
            modules.append(act())
    return nn.Sequential(*modules), state


def test_parameter_counts_and_layout_tile_theta():
    assert MLPFamily().n_params == 15_910
    assert MLPFamily(hidden=(40,)).n_params == 784 * 40 + 40 + 40 * 10 + 10
    assert MLPFamily(hidden=(20, 20)).n_params == 15_680 + 20 + 400 + 20 + 200 + 10
    for hidden in ((20,), (40,), (20, 20), (5, 7, 3)):
        fam = MLPFamily(hidden=hidden)
        layout = fam.layout()
        names = [name for name, _, _ in layout]
        assert names == [f"{p}{i}" for i in range(1, len(hidden) + 2) for p in ("W", "b")]
        cover = torch.zeros(fam.n_params, dtype=torch.int64)
        for _, shape, offset in layout:
            cover[offset : offset + math.prod(shape)] += 1
        assert torch.equal(cover, torch.ones_like(cover))
        assert layout[0][1] == (784, hidden[0]) and layout[-2][1] == (hidden[-1], 10)


def test_problems_params_are_the_layout_views():
    fam = MLPFamily(hidden=(4, 3))
    problems = _sample(fam, count=2)
    theta = torch.arange(2 * fam.n_params, dtype=torch.float32).view(2, -1)
    views = [t for layer in problems.params(theta) for t in layer]
    for (_, shape, offset), view in zip(fam.layout(), views, strict=True):
        expected = theta[:, offset : offset + math.prod(shape)].reshape(2, *shape)
        assert torch.equal(view, expected)


@pytest.mark.parametrize(
    ("hidden", "activation"),
    [((20,), "sigmoid"), ((20,), "relu"), ((8, 6), "tanh"), ((8, 6, 5), "sigmoid")],
)
def test_batched_loss_matches_per_instance_sequential(hidden, activation):
    fam = MLPFamily(hidden=hidden, activation=activation)
    problems = _sample(fam, count=3)
    theta = torch.randn(3, fam.n_params, generator=torch.Generator().manual_seed(1)) * 0.1
    for step in (0, 7):
        loss = problems.loss(theta, step)
        x, y = problems.minibatch(step)
        for b in range(3):
            net, state = _sequential(fam, problems, theta, b)
            ref = nn.functional.cross_entropy(functional_call(net, state, (x[b],)), y[b])
            torch.testing.assert_close(loss[b], ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("hidden", "activation"), [((20,), "sigmoid"), ((20,), "relu"), ((8, 6), "tanh")]
)
def test_analytic_gradient_matches_autograd(hidden, activation):
    fam = MLPFamily(hidden=hidden, activation=activation)
    problems = _sample(fam, count=3)
    theta = torch.randn(3, fam.n_params, generator=torch.Generator().manual_seed(2)) * 0.1
    loss, grad = problems.loss_and_grad(theta, 5)
    ref_loss, ref_grad = replace(problems, analytic=False).loss_and_grad(theta, 5)
    torch.testing.assert_close(loss, ref_loss, atol=1e-6, rtol=0)
    torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(loss, problems.loss(theta, 5))
    assert not grad.requires_grad and not ref_grad.requires_grad
    # the gradient of instance b depends only on instance b's parameters
    one = replace(problems, theta0=problems.theta0[1:2], keys=problems.keys[1:2])
    torch.testing.assert_close(one.loss_and_grad(theta[1:2], 5)[1], grad[1:2])


def test_loss_keeps_graph_and_create_graph_gives_second_order():
    fam = MLPFamily(hidden=(6,), activation="sigmoid")
    problems = _sample(fam, count=2)
    theta = (torch.randn(2, fam.n_params) * 0.1).requires_grad_(True)
    loss, grad = problems.loss_and_grad(theta, 3)
    assert loss.grad_fn is not None and grad.grad_fn is None
    (meta,) = torch.autograd.grad(loss.sum(), theta)
    torch.testing.assert_close(meta, grad)

    vec = torch.randn_like(theta)
    hvps = []
    for prob in (problems, replace(problems, analytic=False)):
        _, g2 = prob.loss_and_grad(theta, 3, create_graph=True)
        assert g2.grad_fn is not None
        (hvp,) = torch.autograd.grad((g2 * vec).sum(), theta)
        hvps.append(hvp)
    torch.testing.assert_close(hvps[0], hvps[1], atol=1e-6, rtol=1e-4)


def test_minibatches_deterministic_per_seed_and_step():
    fam = MLPFamily()
    a, b = _sample(fam, count=4), _sample(fam, count=4)
    assert torch.equal(a.theta0, b.theta0)
    for step in (0, 1, 150, 10**6):
        idx = a.indices(step)
        assert idx.shape == (4, 128) and idx.dtype == torch.int64
        assert int(idx.min()) >= 0 and int(idx.max()) < N
        assert torch.equal(idx, b.indices(step)) and torch.equal(idx, a.indices(step))
    first = a.indices(1)
    assert not torch.equal(first, a.indices(2))
    assert all(not torch.equal(first[i], first[j]) for i in range(4) for j in range(i))
    other = _sample(fam, count=4, split="val")
    assert not torch.equal(other.indices(1), first)
    assert not torch.equal(other.theta0, a.theta0)
    # with replacement and close to uniform: over 40 steps every row gets drawn
    counts = torch.bincount(torch.cat([a.indices(t).flatten() for t in range(40)]), minlength=N)
    assert int(counts.min()) > 0
    assert counts.float().std() / counts.float().mean() < 0.2


def test_hash_is_exact_integer_arithmetic():
    values = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1, 0xDEADBEEF]
    hashed = hash32(torch.tensor(values, dtype=torch.int64))
    assert hashed.tolist() == [hash32_int(v) for v in values]
    keys = [2**62 + 5, 3, 2**63 - 2]
    idx = minibatch_indices(torch.tensor(keys, dtype=torch.int64), 9, 16, 1000)
    ref = []
    for key in keys:  # the documented derivation, in plain Python integers
        lane_a = hash32_int(key & 0xFFFFFFFF ^ hash32_int(9))
        lane_c = hash32_int((key >> 32) ^ 0x68E31DA4 ^ hash32_int(9))
        ref.append([(hash32_int(lane_a ^ hash32_int(j)) ^ lane_c) % 1000 for j in range(16)])
    assert idx.tolist() == ref


def test_initial_params_std_and_initial_loss_near_ln10():
    fam = MLPFamily()
    problems = _sample(fam, count=4)
    theta0 = problems.initial_params()
    assert theta0.shape == (4, 15_910)
    assert abs(float(theta0.std()) - 0.01) < 5e-4 and abs(float(theta0.mean())) < 5e-4
    loss = problems.loss(theta0, 0)
    assert loss.shape == (4,)
    assert torch.allclose(loss, torch.full_like(loss, math.log(10)), atol=0.02)


def test_unknown_activation_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLPFamily(activation="gelu")


def test_bad_data_shapes_error():
    images, labels = _data()
    with pytest.raises(ValueError, match="images must be"):
        MLPFamily(data=Dataset.one(images[:, :10], labels)).sample("train", 0, 2)
    with pytest.raises(ValueError, match="labels must be"):
        MLPFamily(data=Dataset("bad", {"train": (images, labels[:5])})).sample("train", 0, 2)


def test_gradient_descent_fits_learnable_synthetic_data():
    gen = torch.Generator().manual_seed(7)
    labels = torch.randint(0, 10, (256,), generator=gen)
    images = (torch.rand(10, 784, generator=gen)[labels] + torch.rand(256, 784, generator=gen)) / 2
    problems = MLPFamily(batch_size=64, data=Dataset.one(images, labels)).sample("train", 0, 2)
    theta = problems.initial_params()
    first, _ = problems.loss_and_grad(theta, 0)
    with torch.no_grad():
        for step in range(1, 61):
            theta = theta - problems.loss_and_grad(theta, step)[1]
    assert (problems.loss(theta, 1000) < first - 0.4).all()
    accuracy = (problems.logits(theta, images).argmax(-1) == labels).float().mean(-1)
    assert (accuracy > 0.3).all()


def test_float64_theta_works():
    fam = MLPFamily(hidden=(5,), activation="tanh")
    problems = _sample(fam, count=2)
    theta = problems.initial_params().double() * 10
    loss, grad = problems.loss_and_grad(theta, 1)
    _, ref = replace(problems, analytic=False).loss_and_grad(theta, 1)
    assert loss.dtype == grad.dtype == torch.float64
    torch.testing.assert_close(grad, ref)


def test_the_family_contract():
    images, labels = _data()
    check_family(MLPFamily(hidden=(8,), batch_size=16, data=Dataset.one(images, labels)))
