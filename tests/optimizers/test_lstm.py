import math

import pytest
import torch

from repro.optimizers.base import UpdateRule
from repro.optimizers.lstm import LSTMOptimizer


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


def test_batched_step_matches_per_coordinate_loop_of_lstm_cells():
    torch.manual_seed(0)
    opt = LSTMOptimizer(preprocessing="logsign", output_scale=0.1).double()
    cells = _reference_cells(opt)
    grads = [torch.randn(3, 5, dtype=torch.float64) * 10.0 ** -torch.randint(0, 6, (3, 5))
             for _ in range(4)]
    state = opt.init_state(grads[0])
    ref_states = [[(torch.zeros(1, 20, dtype=torch.float64),) * 2 for _ in range(2)]
                  for _ in range(15)]
    for grad in grads:
        update, state = opt.step(grad, state)
        expected = torch.empty(15, dtype=torch.float64)
        x_all = torch.stack(
            (torch.clamp(torch.log(grad.abs() + torch.finfo(torch.float32).eps) / 10, min=-1),
             torch.clamp(grad * math.exp(10), -1, 1)), dim=-1).reshape(15, 2)
        for row in range(15):
            x = x_all[row : row + 1]
            for layer, cell in enumerate(cells):
                h, c = cell(x, ref_states[row][layer])
                ref_states[row][layer] = (h, c)
                x = h
            expected[row] = (x @ opt.head_weight + opt.head_bias).squeeze() * 0.1
        torch.testing.assert_close(update.reshape(-1), expected, rtol=1e-10, atol=1e-12)
        for row in range(15):
            torch.testing.assert_close(state["h1"][row], ref_states[row][1][0][0])


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


def test_fused_and_reference_paths_agree_over_an_unroll():
    from repro.meta.unroll import meta_loss, start, unroll
    from repro.optimizees.quadratic import QuadraticFamily

    problem = QuadraticFamily().sample("train", 0, 6)
    results = []
    for fused in (True, False):
        torch.manual_seed(3)
        opt = LSTMOptimizer(fused=fused)
        losses, carry = unroll(problem, opt, start(problem, opt), 10)
        grads = torch.autograd.grad(meta_loss(losses), list(opt.parameters()))
        results.append((losses.detach(), carry.theta.detach(), grads))
    (la, ta, ga), (lb, tb, gb) = results
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(ta, tb)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_compiled_step_matches_eager():
    from repro.meta.unroll import meta_loss, start, unroll
    from repro.optimizees.quadratic import QuadraticFamily

    problem = QuadraticFamily().sample("train", 0, 4)
    results = []
    for compiled in (False, True):
        torch.manual_seed(4)
        opt = LSTMOptimizer(fused=False, compiled=compiled)
        losses, carry = unroll(problem, opt, start(problem, opt), 5)
        grads = torch.autograd.grad(meta_loss(losses), list(opt.parameters()))
        results.append((losses.detach(), carry.theta.detach(), grads))
    (la, ta, ga), (lb, tb, gb) = results
    torch.testing.assert_close(lb, la, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tb, ta, rtol=1e-5, atol=1e-6)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
