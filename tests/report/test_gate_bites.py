"""The claims gate on real data: the committed figures pass it, and breaking them turns it red.

Each check runs ``make claims`` itself (its exit code is what CI and a user see) on a copy of
the committed ``paper_figures`` folder, record included.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.weights import path_of
from tests.report.helpers import REPO


def make_claims(root: Path) -> subprocess.CompletedProcess:
    """``make claims`` over the figures folder ``root`` (this interpreter, no set-up step), its
    ``returncode`` the gate's own exit code (make itself exits 2 when a recipe fails)."""
    done = subprocess.run(
        ["make", "-s", "claims", "STAMP=", f"PY={sys.executable}", f"ARGS=--figures-dir {root}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    if done.returncode and "claims] Error 1" in done.stderr:
        done.returncode = 1
    return done


@pytest.fixture
def figures(tmp_path) -> Path:
    """A copy of the committed figures folder and its claims record."""
    root = tmp_path / "paper_figures"
    shutil.copytree(REPO / "paper_figures", root)
    return root


def test_the_committed_figures_pass_the_gate(figures):
    done = make_claims(figures)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("panel", ["fashion_mnist/data/figure4b.json", "data/figure4a.json"])
def test_deleting_a_committed_json_fails_the_gate(figures, panel):
    (figures / panel).unlink()
    done = make_claims(figures)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "is gone" in done.stdout and "lost their data" in done.stdout


def _degrade(path: Path) -> None:
    data = json.loads(path.read_text())
    lstm = data["curves"]["LSTM"]["mean"]
    data["curves"]["LSTM"]["mean"] = [None if m is None else 1.5 * m for m in lstm]
    path.write_text(json.dumps(data))


def test_degrading_a_committed_json_fails_the_gate(figures):
    _degrade(figures / "fashion_mnist" / "data" / "figure4b.json")
    done = make_claims(figures)
    assert done.returncode == 1 and "paper/fashion_mnist:4b-lowest-at-100" in done.stdout


def _evaluate_quick_quadratic(figures: Path, runs: Path, checkpoint: Path) -> None:
    """The quick profile's Figure 4a data from ``checkpoint`` against the committed tuning."""
    subprocess.run(
        [sys.executable, "-m", "repro", "evaluate", "--config", "experiments/quadratic.yaml",
         "--profile", "quick", "--figures-dir", str(figures / "quick"), "--runs-dir", str(runs),
         "--checkpoint", str(checkpoint)],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )


@pytest.mark.slow
def test_a_quick_run_broken_on_purpose_fails_the_gate(figures, tmp_path):
    """The shipped quadratic phi passes; with its output head zeroed (updates of 0) it fails."""
    shipped = path_of("quadratic")
    _evaluate_quick_quadratic(figures, tmp_path / "runs", shipped)
    done = make_claims(figures)
    assert done.returncode == 0, done.stdout[-3000:]
    payload = torch.load(shipped, weights_only=True)
    for name in ("head_weight", "head_bias"):
        payload["state_dict"][name] = torch.zeros_like(payload["state_dict"][name])
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    _evaluate_quick_quadratic(figures, tmp_path / "runs-broken", broken)
    done = make_claims(figures)
    assert done.returncode == 1
    assert "quick:4a-lowest-at-100" in done.stdout and "REGRESSED" in done.stdout
