"""The common reimplementation, kept as a yardstick: the pattern most public PyTorch
reproductions of the paper use.

One ``nn.LSTMCell`` stack applied per parameter tensor in a Python loop, a per-step
``torch.autograd.grad`` on an ``nn.Module`` optimizee whose parameters are rebuilt every step.
It computes the same first-order meta-gradient as :mod:`repro.meta.unroll` (a parity test checks
this); it exists only to be measured against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from repro.optimizees.mlp import MLPProblems
from repro.optimizers.lstm import LSTMOptimizer


class ReferenceLSTM(nn.Module):
    """Two ``nn.LSTMCell``s and a linear head, applied to one parameter tensor at a time."""

    def __init__(self, source: LSTMOptimizer) -> None:
        super().__init__()
        h = source.hidden
        self.cells = nn.ModuleList()
        self.output_scale = source.output_scale
        for weight, bias in zip(source.weights, source.biases, strict=True):
            inputs = weight.shape[0] - h
            i, f, o, g = weight.detach().T.split(h, dim=0)
            bi, bf, bo, bg = bias.detach().split(h)
            cell = nn.LSTMCell(inputs, h)
            with torch.no_grad():
                w = torch.cat((i, f, g, o))
                cell.weight_ih.copy_(w[:, :inputs])
                cell.weight_hh.copy_(w[:, inputs:])
                cell.bias_ih.copy_(torch.cat((bi, bf, bg, bo)))
                cell.bias_hh.zero_()
            self.cells.append(cell)
        self.head = nn.Linear(h, 1)
        with torch.no_grad():
            self.head.weight.copy_(source.head_weight.detach().T)
            self.head.bias.copy_(source.head_bias.detach())
        self.preprocessing = source.preprocessing
        self.p = source.p

    def forward(self, grad: Tensor, state: list) -> tuple[Tensor, list]:
        """Update for one parameter tensor's coordinates and its new per-layer (h, c)."""
        from repro.optimizers.preprocess import preprocess

        x = preprocess(grad.reshape(-1), self.preprocessing, self.p)
        new_state = []
        for cell, hc in zip(self.cells, state, strict=True):
            h, c = cell(x, hc)
            new_state.append((h, c))
            x = h
        return self.head(x).reshape(grad.shape) * self.output_scale, new_state


class QuadraticModule(nn.Module):
    """The quadratic optimizee as an ``nn.Module`` (the common way): theta is its parameter."""

    def __init__(self, weights: Tensor, targets: Tensor, theta: Tensor, scale: str) -> None:
        super().__init__()
        self.weights, self.targets, self.scale = weights, targets, scale
        self.theta = nn.Parameter(theta)

    def forward(self) -> Tensor:
        """Per-instance losses."""
        residual = torch.bmm(self.weights, self.theta.unsqueeze(-1)).squeeze(-1) - self.targets
        squares = residual.square()
        return squares.mean(-1) if self.scale == "mean" else squares.sum(-1)


class MLPModule(nn.Module):
    """The MLP optimizee as an ``nn.Module`` of ``nn.Linear`` layers (the common way)."""

    def __init__(self, sizes: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.activation = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[
            activation
        ]

    def forward(self, x: Tensor) -> Tensor:
        """Logits."""
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.activation(x)
        return x


def reference_parameters(problem, theta: Tensor) -> dict[str, Tensor]:
    """The optimizee module's parameters at the flat ``theta``: the quadratic's ``theta``, or
    the MLP's first instance as ``nn.Linear`` parameters (weights transposed)."""
    if not isinstance(problem, MLPProblems):
        return {"theta": theta}
    params = {}
    for k, (weight, bias) in enumerate(problem.params(theta)):
        params[f"layers.{k}.weight"] = weight[0].T
        params[f"layers.{k}.bias"] = bias[0]
    return params


def reference_truncation(
    optimizer: ReferenceLSTM, problem, params: dict[str, Tensor], state: list | None,
    first_step: int, steps: int,
) -> tuple[Tensor, dict[str, Tensor], list]:
    """One truncation the common way; returns (meta-loss, params, state), graph not yet cut.

    The optimizee module is rebuilt at every step around the current (differentiable)
    parameters, the gradient of every parameter tensor taken with ``torch.autograd.grad`` and
    detached, and the LSTM called once per tensor. An MLP ``problem`` supplies the minibatches
    (its first instance's stream), so the run sees the same data as
    :func:`repro.meta.unroll.unroll` does.
    """
    mlp = isinstance(problem, MLPProblems)
    if state is None:
        state = [
            [(p.new_zeros(p.numel(), optimizer.cells[0].hidden_size),) * 2 for _ in optimizer.cells]
            for p in params.values()
        ]
    params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
    losses = []
    for step in range(steps + 1):
        if mlp:
            module = MLPModule(problem.family.sizes, problem.family.activation)
            x, y = problem.minibatch(first_step + step)
            loss = F.cross_entropy(functional_call(module, params, (x[0],)), y[0])
        else:
            theta = params["theta"].detach()
            module = QuadraticModule(problem.weights, problem.targets, theta, problem.scale)
            loss = functional_call(module, params, ())
        if step:
            losses.append(loss)
        if step == steps:
            break
        grads = torch.autograd.grad(loss.sum(), list(params.values()), retain_graph=True)
        updated = {}
        for index, (name, grad) in enumerate(zip(params, grads, strict=True)):
            update, state[index] = optimizer(grad.detach(), state[index])
            updated[name] = params[name] + update
        params = updated
    return torch.stack(losses).sum(0).mean(), params, state
