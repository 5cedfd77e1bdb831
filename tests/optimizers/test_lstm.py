import math

import pytest
import torch

from repro.optimizers.base import UpdateRule
from repro.optimizers.lstm import LSTMOptimizer
from tests.parity import BREAKAGES, mismatches


def _reference_cells(opt: LSTMOptimizer) -> list[torch.nn.LSTMCell]:
    """torch.nn.LSTMCells holding the same weights (torch's gate order is i, f, g, o)."""
    cells = []
    h = opt.hidden
    for weight, bias in zip(opt.weights, opt.biases, strict=True):
        inputs = weight.shape[0] - h
        i, f, o, g = weight.T.split(h, dim=0)
        bi, bf, bo, bg = bias.split(h)
        w = torch.cat((i, f, g, o))
        cell = torch.nn.LSTMCell(inputs, h, dtype=weight.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(w[:, :inputs])
            cell.weight_hh.copy_(w[:, inputs:])
            cell.bias_ih.copy_(torch.cat((bi, bf, bg, bo)))
            cell.bias_hh.zero_()
        cells.append(cell)
    return cells


def test_parameter_count_matches_paper():
    # LSTM1 4*20*(2+20)+4*20 = 1840, LSTM2 4*20*(20+20)+4*20 = 3280, head 21.
    opt = LSTMOptimizer(preprocessing="logsign")
    assert sum(p.numel() for p in opt.parameters()) == 5141
    assert isinstance(opt, UpdateRule)


def test_forget_gate_bias_starts_at_one():
    opt = LSTMOptimizer()
    for bias in opt.biases:
        assert torch.all(bias[20:40] == 1)
        assert torch.all(bias[:20] == 0) and torch.all(bias[40:] == 0)


def test_zero_head_proposes_no_update_until_trained_and_still_learns():
    torch.manual_seed(0)
    zero = LSTMOptimizer(preprocessing="logsign", output_scale=0.1, head_init="zero")
    sonnet = LSTMOptimizer(preprocessing="logsign", output_scale=0.1)
    grad = torch.full((1, 50), 1e-6)  # tiny gradients: all coordinates look alike
    update, _ = zero.step(grad, zero.init_state(grad))
    assert torch.all(update == 0)
    moved, _ = sonnet.step(grad, sonnet.init_state(grad))
    assert moved.abs().min() > 0 and moved.std() < 1e-3 * moved.abs().mean()
    update.sum().backward()  # the head's weights still receive a meta-gradient
    assert zero.head_weight.grad.abs().sum() > 0


def test_unknown_head_init_is_refused():
    with pytest.raises(ValueError, match="head_init must be one of"):
        LSTMOptimizer(head_init="ones")


CELL_TOLERANCE = {"rtol": 1e-10, "atol": 1e-12}


def _per_coordinate_runs(opt: LSTMOptimizer, cells: list[torch.nn.LSTMCell]):
    """Updates and last-layer h over 4 steps: of ``opt`` on [3, 5] gradients, and of ``cells``
    applied to one coordinate at a time (the logsign preprocessing written out)."""
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 5, generator=gen, dtype=torch.float64)
             * 10.0 ** -torch.randint(0, 6, (3, 5), generator=gen) for _ in range(4)]
    state = opt.init_state(grads[0])
    ref_states = [[(torch.zeros(1, 20, dtype=torch.float64),) * 2 for _ in range(2)]
                  for _ in range(15)]
    ours, theirs = {}, {}
    for t, grad in enumerate(grads):
        update, state = opt.step(grad, state)
        ours[f"update {t}"], ours[f"h1 {t}"] = update.reshape(-1), state["h1"]
        x_all = torch.stack(
            (torch.clamp(torch.log(grad.abs() + torch.finfo(torch.float32).eps) / 10, min=-1),
             torch.clamp(grad * math.exp(10), -1, 1)), dim=-1).reshape(15, 2)
        expected = []
        for row in range(15):
            x = x_all[row : row + 1]
            for layer, cell in enumerate(cells):
                ref_states[row][layer] = cell(x, ref_states[row][layer])
                x = ref_states[row][layer][0]
            expected.append((x @ opt.head_weight + opt.head_bias).squeeze() * 0.1)
        theirs[f"update {t}"] = torch.stack(expected)
        theirs[f"h1 {t}"] = torch.cat([layers[1][0] for layers in ref_states])
    return ours, theirs


def _paper_lstm_in_float64() -> LSTMOptimizer:
    """The paper's LSTM with every bias nonzero, as after training (at the start only the
    forget gate's is)."""
    torch.manual_seed(0)
    opt = LSTMOptimizer(preprocessing="logsign", output_scale=0.1).double()
    with torch.no_grad():
        for bias in (*opt.biases, opt.head_bias):
            bias.normal_(0, 0.5)
    return opt


def test_batched_step_matches_per_coordinate_loop_of_lstm_cells():
    opt = _paper_lstm_in_float64()
    found = mismatches(*_per_coordinate_runs(opt, _reference_cells(opt)), **CELL_TOLERANCE)
    assert not found, found


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_control_the_lstm_cell_comparison_catches_a_broken_batched_step(breakage):
    opt = _paper_lstm_in_float64()
    cells = _reference_cells(opt)
    BREAKAGES[breakage](opt)
    ours, theirs = _per_coordinate_runs(opt, cells)
    assert mismatches(ours, theirs, **CELL_TOLERANCE).keys() == ours.keys()


def test_one_state_row_per_coordinate_not_shared():
    torch.manual_seed(1)
    opt = LSTMOptimizer()
    grad = torch.randn(2, 6)
    state = opt.init_state(grad)
    assert state["h0"].shape == (12, 20)
    _, state = opt.step(grad, state)
    changed = grad.clone()
    changed[1, 3] += 1.0
    update_a, state_a = opt.step(grad, state)
    update_b, state_b = opt.step(changed, state)
    differs = (state_a["c1"] != state_b["c1"]).any(dim=1)
    assert differs.nonzero().flatten().tolist() == [9]
    assert ((update_a != update_b).reshape(-1).nonzero().flatten().tolist()) == [9]


def test_step_does_not_mutate_state_and_is_differentiable():
    opt = LSTMOptimizer()
    grad = torch.randn(4, 10)
    state = opt.init_state(grad)
    _, state = opt.step(grad, state)
    before = {k: v.clone() for k, v in state.items()}
    update, _ = opt.step(grad, state)
    for key, value in state.items():
        assert torch.equal(value, before[key])
    update.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in opt.parameters())


def test_fused_layer_backward_passes_gradcheck():
    from repro.optimizers.lstm import _LSTMLayer

    torch.manual_seed(2)
    n, i, h = 7, 2, 5
    args = [torch.randn(shape, dtype=torch.float64, requires_grad=True)
            for shape in ((n, i), (n, h), (n, h), (i + h, 4 * h), (4 * h,))]
    assert torch.autograd.gradcheck(_LSTMLayer.apply, args)


def _unrolled(size: int, steps: int, seed: int, breakage: str | None = None, **options):
    """Losses and final theta, and meta-gradients, of an LSTM (``options``, then ``breakage``)
    unrolled on ``size`` quadratics."""
    from repro.meta.unroll import meta_loss, start, unroll
    from repro.optimizees.quadratic import QuadraticFamily

    problem = QuadraticFamily().sample("train", 0, size)
    torch.manual_seed(seed)
    opt = LSTMOptimizer(**options)
    if breakage:
        BREAKAGES[breakage](opt)
    losses, carry = unroll(problem, opt, start(problem, opt), steps)
    grads = torch.autograd.grad(meta_loss(losses), list(opt.parameters()))
    names = [f"grad {name}" for name, _ in opt.named_parameters()]
    values = {"losses": losses.detach(), "theta": carry.theta.detach()}
    return values, dict(zip(names, grads, strict=True))


def _unroll_mismatches(ours, reference, values: dict, grads: dict) -> dict[str, str]:
    """The mismatches of the losses and theta (tolerances ``values``) and of the meta-gradients
    (``grads``) of two :func:`_unrolled` results."""
    return {**mismatches(ours[0], reference[0], **values),
            **mismatches(ours[1], reference[1], **grads)}


FUSED = {"values": {}, "grads": {"rtol": 1e-4, "atol": 1e-6}}
COMPILED = {"values": {"rtol": 1e-5, "atol": 1e-6}, "grads": {"rtol": 1e-4, "atol": 1e-6}}


def test_fused_and_reference_paths_agree_over_an_unroll():
    found = _unroll_mismatches(_unrolled(6, 10, 3, fused=True), _unrolled(6, 10, 3, fused=False),
                               **FUSED)
    assert not found, found


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_control_the_fused_comparison_catches_a_broken_fused_path(breakage):
    broken = _unrolled(6, 10, 3, breakage, fused=True)
    found = _unroll_mismatches(broken, _unrolled(6, 10, 3, fused=False), **FUSED)
    assert found.keys() == broken[0].keys() | broken[1].keys()


@pytest.mark.slow
def test_compiled_step_matches_eager():
    found = _unroll_mismatches(_unrolled(4, 5, 4, fused=False, compiled=True),
                               _unrolled(4, 5, 4, fused=False), **COMPILED)
    assert not found, found


@pytest.mark.slow
def test_control_the_compiled_comparison_catches_a_broken_compiled_path():
    broken = _unrolled(4, 5, 4, "wrong gate order", fused=False, compiled=True)
    found = _unroll_mismatches(broken, _unrolled(4, 5, 4, fused=False), **COMPILED)
    assert found.keys() == broken[0].keys() | broken[1].keys()


def test_the_layer_implementation_is_resolved_once_from_the_three_settings():
    from repro.optimizers.lstm import (
        KernelLayers,
        TorchLayers,
        _lstm_layer_reference,
        _LSTMLayer,
        resolve,
    )

    plain = resolve(fused=False, compiled=False, kernel="auto")
    assert isinstance(plain, TorchLayers) and plain.layer is _lstm_layer_reference
    hand = resolve(fused=True, compiled=False, kernel="torch")
    assert isinstance(hand, TorchLayers) and hand.layer == _LSTMLayer.apply
    auto = resolve(fused=True, compiled=False, kernel="auto")
    assert isinstance(auto, KernelLayers) and auto.fallback.layer == _LSTMLayer.apply
    assert resolve(fused=True, compiled=False, kernel="native").fallback is None
    assert LSTMOptimizer(kernel="torch").implementation.layer == _LSTMLayer.apply
