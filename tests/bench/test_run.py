"""Every benchmark case runs and reports what the table needs (tiny settings)."""

import pytest

from bench.run import _case, lstm_flops_per_coordinate_step, native_kernel_status


@pytest.mark.parametrize(
    ("experiment", "kind", "extra"),
    [
        ("quadratic", "ours", {}),
        ("quadratic", "ours", {"kernel": "torch"}),
        ("quadratic", "reference", {}),
        ("mnist", "ours", {}),
        ("mnist", "evaluate", {"steps": 3}),
        ("cifar10", "ours", {"profile": "quick"}),
        ("neural_art", "evaluate", {"profile": "quick", "steps": 2}),
    ],
)
def test_each_case_reports_throughput_and_memory(experiment, kind, extra):
    spec = {"device": "cpu", "threads": 1, "unroll": 3, "batch": 1 if experiment != "quadratic"
            else 8, "warmup": 1, "truncations": 6, "experiment": experiment, "kind": kind,
            **extra}
    row = _case(spec)
    assert row["coord_steps_per_s"] > 0 and row["steps_per_s"] > 0
    assert row["peak_rss_mib"] > 100
    if kind != "evaluate":
        assert row["rss_last_mib"] > 0 and row["rss_after_5_mib"] > 0


def test_flop_count_of_the_paper_lstm():
    # forward 2·(2+20)·80 + 2·(20+20)·80 + 2·20 = 9,960 per coordinate-step; backward twice it
    assert lstm_flops_per_coordinate_step(inputs=2) == 3 * 9_960


def test_kernel_status_is_reported():
    assert native_kernel_status() == "built"


def test_profile_times_the_kernel_and_the_rest():
    spec = {"device": "cpu", "threads": 1, "unroll": 2, "batch": 1, "warmup": 1,
            "truncations": 1, "experiment": "mnist", "kind": "ours", "profiler": True}
    table = _case(spec)["profile"]
    for part in ("kernel forward, layer input width 2", "kernel backward, layer input width 20",
                 "everything else"):
        assert part in table
    shares = [float(line.split()[-1].rstrip("%")) for line in table.splitlines()[1:-1]]
    assert abs(sum(shares) - 100) < 0.5


def test_optimizer_step_row_times_the_learned_optimizer_against_adam():
    spec = {"device": "cpu", "threads": 1, "kind": "optimizer-step", "experiment": "mnist",
            "batch": 1, "warmup": 1, "steps": 2, "adam_repeats": 3, "rounds": 2}
    row = _case(spec)
    assert row["steps_per_s"] > 0 and row["adam_steps_per_s"] > 0
    assert row["coord_steps_per_s"] == pytest.approx(15_910 * row["steps_per_s"])
    assert row["vs_adam"] == pytest.approx(row["adam_steps_per_s"] / row["steps_per_s"])
