"""Parity of the hand-designed rules with torch.optim, plus the UpdateRule contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from repro.optimizers.base import UpdateRule
from repro.optimizers.hand import BASELINES, NAG, SGD, Adam, RMSprop, make_baseline

N = 6
STEPS = 50
DTYPE = torch.float64
# Max abs parameter difference from torch.optim after 50 steps, over every case. Measured:
# 4.4e-16 in float64, 4.8e-7 in float32 (the sin term makes the trajectory amplify rounding
# differences); the tolerances sit about 40x above. An epsilon 10x off moves float64 results by
# 1e-8 to 4e-7 (test_a_misplaced_epsilon_breaks_parity), far above the float64 tolerance.
ATOL = {torch.float64: 2e-14, torch.float32: 2e-5}

# Each case: our rule class and the matching torch.optim constructor.
CASES: dict[str, tuple[type, Callable[..., torch.optim.Optimizer]]] = {
    "SGD": (SGD, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    "RMSprop": (RMSprop, lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-8)),
    "ADAM": (Adam, lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8)),
    "NAG": (NAG, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True)),
}
RULE_CLASSES = [SGD, RMSprop, Adam, NAG]


def _problem(dtype: torch.dtype) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """A fixed, seeded, non-convex test function ``f(x) = x'Ax/2 + b'x + sum(sin(3x))`` and x0."""
    gen = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(N, N, generator=gen, dtype=DTYPE)).Q
    a = (q @ torch.diag(torch.linspace(0.5, 2.0, N, dtype=DTYPE)) @ q.T).to(dtype)
    b = torch.randn(N, generator=gen, dtype=DTYPE).to(dtype)
    x0 = torch.randn(N, generator=gen, dtype=DTYPE).to(dtype)

    def f(x: Tensor) -> Tensor:
        return 0.5 * x @ a @ x + b @ x + torch.sin(3.0 * x).sum()

    return f, x0


def _grad(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def _both(
    rule_cls: type, torch_opt: Callable[..., torch.optim.Optimizer], lr: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """x0, and theta after STEPS steps of our rule and of ``torch_opt`` from it."""
    f, x0 = _problem(dtype)
    rule = rule_cls(lr=lr)
    theta, state = x0.clone(), rule.init_state(x0)
    p = torch.nn.Parameter(x0.clone())
    opt = torch_opt([p], lr)
    for _ in range(STEPS):
        update, state = rule.step(_grad(f, theta), state)
        theta = theta + update
        opt.zero_grad()
        f(p).backward()
        opt.step()
    return x0, theta, p.detach()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("lr", [1e-3, 1e-2, 1e-1])
@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_torch_optim(name: str, lr: float, dtype: torch.dtype) -> None:
    x0, ours, theirs = _both(*CASES[name], lr, dtype)
    assert not torch.equal(ours, x0)
    torch.testing.assert_close(ours, theirs, atol=ATOL[dtype], rtol=0.0)


@pytest.mark.parametrize("name", ["ADAM", "RMSprop"])
def test_a_misplaced_epsilon_breaks_parity(name: str) -> None:
    """Control: the same comparison against torch.optim with epsilon 1e-7 instead of 1e-8."""
    wrong = {
        "ADAM": lambda p, lr: torch.optim.Adam(p, lr=lr, eps=1e-7),
        "RMSprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-7),
    }[name]
    _, ours, theirs = _both(CASES[name][0], wrong, 1e-3, DTYPE)
    assert float((ours - theirs).abs().max()) > 100 * ATOL[DTYPE]


def test_adam_first_step_is_sign_in_float32() -> None:
    # At t=1 the bias corrections cancel: update = -lr * g / (|g| + eps). Guards the float32
    # precision of 1 - beta2^t, which a naive pow gets wrong by ~1e-5 relative.
    g = torch.tensor([3.0, -0.5, 2e-3, -40.0])
    rule = Adam(lr=1e-3)
    update, state = rule.step(g, rule.init_state(g))
    torch.testing.assert_close(update, -1e-3 * g / (g.abs() + 1e-8), atol=0.0, rtol=1e-6)
    assert state["t"].shape == ()


def test_adam_step_counter_is_exact_for_bf16() -> None:
    theta = torch.zeros(2, dtype=torch.bfloat16)
    rule = Adam(lr=1e-3)
    state = rule.init_state(theta)
    for _ in range(300):
        update, state = rule.step(torch.ones_like(theta), state)
    assert state["t"].item() == 300
    assert update.dtype == torch.bfloat16


@pytest.mark.parametrize("rule_cls", RULE_CLASSES)
def test_conforms_to_update_rule(rule_cls: type) -> None:
    assert isinstance(rule_cls(lr=0.1), UpdateRule)


def _random_grads(shape: tuple[int, ...], steps: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(shape, generator=gen, dtype=DTYPE) for _ in range(steps)]


@pytest.mark.parametrize("rule_cls", RULE_CLASSES)
def test_step_does_not_mutate_state(rule_cls: type) -> None:
    rule = rule_cls(lr=0.1)
    grads = _random_grads((N,), 4)
    state = rule.init_state(torch.zeros(N, dtype=DTYPE))
    for g in grads[:3]:  # reach a non-trivial state first
        _, state = rule.step(g, state)

    grad = grads[3]
    before = {k: v.clone() for k, v in state.items()}
    grad_before = grad.clone()
    _, new_state = rule.step(grad, state)

    assert state.keys() == before.keys()
    for k, old in before.items():
        assert torch.equal(state[k], old), k
        assert new_state[k] is not state[k], k
    assert torch.equal(grad, grad_before)


@pytest.mark.parametrize("rule_cls", RULE_CLASSES)
def test_batched_matches_rows(rule_cls: type) -> None:
    batch, steps = 3, 10
    rule = rule_cls(lr=0.05)
    grads = _random_grads((batch, N), steps)

    theta = torch.zeros(batch, N, dtype=DTYPE)
    state = rule.init_state(theta)
    for g in grads:
        update, state = rule.step(g, state)
        theta = theta + update

    for i in range(batch):
        row = torch.zeros(N, dtype=DTYPE)
        row_state = rule.init_state(row)
        for g in grads:
            update, row_state = rule.step(g[i], row_state)
            row = row + update
        torch.testing.assert_close(theta[i], row, atol=1e-12, rtol=0.0)


def test_baselines_in_legend_order() -> None:
    assert list(BASELINES) == ["ADAM", "RMSprop", "SGD", "NAG"]


@pytest.mark.parametrize("name", list(BASELINES))
def test_make_baseline_builds_each(name: str) -> None:
    rule = make_baseline(name, 0.3)
    assert isinstance(rule, BASELINES[name])
    assert rule.lr == 0.3


def test_make_baseline_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="ADAM, RMSprop, SGD, NAG"):
        make_baseline("adagrad", 0.1)
