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
        (["--meta.lr"], "argument --meta.lr: expected one argument"),
        (["stray"], "unexpected argument 'stray'"),
        (["--config"], "--config needs a file"),
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


def test_print_config_prints_a_config_that_runs_as_it_is(tmp_path, capsys):
    mnist = ROOT / "experiments" / "mnist.yaml"
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", str(mnist), "--profile", "quick", "--meta.lr", "0.01",
              "--print_config"])
    assert info.value.code == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(printed), "--print_config"])
    assert capsys.readouterr().out == printed.read_text()
    import yaml

    from repro.config_loading import from_dict, load

    settings = yaml.safe_load(printed.read_text())
    assert {"runs_dir", "figures_dir", "checkpoint"} <= set(settings)  # the command's own
    again = from_dict({k: v for k, v in settings.items() if not k.endswith(("_dir", "checkpoint"))})
    assert again == load(mnist, "quick", ["meta.lr=0.01"]) and again.profile == "quick"


def test_config_files_compose_in_order(tmp_path, capsys):
    import yaml

    extra = tmp_path / "lr.yaml"
    extra.write_text("meta:\n  lr: 0.02\n")
    printed = []
    for files in ([QUADRATIC, extra], [extra, QUADRATIC]):
        with pytest.raises(SystemExit):
            main(["fit", *[a for f in files for a in ("--config", str(f))], "--print_config"])
        printed.append(yaml.safe_load(capsys.readouterr().out))
    assert printed[0]["meta"]["lr"] == 0.02 and printed[1]["meta"]["lr"] == 0.003
    assert printed[0]["meta"]["horizon"] == 100  # the rest of the first file stays


def test_profile_given_with_an_equals_sign_applies_its_section(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(QUADRATIC), "--profile=quick", "--print_config"])
    printed = capsys.readouterr().out
    assert "profile: quick" in printed and "steps: 1500" in printed


def test_no_arguments_at_all_name_the_commands_in_one_line(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "fit" in err and "evaluate" in err


TINY = ["--profile", "quick", "--problem.batch", "2", "--meta.horizon", "10", "--meta.unroll",
        "5", "--meta.val_every", "100", "--optimizer.hidden", "4"]


def _fit(tmp_path, *extra):
    return ["fit", "--config", str(QUADRATIC), "--runs-dir", str(tmp_path / "runs"),
            "--figures-dir", str(tmp_path / "figures"), *TINY, *extra]


def test_a_bug_is_one_line_naming_its_traceback_file_and_leaves_no_run_folder(
        tmp_path, capsys, monkeypatch):
    from repro.meta import learner

    def bug(*args):
        return 1 / 0

    monkeypatch.setattr(learner.MetaLearner, "training_step", bug)
    code = main(_fit(tmp_path, "--meta.steps", "3"))
    err = capsys.readouterr().err
    assert code == 70 and err.count("\n") == 1, err
    assert err.startswith("error: unexpected ZeroDivisionError: division by zero (a bug")
    log = Path(err.split("traceback is in ")[1].rstrip(")\n"))
    assert log.parent == tmp_path / "runs" / "errors"
    assert "Traceback" in log.read_text() and "return 1 / 0" in log.read_text()
    assert not (tmp_path / "runs" / "quadratic").exists()
    monkeypatch.setenv("REPRO_DEBUG", "1")
    assert main(_fit(tmp_path, "--meta.steps", "3")) == 70
    assert "return 1 / 0" in capsys.readouterr().err  # the traceback itself


def test_ctrl_c_after_a_checkpoint_keeps_it_names_it_and_ctrl_c_works_again(
        tmp_path, capsys, monkeypatch):
    import signal

    from repro.meta import learner

    step = learner.MetaLearner.training_step

    def interrupted(self, *args):
        if self.truncations_run == 3:
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(learner.MetaLearner, "training_step", interrupted)
    before = signal.getsignal(signal.SIGINT)
    code = main(_fit(tmp_path, "--meta.steps", "6", "--meta.checkpoint_every", "1"))
    err = capsys.readouterr().err
    last = tmp_path / "runs" / "quadratic" / "fit" / "checkpoints" / "last.ckpt"
    assert code == 130 and err.count("\n") == 1, err
    assert err == f"interrupted: checkpoint {last} stands; run the same command again to resume\n"
    assert last.is_file()
    assert signal.getsignal(signal.SIGINT) is before  # Lightning had set SIG_IGN
    monkeypatch.setattr(learner.MetaLearner, "training_step", step)
    assert main(_fit(tmp_path, "--meta.steps", "6", "--meta.checkpoint_every", "1")) == 0
    assert "resuming meta-training from" in capsys.readouterr().out


def test_a_fit_whose_phi_is_not_finite_writes_no_optimizer(tmp_path, capsys, monkeypatch):
    import torch

    from repro.meta import learner

    def poisoned(self, *args):
        with torch.no_grad():
            next(self.optimizer_net.parameters()).fill_(float("nan"))

    monkeypatch.setattr(learner.MetaLearner, "on_train_batch_end", poisoned, raising=False)
    code = main(_fit(tmp_path, "--meta.steps", "2"))
    captured = capsys.readouterr()
    assert code == 1 and "optimizer written" not in captured.out
    assert captured.err.startswith("error: phi is not finite at truncation 2; no optimizer written")
    assert not (tmp_path / "runs" / "quadratic" / "optimizer.ckpt").exists()


def test_a_fit_shows_no_deprecation_warning_of_lightnings_own(tmp_path, capsys):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(_fit(tmp_path, "--meta.steps", "2")) == 0
    assert not [w for w in caught if "LeafSpec" in str(w.message)]


def test_a_fit_stopped_by_a_full_disk_at_export_keeps_its_checkpoints(
        tmp_path, capsys, monkeypatch):
    from repro.io import OutputError
    from repro.meta import training

    def full(*args, **kwargs):
        raise OutputError("cannot write optimizer.ckpt: No space left on device")

    monkeypatch.setattr(training, "export_optimizer", full)
    code = main(_fit(tmp_path, "--meta.steps", "2", "--meta.checkpoint_every", "1"))
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert (tmp_path / "runs" / "quadratic" / "fit" / "checkpoints" / "last.ckpt").is_file()
