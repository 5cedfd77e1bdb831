"""The command line as a user meets it: one-line errors, exit code 2, nothing half-written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from repro.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUADRATIC = ROOT / "experiments" / "quadratic.yaml"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "repro", *args], cwd=cwd, env=env, capture_output=True, text=True,
        check=False,
        timeout=120,
    )


def test_unknown_key_in_a_subprocess_gives_one_line_and_exit_code_2(tmp_path):
    result = _run("fit", "--config", str(QUADRATIC), "--meta.lrr", "0.1",
                  "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown key 'meta.lrr'; allowed under meta: horizon, unroll, steps, lr, "
        "second_order, val_every, val_problems, checkpoint_every, max_skips, clip_grad_norm, "
        "lr_schedule, warmup, seed"
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--meta.unroll", "40", "--meta.horizon", "20"], "meta.unroll (40) is longer than"),
        (["--meta.unroll", "30"], "meta.horizon (100) is not a multiple of meta.unroll (30)"),
        (["--problem.batch", "0"], "problem.batch: must be positive"),
        (["--profile", "fast"], "profile 'fast' is not allowed"),
        (["--meta.lr"], "override --meta.lr needs a value"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_bad_input_errors(args, message, tmp_path, capsys):
    code = main(["fit", "--config", str(QUADRATIC), "--runs-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_missing_checkpoint_and_missing_config(tmp_path, capsys):
    code = main(["evaluate", "--config", str(QUADRATIC), "--runs-dir", str(tmp_path / "r"),
                 "--figures-dir", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert code == 2 and "optimizer.ckpt does not exist; run 'python -m repro fit' first" in err
    assert not (tmp_path / "f").exists()
    assert main(["tune"]) == 2
    assert "'tune' needs --config" in capsys.readouterr().err
    assert main(["fit", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml does not exist" in capsys.readouterr().err


def test_figure_without_data_and_unwritable_output(tmp_path, capsys):
    assert main(["figure", "figure4a", "--figures-dir", str(tmp_path)]) == 2
    assert "figure4a.json does not exist; run 'python -m repro evaluate'" in capsys.readouterr().err
    assert main(["figure", "figure99", "--figures-dir", str(tmp_path)]) == 2
    assert "unknown figure 'figure99'" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["tune", "--config", str(QUADRATIC), "--figures-dir", str(blocker / "sub"),
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and "cannot create" in capsys.readouterr().err


def test_corrupt_checkpoint_gets_a_clear_error(tmp_path, capsys):
    run = tmp_path / "runs" / "quadratic"
    run.mkdir(parents=True)
    (run / "optimizer.ckpt").write_bytes(b"not a checkpoint")
    code = main(["evaluate", "--config", str(QUADRATIC), "--runs-dir", str(tmp_path / "runs"),
                 "--figures-dir", str(tmp_path / "f")])
    assert code == 2
    assert "is not a readable optimizer checkpoint" in capsys.readouterr().err
