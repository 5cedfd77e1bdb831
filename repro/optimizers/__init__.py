"""Update rules (the paper's m), learned and hand-written, behind one interface."""

from __future__ import annotations

from repro.config import OptimizerConfig
from repro.optimizers.lstm import LSTMOptimizer


def make_lstm(config: OptimizerConfig, fused: bool = True) -> LSTMOptimizer:
    """A freshly initialised LSTM optimizer as ``config`` describes it (``fused=False``: its
    layers in plain autograd ops, the slow path the benchmark compares with)."""
    return LSTMOptimizer(
        hidden=config.hidden, layers=config.layers, preprocessing=config.preprocessing,
        p=config.p, output_scale=config.output_scale, fused=fused, compiled=config.compile,
        kernel=config.kernel, head_init=config.head_init,
    )
