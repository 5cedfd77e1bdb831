"""Every kind of benchmark case reports what the table needs (tiny settings); its rates, its
split of a step and the optimizer-step ratio checked against a fake clock that only the timed
work advances."""

import os
import subprocess
from pathlib import Path

import pytest
import torch

import bench.reference
import repro.meta.unroll
import repro.optimizers.lstm
from bench import timing
from bench.cases import Case
from repro.optim import LearnedOptimizer
from repro.optimizees.mlp import MLPProblems
from repro.optimizers import native

CPU = torch.device("cpu")
MLP_COORDINATES = 784 * 20 + 20 + 20 * 10 + 10
COORDINATES = {"quadratic": 8 * 10, "mnist": MLP_COORDINATES}  # at the batch sizes below
TICK = 0.25
"""Fake seconds that each truncation (ours or the reference's) and each rollout takes."""


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def ticking(self, fn, seconds):
        """``fn``, advancing the clock by ``seconds()`` at every call."""

        def timed(*args, **kwargs):
            out = fn(*args, **kwargs)
            self.now += seconds()
            return out

        return timed


def _peak_rss_mib() -> float:
    """This process's peak resident size as /proc reports it (kB), in MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _case(experiment: str, kind: str, **extra) -> Case:
    return Case("test", kind, experiment, batch=1 if experiment != "quadratic" else 8,
                unroll=3, warmup=1, truncations=6, **extra)


@pytest.mark.parametrize(
    ("experiment", "kind", "extra"),
    [
        ("quadratic", "meta-train", {}),
        ("quadratic", "meta-train", {"layer": "torch"}),
        ("quadratic", "meta-train", {"layer": "plain"}),
        ("quadratic", "reference", {}),
        ("mnist", "meta-train", {}),
        ("mnist", "reference", {}),
        ("mnist", "evaluate", {"steps": 3}),
        ("cifar10", "meta-train", {"profile": "quick"}),
        ("neural_art", "evaluate", {"profile": "quick", "steps": 2}),
    ],
)
def test_each_kind_reports_throughput_and_memory(experiment, kind, extra, monkeypatch):
    clock = Clock()
    # every truncation calls unroll or a reference truncation once; every rollout calls unroll
    for module, name in ((repro.meta.unroll, "unroll"), (bench.reference, "reference_truncation")):
        monkeypatch.setattr(module, name, clock.ticking(getattr(module, name), lambda: TICK))
    case = _case(experiment, kind, **extra)
    row = timing.TIMERS[kind](case, CPU, clock)
    steps_per_s = (case.steps if kind == "evaluate" else case.unroll) / TICK
    assert row["steps_per_s"] == pytest.approx(steps_per_s)
    if experiment in COORDINATES:
        assert row["coord_steps_per_s"] == pytest.approx(COORDINATES[experiment] * steps_per_s)
    assert row["peak_rss_mib"] == pytest.approx(_peak_rss_mib(), rel=0.05)
    if kind != "evaluate":
        assert row["seconds_per_truncation"] == pytest.approx(TICK)
        for key in ("rss_after_5_mib", "rss_last_mib"):  # the kernel counts both lazily: 1%
            assert 0 < row[key] <= 1.01 * row["peak_rss_mib"]


class TickingKernel:
    """The kernel library, each forward call advancing the clock 2 ms and each backward 3."""

    def __init__(self, library, clock: Clock) -> None:
        self.library = library
        self.lstm_forward = clock.ticking(library.lstm_forward, lambda: 0.002)
        self.lstm_backward = clock.ticking(library.lstm_backward, lambda: 0.003)

    def __getattr__(self, name):
        return getattr(self.library, name)


def test_the_split_of_a_step_is_what_each_part_spent(monkeypatch):
    clock = Clock()
    library = native._library()
    monkeypatch.setattr(native, "_library", lambda: TickingKernel(library, clock))
    monkeypatch.setattr(MLPProblems, "loss_and_grad",
                        clock.ticking(MLPProblems.loss_and_grad, lambda: 0.001))
    monkeypatch.setattr(torch.optim.Adam, "step",
                        clock.ticking(torch.optim.Adam.step, lambda: 0.0005))
    preprocess = repro.optimizers.lstm.preprocess
    monkeypatch.setattr(repro.optimizers.lstm, "preprocess",
                        clock.ticking(preprocess, lambda: 0.00025))
    case = Case("test", "meta-train", "mnist", unroll=2, warmup=1, truncations=2)
    split = timing.meta_train(case, CPU, clock)["split_ms_per_step"]
    # per step: each of the two layers forward once and backward once, the optimizee's loss
    # and gradient once; ADAM once per truncation of 2 steps; preprocessing elsewhere
    assert split == pytest.approx({
        "kernel backward, layer input width 2": 3.0,
        "kernel backward, layer input width 20": 3.0,
        "kernel forward, layer input width 2": 2.0,
        "kernel forward, layer input width 20": 2.0,
        "optimizee loss and gradient (forward, minibatch)": 1.0,
        "ADAM on phi": 0.25,
        "everything else (LSTM glue, autograd, unroll)": 0.25,
    })


def test_optimizer_step_times_the_learned_optimizer_against_adam(monkeypatch):
    clock = Clock()
    # after a warmup step each, three rounds, the second the fastest: each keeps its fastest
    learned = iter([1.0, 0.004, 0.004, 0.002, 0.002, 0.003, 0.003])
    adam = iter([1.0] + [0.001] * 6 + [0.0005] * 6 + [0.002] * 6)
    monkeypatch.setattr(LearnedOptimizer, "step",
                        clock.ticking(LearnedOptimizer.step, lambda: next(learned)))
    monkeypatch.setattr(torch.optim.Adam, "step",
                        clock.ticking(torch.optim.Adam.step, lambda: next(adam)))
    case = Case("test", "optimizer-step", "mnist", warmup=1, steps=2, adam_repeats=3, rounds=3)
    row = timing.optimizer_step(case, CPU, clock)
    assert next(learned, None) is None and next(adam, None) is None  # every step was taken
    assert row["seconds_per_step"] == pytest.approx(0.002)
    assert row["adam_seconds_per_step"] == pytest.approx(0.0005)
    assert row["steps_per_s"] == pytest.approx(500)
    assert row["coord_steps_per_s"] == pytest.approx(MLP_COORDINATES * 500)
    assert row["peak_rss_mib"] == pytest.approx(_peak_rss_mib(), rel=0.05)


def test_optimizer_step_reports_the_kernels_share_of_the_learned_step():
    if native.unavailable() and not os.environ.get("CI"):  # CI has a compiler: fails there
        pytest.skip("no C++ compiler on this machine")
    case = Case("test", "optimizer-step", "mnist", warmup=1, steps=2, adam_repeats=1, rounds=2)
    row = timing.optimizer_step(case, CPU)
    assert 0 < row["kernel_seconds_per_step"] < row["seconds_per_step"]


OLD_BENCH = '''
import json, os, pathlib

def _case(spec):
    cxx = os.environ.get("CXX")
    return {"spec": spec, "cwd": os.getcwd(), "cache": os.environ["REPRO_KERNEL_CACHE"],
            "cxx": pathlib.Path(cxx).read_text() if cxx else None}
'''


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("isa", ["native", "avx2"])
def test_the_baseline_runs_its_commits_own_benchmark_in_a_worktree(tmp_path, isa):
    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    (repo / "bench" / "__init__.py").write_text("")
    (repo / "bench" / "run.py").write_text(OLD_BENCH)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "old")
    (repo / "bench" / "run.py").write_text("raise SystemExit('the new code ran')")
    sha = _git(repo, "rev-parse", "HEAD")
    case = Case("test", "baseline", "mnist", unroll=3, warmup=1, truncations=6, commit=sha,
                isa=isa)
    row = timing.baseline(case, CPU, threads=2, root=repo)
    assert row["spec"] == {"device": "cpu", "threads": 2, "unroll": 3, "batch": 1, "warmup": 1,
                           "truncations": 6, "experiment": "mnist", "kind": "ours"}
    assert row["commit"] == sha and row["cwd"] != str(repo)
    assert not Path(row["cache"]).exists()  # a kernel cache of its own, removed after
    assert (row["cxx"] is not None and row["cxx"].rstrip().endswith('"$@" -mno-avx512f')) == (
        isa == "avx2")
    assert _git(repo, "worktree", "list").count("\n") == 0  # the worktree is gone
