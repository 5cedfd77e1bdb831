"""Gradient preprocessing of the paper's Appendix A (log/sign encoding with parameter p)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

_EPS = torch.finfo(torch.float32).eps


def log_sign(grad: Tensor, p: float = 10.0) -> Tensor:
    """Encode each gradient coordinate as two features, shape ``[..., 2]``.

    ``(log|g| / p, sgn g)`` when ``|g| >= e^-p`` and ``(-1, e^p g)`` otherwise, written in the
    continuous form ``(max(log(|g| + eps) / p, -1), clip(e^p g, -1, 1))``.
    """
    magnitude = torch.clamp(torch.log(grad.abs() + _EPS) / p, min=-1.0)
    sign = torch.clamp(grad * math.exp(p), -1.0, 1.0)
    return torch.stack((magnitude, sign), dim=-1)


def n_features(kind: str) -> int:
    """Number of input features per coordinate produced by preprocessing ``kind``."""
    return {"none": 1, "logsign": 2}[kind]


def preprocess(grad: Tensor, kind: str, p: float) -> Tensor:
    """Apply preprocessing ``kind`` to ``grad``: :func:`log_sign`, or for "none" the raw
    gradient as a single feature, shape ``[..., 1]``."""
    if kind == "logsign":
        return log_sign(grad, p)
    return grad.unsqueeze(-1)
