"""Bad inputs tried through the command line, and what each returns.

Each case prepares its inputs in a fresh folder and gives the command's arguments; the test
(``tests/test_reliability.py``) runs them and ``python -m tests.reliability_cases`` prints the
table kept in ``docs/reliability.md`` from real runs.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch

from repro import cli
from repro.data.idx import write_idx

ROOT = Path(__file__).resolve().parents[1]
QUADRATIC = str(ROOT / "experiments" / "quadratic.yaml")
MNIST = str(ROOT / "experiments" / "mnist.yaml")
TINY = ["--problem.batch", "2", "--meta.steps", "2", "--meta.horizon", "10", "--meta.unroll",
        "5", "--meta.val_every", "100", "--tune.problems", "2", "--tune.grid", "[0.1]",
        "--optimizer.hidden", "4"]


@dataclass(frozen=True)
class Case:
    """One bad input: ``prepare(folder, patches)`` returns the command-line arguments."""

    what: str
    prepare: Callable[[Path, contextlib.ExitStack], list[str]]
    message: str
    exit_code: int = 2
    prefix: str = "error: "


def _out(folder: Path) -> list[str]:
    return ["--runs-dir", str(folder / "runs"), "--figures-dir", str(folder / "figures")]


def _config(folder: Path, text: str) -> str:
    path = folder / "bad.yaml"
    path.write_text(text)
    return str(path)


def _in_file(folder: Path, text: str) -> list[str]:
    """A quick fit whose settings end with the config file ``text``."""
    return _fit(folder) + ["--config", _config(folder, text)]


def _raw_config(folder: Path, data: bytes) -> str:
    path = folder / "bad.yaml"
    path.write_bytes(data)
    return str(path)


def _fit(folder: Path, *extra: str) -> list[str]:
    return ["fit", "--config", QUADRATIC, "--profile", "quick", *_out(folder), *extra]


def _mnist(folder: Path) -> str:
    """A data root holding ten blank MNIST images per split."""
    raw = folder / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    labels = torch.zeros(10, dtype=torch.uint8)
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    return str(folder / "data")


def _truncated_mnist(folder: Path) -> str:
    root = _mnist(folder)
    path = Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    return root


def _small_checkpoint(folder: Path, _: contextlib.ExitStack) -> list[str]:
    runs = folder / "other"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["fit", "--config", QUADRATIC, "--profile", "quick", "--runs-dir", str(runs),
                  "--figures-dir", str(folder / "other_figures"), *TINY])
    return ["evaluate", "--config", QUADRATIC, "--profile", "quick", *_out(folder),
            "--checkpoint", str(runs / "quadratic" / "optimizer.ckpt")]


def _resume_other_settings(folder: Path, _: contextlib.ExitStack) -> list[str]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(_fit(folder, *TINY, "--meta.checkpoint_every", "1"))
    return _fit(folder, *TINY, "--meta.lr", "0.5")


def _disk_full(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    write_text = pathlib.Path.write_text

    def full(self: Path, *args: object, **kwargs: object) -> int:
        if self.name.endswith(".tmp"):
            write_text(self, "{half", encoding="utf-8")
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(self, *args, **kwargs)

    patches.enter_context(mock.patch.object(pathlib.Path, "write_text", full))
    return ["tune", "--config", QUADRATIC, "--profile", "quick", *_out(folder), *TINY]


def _busy(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    from repro.io import run_lock

    run_dir = folder / "runs" / "quadratic" / "tune"
    run_dir.mkdir(parents=True)
    patches.enter_context(run_lock(run_dir))
    return ["tune", "--config", QUADRATIC, "--profile", "quick", *_out(folder), *TINY]


def _interrupted_training(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    """A fit whose third truncation is interrupted by Ctrl-C, before any checkpoint."""
    from repro.meta.learner import MetaLearner

    step = MetaLearner.training_step

    def interrupted(self: MetaLearner, *args: object) -> torch.Tensor:
        if self.truncations_run == 2:
            raise KeyboardInterrupt
        return step(self, *args)

    patches.enter_context(mock.patch.object(MetaLearner, "training_step", interrupted))
    return _fit(folder, *TINY, "--meta.steps", "5")


def _unreadable(name: str, patches: contextlib.ExitStack) -> None:
    """Reading any file called ``name`` fails as it does without read permission."""
    read_bytes = pathlib.Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return read_bytes(self)

    patches.enter_context(mock.patch.object(pathlib.Path, "read_bytes", denied))


def _unreadable_config(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    path = _config(folder, "meta:\n  steps: 2\n")
    _unreadable("bad.yaml", patches)
    return _fit(folder) + ["--config", path]


def _unreadable_data(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    root = _mnist(folder)
    _unreadable("train-labels-idx1-ubyte", patches)
    return ["fit", "--config", MNIST, *_out(folder), "--data.root", root, "--data.download",
            "false"]


def _curves(folder: Path, text: str) -> list[str]:
    data = folder / "figures" / "data"
    data.mkdir(parents=True)
    (data / "figure4a.json").write_text(text)
    return ["figure", "figure4a", "--figures-dir", str(folder / "figures")]


UNEQUAL = ('{"figure": "figure4a", "curves": {"SGD": {"step": [1, 2, 3], "mean": [1.0, 0.5], '
           '"lo": [0.9, 0.4], "hi": [1.1, 0.6]}}}')


def _interrupted_evaluation(folder: Path, patches: contextlib.ExitStack) -> list[str]:
    """An evaluation interrupted by Ctrl-C while it rolls the optimizers out."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for command in ("fit", "tune"):
            cli.main(_fit(folder, *TINY) if command == "fit" else
                     ["tune", "--config", QUADRATIC, "--profile", "quick", *_out(folder), *TINY])

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    patches.enter_context(mock.patch("repro.commands.evaluate.evaluate_rules", interrupted))
    return ["evaluate", "--config", QUADRATIC, "--profile", "quick", *_out(folder), *TINY]


def _empty(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


def _fit_checkpoint(folder: Path, _: contextlib.ExitStack) -> list[str]:
    runs = folder / "other"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(["fit", "--config", QUADRATIC, "--profile", "quick", "--runs-dir", str(runs),
                  "--figures-dir", str(folder / "other_figures"), *TINY,
                  "--meta.checkpoint_every", "1"])
    last = runs / "quadratic" / "fit" / "checkpoints" / "last.ckpt"
    return ["evaluate", "--config", QUADRATIC, "--profile", "quick", *_out(folder),
            "--checkpoint", str(last)]


def _no_gpu(folder: Path, patches: contextlib.ExitStack, *extra: str) -> list[str]:
    """A fit on a 2-core machine without a GPU, whatever this one has."""
    patches.enter_context(mock.patch("torch.cuda.is_available", return_value=False))
    patches.enter_context(mock.patch("os.cpu_count", return_value=2))
    return _fit(folder, *extra)


def _alone(folder: Path, patches: contextlib.ExitStack, *extra: str) -> list[str]:
    """A fit on a machine outside any cluster, with no node rank or master address set (a DDP
    run earlier in this process leaves them in its environment)."""
    patches.enter_context(mock.patch.dict("os.environ"))
    for name in ("NODE_RANK", "MASTER_ADDR", "SLURM_NTASKS", "GROUP_RANK", "LSB_JOBID"):
        os.environ.pop(name, None)  # each one a cluster's mark that Lightning detects
    return _fit(folder, *extra)


CASES = [
    Case("config file missing", lambda f, _: _fit(f) + ["--config", str(f / "nope.yaml")],
         r"config file .*nope\.yaml does not exist"),
    Case("config not YAML", lambda f, _: _in_file(f, "meta: [1,\n"),
         r"is not valid YAML \(line \d+\)"),
    Case("config file empty", lambda f, _: _in_file(f, ""),
         r"config file .*bad\.yaml is empty; start from one of experiments/\*\.yaml"),
    Case("config a list, not a mapping",
         lambda f, _: _in_file(f, "- meta\n- problem\n"),
         r"config file .*bad\.yaml holds a list, not a mapping of sections"),
    Case("unknown key", lambda f, _: _fit(f, "--meta.learning_rate", "0.1"),
         r"unknown key 'meta\.learning_rate'; allowed under meta: horizon, unroll"),
    Case("wrong type", lambda f, _: _fit(f, "--meta.lr", "fast"),
         r"meta\.lr: expected a number, got 'fast'"),
    Case("negative count", lambda f, _: _fit(f, "--meta.steps", "-5"),
         r"meta\.steps: must be zero or more, got -5"),
    Case("value not in the allowed set",
         lambda f, _: _fit(f, "--optimizer.preprocessing", "sqrt"),
         r"optimizer\.preprocessing: 'sqrt' is not allowed; choose one of none, logsign"),
    Case("unroll longer than horizon", lambda f, _: _fit(f, "--meta.unroll", "200"),
         r"meta\.unroll \(200\) is longer than meta\.horizon \(100\)"),
    Case("devices zero", lambda f, _: _fit(f, "--trainer.devices", "0"),
         r"trainer\.devices: expected a positive integer or auto, got 0"),
    Case("GPU asked for on a machine without one",
         lambda f, p: _no_gpu(f, p, "--trainer.accelerator", "gpu"),
         r"trainer\.accelerator: gpu asked for, but this machine has no CUDA GPU; use auto or cpu"),
    Case("more CPU devices than cores",
         lambda f, p: _no_gpu(f, p, "--trainer.devices", "64"),
         r"trainer\.devices: 64 asked for, but this machine has 2 CPU cores \(one process per "
         r"device\); use at most 2 or auto"),
    Case("several nodes, none to join", lambda f, p: _alone(f, p, "--trainer.num_nodes", "2"),
         r"trainer\.num_nodes: 2 asked for, but no other node will join this run; start each "
         r"node under SLURM or torchrun, or with NODE_RANK and MASTER_ADDR set, or use 1"),
    Case("unknown profile", lambda f, _: ["fit", "--config", QUADRATIC, "--profile", "huge"],
         r"profile 'huge' is not allowed; choose one of paper, quick"),
    Case("dataset missing, no download",
         lambda f, _: ["fit", "--config", MNIST, *_out(f), "--data.root", str(f / "none"),
                       "--data.download", "false"],
         r"MNIST not found.*" + r"|MNIST.*not found"),
    Case("dataset file truncated",
         lambda f, _: ["fit", "--config", MNIST, *_out(f), "--data.root", _truncated_mnist(f),
                       "--data.download", "false"],
         r"truncated|shorter"),
    Case("output folder not writable", lambda f, _: _fit(f) + ["--runs-dir", "/proc/nope"],
         r"cannot create /proc/nope"),
    Case("checkpoint of other settings (shape of phi)", _small_checkpoint,
         r"checkpoint .*optimizer\.ckpt was trained with optimizer\.hidden=4 \(config: 20\)"),
    Case("checkpoint not a checkpoint",
         lambda f, _: ["evaluate", "--config", QUADRATIC, *_out(f), "--checkpoint",
                       _config(f, "not a checkpoint")],
         r"is not a readable optimizer checkpoint \(not a file torch\.save wrote\)$"),
    Case("checkpoint missing",
         lambda f, _: ["evaluate", "--config", QUADRATIC, *_out(f)],
         r"checkpoint .*optimizer\.ckpt does not exist; run 'python -m repro fit' first"),
    Case("resume with other settings", _resume_other_settings,
         r"cannot resume from .*last\.ckpt: it was trained with meta\.lr=0\.003 \(config: 0\.5\)"),
    Case("disk full while writing", _disk_full,
         r"cannot write .*tuned_lr_quadratic\.json: No space left on device"),
    Case("run folder in use", _busy, r"run folder .*tune is in use by pid \d+"),
    Case("a setting without its value", lambda f, _: _fit(f, "--meta.lr"),
         r"argument --meta\.lr: expected one argument"),
    Case("a stray argument", lambda f, _: _fit(f, "fast"),
         r"unexpected argument 'fast'; settings look like --meta\.lr 0\.01"),
    Case("a section that is not a mapping",
         lambda f, _: ["fit", "--config", _config(f, "meta: 3\n"), *_out(f)],
         r"meta: expected a mapping, got 3"),
    Case("figure without its data",
         lambda f, _: ["figure", "figure4a", "--figures-dir", str(f / "figures")],
         r"figure4a\.json"),
    Case("no command at all", lambda f, _: [],
         r"choose a command: fit, tune, evaluate, figure, sweep, report, claims, wandb-report; "
         r"e\.g\. python -m repro fit --config experiments/quadratic\.yaml"),
    Case("sweep: an unknown part",
         lambda f, _: ["sweep", str(ROOT / "experiments" / "sweeps" / "mnist.yaml"), *_out(f),
                       "--part", "best"],
         r"^error: --part must be one of sweep, seeds, got 'best'$"),
    Case("sweep before its baselines were tuned",
         lambda f, _: ["sweep", str(ROOT / "experiments" / "sweeps" / "mnist.yaml"), *_out(f)],
         r"^error: .*tuned_lr_mnist\.json does not exist; run 'python -m repro tune' first$"),
    Case("sweep: a plan file that does not exist",
         lambda f, _: ["sweep", str(f / "nope.yaml"), *_out(f)],
         r"^error: .*nope\.yaml: No such file or directory$"),
    Case("Ctrl-C during training", _interrupted_training,
         r"^interrupted: no checkpoint was written yet; nothing was left behind$", 130, ""),
    Case("an infinite setting", lambda f, _: _fit(f, "--meta.lr", "inf"),
         r"^error: meta\.lr: must be a finite number, got inf$"),
    Case("a setting beyond floating point", lambda f, _: _fit(f, "--optimizer.output_scale",
                                                              "1e400"),
         r"^error: optimizer\.output_scale: must be a finite number, got inf$"),
    Case("an infinite setting in a file",
         lambda f, _: _in_file(f, "problem:\n  init_std: .inf\n"),
         r"^error: problem\.init_std: must be a finite number, got inf$"),
    Case("an integer beyond 64 bits",
         lambda f, _: _fit(f, "--problem.batch", "10000000000000000000"),
         r"^error: problem\.batch: 10000000000000000000 does not fit a 64-bit integer$"),
    Case("a meta-learning rate float32 cannot step with",
         lambda f, _: _fit(f, "--meta.lr", "1e38"),
         r"^error: meta\.lr: must be below 3\.403e\+37 \(ADAM's first step on phi, 10 x "
         r"meta\.lr, must be a float32\), got 1e\+38$"),
    Case("every learning rate of a tuning grid diverges",
         lambda f, _: ["tune", "--config", QUADRATIC, "--profile", "quick", *_out(f), *TINY,
                       "--tune.grid", "[1000.0]"],
         r"^error: SGD diverged at every learning rate of the grid \[1000\.0\]; add smaller "
         r"rates to tune\.grid$", 1),
    Case("config not UTF-8",
         lambda f, _: _fit(f) + ["--config", _raw_config(f, b"meta:\n  steps: 2\n# \xff\n")],
         r"^error: config file .*bad\.yaml is not UTF-8 text \(byte 0xff at position 19\)$"),
    Case("config unreadable", _unreadable_config,
         r"^error: .*bad\.yaml: Permission denied$"),
    Case("data file unreadable", _unreadable_data,
         r"^error: .*train-labels-idx1-ubyte: .*Permission denied\)?$"),
    Case("curves file a list", lambda f, _: _curves(f, "[]"),
         r"^error: .*figure4a\.json is not figure4a's data: expected a JSON object, got a list$"),
    Case("curves file empty", lambda f, _: _curves(f, "{}"),
         r"^error: .*figure4a\.json is not figure4a's data: it holds no curves$"),
    Case("curves of unequal length", lambda f, _: _curves(f, UNEQUAL),
         r"^error: .*figure4a\.json is not figure4a's data: curve 'SGD' has 3 steps but 2 "
         r"values of 'mean'$"),
    Case("sizes too large to allocate", lambda f, _: _fit(f, "--problem.dim", "10000000"),
         r"^error: out of memory: .*; lower the problem's or the optimizer's sizes$"),
    Case("sizes too large to count (found by the fuzz test)",
         lambda f, _: _fit(f, "--optimizer.hidden", "1000000000000"),
         r"^error: out of memory: .*overflowed.*; lower the problem's or the optimizer's sizes$"),
    Case("a section twice in a file",
         lambda f, _: _in_file(f, "meta:\n  lr: 0.1\nmeta:\n  steps: 2\n"),
         r"^error: config file .*bad\.yaml: key 'meta' appears twice \(line 3\)$"),
    Case("a profile block of the wrong shape",
         lambda f, _: _in_file(f, "profiles:\n  quick:\n    meta: 5\n"),
         r"^error: profiles\.quick\.meta: expected a mapping, got 5$"),
    Case("duplicate panel names",
         lambda f, _: _in_file(f, "evaluate:\n  panels: [figure4a, figure4a]\n"),
         r"^error: evaluate\.panels: the name 'figure4a' appears twice; each panel writes "
         r"<name>\.json$"),
    Case("an experiment name that is a path", lambda f, _: _fit(f, "--experiment", "../../x"),
         r"^error: experiment: '\.\./\.\./x' is not a name; use letters, digits, _ and - "
         r"\(it names files and folders\)$"),
    Case("a config path that is a folder", lambda f, _: _fit(f) + ["--config", str(f)],
         r"^error: config file .* is a folder, not a file$"),
    Case("an empty --config=", lambda f, _: _fit(f, "--config="),
         r"^error: --config= needs a file, e.g\. experiments/quadratic\.yaml$"),
    Case("a fit's resumable checkpoint given as the optimizer", _fit_checkpoint,
         r"^error: checkpoint .*last\.ckpt is a fit's resumable checkpoint, not an optimizer; "
         r"pass .*optimizer\.ckpt$"),
    Case("an unknown key in a file",
         lambda f, _: _in_file(f, "meta:\n  learning_rate: 0.1\n"),
         r"^error: unknown key 'meta\.learning_rate'; allowed under meta: horizon, unroll"),
    Case("a panel the figure registry does not know",
         lambda f, _: _in_file(f, "evaluate:\n  panels: [figure4z]\n"),
         r"^error: evaluate\.panels: 'figure4z' is not a panel of the figure registry; choose "
         r"among figure4a, figure4b, "),
    Case("Ctrl-C during evaluation", _interrupted_evaluation,
         r"^interrupted: nothing half-written was left behind$", 130, ""),
    Case("claims on a figures folder that does not exist",
         lambda f, _: ["claims", "--figures-dir", str(f / "nope")],
         r"^error: figures folder .*nope does not exist; give --figures-dir a folder of figures"),
    Case("claims on a folder without any data",
         lambda f, _: ["claims", "--figures-dir", str(_empty(f))],
         r"^error: none of the \d+ claims has data under .*empty; make a figure first"),
    Case("claims with an unknown profile",
         lambda f, _: ["claims", "--figures-dir", str(_empty(f)), "--profile", "nonexistent"],
         r"^error: profile 'nonexistent' is not allowed; choose one of paper, quick$"),
    Case("report on a figures folder that does not exist",
         lambda f, _: ["report", "--figures-dir", str(f / "nope")],
         r"^error: figures folder .*nope does not exist"),
]


def run(case: Case, folder: Path) -> tuple[int, str, list[Path]]:
    """Run ``case`` in ``folder``; its exit code, what it printed on stderr and the files it
    left beyond those its preparation made."""
    err = io.StringIO()
    with contextlib.ExitStack() as patches:
        argv = case.prepare(folder, patches)
        before = set(folder.rglob("*"))
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    return code, err.getvalue().strip(), sorted(set(folder.rglob("*")) - before)


def table() -> str:
    """The markdown table of every case, from real runs."""
    rows = ["| bad input | exit | message |", "|---|---|---|"]
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            code, message, _ = run(case, Path(folder))
        shown = message.replace(folder, "<tmp>").replace("|", "\\|").replace("`", "'")
        rows.append(f"| {case.what} | {code} | `{shown}` |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
