"""The paper's learned optimizer as a ``torch.optim.Optimizer``, for any PyTorch model.

``LearnedOptimizer(model.parameters(), weights="mnist_fashion_mnist")`` steps every parameter
with a trained coordinatewise LSTM: a shipped phi (``repro/weights/<name>.pt``) or one that
``python -m repro fit`` exported (``runs/.../optimizer.ckpt``). Each step feeds the gradients of
all parameters of a group (of one device and dtype) through the LSTM of
:mod:`repro.optimizers.lstm` in one pass (on the CPU, its fused kernel) and adds the updates
it proposes times the group's ``lr``: theta <- theta + lr * m(grad, state), with the default lr
of 1.0 exactly as the evaluation rollout does. The per-coordinate LSTM states live in
``self.state[p]`` (``h0, c0, h1, c1``, one row per coordinate of ``p``), so ``state_dict()``
and ``load_state_dict()`` resume a run exactly.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from repro import weights as shipped
from repro.config import OptimizerConfig
from repro.optimizers import make_lstm
from repro.optimizers.base import State
from repro.optimizers.lstm import LSTMOptimizer
from repro.optimizers.phi_file import load_optimizer

DEFAULT_WEIGHTS = "mnist_fashion_mnist"
GROUP_KEYS = ("params", "param_names", "lr")


def resolve_weights(weights: str | os.PathLike[str]) -> Path:
    """The file of ``weights``: an existing path, else the name of a shipped optimizer.

    Raises ValueError (one line, listing the shipped names) when it is neither.
    """
    path = Path(weights)
    if path.is_file():
        return path
    if str(weights) in shipped.available():
        return shipped.path_of(str(weights))
    raise ValueError(
        f"unknown weights {str(weights)!r}: no such file and no shipped optimizer of that name; "
        f"shipped: {', '.join(shipped.available())}"
    )


def load_rule(weights: str | os.PathLike[str]) -> LSTMOptimizer:
    """The trained LSTM of ``weights`` (see :func:`resolve_weights`), frozen, on the CPU.

    Raises ValueError (one line) for a file that is not an optimizer checkpoint, does not match
    its own settings, or holds one LSTM per parameter group (a CIFAR fit).
    """
    path = resolve_weights(weights)

    def build(settings: OptimizerConfig) -> LSTMOptimizer:
        if settings.groups:
            raise ValueError(
                f"weights {path} hold one LSTM per parameter group {settings.groups}; "
                "LearnedOptimizer takes a single LSTM (fit without optimizer.groups)"
            )
        return make_lstm(replace(settings, compile=False, kernel="auto"))

    rule = load_optimizer(path, build=build)
    return rule.requires_grad_(False).eval()


def fingerprint(rule: LSTMOptimizer) -> str:
    """A short digest of phi, stored in every param group so that a state saved under one phi
    is not loaded under another."""
    digest = hashlib.sha256()
    for key, value in sorted(rule.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class LearnedOptimizer(torch.optim.Optimizer):
    """A trained coordinatewise LSTM (Andrychowicz et al. 2016) as a PyTorch optimizer.

    ``params`` are any tensors or param groups; ``weights`` a shipped name
    (:func:`repro.weights.available`) or the path of a fit's exported checkpoint. Parameters
    without a gradient are skipped (their LSTM state does not advance). The LSTM runs in
    float64 for float64 parameters and in float32 otherwise; its states are kept in the
    parameter's dtype on the parameter's device. The step is never differentiated. ``rule``
    is the loaded LSTM (phi, frozen, on the CPU); each device and dtype gets a copy of it.

    A group's ``lr`` (``lr`` for the groups that set none; 1.0, the updates as phi proposes
    them, by default) multiplies the updates of its parameters. It scales the step only: the
    LSTM sees the same gradients and its state advances alike whatever the lr, so
    ``torch.optim.lr_scheduler`` and Lightning's ``LearningRateMonitor`` work as with any
    optimizer. Besides ``weights``, ``lr`` is the only option: any other keyword or param-group
    key, and a negative or non-finite lr, is refused (ValueError). A gradient coordinate that is
    NaN or infinite is skipped: its parameter and its LSTM state stay as they were, the other
    coordinates step as usual, and a RuntimeWarning says so, once per optimizer.
    """

    def __init__(
        self,
        params: Iterable[Any],
        weights: str | os.PathLike[str] = DEFAULT_WEIGHTS,
        lr: float = 1.0,
        **options: Any,
    ) -> None:
        _refuse_unknown(options, ("weights", "lr"), "keyword")
        _check_lr(lr)
        self.rule = load_rule(weights)
        self._rules: dict[tuple[torch.device, torch.dtype], LSTMOptimizer] = {}
        self._warned_nonfinite = False
        super().__init__(params, {"phi": fingerprint(self.rule), "lr": lr})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group whose keys are among :data:`GROUP_KEYS` and whose lr is finite and
        >= 0 (else ValueError), refusing complex parameters (the LSTM reads real gradients)."""
        _refuse_unknown(param_group, GROUP_KEYS, "param-group key")
        if "lr" in param_group:
            _check_lr(param_group["lr"])
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.is_complex():
                self.param_groups.pop()
                raise TypeError(
                    f"LearnedOptimizer takes real parameters; got a {p.dtype} one of shape "
                    f"{tuple(p.shape)}"
                )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by an optimizer with the same phi (else ValueError)."""
        mine = self.defaults["phi"]
        for group in state_dict["param_groups"]:
            if group.get("phi") != mine:
                raise ValueError(
                    f"the state was saved under another phi ({group.get('phi')}), this "
                    f"optimizer's is {mine}"
                )
        super().load_state_dict(state_dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore ``state``; a group saved before groups had an lr gets lr 1.0."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("lr", 1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One LSTM step for every parameter with a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for params in _buckets(group["params"]).values():
                self._step(params, group["lr"])
        return loss

    def _step(self, params: list[Tensor], lr: float) -> None:
        """One LSTM pass over all coordinates of ``params`` (one device, one dtype), its
        updates applied times ``lr``; non-finite gradient coordinates are skipped."""
        rule = self._rule(params[0].device, params[0].dtype)
        compute = rule.head_weight.dtype
        for p in params:
            if not self.state[p]:
                self.state[p].update(rule.init_state(p))
        grad = torch.cat([p.grad.reshape(-1) for p in params]).to(compute)
        state = {
            key: _join([self.state[p][key] for p in params]).to(compute)
            for key in self.state[params[0]]
        }
        # one pass over grad first; only a sum that is not finite (or overflowed) looks closer
        if grad.sum().isfinite() or (finite := torch.isfinite(grad)).all():
            update, new_state = rule.step(grad, state, in_place=True)
        else:
            self._warn_nonfinite(finite)
            update, new_state = _step_finite(rule, grad, state, finite)
        sizes = [p.numel() for p in params]
        for key, value in new_state.items():
            for p, part in zip(params, value.to(params[0].dtype).split(sizes), strict=True):
                self.state[p][key] = part
        for p, part in zip(params, update.split(sizes), strict=True):
            p.add_(part.view_as(p), alpha=lr)

    def _warn_nonfinite(self, finite: Tensor) -> None:
        """Warn, the first time only, that the coordinates where ``finite`` is False were
        skipped."""
        if self._warned_nonfinite:
            return
        self._warned_nonfinite = True
        warnings.warn(
            f"LearnedOptimizer: {int((~finite).sum())} of {finite.numel()} "
            "gradient coordinates are NaN or infinite; their parameters and LSTM states are left "
            "as they were (this optimizer warns once)",
            RuntimeWarning,
            stacklevel=6,  # the caller of step(), past _step, step and torch's two wrappers
        )

    def _rule(self, device: torch.device, dtype: torch.dtype) -> LSTMOptimizer:
        """phi on ``device`` in the dtype the LSTM computes in for parameters of ``dtype``."""
        compute = torch.float64 if dtype == torch.float64 else torch.float32
        key = (device, compute)
        if key not in self._rules:
            self._rules[key] = copy.deepcopy(self.rule).to(device=device, dtype=compute)
        return self._rules[key]


def _refuse_unknown(given: Iterable[str], allowed: tuple[str, ...], kind: str) -> None:
    """ValueError (one line) naming the names of ``given`` that are not ``allowed``."""
    unknown = [name for name in given if name not in allowed]
    if unknown:
        raise ValueError(
            f"LearnedOptimizer: unknown {kind} {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(allowed)}"
        )


def _check_lr(lr: float) -> None:
    """ValueError (one line) unless ``lr`` is finite and >= 0."""
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"LearnedOptimizer: lr must be finite and >= 0, got {lr!r}")


def _step_finite(
    rule: LSTMOptimizer, grad: Tensor, state: State, finite: Tensor
) -> tuple[Tensor, State]:
    """``rule.step`` where ``finite`` holds; elsewhere a zero update and the state unchanged."""
    update, new_state = rule.step(torch.where(finite, grad, 0.0), state)
    rows = finite.unsqueeze(1)
    kept = {key: torch.where(rows, value, state[key]) for key, value in new_state.items()}
    return torch.where(finite, update, 0.0), kept


def _buckets(params: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[Tensor]]:
    """The parameters with a gradient, by (device, dtype); a sparse gradient is refused."""
    buckets: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for p in params:
        if p.grad is None:
            continue
        if p.grad.layout != torch.strided:
            raise TypeError(
                f"LearnedOptimizer does not take sparse gradients ({p.grad.layout}, parameter "
                f"of shape {tuple(p.shape)})"
            )
        buckets.setdefault((p.device, p.dtype), []).append(p)
    return buckets


def _join(parts: list[Tensor]) -> Tensor:
    """The row-wise concatenation of ``parts``; without a copy when they are consecutive rows
    of one tensor (as after a step, which splits one new state into them)."""
    first = parts[0]
    offset = first.storage_offset()
    for part in parts:
        if not (
            part.is_contiguous()
            and part.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
            and part.storage_offset() == offset
        ):
            return torch.cat(parts)
        offset += part.numel()
    rows = sum(part.shape[0] for part in parts)
    return first.as_strided((rows, *first.shape[1:]), first.stride())
