"""Update rules (the paper's m), learned and hand-written, behind one interface."""

from __future__ import annotations

from repro.config import OptimizerConfig
from repro.optimizers.lstm import LSTMOptimizer


def make_lstm(config: OptimizerConfig) -> LSTMOptimizer:
    """A freshly initialised LSTM optimizer as ``config`` describes it."""
    return LSTMOptimizer(
        hidden=config.hidden, layers=config.layers, preprocessing=config.preprocessing,
        p=config.p, output_scale=config.output_scale, compiled=config.compile,
        kernel=config.kernel, head_init=config.head_init,
    )
