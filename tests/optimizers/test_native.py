"""The fused CPU kernel against the plain-autograd LSTM layer, and its build and fallback."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from repro.host import describe
from repro.optimizers import native
from repro.optimizers.lstm import (
    LSTMOptimizer,
    _lstm_layer_reference,
    _LSTMLayer,
    _NativeHeadLayer,
    _NativeLSTMLayer,
)
from tests.parity import mismatches

pytestmark = pytest.mark.skipif(  # CI has one: there the tests run and fail without it
    shutil.which(os.environ.get("CXX", "g++")) is None and not os.environ.get("CI"),
    reason="no C++ compiler on this machine",
)


def _layer_inputs(rows: int, inputs: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = ((rows, inputs), (rows, 20), (rows, 20), (inputs + 20, 80), (80,))
    scales = (2.0, 0.8, 1.5, 0.4, 0.4)
    return [torch.randn(s, generator=gen) * k for s, k in zip(shapes, scales, strict=True)]


def test_the_kernel_builds_with_this_machines_compiler():
    assert native.unavailable() is None


# The kernel's width paths: (REPRO_KERNEL_ISA, the vector registers its tiles use, the CPU flags
# it needs). A path this host cannot run is skipped, its name in the skip reason.
WIDTH_PATHS = {
    "avx512": ("native", 32, {"avx512f", "avx512vl"}),
    "avx2": ("avx2", 16, {"avx2", "fma"}),
}


@pytest.fixture(params=list(WIDTH_PATHS))
def width_path(request, monkeypatch):
    """Each test using it runs once per width path of the kernel this host can run."""
    isa, registers, needs = WIDTH_PATHS[request.param]
    if missing := needs - set(describe()["vector_extensions"]):
        pytest.skip(f"the {request.param} path needs CPU flags {sorted(missing)}")
    monkeypatch.setenv("REPRO_KERNEL_ISA", isa)
    assert native.unavailable() is None
    assert native.registers() == registers
    return request.param


_GATES = torch.cat((torch.arange(40), torch.arange(60, 80), torch.arange(40, 60)))
KERNEL_BREAKAGES = {  # applied to the layer's weight and bias on their way into the kernel
    "wrong gate order": lambda weight, bias: (weight[:, _GATES], bias[_GATES]),
    "dropped bias": lambda weight, bias: (weight, bias * 0),
}
OUTPUT_TOL, GRAD_TOL = 2e-6, 1e-5


def _mismatches(ours: dict, reference: dict, tol: float) -> list[str]:
    """Names of the float32 tensors of ``ours`` farther from the float64 ones of ``reference``
    than ``tol`` times max(1, largest |reference|)."""
    return [name for name, value in ours.items()
            if (value.double() - reference[name]).abs().max().item()
            > tol * max(reference[name].abs().max().item(), 1.0)]


def _kernel_and_autograd(tensors: list[torch.Tensor], breakage: str | None = None):
    """Outputs and input gradients of the kernel's layer in float32 (with the head, scale 0.1,
    when ``tensors`` hold its weight and bias too) and of plain autograd in float64: a pair
    ({name: ours}, {name: reference}) for each."""
    ours = [t.clone().requires_grad_() for t in tensors]
    ref = [t.double().requires_grad_() for t in tensors]
    kernel_inputs = list(ours)
    if breakage:
        kernel_inputs[3:5] = KERNEL_BREAKAGES[breakage](*ours[3:5])
    if len(tensors) == 7:
        out = _NativeHeadLayer.apply(*kernel_inputs, 0.1)
        h_ref, c_ref = _lstm_layer_reference(*ref[:5])
        out_ref = (h_ref, c_ref, (h_ref @ ref[5] + ref[6]) * 0.1)
    else:
        out = _NativeLSTMLayer.apply(*kernel_inputs)
        out_ref = _lstm_layer_reference(*ref)
    gen = torch.Generator().manual_seed(7)
    cotangents = [torch.randn(o.shape, generator=gen) for o in out]
    grads = torch.autograd.grad(out, ours, cotangents)
    grads_ref = torch.autograd.grad(out_ref, ref, [d.double() for d in cotangents])
    outputs = ("h'", "c'", "update")[: len(out)]
    inputs = ("x", "h", "c", "weight", "bias", "head weight", "head bias")[: len(tensors)]
    return ((dict(zip(outputs, out, strict=True)), dict(zip(outputs, out_ref, strict=True))),
            (dict(zip(inputs, grads, strict=True)), dict(zip(inputs, grads_ref, strict=True))))


def _with_head(rows: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    head = [torch.randn(20, generator=gen) * 0.3, torch.randn(1, generator=gen)]
    return _layer_inputs(rows, 20, seed=rows) + head


@pytest.mark.parametrize("inputs", [1, 2, 20, 44])  # 44: the largest fan-in, 64
@pytest.mark.parametrize("rows", [1, 2, 7, 64, 131])
def test_layer_matches_autograd_in_float64(rows, inputs, width_path):
    outputs, grads = _kernel_and_autograd(_layer_inputs(rows, inputs, seed=rows * 100 + inputs))
    assert _mismatches(*outputs, OUTPUT_TOL) == [] and _mismatches(*grads, GRAD_TOL) == []


@pytest.mark.parametrize("rows", [1, 6, 131])
def test_last_layer_with_the_head_matches_autograd_in_float64(rows, width_path):
    outputs, grads = _kernel_and_autograd(_with_head(rows))
    assert _mismatches(*outputs, OUTPUT_TOL) == [] and _mismatches(*grads, GRAD_TOL) == []


@pytest.mark.parametrize("head", [False, True], ids=["layer", "with head"])
@pytest.mark.parametrize("breakage", KERNEL_BREAKAGES)
def test_control_the_autograd_comparison_catches_a_broken_kernel_input(breakage, head,
                                                                     width_path):
    tensors = _with_head(7) if head else _layer_inputs(7, 2, seed=702)
    outputs, grads = _kernel_and_autograd(tensors, breakage)
    assert _mismatches(*outputs, OUTPUT_TOL) == list(outputs[0])
    # the head bias's gradient, 0.1 times the summed update gradient, owes nothing to the layer
    assert _mismatches(*grads, GRAD_TOL) == [name for name in grads[0] if name != "head bias"]


def test_without_gradients_the_forward_saves_nothing_and_agrees():
    x, h, c, w, b = _layer_inputs(33, 2, seed=1)
    saved = native.forward(x, h, c, w, b, save=True)
    bare = native.forward(x, h, c, w, b, save=False)
    assert bare[2] is None and bare[3] is None and bare[4] is None
    assert torch.equal(saved[0], bare[0]) and torch.equal(saved[1], bare[1])


@pytest.mark.parametrize("rows", [1, 7, 61, 200])
def test_one_call_for_every_layer_gives_the_bits_of_one_call_per_layer(rows, width_path):
    layers = [_layer_inputs(rows, 2, seed=5), _layer_inputs(rows, 20, seed=6)]
    head = native.Head(*(t.contiguous() for t in _with_head(rows)[5:]), 0.1)
    x = layers[0][0]
    expected = []
    for k, (_, h, c, w, b) in enumerate(layers):
        out = native.forward(x, h, c, w, b, save=False, head=head if k == 1 else None)
        expected.append(out)
        x = out[0]
    h_new, c_new, update = native.step(layers[0][0], [t[1] for t in layers],
                                       [t[2] for t in layers], [t[3] for t in layers],
                                       [t[4] for t in layers], head)
    for k in range(2):
        assert torch.equal(h_new[k], expected[k][0]) and torch.equal(c_new[k], expected[k][1])
    assert torch.equal(update, expected[1][4])


@pytest.mark.parametrize("rows", [1, 7, 61, 200])
def test_the_step_in_place_gives_the_bits_of_the_step_into_new_tensors(rows, width_path):
    layers = [_layer_inputs(rows, 2, seed=5), _layer_inputs(rows, 20, seed=6)]
    head = native.Head(*(t.contiguous() for t in _with_head(rows)[5:]), 0.1)
    x, weights, biases = layers[0][0], [t[3] for t in layers], [t[4] for t in layers]
    h, c = [t[1] for t in layers], [t[2] for t in layers]
    expected = native.step(x, h, c, weights, biases, head)
    h_own, c_own = [t.clone() for t in h], [t.clone() for t in c]
    got = native.step(x, h_own, c_own, weights, biases, head, in_place=True)
    assert all(a is b for a, b in zip(got[0] + got[1], h_own + c_own, strict=True))
    for k in range(2):
        assert torch.equal(h_own[k], expected[0][k]) and torch.equal(c_own[k], expected[1][k])
    assert torch.equal(got[2], expected[2])


def test_an_in_place_step_refuses_states_that_share_memory():
    x, h, c, w, b = _layer_inputs(5, 2, seed=3)
    head = native.Head(*(t.contiguous() for t in _with_head(5)[5:]), 0.1)
    with pytest.raises(ValueError, match="memory of its own"):
        native.step(x, [h], [h], [w], [b], head, in_place=True)
    joined = torch.zeros(10, 20)  # two halves of one buffer do not overlap: allowed
    native.step(x, [joined[:5]], [joined[5:]], [w], [b], head, in_place=True)


def test_the_lstm_step_without_gradients_takes_one_kernel_call_with_the_same_bits(monkeypatch):
    torch.manual_seed(0)
    opt = LSTMOptimizer(preprocessing="logsign", output_scale=0.1)
    grad = torch.randn(300)
    state = opt.init_state(grad)
    update, new_state = opt.step(grad, state)  # recording: one call per layer, with autograd
    calls, step = [], native.step

    def counted(*args):
        calls.append(args)
        return step(*args)

    monkeypatch.setattr(native, "step", counted)
    with torch.no_grad():
        bare_update, bare_state = opt.step(grad, state)
    assert len(calls) == 1 and torch.equal(bare_update, update.detach())
    assert list(bare_state) == list(new_state)
    assert all(torch.equal(bare_state[k], new_state[k].detach()) for k in new_state)


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


def test_two_threads_give_the_same_bits_every_time(width_path):
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


def test_one_and_two_threads_agree(width_path):
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


META_TOLERANCE = {"rtol": 2e-4, "atol": 1e-6}


def _meta_gradient(kernel: str, problem, steps: int, second_order: bool = False) -> dict:
    """Losses and meta-gradients of an unroll of the paper's LSTM on ``kernel``."""
    from repro.meta.unroll import meta_loss, start, unroll

    torch.manual_seed(5)
    opt = LSTMOptimizer(preprocessing="logsign", output_scale=0.1, kernel=kernel)
    losses, _ = unroll(problem, opt, start(problem, opt), steps, second_order=second_order)
    grads = torch.autograd.grad(meta_loss(losses), list(opt.parameters()))
    names = ["losses", *(f"grad {name}" for name, _ in opt.named_parameters())]
    return dict(zip(names, [losses.detach(), *grads], strict=True))


def _mlps():
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(500, 784, generator=gen)
    labels = torch.randint(0, 10, (500,), generator=gen)
    return MLPFamily(batch_size=32, data=Dataset.one(images, labels)).sample("train", 0, 2)


def _quadratics():
    from repro.optimizees.quadratic import QuadraticFamily

    return QuadraticFamily().sample("train", 0, 4)


def test_meta_gradient_on_an_mlp_matches_the_torch_layer(width_path):
    problem = _mlps()
    found = mismatches(_meta_gradient("native", problem, 8), _meta_gradient("torch", problem, 8),
                       **META_TOLERANCE)
    assert not found, found


def test_second_order_meta_gradient_matches_the_torch_layer():
    problem = _quadratics()
    ours = _meta_gradient("native", problem, 6, second_order=True)
    theirs = _meta_gradient("torch", problem, 6, second_order=True)
    first = _meta_gradient("native", problem, 6)
    found = mismatches(ours, theirs, **META_TOLERANCE)
    assert not found, found
    assert any(not torch.allclose(ours[name], first[name], rtol=1e-3)
               for name in ours if name != "losses")


@pytest.mark.parametrize(("problems", "steps", "second_order"),
                         [(_mlps, 8, False), (_quadratics, 6, True)], ids=["mlp", "second order"])
def test_control_the_meta_gradient_comparison_catches_a_broken_kernel(
    problems, steps, second_order, monkeypatch
):
    problem = problems()
    theirs = _meta_gradient("torch", problem, steps, second_order)
    forward = native.forward

    def dropped_bias(x, h, c, weight, bias, *args, **kwargs):
        return forward(x, h, c, *KERNEL_BREAKAGES["dropped bias"](weight, bias), *args, **kwargs)

    monkeypatch.setattr(native, "forward", dropped_bias)
    ours = _meta_gradient("native", problem, steps, second_order)
    assert mismatches(ours, theirs, **META_TOLERANCE).keys() == ours.keys()


def test_kernel_choice_is_checked():
    with pytest.raises(ValueError, match="kernel must be one of"):
        LSTMOptimizer(kernel="fast")
    with pytest.raises(RuntimeError, match="hidden size 20, not 8"):
        LSTMOptimizer(hidden=8, kernel="native")
    opt = LSTMOptimizer(kernel="native").double()
    grad = torch.randn(4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="float32 CPU tensors only"):
        opt.step(grad, opt.init_state(grad))


def _layers_run(opt: LSTMOptimizer, monkeypatch) -> dict[str, int]:
    """How many layers one step of ``opt`` ran on the kernel and on the PyTorch layer."""
    counts = {"kernel": 0, "torch layer": 0}

    def counted(name, fn):
        def spy(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return spy

    monkeypatch.setattr(native, "forward", counted("kernel", native.forward))
    monkeypatch.setattr(_LSTMLayer, "forward", staticmethod(counted("torch layer",
                                                                      _LSTMLayer.forward)))
    grad = torch.randn(5)
    update, _ = opt.step(grad, opt.init_state(grad))
    assert update.shape == (5,)
    return counts


def test_auto_falls_back_to_the_torch_layer_where_the_kernel_does_not_apply(monkeypatch):
    assert _layers_run(LSTMOptimizer(hidden=8), monkeypatch) == {"kernel": 0, "torch layer": 2}


def test_control_the_layer_count_sees_the_kernel_where_it_applies(monkeypatch):
    assert _layers_run(LSTMOptimizer(), monkeypatch) == {"kernel": 2, "torch layer": 0}


def test_a_failing_compiler_leaves_the_kernel_unavailable_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", shutil.which("false"))
    native._load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="runs its PyTorch layer"):
            reason = native.unavailable()
        assert reason is not None and "could not be built" in reason
        assert not native.supports(torch.zeros(1, 2), 20, torch.zeros(22, 80))
        assert list(tmp_path.iterdir()) == []
    finally:
        monkeypatch.undo()
        native._load.cache_clear()
    assert native.unavailable() is None


def test_the_build_is_cached_by_source_compiler_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_KERNEL_CACHE", str(tmp_path))
    first = native._build(native.FLAGS)
    stamp = first.stat().st_mtime_ns
    assert native._build(native.FLAGS) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def _broken_source(tmp_path: Path) -> Path:
    """A copy of the kernel's source whose products all drop their first term."""
    source = native.SOURCE.read_text()
    loop = "for (int s = 0; s < S; ++s) {"
    assert source.count(loop) == 1
    broken = tmp_path / "lstm_cpu.cpp"
    broken.write_text(source.replace(loop, loop.replace("s = 0", "s = 1")))
    return broken


@pytest.mark.slow
@pytest.mark.parametrize("rows", [7, 64])
def test_control_the_parity_test_catches_a_broken_kernel_on_every_width_path(
    rows, width_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("REPRO_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "SOURCE", _broken_source(tmp_path))
    native._load.cache_clear()
    try:
        outputs, grads = _kernel_and_autograd(_with_head(rows))
    finally:
        monkeypatch.undo()
        native._load.cache_clear()
    assert _mismatches(*outputs, OUTPUT_TOL) == list(outputs[0])
    assert {"x", "h", "weight"} <= set(_mismatches(*grads, GRAD_TOL))


def test_the_kernel_build_is_checked():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPRO_KERNEL_ISA", "avx1024")
        with pytest.raises(ValueError, match="REPRO_KERNEL_ISA must be one of"):
            native.unavailable()
