"""The coordinatewise two-layer LSTM optimizer of the paper (its learnable parameters are phi)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import get_args

import torch
from torch import Tensor, nn

from repro.config import HeadInit, Kernel
from repro.optimizers import native
from repro.optimizers.base import State
from repro.optimizers.preprocess import n_features, preprocess

_aten = torch.ops.aten


def _tanh_by_sigmoid(x: Tensor) -> Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1: equal in exact arithmetic; on our 2-core CPU torch's tanh
    costs 4.3 ns per element against sigmoid's 1.1 (measured)."""
    return torch.sigmoid(2 * x).mul_(2).sub_(1)


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer over all coordinates with a hand-written backward (the fast path).

    The forward takes a single sigmoid over all four gate blocks (the cell block's
    pre-activation doubled, so that tanh z = 2 sigmoid(2z) - 1); the backward needs no
    transcendental function at all.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor):
        hidden = h.shape[1]
        xh = torch.cat((x, h), dim=1)
        doubled = torch.ones(4 * hidden, dtype=weight.dtype, device=weight.device)
        doubled[3 * hidden :] = 2.0
        act = torch.sigmoid(torch.addmm(bias * doubled, xh, weight * doubled))
        i, f, o, cell = act.chunk(4, dim=1)
        cell = cell.mul(2).sub_(1)
        c_new = torch.addcmul(f * c, i, cell)
        tanh_c = _tanh_by_sigmoid(c_new)
        ctx.save_for_backward(xh, weight, act, cell, c, tanh_c)
        ctx.inputs = x.shape[1]
        return o * tanh_c, c_new

    @staticmethod
    def backward(ctx, dh: Tensor, dc_new: Tensor):
        xh, weight, act, cell, c, tanh_c = ctx.saved_tensors
        hidden = cell.shape[1]
        i, f, o, _ = act.chunk(4, dim=1)
        dc = _aten.tanh_backward(dh * o, tanh_c).add_(dc_new)
        dsig = torch.cat((dc * cell, dc * c, dh * tanh_c), dim=1)
        dgates = torch.cat(
            (_aten.sigmoid_backward(dsig, act[:, : 3 * hidden]), _aten.tanh_backward(dc * i, cell)),
            dim=1,
        )
        dxh = dgates @ weight.t()
        dweight = xh.t() @ dgates if ctx.needs_input_grad[3] else None
        dbias = dgates.sum(0) if ctx.needs_input_grad[4] else None
        return dxh[:, : ctx.inputs], dxh[:, ctx.inputs :], dc * f, dweight, dbias


class _NativeLSTMLayer(torch.autograd.Function):
    """The same layer on the fused CPU kernel of :mod:`repro.optimizers.native` (the CPU fast
    path): one pass over the coordinates forward and one backward, no intermediate tensors."""

    @staticmethod
    def forward(ctx, x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor):
        h_new, c_new, act, tanh_c, _ = native.forward(x, h, c, weight, bias, save=True)
        ctx.save_for_backward(x, h, c, weight, act, tanh_c)
        return h_new, c_new

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh: Tensor, dc_new: Tensor):
        x, h, c, weight, act, tanh_c = ctx.saved_tensors
        dx, dh_prev, dc_prev, dweight, dbias, _, _ = native.backward(
            x, h, c, weight, act, tanh_c, dh, dc_new, need_dx=ctx.needs_input_grad[0]
        )
        return dx, dh_prev, dc_prev, dweight, dbias


class _NativeHeadLayer(torch.autograd.Function):
    """The last layer with the linear head on the kernel: returns (h', c', update)."""

    @staticmethod
    def forward(ctx, x, h, c, weight, bias, head_weight, head_bias, scale: float):
        head = native.Head(head_weight, head_bias, scale)
        h_new, c_new, act, tanh_c, update = native.forward(x, h, c, weight, bias, True, head)
        ctx.save_for_backward(x, h, c, weight, act, tanh_c, head_weight, head_bias)
        ctx.scale = scale
        return h_new, c_new, update

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dh: Tensor, dc_new: Tensor, d_update: Tensor):
        x, h, c, weight, act, tanh_c, head_weight, head_bias = ctx.saved_tensors
        head = native.Head(head_weight, head_bias, ctx.scale)
        grads = native.backward(
            x, h, c, weight, act, tanh_c, dh, dc_new, ctx.needs_input_grad[0], head, d_update
        )
        return (*grads, None)


def _recording(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


KERNELS: tuple[str, ...] = get_args(Kernel)
HEAD_INITS: tuple[str, ...] = get_args(HeadInit)


def _lstm_layer_reference(
    x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor
) -> tuple[Tensor, Tensor]:
    """The same layer in plain autograd ops (the slow path, for parity and double backward)."""
    hidden = h.shape[1]
    gates = torch.addmm(bias, torch.cat((x, h), dim=1), weight)
    sig, cell = gates.split((3 * hidden, hidden), dim=1)
    i, f, o = torch.sigmoid(sig).chunk(3, dim=1)
    c = f * c + i * torch.tanh(cell)
    return o * torch.tanh(c), c


@functools.cache
def _compiled_layer() -> Callable[..., tuple[Tensor, Tensor]]:
    """The plain-op layer compiled by ``torch.compile`` (created once, on first use)."""
    return torch.compile(_lstm_layer_reference, dynamic=False)


def _trunc_normal(shape: tuple[int, ...], fan_in: int) -> Tensor:
    std = 1.0 / math.sqrt(fan_in)
    return nn.init.trunc_normal_(torch.empty(shape), std=std, a=-2 * std, b=2 * std)


class TorchLayers:
    """Every layer through one PyTorch layer function (the hand-written backward, plain autograd
    ops or torch.compile), then the linear head."""

    def __init__(self, layer: Callable[..., tuple[Tensor, Tensor]]) -> None:
        self.layer = layer

    def step(self, opt: LSTMOptimizer, x: Tensor, state: State,
             in_place: bool = False) -> tuple[Tensor, State]:
        """The update ``[N]`` of every coordinate (layer inputs ``x``) and the new state, in new
        tensors (whatever ``in_place``)."""
        new_state: State = {}
        for k in range(opt.layers):
            x, c = self.layer(x, state[f"h{k}"], state[f"c{k}"], opt.weights[k], opt.biases[k])
            new_state[f"h{k}"], new_state[f"c{k}"] = x, c
        return torch.addmm(opt.head_bias, x, opt.head_weight) * opt.output_scale, new_state


class KernelLayers:
    """The fused CPU kernel wherever it applies (float32 CPU tensors, hidden size 20): without a
    gradient to record, one call for every layer and the head; with one, a call per layer, the
    last with the head. Elsewhere ``fallback`` runs (None: refused, for ``kernel: native``)."""

    def __init__(self, fallback: TorchLayers | None) -> None:
        self.fallback = fallback

    def step(self, opt: LSTMOptimizer, x: Tensor, state: State,
             in_place: bool = False) -> tuple[Tensor, State]:
        """The update ``[N]`` of every coordinate (layer inputs ``x``) and the new state, written
        over ``state``'s tensors when ``in_place`` and nothing is recorded for a gradient."""
        if not native.supports(x, opt.hidden, opt.weights[0]):
            if self.fallback is None:
                raise RuntimeError("optimizer.kernel native runs float32 CPU tensors only; "
                                   f"got {x.dtype} on {x.device}")
            return self.fallback.step(opt, x, state, in_place)
        head = native.Head(opt.head_weight.view(-1), opt.head_bias, opt.output_scale)
        layers = range(opt.layers)
        if not _recording(x, *opt.weights, *opt.biases, opt.head_weight, opt.head_bias,
                          *state.values()):
            h, c, update = native.step(x, [state[f"h{k}"] for k in layers],
                                       [state[f"c{k}"] for k in layers], list(opt.weights),
                                       list(opt.biases), head, in_place)
        else:
            h, c = [], []
            for k in layers:
                args = (x, state[f"h{k}"], state[f"c{k}"], opt.weights[k], opt.biases[k])
                if k == opt.layers - 1:
                    x, c_k, update = _NativeHeadLayer.apply(*args, head.weight, head.bias,
                                                            head.scale)
                else:
                    x, c_k = _NativeLSTMLayer.apply(*args)
                h.append(x)
                c.append(c_k)
        new_state: State = {}
        for k in layers:
            new_state[f"h{k}"], new_state[f"c{k}"] = h[k], c[k]
        return update, new_state


def resolve(fused: bool, compiled: bool, kernel: str) -> TorchLayers | KernelLayers:
    """The layers an :class:`LSTMOptimizer` runs: torch.compile'd plain ops (``compiled``),
    plain autograd ops (not ``fused``), else the fused kernel where it applies with the
    hand-written PyTorch layer elsewhere (``kernel`` "auto"), the kernel only ("native") or the
    PyTorch layer only ("torch")."""
    if compiled:
        return TorchLayers(_compiled_layer())
    if not fused:
        return TorchLayers(_lstm_layer_reference)
    hand_written = TorchLayers(_LSTMLayer.apply)
    if kernel == "torch":
        return hand_written
    return KernelLayers(None if kernel == "native" else hand_written)


class LSTMOptimizer(nn.Module):
    """Coordinatewise stacked LSTM: every scalar coordinate is one batch row sharing phi.

    Each layer's input and recurrent products are fused into one matrix product over all
    coordinates of all problems at once; gates are ordered (input, forget, output, cell) so the
    three sigmoid gates are one call. ``fused``, ``compiled`` and ``kernel`` pick the layers
    that run (:func:`resolve`; ``compiled`` is opt-in, as a cold ``torch.compile`` costs tens of
    seconds on a CPU). Weights follow Sonnet's defaults (truncated normal with std
    1/sqrt(fan_in)); the forget-gate bias starts at 1. The update is the linear head's output
    times ``output_scale``; ``head_init`` "zero" starts the head's weights at zero instead, so
    the untrained optimizer proposes no update at all (rather than one nearly equal step for
    every coordinate whose gradient is tiny, which saturates a sigmoid MLP's hidden units within
    one unroll; see docs/mnist.md).
    """

    def __init__(
        self,
        hidden: int = 20,
        layers: int = 2,
        preprocessing: str = "none",
        p: float = 10.0,
        output_scale: float = 1.0,
        fused: bool = True,
        compiled: bool = False,
        kernel: str = "auto",
        head_init: str = "sonnet",
    ) -> None:
        super().__init__()
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        if kernel == "native" and (reason := native.unavailable()):
            raise RuntimeError(f"optimizer.kernel native: {reason}")
        if kernel == "native" and hidden != native.HIDDEN:
            raise RuntimeError(
                "optimizer.kernel native: the fused kernel is built for hidden size "
                f"{native.HIDDEN}, not {hidden}"
            )
        self.implementation = resolve(fused, compiled, kernel)
        self.hidden = hidden
        self.layers = layers
        self.preprocessing = preprocessing
        self.p = p
        self.output_scale = output_scale
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        inputs = n_features(preprocessing)
        for _ in range(layers):
            fan_in = inputs + hidden
            self.weights.append(nn.Parameter(_trunc_normal((fan_in, 4 * hidden), fan_in)))
            bias = torch.zeros(4 * hidden)
            bias[hidden : 2 * hidden] = 1.0
            self.biases.append(nn.Parameter(bias))
            inputs = hidden
        head = _trunc_normal((hidden, 1), hidden)
        self.head_weight = nn.Parameter(head if head_init == "sonnet" else torch.zeros_like(head))
        self.head_bias = nn.Parameter(torch.zeros(1))

    def init_state(self, theta: Tensor) -> State:
        """Zero hidden and cell states, one row per scalar coordinate of ``theta``, each in
        memory of its own (an in-place step writes over them)."""
        return {f"{kind}{layer}": theta.new_zeros(theta.numel(), self.hidden)
                for layer in range(self.layers) for kind in "hc"}

    def step(self, grad: Tensor, state: State, in_place: bool = False) -> tuple[Tensor, State]:
        """Propose an update for every coordinate of ``grad`` in one pass. ``in_place`` lets the
        fused kernel write the new state over ``state``'s tensors (which nothing else may still
        read)."""
        x = preprocess(grad.reshape(-1), self.preprocessing, self.p)
        update, new_state = self.implementation.step(self, x, state, in_place)
        return update.reshape(grad.shape), new_state
