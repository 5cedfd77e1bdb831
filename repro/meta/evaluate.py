"""Rolling optimizers out on held-out problems and summarising the runs as curves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from repro.meta.unroll import rollout, start, unroll
from repro.optimizees.base import Problem
from repro.optimizers.base import UpdateRule
from repro.optimizers.hand import make_baseline
from repro.optimizers.lstm import LSTMOptimizer

Z_95 = 1.959964
Rule = tuple[UpdateRule, float | None]  # an update rule and its learning rate (LSTM: None)


class Curve(Metric):
    """Curve of rollouts ``[steps + 1, B]``: per step 1..steps the mean over the problems (every
    :meth:`update`'s; under DDP every process's) and its 95% interval. Once the mean stops being
    finite the optimizer has diverged: ``diverged_at`` is that step, later entries are ``None``."""

    full_state_update = False

    def __init__(self, lr: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lr = lr
        self.add_state("losses", default=[], dist_reduce_fx="cat")  # float64 [B, steps] each

    def update(self, losses: Tensor) -> None:
        self.losses.append(losses[1:].double().T)  # problems along dim 0, where "cat" joins

    def compute(self) -> dict[str, Any]:
        # over a contiguous [steps, B] layout, as ever: over a transposed view torch may add the
        # problems up in another order, changing the last bits
        losses = dim_zero_cat(self.losses).T.contiguous()
        steps, n = losses.shape
        mean = losses.mean(1)
        sem = losses.std(1) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
        bad = (~(torch.isfinite(mean) & torch.isfinite(sem))).nonzero()
        diverged_at = int(bad[0]) + 1 if len(bad) else None
        kept = steps if diverged_at is None else diverged_at - 1

        def clean(values: Tensor) -> list[float | None]:
            return [*values[:kept].tolist(), *[None] * (steps - kept)]

        return {"step": list(range(1, steps + 1)), "mean": clean(mean),
                "lo": clean(mean - Z_95 * sem), "hi": clean(mean + Z_95 * sem),
                "n": n, "lr": self.lr, "diverged_at": diverged_at}


def diverged_as_inf(losses: Tensor) -> Tensor:
    """``losses`` with every NaN or inf replaced by +inf: a problem on which the optimizer
    diverged counts as infinitely bad, so any mean over it is inf. Model selection (validation)
    and the baselines' tuning both read final losses through this."""
    return torch.where(torch.isfinite(losses), losses, torch.full_like(losses, math.inf))


def final_loss(losses: Tensor) -> float:
    """Mean loss at the last step; ``inf`` when any problem's final loss is not finite."""
    return float(diverged_as_inf(losses[-1].double()).mean())


def evaluate(problem: Problem, rules: Mapping[str, Rule], steps: int) -> dict[str, dict[str, Any]]:
    """Curves of every rule (name -> (rule, lr)) on the same problems."""
    curves = {name: Curve(lr) for name, (_, lr) in rules.items()}
    for name, (rule, _) in rules.items():
        curves[name].update(rollout(problem, rule, steps))
    return {name: curve.compute() for name, curve in curves.items()}  # synced across processes


def rules_at(rates: Mapping[str, float], lstm: UpdateRule) -> dict[str, Rule]:
    """Each baseline at its learning rate (``rates``: name -> lr) and the LSTM, by legend name."""
    return {**{name: (make_baseline(name, lr), lr) for name, lr in rates.items()},
            "LSTM": (lstm, None)}


@torch.no_grad()
def trace(problem: Problem, lstm: LSTMOptimizer, step: int, coordinates: int) -> dict[str, Any]:
    """The LSTM's inputs, states and outputs at one step, for the first instance's coordinates."""
    carry = start(problem, lstm)
    if step:
        _, carry = unroll(problem, lstm, carry, step)
    update, state = lstm.step(carry.grad, carry.opt_state)
    dim = carry.theta.shape[1]

    def layers(st: Mapping[str, Tensor], row: int) -> list[list[float]]:
        return [st[f"h{layer}"][row].tolist() for layer in range(lstm.layers)]

    return {
        "step": step,
        "n_coordinates": dim,
        "loss": float(carry.loss[0]),
        "coordinates": [
            {
                "index": i,
                "theta": float(carry.theta[0, i]),
                "grad": float(carry.grad[0, i]),
                "update": float(update[0, i]),
                "h_prev": layers(carry.opt_state, i),
                "h": layers(state, i),
            }
            for i in range(coordinates)
        ],
    }
