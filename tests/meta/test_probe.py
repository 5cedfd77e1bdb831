"""Views of the learned update rule: proposals along one trajectory, and update responses."""

import pytest
import torch

from repro.meta.probe import update_histories
from repro.meta.unroll import rollout
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.hand import SGD, Adam
from repro.optimizers.lstm import LSTMOptimizer


@pytest.fixture(scope="module")
def views():
    torch.manual_seed(0)
    problem = QuadraticFamily(dim=6).sample("test", 0, 3)
    rules = {"LSTM": LSTMOptimizer(hidden=8), "SGD": SGD(0.1), "ADAM": Adam(0.05)}
    data = update_histories(problem, "LSTM", rules, 12, [0, 4], response_steps=(1, 5, 12),
                            response_points=9)
    return problem, rules, data


def test_the_trajectory_is_the_drivers(views):
    problem, rules, data = views
    losses = rollout(problem, rules["LSTM"], 12)[:, 0]
    assert torch.allclose(torch.tensor(data["loss"]), losses, rtol=1e-5)


def test_others_propose_from_the_same_gradients(views):
    _, _, data = views
    for i in (0, 4):
        grads = torch.tensor(data["grad"][i])
        assert torch.allclose(torch.tensor(data["updates"]["SGD"][i]), -0.1 * grads)
        # ADAM fed these gradients by hand proposes what was recorded
        adam, state = Adam(0.05), Adam(0.05).init_state(grads[:1])
        proposals = []
        for g in grads:
            update, state = adam.step(g.reshape(1), state)
            proposals.append(float(update))
        assert torch.allclose(torch.tensor(data["updates"]["ADAM"][i]), torch.tensor(proposals))


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
            for name in ("LSTM", "ADAM"):
                # at the gradient actually seen, the held state proposes the recorded update
                proposed = panel["updates"][name][panel["seen_at"]]
                assert proposed == pytest.approx(data["updates"][name][i][t - 1], rel=1e-5)
