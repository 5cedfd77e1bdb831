"""Checks that need CUDA (run by scripts/gpu_check.sh on a GPU machine; skipped elsewhere)."""

import pytest
import torch

from repro.meta.unroll import meta_loss, rollout, start, unroll
from repro.optimizees.quadratic import QuadraticFamily
from repro.optimizers.hand import Adam
from repro.optimizers.lstm import LSTMOptimizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_unroll_on_cuda_matches_cpu():
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        opt = LSTMOptimizer().to(device)
        problem = QuadraticFamily().sample("train", 0, 64, device)
        losses, carry = unroll(problem, opt, start(problem, opt), 20)
        grads = torch.autograd.grad(meta_loss(losses), list(opt.parameters()))
        results.append([losses.detach().cpu(), *(g.cpu() for g in grads)])
    for cpu, gpu in zip(*results, strict=True):
        torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-5)


def test_rollouts_and_baselines_run_on_cuda():
    problem = QuadraticFamily().sample("test", 0, 100, "cuda")
    losses = rollout(problem, Adam(0.1), 100)
    assert losses.device.type == "cuda" and torch.isfinite(losses).all()
    assert losses[-1].mean() < losses[0].mean()
