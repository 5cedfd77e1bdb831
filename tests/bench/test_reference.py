"""bench.reference, the common reimplementation, computes our meta-loss and every meta-gradient."""

import pytest
import torch

from bench.reference import ReferenceLSTM, reference_parameters, reference_truncation
from repro.meta.unroll import meta_loss, start, unroll
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.lstm import LSTMOptimizer
from tests.parity import BREAKAGES, mismatches


def _as_ours(t: torch.Tensor, hidden: int) -> torch.Tensor:
    """Rows in nn.LSTMCell's gate order (i, f, g, o) put in ours (i, f, o, g)."""
    i, f, g, o = t.split(hidden)
    return torch.cat((i, f, o, g))


def _meta_gradients(ours: LSTMOptimizer, loss, reference: ReferenceLSTM, ref_loss):
    """The meta-losses, and every meta-gradient in our layout, of ours and of the reference:
    pairs (ours, reference's) of name -> tensor; bias_ih and bias_hh each give our bias's."""
    mine = dict(zip([n for n, _ in ours.named_parameters()],
                    torch.autograd.grad(loss, list(ours.parameters())), strict=True))
    theirs = dict(zip([n for n, _ in reference.named_parameters()],
                      torch.autograd.grad(ref_loss, list(reference.parameters())), strict=True))
    h = ours.hidden
    ours_out = {"head_weight": mine["head_weight"], "head_bias": mine["head_bias"]}
    ref_out = {"head_weight": theirs["head.weight"].T, "head_bias": theirs["head.bias"]}
    for k in range(len(reference.cells)):
        weight = torch.cat((theirs[f"cells.{k}.weight_ih"], theirs[f"cells.{k}.weight_hh"]), 1)
        ours_out[f"weights.{k}"] = mine[f"weights.{k}"]
        ref_out[f"weights.{k}"] = _as_ours(weight, h).T
        for bias in ("bias_ih", "bias_hh"):
            ours_out[f"biases.{k} ({bias})"] = mine[f"biases.{k}"]
            ref_out[f"biases.{k} ({bias})"] = _as_ours(theirs[f"cells.{k}.{bias}"], h)
    return ({"meta-loss": loss.detach()}, {"meta-loss": ref_loss.detach()}), (ours_out, ref_out)


def _quadratic_runs(breakage: str | None = None):
    """:func:`_meta_gradients` of 6 steps on 4 quadratics; ``breakage`` applied to ours after
    the reference copied its weights."""
    torch.manual_seed(0)
    ours = LSTMOptimizer()
    reference = ReferenceLSTM(ours)
    if breakage:
        BREAKAGES[breakage](ours)
    problem = QuadraticFamily().sample("train", 0, 4)
    losses, _ = unroll(problem, ours, start(problem, ours), 6)
    params = reference_parameters(problem, problem.initial_params())
    ref_loss, _, _ = reference_truncation(reference, problem, params, None, 0, 6)
    return _meta_gradients(ours, meta_loss(losses), reference, ref_loss)


def _mlp_runs(breakage: str | None = None):
    """:func:`_meta_gradients` of 4 steps on an MLP (784-5-10), as :func:`_quadratic_runs`."""
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily

    torch.manual_seed(0)
    ours = LSTMOptimizer(preprocessing="logsign", output_scale=0.1)
    reference = ReferenceLSTM(ours)
    if breakage:
        BREAKAGES[breakage](ours)
    images = torch.rand(64, 784)
    labels = torch.randint(0, 10, (64,))
    problem = MLPFamily(hidden=(5,), batch_size=16, data=Dataset.one(images, labels)).sample(
        "train", 0, 1
    )
    losses, _ = unroll(problem, ours, start(problem, ours), 4)
    params = reference_parameters(problem, problem.initial_params())
    ref_loss, _, _ = reference_truncation(reference, problem, params, None, 0, 4)
    return _meta_gradients(ours, meta_loss(losses), reference, ref_loss)


CASES = {  # runs, tolerances of the meta-loss and of the meta-gradients
    "quadratic": (_quadratic_runs, {}, {"rtol": 1e-4, "atol": 1e-6}),
    "mlp": (_mlp_runs, {"rtol": 1e-5, "atol": 1e-6}, {"rtol": 1e-3, "atol": 1e-6}),
}


def _differences(case: str, breakage: str | None = None) -> tuple[dict[str, str], set[str]]:
    """The mismatches between ours and the reference in ``case``, and every name compared."""
    runs, loss_tolerance, grad_tolerance = CASES[case]
    losses, grads = runs(breakage)
    found = {**mismatches(*losses, **loss_tolerance), **mismatches(*grads, **grad_tolerance)}
    return found, losses[0].keys() | grads[0].keys()


@pytest.mark.parametrize("case", CASES)
def test_common_reimplementation_computes_our_meta_loss_and_every_meta_gradient(case):
    found, _ = _differences(case)
    assert not found, found


@pytest.mark.parametrize("case", CASES)
def test_control_the_comparison_catches_a_wrong_gate_order_in_ours(case):
    found, compared = _differences(case, "wrong gate order")
    assert found.keys() == compared
