import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.meta.unroll import meta_loss, rollout, start, truncate, unroll
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.hand import SGD
from repro.optimizers.lstm import LSTMOptimizer

ROOT = Path(__file__).resolve().parents[2]


def _setup(batch=3, dim=4, seed=0):
    torch.manual_seed(seed)
    opt = LSTMOptimizer(hidden=5, output_scale=0.1).double()
    problem = QuadraticFamily(dim=dim).sample("train", 0, batch)
    problem = type(problem)(
        problem.weights.double(), problem.targets.double(), problem.theta0.double(), "mean"
    )
    return opt, problem


def _meta_loss(opt, problem, second_order=False, truncations=1, steps=4):
    carry = start(problem, opt)
    for _ in range(truncations - 1):
        _, carry = unroll(problem, opt, carry, steps, second_order)
        carry = truncate(carry)
    losses, _ = unroll(problem, opt, carry, steps, second_order)
    return meta_loss(losses)


def test_truncate_leaves_no_graph_and_carries_theta():
    opt, problem = _setup()
    carry = start(problem, opt)
    losses, carry = unroll(problem, opt, carry, 5)
    assert carry.theta.grad_fn is not None and carry.step == 5
    cut = truncate(carry)
    assert cut.theta.grad_fn is None and cut.grad.grad_fn is None and cut.loss.grad_fn is None
    assert all(v.grad_fn is None for v in cut.opt_state.values())
    assert torch.equal(cut.theta, carry.theta.detach())
    assert not torch.equal(cut.theta, problem.initial_params())
    assert losses.shape == (5, 3)


class _FrozenGradients:
    """The problem's true loss, but the optimizee gradients replayed from a recorded run."""

    def __init__(self, problem, grads):
        self.problem, self.grads = problem, grads

    def initial_params(self):
        return self.problem.initial_params()

    def loss_and_grad(self, theta, step, create_graph=False):
        return self.problem.loss(theta), self.grads[step]


def _finite_difference_check(opt, loss_fn, grads):
    assert all(g.abs().sum() > 0 for g in grads)
    eps = 1e-6
    gen = torch.Generator().manual_seed(0)
    for param, grad in zip(opt.parameters(), grads, strict=True):
        for _ in range(3):
            index = tuple(torch.randint(s, (1,), generator=gen).item() for s in param.shape)
            with torch.no_grad():
                param[index] += eps
                up = loss_fn()
                param[index] -= 2 * eps
                down = loss_fn()
                param[index] += eps
            numeric = (up - down) / (2 * eps)
            assert numeric.item() == pytest.approx(grad[index].item(), rel=1e-5, abs=1e-10)


def test_first_order_meta_gradient_matches_finite_differences_with_gradients_held_fixed():
    opt, problem = _setup()
    recorded = {}

    class Recorder(_FrozenGradients):
        def loss_and_grad(self, theta, step, create_graph=False):
            loss, grad = self.problem.loss_and_grad(theta, step)
            recorded[step] = grad.detach().clone()
            return loss, grad

    loss = _meta_loss(opt, Recorder(problem, None))
    grads = torch.autograd.grad(loss, list(opt.parameters()))
    frozen = _FrozenGradients(problem, recorded)
    _finite_difference_check(opt, lambda: _meta_loss(opt, frozen), grads)


def test_second_order_meta_gradient_matches_finite_differences():
    opt, problem = _setup()
    loss = _meta_loss(opt, problem, second_order=True)
    grads = torch.autograd.grad(loss, list(opt.parameters()))
    _finite_difference_check(opt, lambda: _meta_loss(opt, problem, True), grads)


def test_second_order_differs_from_first_order():
    opt, problem = _setup()
    first = torch.autograd.grad(_meta_loss(opt, problem), list(opt.parameters()))
    second = torch.autograd.grad(_meta_loss(opt, problem, True), list(opt.parameters()))
    assert any(not torch.allclose(a, b) for a, b in zip(first, second, strict=True))
    for a, b in zip(first, second, strict=True):
        assert torch.isfinite(b).all()
        assert (a - b).abs().max() < 10 * a.abs().max() + 1e-12


def test_first_order_meta_gradient_sees_detached_optimizee_gradient():
    opt, problem = _setup()
    carry = start(problem, opt)
    seen = []
    original = opt.step

    def spy(grad, state):
        seen.append(grad.requires_grad)
        return original(grad, state)

    opt.step = spy
    unroll(problem, opt, carry, 3)
    assert seen == [False, False, False]


def test_rollout_returns_initial_and_every_step_loss_without_graph():
    _, problem = _setup()
    losses = rollout(problem, SGD(0.1), 10)
    assert losses.shape == (11, 3) and losses.grad_fn is None
    assert torch.all(losses[-1] < losses[0])


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _meta_train(truncations: int, leak: bool = False) -> tuple[list[int], list[int]]:
    """Bytes saved for backward by each truncation's graph, and the resident size after each;
    ``leak`` keeps every graph alive (retained, its losses held)."""
    torch.manual_seed(0)
    opt = LSTMOptimizer()
    meta = torch.optim.Adam(opt.parameters(), 1e-3)
    problem = QuadraticFamily().sample("train", 0, 128)
    carry = start(problem, opt)
    saved_bytes, resident, held = [], [], []
    for _ in range(truncations):
        total = 0

        def pack(t):
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            losses, carry = unroll(problem, opt, carry, 20)
        carry = truncate(carry)
        meta.zero_grad()
        meta_loss(losses).backward(retain_graph=leak)
        meta.step()
        if leak:
            held.append(losses)
        saved_bytes.append(total)
        resident.append(_resident_bytes())
    return saved_bytes, resident


def _in_a_fresh_process(truncations: int, leak: bool = False) -> tuple[list[int], list[int]]:
    """:func:`_meta_train` in a new process with glibc set up as every ``python -m repro`` run
    (pages freed by earlier tests in this process would hide a leak's growth)."""
    code = ("import json; from repro.memory import keep_freed_memory; keep_freed_memory(); "
            "from tests.meta.test_unroll import _meta_train; "
            f"print(json.dumps(_meta_train({truncations}, leak={leak})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return tuple(json.loads(out))


def test_graph_per_truncation_is_constant_and_memory_stays_flat():
    saved_bytes, resident = _in_a_fresh_process(20)
    assert len(set(saved_bytes)) == 1
    # A leaked graph would add ~this many bytes per truncation; the resident size must not grow
    # by it from the 5th truncation to the last.
    assert resident[-1] - resident[4] < saved_bytes[0]


def test_control_the_memory_check_catches_a_leaked_graph():
    saved_bytes, resident = _in_a_fresh_process(8, leak=True)
    assert resident[-1] - resident[4] >= saved_bytes[0]
