"""Views of the learned update rule: proposals along one trajectory, and update responses."""

import math

import pytest
import torch

from repro.meta import probe
from repro.meta.unroll import rollout
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.hand import SGD, Adam
from repro.optimizers.lstm import LSTMOptimizer


def _views():
    """A problem, the rules and their update histories along the LSTM's trajectory."""
    torch.manual_seed(0)
    problem = QuadraticFamily(dim=6).sample("test", 0, 3)
    rules = {"LSTM": LSTMOptimizer(hidden=8), "SGD": SGD(0.1), "ADAM": Adam(0.05)}
    data = probe.update_histories(problem, "LSTM", rules, 12, [0, 4],
                                  response_steps=(1, 5, 12), response_points=9)
    return problem, rules, data


@pytest.fixture(scope="module")
def views():
    return _views()


def test_the_trajectory_is_the_drivers(views):
    problem, rules, data = views
    losses = rollout(problem, rules["LSTM"], 12)[:, 0]
    assert torch.allclose(torch.tensor(data["loss"]), losses, rtol=1e-5)


def _textbook_adam(grads: list[float], lr: float = 0.05) -> list[float]:
    """Adam's updates of one coordinate (betas 0.9, 0.999, eps 1e-8), written out in float64."""
    m = v = 0.0
    updates = []
    for t, g in enumerate(grads, start=1):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        updates.append(-lr * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8))
    return updates


def test_others_propose_from_the_same_gradients(views):
    _, _, data = views
    for i in (0, 4):
        grads = torch.tensor(data["grad"][i])
        assert torch.allclose(torch.tensor(data["updates"]["SGD"][i]), -0.1 * grads)
        assert data["updates"]["ADAM"][i] == pytest.approx(_textbook_adam(data["grad"][i]),
                                                           rel=1e-5)


def _responses_off_the_record(data) -> list[tuple[int, int, str]]:
    """(coordinate, step, rule) where the held state, at the gradient actually seen, does not
    propose the update recorded along the trajectory."""
    off = []
    for i in (0, 4):
        for panel in data["responses"][i]:
            t = panel["step"]
            for name in ("LSTM", "ADAM"):
                proposed = panel["updates"][name][panel["seen_at"]]
                if proposed != pytest.approx(data["updates"][name][i][t - 1], rel=1e-5):
                    off.append((i, t, name))
    return off


def test_responses_hold_the_state_and_pass_through_the_recorded_update(views):
    _, _, data = views
    for i in (0, 4):
        for panel in data["responses"][i]:
            t, x = panel["step"], torch.tensor(panel["x"])
            assert torch.allclose(torch.tensor(panel["updates"]["SGD"]), -0.1 * x)
            assert x.abs().max() >= 3 * abs(panel["grad"]) - 1e-9
            assert panel["grad"] == data["grad"][i][t - 1]
            assert x[panel["seen_at"]] == panel["grad"]
            assert (x[1:] >= x[:-1]).all() and len(x) == 10
    assert _responses_off_the_record(data) == []


def test_control_the_held_state_check_catches_the_next_coordinates_state(monkeypatch):
    take = probe._coordinate_state
    monkeypatch.setattr(probe, "_coordinate_state",
                        lambda state, shape, index, count: take(state, shape, index + 1, count))
    _, _, data = _views()
    # at step 1 every coordinate's state is still the initial one
    assert _responses_off_the_record(data) == [
        (i, t, name) for i in (0, 4) for t in (5, 12) for name in ("LSTM", "ADAM")
    ]
