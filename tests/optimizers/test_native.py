"""The fused CPU kernel against the plain-autograd LSTM layer, and its build and fallback."""

import os
import shutil

import pytest
import torch

from repro.optimizers import native
from repro.optimizers.lstm import LSTMOptimizer, _lstm_layer_reference, _NativeLSTMLayer

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None, reason="no C++ compiler on this machine"
)


def _layer_inputs(rows: int, inputs: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = ((rows, inputs), (rows, 20), (rows, 20), (inputs + 20, 80), (80,))
    scales = (2.0, 0.8, 1.5, 0.4, 0.4)
    return [torch.randn(s, generator=gen) * k for s, k in zip(shapes, scales, strict=True)]


def test_the_kernel_builds_with_this_machines_compiler():
    assert native.unavailable() is None


@pytest.mark.parametrize("inputs", [1, 2, 20])
@pytest.mark.parametrize("rows", [1, 2, 7, 64, 131])
def test_layer_matches_autograd_in_float64(rows, inputs):
    tensors = _layer_inputs(rows, inputs, seed=rows * 100 + inputs)
    ours = [t.clone().requires_grad_() for t in tensors]
    ref = [t.double().requires_grad_() for t in tensors]
    h, c = _NativeLSTMLayer.apply(*ours)
    h_ref, c_ref = _lstm_layer_reference(*ref)
    torch.testing.assert_close(h.double(), h_ref, rtol=0, atol=2e-6)
    torch.testing.assert_close(c.double(), c_ref, rtol=0, atol=2e-6)
    gen = torch.Generator().manual_seed(7)
    dh, dc = torch.randn(rows, 20, generator=gen), torch.randn(rows, 20, generator=gen)
    grads = torch.autograd.grad((h, c), ours, (dh, dc))
    grads_ref = torch.autograd.grad((h_ref, c_ref), ref, (dh.double(), dc.double()))
    for name, g, g_ref in zip(("x", "h", "c", "weight", "bias"), grads, grads_ref, strict=True):
        scale = g_ref.abs().max().item()
        assert (g.double() - g_ref).abs().max().item() <= 1e-5 * max(scale, 1.0), name


@pytest.mark.parametrize("rows", [1, 6, 131])
def test_last_layer_with_the_head_matches_autograd_in_float64(rows):
    from repro.optimizers.lstm import _NativeHeadLayer

    tensors = _layer_inputs(rows, 20, seed=rows)
    gen = torch.Generator().manual_seed(11)
    tensors += [torch.randn(20, generator=gen) * 0.3, torch.randn(1, generator=gen)]
    ours = [t.clone().requires_grad_() for t in tensors]
    ref = [t.double().requires_grad_() for t in tensors]
    h, c, update = _NativeHeadLayer.apply(*ours, 0.1)
    h_ref, c_ref = _lstm_layer_reference(*ref[:5])
    update_ref = (h_ref @ ref[5] + ref[6]) * 0.1
    torch.testing.assert_close(update.double(), update_ref, rtol=0, atol=1e-6)
    dh, dc, du = (torch.randn(s, generator=gen) for s in ((rows, 20), (rows, 20), (rows,)))
    grads = torch.autograd.grad((h, c, update), ours, (dh, dc, du))
    grads_ref = torch.autograd.grad(
        (h_ref, c_ref, update_ref), ref, (dh.double(), dc.double(), du.double())
    )
    names = ("x", "h", "c", "weight", "bias", "head weight", "head bias")
    for name, g, g_ref in zip(names, grads, grads_ref, strict=True):
        scale = g_ref.abs().max().item()
        assert (g.double() - g_ref).abs().max().item() <= 1e-5 * max(scale, 1.0), name


def test_without_gradients_the_forward_saves_nothing_and_agrees():
    x, h, c, w, b = _layer_inputs(33, 2, seed=1)
    saved = native.forward(x, h, c, w, b, save=True)
    bare = native.forward(x, h, c, w, b, save=False)
    assert bare[2] is None and bare[3] is None and bare[4] is None
    assert torch.equal(saved[0], bare[0]) and torch.equal(saved[1], bare[1])


def test_input_gradient_is_skipped_when_not_needed():
    x, h, c, w, b = _layer_inputs(9, 2, seed=2)
    h_new, c_new, act, tanh_c, _ = native.forward(x, h, c, w, b, save=True)
    ones = torch.ones_like(h_new)
    dx, dh, *_ = native.backward(x, h, c, w, act, tanh_c, ones, ones, need_dx=False)
    assert dx is None and torch.isfinite(dh).all()


def test_nan_in_the_gradient_reaches_the_update():
    torch.manual_seed(0)
    opt = LSTMOptimizer(preprocessing="logsign")
    grad = torch.randn(50)
    grad[17] = float("nan")
    update, _ = opt.step(grad, opt.init_state(grad))
    assert torch.isnan(update[17]) and torch.isfinite(update[:17]).all()


def test_two_threads_give_the_same_bits_every_time():
    tensors = [t.requires_grad_() for t in _layer_inputs(2001, 20, seed=4)]
    threads = torch.get_num_threads()
    runs = []
    try:
        torch.set_num_threads(2)
        for _ in range(5):
            h, c = _NativeLSTMLayer.apply(*tensors)
            runs.append(torch.autograd.grad(h.sum() + c.square().sum(), tensors))
    finally:
        torch.set_num_threads(threads)
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(run, runs[0], strict=True))


def test_one_and_two_threads_agree():
    tensors = [t.requires_grad_() for t in _layer_inputs(1001, 2, seed=3)]
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            h, c = _NativeLSTMLayer.apply(*tensors)
            results.append((h, *torch.autograd.grad((h.sum() + c.sum()), tensors)))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results, strict=True):  # sums over rows are split differently
        assert (a - b).abs().max() <= 1e-6 * b.abs().max()


def _meta_gradient(kernel: str, problem, steps: int, second_order: bool = False):
    from repro.meta.unroll import meta_loss, start, unroll

    torch.manual_seed(5)
    opt = LSTMOptimizer(preprocessing="logsign", output_scale=0.1, kernel=kernel)
    losses, _ = unroll(problem, opt, start(problem, opt), steps, second_order=second_order)
    return [losses.detach(), *torch.autograd.grad(meta_loss(losses), list(opt.parameters()))]


def test_meta_gradient_on_an_mlp_matches_the_torch_layer():
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(500, 784, generator=gen)
    labels = torch.randint(0, 10, (500,), generator=gen)
    problem = MLPFamily(batch_size=32, data=Dataset.one(images, labels)).sample("train", 0, 2)
    for a, b in zip(_meta_gradient("native", problem, 8), _meta_gradient("torch", problem, 8),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=1e-6)


def test_second_order_meta_gradient_matches_the_torch_layer():
    from repro.optimizees.quadratic import QuadraticFamily

    problem = QuadraticFamily().sample("train", 0, 4)
    ours = _meta_gradient("native", problem, 6, second_order=True)
    theirs = _meta_gradient("torch", problem, 6, second_order=True)
    first = _meta_gradient("native", problem, 6)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=1e-6)
    assert any(
        not torch.allclose(a, b, rtol=1e-3) for a, b in zip(ours[1:], first[1:], strict=True)
    )


def test_kernel_choice_is_checked():
    with pytest.raises(ValueError, match="kernel must be one of"):
        LSTMOptimizer(kernel="fast")
    with pytest.raises(RuntimeError, match="hidden size 20, not 8"):
        LSTMOptimizer(hidden=8, kernel="native")
    opt = LSTMOptimizer(kernel="native").double()
    grad = torch.randn(4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="float32 CPU tensors only"):
        opt.step(grad, opt.init_state(grad))


def test_auto_falls_back_to_the_torch_layer_where_the_kernel_does_not_apply():
    torch.manual_seed(1)
    small = LSTMOptimizer(hidden=8)
    grad = torch.randn(5)
    update, _ = small.step(grad, small.init_state(grad))
    assert update.shape == (5,) and torch.isfinite(update).all()


def test_a_failing_compiler_leaves_the_kernel_unavailable_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", shutil.which("false"))
    native._library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="runs its PyTorch layer"):
            reason = native.unavailable()
        assert reason is not None and "could not be built" in reason
        assert not native.supports(torch.zeros(1, 2), 20, torch.zeros(22, 80))
        assert list(tmp_path.iterdir()) == []
    finally:
        monkeypatch.undo()
        native._library.cache_clear()
    assert native.unavailable() is None


def test_the_build_is_cached_by_source_compiler_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_KERNEL_CACHE", str(tmp_path))
    first = native._build()
    stamp = first.stat().st_mtime_ns
    assert native._build() == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]
