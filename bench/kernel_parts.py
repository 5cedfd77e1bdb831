"""Where the fused kernel's time goes, per direction: its matrix products and the rest.

One layer's forward and backward are timed on the same rows at several fan-ins, with the rows
few enough to stay in cache. The products' work grows with the fan-in and nothing else does,
so a straight line through the times per row splits them: its slope is the products' time per
unit of fan-in (their FLOP/s, to compare with the multiply-add peak), its intercept the time
of everything else per row (the activations, the elementwise work, loads and stores).
"""

from __future__ import annotations

import torch

from bench.timing import fastest
from repro.optimizers import native

FAN_INS = (21, 24, 32, 40, 48, 64)
"""Layer fan-ins timed (inputs + the 20 hidden units): the MNIST LSTM's 22 and 40 lie among
them; 64 is the most the kernel takes."""
ROWS = 4096
"""Rows (coordinates) per call: about 4 MiB of a layer's arrays, within this host kind's L3."""
PRODUCT_FLOPS = {"forward": 2 * 4 * native.HIDDEN, "backward": 2 * 2 * 4 * native.HIDDEN}
"""FLOPs per row and unit of fan-in: the gates' product forward; the input gradient's and the
weight gradient's backward."""
DIRECTIONS = tuple(PRODUCT_FLOPS)
"""The kinds of a :func:`split`, each with ``other_ns_per_row`` and ``products_gflops``."""


def time_layer(fan_in: int, seconds: float) -> dict[str, float]:
    """Nanoseconds per row of one layer of ``fan_in``: its forward (saving what the backward
    needs) and its backward (every gradient, the input's included)."""
    gen = torch.Generator().manual_seed(fan_in)
    inputs, hidden = fan_in - native.HIDDEN, native.HIDDEN

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    x, h, c = rand(ROWS, inputs), rand(ROWS, hidden), rand(ROWS, hidden)
    weight, bias = rand(fan_in, 4 * hidden) * fan_in**-0.5, rand(4 * hidden)
    _, _, act, tanh_c, _ = native.forward(x, h, c, weight, bias, save=True)
    dh, dc = rand(ROWS, hidden), rand(ROWS, hidden)
    calls = {
        "forward": lambda: native.forward(x, h, c, weight, bias, save=True),
        "backward": lambda: native.backward(x, h, c, weight, act, tanh_c, dh, dc, need_dx=True),
    }
    return {kind: 1e9 * fastest(call, seconds, repeats=5) / ROWS for kind, call in calls.items()}


def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)`` of ``ys`` against ``xs``."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
             / sum((x - mean_x) ** 2 for x in xs))
    return mean_y - slope * mean_x, slope


def split(fan_ins: tuple[int, ...], times: list[dict[str, float]]) -> dict[str, dict]:
    """Per direction: ``other_ns_per_row`` (the line's intercept) and ``products_gflops`` (the
    products' FLOPs per unit of fan-in over the line's slope), with the times it was fitted to."""
    out = {}
    for kind, flops in PRODUCT_FLOPS.items():
        ns = [row[kind] for row in times]
        other, slope = line([float(f) for f in fan_ins], ns)
        out[kind] = {"other_ns_per_row": other, "products_gflops": flops / slope,
                     "ns_per_row": dict(zip(map(str, fan_ins), ns, strict=True))}
    return out


def kernel_parts(threads: int, seconds: float = 0.3) -> dict | None:
    """The kernel's split on ``threads`` threads (:func:`split` over :data:`FAN_INS`, with the
    rows timed), or None where the kernel cannot be built."""
    if native.unavailable() is not None:
        return None
    torch.set_num_threads(threads)
    times = [time_layer(fan_in, seconds) for fan_in in FAN_INS]
    return {"rows": ROWS, **split(FAN_INS, times)}
