"""Every hand-off between the commands, through the command line on tiny quadratic runs.

fit → the exported phi is the one validation selected; tune → evaluate uses exactly the tuned
rates, and refuses a missing or incomplete record; fit stops with the exit code a scheduler
reads (143 preempted, 1 diverged) and leaves what a rerun resumes from; fit runs under DDP
through the command itself. Each test names, in its docstring, the breakage that turns it red.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro.cli import DIVERGED, PREEMPTED, main
from repro.optimizers.hand import BASELINES
from repro.optimizers.phi_file import PhiFile

ROOT = Path(__file__).resolve().parents[1]
QUADRATIC = str(ROOT / "experiments" / "quadratic.yaml")
TINY = ["--profile", "quick", "--problem.batch", "2", "--meta.horizon", "10", "--meta.unroll",
        "5", "--optimizer.hidden", "4", "--meta.val_problems", "4", "--trainer.threads", "1"]
# Seed 0 at meta.lr 0.1 validates at 0.686 after 2 truncations, then never as low again (2.12,
# 0.79, 0.80): the best phi is not the last.
BEST_NOT_LAST = ["--meta.steps", "8", "--meta.val_every", "2", "--meta.lr", "0.1"]
TUNE = ["--tune.problems", "2", "--tune.grid", "[0.3, 0.1, 0.03, 0.01]"]


def _out(folder: Path) -> list[str]:
    return ["--runs-dir", str(folder / "runs"), "--figures-dir", str(folder / "figures")]


def _fit(folder: Path, *extra: str) -> list[str]:
    return ["fit", "--config", QUADRATIC, *_out(folder), *TINY, *extra]


def _evaluate(folder: Path, checkpoint: Path) -> list[str]:
    return ["evaluate", "--config", QUADRATIC, *_out(folder), *TINY, "--evaluate.problems", "4",
            "--checkpoint", str(checkpoint)]


def _checkpoints(folder: Path) -> Path:
    return folder / "runs" / "quadratic" / "fit" / "checkpoints"


def _phi(path: Path) -> dict[str, torch.Tensor]:
    """The optimizer network's weights in a fit's Lightning checkpoint, by their exported names."""
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k.removeprefix("optimizer_net."): v for k, v in state.items()
            if k.startswith("optimizer_net.")}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A tiny fit whose best validation (truncation 2) is not its last (truncation 8)."""
    folder = tmp_path_factory.mktemp("fitted")
    assert main(_fit(folder, *BEST_NOT_LAST)) == 0
    return folder


def test_the_exported_phi_is_the_validation_best_not_the_last(fitted):
    """Red if export writes the phi of the last truncation (e.g. the best checkpoint is not
    loaded back before export) or records another truncation than the one it selected."""
    best, last = (_checkpoints(fitted) / f"{n}.ckpt" for n in ("best", "last"))
    assert torch.load(best, weights_only=False)["global_step"] == 2
    assert torch.load(last, weights_only=False)["global_step"] == 8
    exported = PhiFile.read(fitted / "runs" / "quadratic" / "optimizer.ckpt")
    assert exported.selection["truncation"] == 2 and exported.fit["meta_steps"] == 8
    assert exported.selection["criterion"] == "best of validation at step 2"
    phi, best_phi, last_phi = exported.phi, _phi(best), _phi(last)
    assert phi.keys() == best_phi.keys() == last_phi.keys()
    assert all(torch.equal(phi[k], best_phi[k]) for k in phi)
    assert not all(torch.equal(phi[k], last_phi[k]) for k in phi)


def _curves(folder: Path) -> dict:
    return json.loads((folder / "figures" / "data" / "figure4a.json").read_text())["curves"]


def test_evaluate_uses_exactly_the_tuned_rates(fitted, tmp_path):
    """Red if evaluate runs a baseline at any rate but its tuned one (a default, another
    baseline's or record's, a rate of the grid) or records one rate and runs another. The
    control tampers with the record, a distinct rate each: the curves follow it, and SGD at lr 0
    comes out flat, so the rate recorded is the rate run."""
    assert main(["tune", "--config", QUADRATIC, *_out(tmp_path), *TINY, *TUNE]) == 0
    tuned_file = tmp_path / "figures" / "data" / "tuned_lr_quadratic.json"
    tuned = json.loads(tuned_file.read_text())
    checkpoint = fitted / "runs" / "quadratic" / "optimizer.ckpt"
    assert main(_evaluate(tmp_path, checkpoint)) == 0
    curves = _curves(tmp_path)
    assert {n: curves[n]["lr"] for n in BASELINES} == {
        n: tuned["optimizers"][n]["lr"] for n in BASELINES
    }
    tampered_rates = {"ADAM": 0.05, "RMSprop": 0.02, "SGD": 0.0, "NAG": 0.07}
    for name, lr in tampered_rates.items():
        assert tuned["optimizers"][name]["lr"] != lr
        tuned["optimizers"][name]["lr"] = lr
    tuned_file.write_text(json.dumps(tuned))
    assert main(_evaluate(tmp_path, checkpoint)) == 0
    tampered = _curves(tmp_path)
    assert {n: tampered[n]["lr"] for n in BASELINES} == tampered_rates
    assert len(set(tampered["SGD"]["mean"])) == 1  # at lr 0 the loss never moves
    for name in BASELINES:
        assert tampered[name]["mean"] != curves[name]["mean"], name
    assert tampered["LSTM"]["mean"] == curves["LSTM"]["mean"]  # the same problems


def test_a_missing_or_incomplete_tuned_record_is_one_line_and_exit_2(fitted, tmp_path, capsys):
    """Red if evaluate runs without a tuned rate for a baseline (a default rate, or a panel
    without it), crashes on it (exit 70), or writes curves before refusing."""
    checkpoint = fitted / "runs" / "quadratic" / "optimizer.ckpt"
    tuned = tmp_path / "figures" / "data" / "tuned_lr_quadratic.json"
    assert main(_evaluate(tmp_path, checkpoint)) == 2
    assert capsys.readouterr().err == (
        f"error: {tuned} does not exist; run 'python -m repro tune' first\n"
    )
    tuned.parent.mkdir(parents=True)
    tuned.write_text(json.dumps(
        {"optimizers": {n: {"lr": 0.1} for n in BASELINES if n != "NAG"}}
    ))
    assert main(_evaluate(tmp_path, checkpoint)) == 2
    assert capsys.readouterr().err == (f"error: {tuned} has no learning rate for NAG; run "
                                       "'python -m repro tune' again\n")
    assert sorted(p.name for p in tuned.parent.iterdir()) == [tuned.name]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("record", [
    {"optimizers": {n: {} if n == "NAG" else {"lr": 0.1} for n in BASELINES}},
    {"experiment": "quadratic"},
], ids=["a baseline without its lr", "no optimizers at all"])
def test_a_malformed_tuned_record_is_one_line_and_exit_2(fitted, tmp_path, capsys, record):
    """Red if a tuned record of the wrong shape crashes evaluate (exit 70)."""
    tuned = tmp_path / "figures" / "data" / "tuned_lr_quadratic.json"
    tuned.parent.mkdir(parents=True)
    tuned.write_text(json.dumps(record))
    code = main(_evaluate(tmp_path, fitted / "runs" / "quadratic" / "optimizer.ckpt"))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {tuned} ") and err.count("\n") == 1, err


def test_sigterm_during_validation_stops_with_143_and_a_rerun_resumes(
        tmp_path, capsys, monkeypatch):
    """SIGTERM while validating (after the checkpoint of truncation 4 was written): the fit
    keeps that checkpoint, stops with 143 and one line, and the same command resumes from it.
    Red if that SIGTERM ends the fit with another code (0: a scheduler would not requeue it),
    loses the checkpoint, or the rerun starts over."""
    from repro.meta import learner

    validate = learner.MetaLearner.validation_step

    def terminated(self, *args):
        if self.global_step == 4:
            # Lightning's handler must be in place, or this would end the test process
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
            os.kill(os.getpid(), signal.SIGTERM)
        return validate(self, *args)

    monkeypatch.setattr(learner.MetaLearner, "validation_step", terminated)
    args = _fit(tmp_path, "--meta.steps", "8", "--meta.val_every", "2",
                "--meta.checkpoint_every", "2")
    try:
        code = main(args)
    except SystemExit as stop:  # the command must never exit by itself
        code = f"SystemExit({stop.code})"
    err = capsys.readouterr().err
    last = _checkpoints(tmp_path) / "last.ckpt"
    assert last.is_file() and torch.load(last, weights_only=False)["global_step"] == 4
    assert not (tmp_path / "runs" / "quadratic" / "optimizer.ckpt").exists()
    assert code == PREEMPTED, (code, err)
    assert err.startswith("stopped: preempted during truncation 4") and err.count("\n") == 1, err
    assert "run the same command again to resume" in err
    monkeypatch.undo()
    assert main(args) == 0
    assert f"resuming meta-training from {last}" in capsys.readouterr().out
    exported = PhiFile.read(tmp_path / "runs" / "quadratic" / "optimizer.ckpt").fit
    assert exported["resumed_from"] == last.name and exported["meta_steps"] == 8  # never absolute


def test_a_fit_whose_meta_training_diverges_exits_1_leaving_nothing(
        tmp_path, capsys, monkeypatch):
    """Every truncation non-finite with meta.max_skips 1: the second in a row stops the fit.
    Red if it exits with another code (70: taken for a bug), says more than one line, or leaves
    a run folder or an optimizer behind."""
    from repro.meta import learner

    meta_loss = learner.meta_loss
    monkeypatch.setattr(learner, "meta_loss", lambda losses: meta_loss(losses) * float("nan"))
    code = main(_fit(tmp_path, "--meta.steps", "6", "--meta.max_skips", "1",
                     "--meta.checkpoint_every", "1"))
    err = capsys.readouterr().err
    assert code == DIVERGED == 1, err
    assert err == (
        "error: meta-training diverged: 2 truncations in a row had a non-finite meta-loss or "
        "meta-gradient (meta.max_skips is 1); lower meta.lr or set meta.clip_grad_norm\n"
    )
    assert not (tmp_path / "runs" / "quadratic").exists()


def test_fit_under_ddp_through_the_command(tmp_path):
    """``python -m repro fit`` with two CPU processes (gloo): exit 0, one exported optimizer
    trained by both. Red if the command cannot launch its ranks (Lightning relaunches the
    command line for rank 1), the ranks deadlock or clash on the run folder (each taking its
    lock), a rank fails, or the export does not record the two ranks."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "WANDB_MODE": "offline"}
    done = subprocess.run(
        [sys.executable, "-m", "repro", *_fit(tmp_path, "--meta.steps", "4", "--meta.val_every",
                                               "2", "--trainer.strategy", "ddp",
                                               "--trainer.devices", "2",
                                               "--trainer.accelerator", "cpu")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    exported = sorted((tmp_path / "runs").rglob("*.ckpt"))
    run = tmp_path / "runs" / "quadratic"
    assert exported == [run / "fit/checkpoints/best.ckpt", run / "fit/checkpoints/last.ckpt",
                        run / "optimizer.ckpt"]
    record = PhiFile.read(run / "optimizer.ckpt").fit
    assert record["world_size"] == 2 and record["meta_steps"] == 4
