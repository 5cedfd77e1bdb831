"""GroupedRule: one rule per contiguous group of theta, behind the one update-rule interface."""

import pytest
import torch

from repro.optimizers.base import UpdateRule
from repro.optimizers.grouped import GroupedRule
from repro.optimizers.hand import Adam, RMSprop
from repro.optimizers.lstm import LSTMOptimizer

B, N, K = 3, 11, 4


def lstm(seed: int) -> LSTMOptimizer:
    torch.manual_seed(seed)
    return LSTMOptimizer(preprocessing="logsign", output_scale=0.1)


def run(rule, grads):
    state = rule.init_state(torch.zeros(B, grads[0].shape[-1]))
    updates = []
    for grad in grads:
        update, state = rule.step(grad, state)
        updates.append(update)
    return updates, state


@pytest.fixture
def grads():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(B, N, generator=gen) * 10.0 ** -k for k in range(5)]


@pytest.mark.parametrize("make", [lambda: Adam(lr=0.1), lambda: lstm(0)])
def test_one_group_equals_the_plain_rule(grads, make):
    plain, grouped = make(), GroupedRule([("all", slice(0, N), make())])
    assert isinstance(grouped, UpdateRule)
    for a, b in zip(run(plain, grads)[0], run(grouped, grads)[0], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_two_groups_step_independently_each_on_its_own_slice(grads):
    grouped = GroupedRule([("conv", slice(0, K), lstm(0)), ("fc", slice(K, N), RMSprop(lr=0.01))])
    updates, state = run(grouped, grads)
    conv, _ = run(lstm(0), [g[:, :K] for g in grads])
    fc, _ = run(RMSprop(lr=0.01), [g[:, K:] for g in grads])
    for u, a, b in zip(updates, conv, fc, strict=True):
        assert u.shape == (B, N)
        torch.testing.assert_close(u[:, :K], a, rtol=0, atol=0)
        torch.testing.assert_close(u[:, K:], b, rtol=0, atol=0)
    assert set(state) == {"conv/h0", "conv/c0", "conv/h1", "conv/c1", "fc/m"}
    assert state["conv/h0"].shape == (B * K, 20)  # one state row per coordinate of the group


def test_two_lstms_have_separate_weights_in_one_state_dict_and_both_learn(grads):
    grouped = GroupedRule([("conv", slice(0, K), lstm(0)), ("fc", slice(K, N), lstm(1))])
    keys = set(grouped.state_dict())
    assert {"conv.head_weight", "fc.head_weight", "conv.weights.0", "fc.weights.1"} <= keys
    assert len(list(grouped.parameters())) == 2 * len(list(lstm(0).parameters()))
    updates, _ = run(grouped, grads)
    sum(u.square().sum() for u in updates).backward()
    assert grouped.get_submodule("conv").head_weight.grad.abs().sum() > 0
    assert grouped.get_submodule("fc").head_weight.grad.abs().sum() > 0
    restored = GroupedRule([("conv", slice(0, K), lstm(5)), ("fc", slice(K, N), lstm(6))])
    restored.load_state_dict(grouped.state_dict())
    for a, b in zip(run(grouped, grads)[0], run(restored, grads)[0], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "groups",
    [
        [("a", slice(1, N), Adam(lr=0.1))],  # does not start at 0
        [("a", slice(0, 3), Adam(lr=0.1)), ("b", slice(4, N), Adam(lr=0.1))],  # gap
        [("a", slice(0, 5), Adam(lr=0.1)), ("b", slice(3, N), Adam(lr=0.1))],  # overlap
        [("a", slice(0, 3), Adam(lr=0.1)), ("a", slice(3, N), Adam(lr=0.1))],  # same name
        [("a", slice(0, N, 2), Adam(lr=0.1))],  # not contiguous
        [],
    ],
)
def test_groups_must_tile_theta(groups):
    with pytest.raises(ValueError):
        GroupedRule(groups)


def test_theta_of_another_size_is_refused():
    grouped = GroupedRule([("a", slice(0, 3), Adam(lr=0.1)), ("b", slice(3, N), Adam(lr=0.1))])
    with pytest.raises(ValueError, match="cover 11 coordinates"):
        grouped.init_state(torch.zeros(B, N + 1))
