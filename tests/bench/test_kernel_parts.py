"""The kernel's split into its products and the rest: the line through the times per row."""

import math
import os

import pytest

from bench.kernel_parts import FAN_INS, kernel_parts, line, split
from repro.optimizers import native


def test_the_line_through_exact_points_is_found():
    assert line([1.0, 2.0, 4.0], [5.0, 7.0, 11.0]) == pytest.approx((3.0, 2.0))


def test_the_split_recovers_the_rate_of_the_products_and_the_time_besides():
    # forward: 25 ns per row besides, 160 FLOP per unit of fan-in at 200 GFLOP/s (0.8 ns);
    # backward: 20 ns besides, 320 FLOP per unit at 100 GFLOP/s (3.2 ns)
    times = [{"forward": 25 + 0.8 * f, "backward": 20 + 3.2 * f} for f in FAN_INS]
    parts = split(FAN_INS, times)
    assert parts["forward"]["other_ns_per_row"] == pytest.approx(25.0)
    assert parts["forward"]["products_gflops"] == pytest.approx(200.0)
    assert parts["backward"]["other_ns_per_row"] == pytest.approx(20.0)
    assert parts["backward"]["products_gflops"] == pytest.approx(100.0)
    assert parts["forward"]["ns_per_row"][str(FAN_INS[0])] == times[0]["forward"]


def test_the_kernel_is_split_where_it_builds():
    if native.unavailable() and not os.environ.get("CI"):  # CI has a compiler: fails there
        pytest.skip("no C++ compiler on this machine")
    parts = kernel_parts(1, 0.01)
    for kind in ("forward", "backward"):
        assert math.isfinite(parts[kind]["other_ns_per_row"])
        assert 0 < parts[kind]["products_gflops"] < math.inf
        assert len(parts[kind]["ns_per_row"]) == len(FAN_INS)
