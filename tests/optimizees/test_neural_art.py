"""Neural Art's loss terms on tiny images, and how its problem instances are drawn."""

import pytest
import torch

from repro.families.neural_art import NeuralArtProblem
from repro.optimizees.neural_art import gram, relative_error, total_variation
from tests.optimizees.contract import check_family


@pytest.fixture(scope="module")
def family():
    art = NeuralArtProblem(encoder="random", width=0.125, size=16, style_weight=10.0,
                           tv_weight=10.0)
    return art.make(verbose=False)


def test_gram_of_a_known_input():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # F F^T / (C H W)
    assert torch.allclose(gram(features), expected.unsqueeze(0))


def test_total_variation_of_constant_and_known_images():
    assert torch.equal(total_variation(torch.full((2, 3, 5, 5), 0.7)), torch.zeros(2))
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., :, 1::2] = 1.0  # every horizontal neighbour differs by 1, no vertical one
    assert torch.allclose(total_variation(stripes), torch.tensor([1.0]))


def test_relative_error_is_scale_free():
    target = torch.randn(2, 8)
    value = target + 0.1 * torch.randn(2, 8)
    assert torch.allclose(relative_error(3 * value, 3 * target), relative_error(value, target))


def test_content_term_is_zero_at_the_content_and_style_term_at_the_style(family):
    problem = family.sample("test", 0, 2)
    at_content = problem.terms(problem.content.flatten(1))
    assert torch.equal(at_content["content"], torch.zeros(2))
    assert (at_content["style"] > 0).all()
    at_style = problem.terms(family.style.flatten().expand(2, -1))
    assert torch.allclose(at_style["style"], torch.zeros(2), atol=1e-10)
    assert (at_style["content"] > 0).all()


def test_loss_weights_the_terms_and_the_gradient_is_its_derivative(family):
    problem = family.sample("val", 0, 1)
    # The loss is only piecewise smooth (a random ReLU encoder): a fixed draw and a small step.
    gen = torch.Generator().manual_seed(0)
    theta = problem.initial_params() + 0.05 * torch.randn(1, family.n_params, generator=gen)
    terms = problem.terms(theta)
    loss, grad = problem.loss_and_grad(theta)
    assert torch.allclose(loss, terms["content"] + 10 * terms["style"] + 10 * terms["tv"])
    direction = torch.randn(theta.shape, generator=gen)
    eps = 1e-4
    numeric = (problem.loss(theta + eps * direction) - problem.loss(theta - eps * direction)) / (
        2 * eps
    )
    assert torch.allclose((grad * direction).sum(1), numeric.detach(), rtol=5e-2)


def test_instances_follow_their_seed_and_split(family):
    a = family.sample("train", 5, 2)
    b = family.sample("train", 5, 2)
    c = family.sample("train", 6, 2)
    assert torch.equal(a.initial_params(), b.initial_params())
    assert not torch.equal(a.initial_params(), c.initial_params())
    assert a.initial_params().shape == (2, 3 * 16 * 16)
    # the first instance of a stream does not depend on how many are drawn
    first = family.sample("test", 0, 1).content[0]
    assert torch.equal(first, family.sample("test", 0, 3).content[0])


@pytest.mark.parametrize(
    ("override", "message"),
    [("problem.size=8", "problem.size: must be 16 or more"),
     ("problem.encoder=vgg16", "problem.encoder")],
)
def test_bad_art_settings_stop_with_one_line(override, message):
    from pathlib import Path

    from repro.config_loading import load
    from repro.settings import ConfigError

    config = Path(__file__).resolve().parents[2] / "experiments" / "neural_art.yaml"
    with pytest.raises(ConfigError, match=message):
        load(config, "quick", [override])


def test_the_family_contract(family):
    check_family(family, count=2)
