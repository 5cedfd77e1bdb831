"""Every benchmark case runs and reports what the table needs (tiny settings), its rates and
shares checked against a fake clock that only the timed work advances."""

import pytest
import torch

import bench.reference
import repro.meta.unroll
from bench import run
from bench.run import _case, lstm_flops_per_coordinate_step, native_kernel_status
from repro.optim import LearnedOptimizer
from repro.optimizers import native

MLP_COORDINATES = 784 * 20 + 20 + 20 * 10 + 10
COORDINATES = {"quadratic": 8 * 10, "mnist": MLP_COORDINATES}  # at the batch sizes below
TICK = 0.25
"""Fake seconds that each truncation (ours or the reference's) and each rollout takes."""


class Clock:
    """Stands in for bench.run's ``time``: it moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def ticking(self, fn, seconds):
        """``fn``, advancing the clock by ``seconds()`` at every call."""

        def timed(*args, **kwargs):
            out = fn(*args, **kwargs)
            self.now += seconds()
            return out

        return timed


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(run, "time", clock)
    return clock


def _peak_rss_mib() -> float:
    """This process's peak resident size as /proc reports it (kB), in MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _assert_peak_is_this_process(row) -> None:
    assert row["peak_rss_mib"] == pytest.approx(_peak_rss_mib(), rel=0.05)


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
def test_each_case_reports_throughput_and_memory(experiment, kind, extra, clock, monkeypatch):
    # every truncation calls unroll or reference_truncation once; every rollout calls unroll
    for module, name in ((repro.meta.unroll, "unroll"), (bench.reference, "reference_truncation")):
        monkeypatch.setattr(module, name, clock.ticking(getattr(module, name), lambda: TICK))
    spec = {"device": "cpu", "threads": 1, "unroll": 3, "batch": 1 if experiment != "quadratic"
            else 8, "warmup": 1, "truncations": 6, "experiment": experiment, "kind": kind,
            **extra}
    row = _case(spec)
    steps_per_s = (spec["steps"] if kind == "evaluate" else spec["unroll"]) / TICK
    assert row["steps_per_s"] == pytest.approx(steps_per_s)
    if experiment in COORDINATES:
        assert row["coord_steps_per_s"] == pytest.approx(COORDINATES[experiment] * steps_per_s)
    _assert_peak_is_this_process(row)
    if kind != "evaluate":
        assert row["seconds_per_truncation"] == pytest.approx(TICK)
        for key in ("rss_after_5_mib", "rss_last_mib"):  # the kernel counts both lazily: 1%
            assert 0 < row[key] <= 1.01 * row["peak_rss_mib"]


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


def test_profile_splits_the_time_as_the_clock_ran(clock, monkeypatch):
    monkeypatch.setattr(native, "forward", clock.ticking(lambda x: None, lambda: 0.002))
    monkeypatch.setattr(native, "backward", clock.ticking(lambda x: None, lambda: 0.003))
    narrow, wide = torch.zeros(1, 2), torch.zeros(1, 20)

    def one():  # a truncation of 12 ms: 2 + 2 in forward, 3 in backward, 5 elsewhere
        native.forward(narrow)
        native.forward(wide)
        native.backward(wide)
        clock.now += 0.005

    table = run._profile(one, truncations=2, steps=4)  # 24 ms over 8 steps
    rows = {line[:48].strip(): line[48:].split() for line in table.splitlines()[1:]}
    assert rows == {
        "kernel backward, layer input width 20": ["0.75", "25.0%"],
        "kernel forward, layer input width 2": ["0.50", "16.7%"],
        "kernel forward, layer input width 20": ["0.50", "16.7%"],
        "everything else (optimizee, unroll, ADAM on phi)": ["1.25", "41.7%"],
        "total": ["3.00", "100.0%"],
    }


def test_optimizer_step_row_times_the_learned_optimizer_against_adam(clock, monkeypatch):
    # after a warmup step each, three rounds, the second the fastest: each keeps its fastest
    learned = iter([1.0, 0.004, 0.004, 0.002, 0.002, 0.003, 0.003])
    adam = iter([1.0] + [0.001] * 6 + [0.0005] * 6 + [0.002] * 6)
    monkeypatch.setattr(LearnedOptimizer, "step",
                        clock.ticking(LearnedOptimizer.step, lambda: next(learned)))
    monkeypatch.setattr(torch.optim.Adam, "step",
                        clock.ticking(torch.optim.Adam.step, lambda: next(adam)))
    spec = {"device": "cpu", "threads": 1, "kind": "optimizer-step", "experiment": "mnist",
            "batch": 1, "warmup": 1, "steps": 2, "adam_repeats": 3, "rounds": 3}
    row = _case(spec)
    assert next(learned, None) is None and next(adam, None) is None  # every step was taken
    assert row["steps_per_s"] == pytest.approx(500)
    assert row["coord_steps_per_s"] == pytest.approx(MLP_COORDINATES * 500)
    assert row["adam_steps_per_s"] == pytest.approx(2000)
    assert row["vs_adam"] == pytest.approx(4)
    _assert_peak_is_this_process(row)
