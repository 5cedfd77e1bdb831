"""The claims gate on real data: the committed figures pass it, and breaking them turns it red.

Each check runs ``make claims`` itself (its exit code is what CI and a user see) on a copy of
the committed ``paper_figures`` folder, record included. The degradations are sized from the
claim's margin and the committed numbers, so the gate is shown to turn red for the smallest
change that breaks a claim, not for a gross one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro import cli
from repro.report import catalogue
from repro.report.claims import CLAIMS, FAILS, HOLDS, REQUIRED, Claim, check
from repro.report.reference import value_at
from repro.weights import path_of
from tests.report.helpers import REPO, baselines, decay, panel


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


CLEAR = next(c for c in CLAIMS if c.id == "4b-lowest-at-100")


def _breaking_factor(data: dict, claim=CLEAR) -> float:
    """The factor on the LSTM's curve at which ``claim`` stops holding on ``data``: its margin
    over the committed ratio of the LSTM's loss to the best baseline's at the claim's step."""
    step = claim.args["step"]
    lstm = value_at(data["curves"]["LSTM"], step)
    best = min(value_at(data["curves"][n], step) for n in REQUIRED)
    return (1 - claim.margin) * best / lstm


def _scale_lstm(data: dict, factor: float) -> dict:
    """``data`` with the LSTM's mean loss (not its band) multiplied by ``factor``."""
    lstm = data["curves"]["LSTM"]["mean"]
    data["curves"]["LSTM"]["mean"] = [None if m is None else factor * m for m in lstm]
    return data


def _regressed(stdout: str) -> str:
    """The claims the gate names as regressed (``source:claim, ...``), from its summary."""
    lines = [line for line in stdout.splitlines() if "held before and fail now" in line]
    return lines[0].partition(": ")[2].partition(". Fix")[0] if lines else ""


def _degrade(path: Path, factor: float) -> None:
    path.write_text(json.dumps(_scale_lstm(json.loads(path.read_text()), factor)))


@pytest.mark.parametrize("source, folder", [
    ("paper", "data"), ("paper/fashion_mnist", "fashion_mnist/data"),
])
def test_a_small_degradation_fails_the_gate_at_the_claims_margin(figures, source, folder):
    """The LSTM's curve made just worse than the committed data's margin allows (26% on real
    MNIST, 2.4% on Fashion-MNIST at the committed numbers) turns the gate red; just less than
    that keeps it green, so the gate reads the margin and nothing coarser."""
    path = figures / folder / "figure4b.json"
    committed = path.read_text()
    factor = _breaking_factor(json.loads(committed))
    assert factor > 1, f"the committed {source} 4b does not hold"
    _degrade(path, factor * 0.998)
    done = make_claims(figures)
    assert done.returncode == 0, done.stdout[-3000:]
    path.write_text(committed)
    _degrade(path, factor * 1.002)
    done = make_claims(figures)
    assert done.returncode == 1, done.stdout[-3000:]
    assert _regressed(done.stdout) == f"{source}:4b-lowest-at-100", done.stdout[-3000:]


def test_a_five_percent_worse_lstm_in_the_code_fails_the_gate(figures, monkeypatch, capsys):
    """A code change on purpose: the loader hands every claim an LSTM 5% worse than committed
    (as a regression in evaluation would). The gate, run in-process, exits 1 and names the
    claim whose margin that breaks; without the change it passes."""
    load = catalogue.Source.data

    def worse(self, panel):
        data = load(self, panel)
        return _scale_lstm(data, 1.05) if data and "LSTM" in (data.get("curves") or {}) else data

    assert cli.main(["claims", "--figures-dir", str(figures)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(catalogue.Source, "data", worse)
    code = cli.main(["claims", "--figures-dir", str(figures)])
    out = capsys.readouterr().out
    assert code == 1, out[-3000:]
    assert "paper/fashion_mnist:4b-lowest-at-100" in _regressed(out), out[-3000:]


def test_a_win_inside_the_margin_is_not_a_clear_margin():
    """The LSTM 3% below NAG beats it but not by 5%: the claim fails, its detail saying so;
    with a margin of 0 (the check before the margin) it would hold."""
    data = panel("figure4b", {**baselines(), "LSTM": decay(1.0, 0.05)}, "paper", "mnist")
    nag = data["curves"]["NAG"]["mean"][99]
    data["curves"]["LSTM"]["mean"][99] = 0.97 * nag
    outcome = check(CLEAR, data)
    assert outcome.status == FAILS
    assert outcome.detail == f"step 100: LSTM {0.97 * nag:.4g} ≥ 0.95 × NAG {nag:.4g} (ratio 0.970)"
    assert check(dataclasses.replace(CLEAR, margin=0.0, text="no margin"), data).status == HOLDS
    data["curves"]["LSTM"]["mean"][99] = 0.94 * nag
    assert check(CLEAR, data).status == HOLDS


def test_a_claims_words_state_its_margin():
    assert CLEAR.margin == 0.05 and "by more than 5%" in CLEAR.text
    with pytest.raises(ValueError, match="does not state its margin"):
        Claim("x", "figure4", "figure4b", "beats every baseline", "below_all_at", margin=0.1)
    with pytest.raises(ValueError, match="a clear margin needs a margin"):
        Claim("x", "figure4", "figure4b", "beats every baseline by a clear margin",
              "below_all_at")


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
