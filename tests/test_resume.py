"""Exact resume: a fit killed (SIGKILL, then SIGTERM) and rerun ends with the same phi."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro.cli import PREEMPTED
from tests.test_config import QUADRATIC

ROOT = Path(__file__).resolve().parents[1]
STEPS = 120
ARGS = [
    "--problem.batch", "128", "--meta.horizon", "20", "--meta.unroll", "5",
    "--meta.steps", str(STEPS), "--meta.val_every", "15", "--meta.val_problems", "4",
    "--meta.checkpoint_every", "4", "--trainer.threads", "1",
    "--trainer.log_every", "5",
]


def fit(runs: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "repro", "fit", "--config", str(QUADRATIC), "--profile",
               "quick", "--runs-dir", str(runs), "--figures-dir", str(runs / "fig"), *ARGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def last_step(runs: Path) -> int:
    last = runs / "quadratic" / "fit" / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return -1
    return torch.load(last, map_location="cpu", weights_only=False)["global_step"]


def interrupt(runs: Path, after: int, sig: signal.Signals) -> subprocess.CompletedProcess:
    process = fit(runs)
    deadline = time.monotonic() + 240
    while last_step(runs) < after:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(sig)
    out, err = process.communicate(timeout=240)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_killed_and_preempted_fit_resumes_to_the_same_optimizer(tmp_path):
    whole = fit(tmp_path / "whole")
    out, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err[-2000:]

    runs = tmp_path / "interrupted"
    killed = interrupt(runs, 8, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert 8 <= last_step(runs) < STEPS
    preempted = interrupt(runs, last_step(runs) + 8, signal.SIGTERM)
    assert "resuming meta-training from" in preempted.stdout
    assert preempted.returncode == PREEMPTED, preempted.stderr[-2000:]
    assert "run the same command again to resume" in preempted.stderr
    stopped = last_step(runs)
    assert stopped < STEPS
    finished = fit(runs)
    out, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err[-2000:]

    for name in ("last.ckpt", "best.ckpt"):
        a = torch.load(tmp_path / "whole/quadratic/fit/checkpoints" / name, weights_only=False)
        b = torch.load(runs / "quadratic/fit/checkpoints" / name, weights_only=False)
        assert a["global_step"] == b["global_step"]
        assert a["state_dict"].keys() == b["state_dict"].keys()
        for key, value in a["state_dict"].items():
            assert torch.equal(value, b["state_dict"][key]), (name, key)
    exported = [torch.load(r / "quadratic/optimizer.ckpt", weights_only=True)
                for r in (tmp_path / "whole", runs)]
    for key, value in exported[0]["state_dict"].items():
        assert torch.equal(value, exported[1]["state_dict"][key]), key
    assert exported[1]["fit"]["resumed_from"].endswith("last.ckpt")
    # the metrics history survives the kill and the preemption: every row of the whole run, and
    # no step's training row twice (a preempted fit logs and validates once more on its way out)
    whole_rows, resumed_rows = (_rows(r / "quadratic/fit/csv/metrics.csv")
                                for r in (tmp_path / "whole", runs))
    assert all(row in resumed_rows for row in whole_rows)
    trained = [row["step"] for row in resumed_rows if row["train/meta_loss"]]
    assert len(trained) == len(set(trained))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))
