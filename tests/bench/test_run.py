"""The benchmark's report: the FLOP count behind the machine limit, the kernel's build, the
declared ratios computed from the rows, and the table."""

import math
import os
import subprocess

import pytest
import torch

from bench.cases import Case, Ratio
from bench.fma_peak import fma8_flops_per_second
from bench.run import (
    ceiling,
    floor,
    kernel_build,
    kernel_flops_per_second,
    lstm_flops_per_coordinate_step,
    matmul_flops_per_second,
    ratios,
    run_cases,
    step_floor,
    table,
)
from bench.timing import TimedProblem
from repro.optimizers import native


def test_flop_count_of_the_paper_lstm():
    # forward 2·(2+20)·80 + 2·(20+20)·80 + 2·20 = 9,960 per coordinate-step; backward twice it
    assert lstm_flops_per_coordinate_step(inputs=2) == 3 * 9_960


def test_the_kernel_build_is_reported_with_its_registers():
    if native.unavailable() and not os.environ.get("CI"):  # CI has a compiler: fails there
        pytest.skip("no C++ compiler on this machine")
    build = kernel_build()
    assert build["status"] == "built" and build["registers"] in (16, 32)


ROWS = {"a": {"coord_steps_per_s": 6.0, "steps_per_s": 4.0}, "b": {"coord_steps_per_s": 2.0}}


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    ("a", "b", 3.0),                  # cases: their coordinate-steps per second
    ("a:steps_per_s", "b", 2.0),      # a field of a case
    ("a", "limit:mnist", 0.5),        # the machine's limit
    ("ceiling:mnist", "a", 1.5),      # the most a kernel can reach
    ("100", "a:steps_per_s", 25.0),   # a number
])
def test_each_form_of_a_ratio(numerator, denominator, expected):
    bounds = {"limit:mnist": 12.0, "ceiling:mnist": 9.0}
    found = ratios((Ratio("r", numerator, denominator),), ROWS, bounds)
    assert found == {"r": pytest.approx(expected)}


def test_a_ratio_whose_case_did_not_run_is_left_out():
    declared = (Ratio("kept", "a", "b"), Ratio("missing", "a", "c"),
                Ratio("no field", "a:seconds", "b"), Ratio("no ceiling", "ceiling:mnist", "a"))
    assert ratios(declared, ROWS, {}) == {"kept": pytest.approx(3.0)}


def test_a_limit_not_measured_is_an_error_not_a_missing_ratio():
    with pytest.raises(KeyError):
        ratios((Ratio("typo", "a", "limit:mnsit"),), ROWS, {"limit:mnist": 12.0})


def test_the_ceiling_adds_the_optimizees_time_to_the_lstm_at_the_limit():
    # 10,000 coordinates: 5 ms per step at a limit of 2e6, plus the optimizee's 2 ms
    row = {"steps_per_s": 100.0, "coord_steps_per_s": 1e6,
           "split_ms_per_step": {TimedProblem.key: 2.0, "ADAM on phi": 9.0}}
    assert ceiling(row, 2e6) == pytest.approx(1e4 / 7e-3)
    assert ceiling({**row, "split_ms_per_step": {}}, 2e6) is None


def test_the_floor_adds_the_kernels_other_work_and_the_optimizee_to_products_at_the_peak():
    # 10,000 coordinates; per coordinate-step: 1,000 FLOP at 1e12 (1 ns), 2 layers x (3 + 2) ns
    # besides, the optimizee's 1 ms per step (100 ns): 111 ns
    row = {"steps_per_s": 100.0, "coord_steps_per_s": 1e6,
           "split_ms_per_step": {TimedProblem.key: 1.0}}
    parts = {"forward": {"other_ns_per_row": 3.0}, "backward": {"other_ns_per_row": 2.0}}
    assert floor(row, parts, 1e12, 1000) == pytest.approx(1 / 111e-9)
    assert floor(row, None, 1e12, 1000) is None and floor(row, parts, None, 1000) is None
    # the drop-in step: 10,000 coordinates x (1 ns of products + 2 layers x 3 ns) = 70 us
    step = {"coord_steps_per_s": 1e7, "seconds_per_step": 1e-3}
    assert step_floor(step, parts, 1e12, 1000) == pytest.approx(70e-6)
    assert step_floor({}, parts, 1e12, 1000) is None


def test_the_kernels_rate_is_its_flops_over_its_share_of_the_split():
    # 10,000 coordinates at 100 steps/s, the kernel's calls 4 of the step's ms: 1e6 FLOP in 4 ms
    row = {"steps_per_s": 100.0, "coord_steps_per_s": 1e6,
           "split_ms_per_step": {"kernel forward, layer input width 2": 1.0,
                                 "kernel backward, layer input width 2": 3.0, "ADAM on phi": 5.0}}
    assert kernel_flops_per_second(row, 100) == pytest.approx(1e6 / 4e-3)
    assert kernel_flops_per_second({**row, "split_ms_per_step": {}}, 100) is None


def test_each_case_keeps_its_fastest_pass_and_a_failed_pass_is_left_out():
    first, second = (Case(name, "meta-train", "mnist") for name in ("a", "b"))
    rates = iter([1.0, 5.0, 3.0, None])  # a: 1 then 3; b: 5, then its second pass fails

    def run(case):
        rate = next(rates)
        if rate is None:
            raise subprocess.CalledProcessError(1, "baseline", stderr=b"no such commit")
        return {"steps_per_s": rate, "pass_rate": rate}

    rows = run_cases([first, second], 2, run)
    assert rows == {"a": {"steps_per_s": 3.0, "pass_rate": 3.0, "batch": 1},
                    "b": {"steps_per_s": 5.0, "pass_rate": 5.0, "batch": 1}}


def test_the_matmul_limit_is_the_fastest_round(monkeypatch):
    # rounds of 1 s, then one of 0.5 s: the limit is the half-second round's rate, not the mean
    ticks = iter([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.5, 10.0])
    monkeypatch.setattr("bench.run.time.perf_counter", lambda: next(ticks))
    flops = 20 * 2 * 64 * 40 * 80
    assert matmul_flops_per_second(torch.device("cpu"), rows=64, seconds=5.0) == 2 * flops


def test_the_fma_peak_is_measured_where_the_kernel_builds():
    if native.unavailable() and not os.environ.get("CI"):  # CI has a compiler: fails there
        pytest.skip("no C++ compiler on this machine")
    peak = fma8_flops_per_second(1, 0.05)
    assert peak is not None and math.isfinite(peak) and peak > 0


def test_the_table_shows_every_row_the_split_the_host_and_the_ratios():
    summary = {
        "cases": {"mnist/meta-train/ours": {
            "steps_per_s": 150.0, "coord_steps_per_s": 2.4e6, "peak_rss_mib": 1077.0,
            "split_ms_per_step": {"kernel forward, layer input width 2": 1.5, "ADAM on phi": 0.5},
        }},
        "host": {"cpu": "AMD EPYC", "vector_extensions": ["avx2", "fma"], "threads": 2,
                 "kernel": {"status": "built", "registers": 16}},
        "limit_coord_steps_per_s": {"mnist": 6e6}, "matmul_gflops": 180.0,
        "lstm_flops_per_coordinate_step": {"mnist": 29880},
        "ratios": {"mnist_fraction_of_limit": 0.4},
        "kernel_parts": {"rows": 4096, "forward": {"products_gflops": 210.4,
                                                   "other_ns_per_row": 25.66}},
    }
    lines = table(summary).splitlines()
    assert "kernel forward, 4096 cache-resident rows: products at 210 GFLOP/s, 25.7 ns" in (
        "\n".join(lines))
    assert any(line.startswith("mnist/meta-train/ours") and "2.400e+06" in line for line in lines)
    assert any("kernel forward, layer input width 2" in line and "75.0%" in line for line in lines)
    assert "AMD EPYC (avx2, fma), 2 threads; kernel built, 16 vector registers" in lines
    assert "mnist_fraction_of_limit: 0.4" in lines
