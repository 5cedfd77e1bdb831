"""The command line fuzzed: generated config files, command lines and figure data.

Each input either runs, or ends in one line on stderr with a nonzero exit code. None prints a
traceback or reaches the bug exit (70), none exits 0 after writing a non-finite phi, none
leaves a file outside its output folders or a half-written one inside them. A run longer than
its time budget is stopped like Ctrl-C (and must then end as an interrupt does), and so is one
that would launch several processes or wait for other nodes, at its launch: runs are in this
process, where a launch would start this test's own command again. The inputs are the same on
every run unless ``$REPRO_FUZZ_SEARCH`` asks for a search (``make fuzz``); Hypothesis prints the
falsifying input and the blob to reproduce it with.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from repro import cli
from repro.config_loading import _sections

PRELOADED = [importlib.import_module(name) for name in (
    "repro.commands.fit", "repro.commands.tune", "repro.commands.evaluate", "repro.meta.training",
    "repro.data.mnist", "repro.data.cifar", "wandb")]
"""The command modules (with Lightning, torchmetrics and matplotlib), the modules they and the
family units import lazily, and W&B, imported before any run's time budget starts: an interrupt
inside a first import leaves a half-imported module in this process, on which every later run
fails (``import wandb`` cut short: "partially initialized module"). Lazy imports inside the
libraries themselves still run under a budget."""
BUDGET_S = 8.0  # a run still going after this is stopped (a valid config may be a long one)
BASE: dict[str, Any] = {
    "experiment": "quadratic",
    "problem": {"family": "quadratic", "dim": 3, "batch": 2},
    "optimizer": {"hidden": 4},
    "meta": {"horizon": 4, "unroll": 2, "steps": 2, "val_every": 100, "val_problems": 2},
    "tune": {"grid": [0.1], "problems": 2},
    "evaluate": {"problems": 2, "trace": "",
                 "panels": ["figure4a"], "steps": 4},
    "trainer": {"threads": 1},
}
"""A config every command runs in well under a second."""
ODD = [0, 1, 2, -1, 10**12, 0.5, -0.5, 1e-300, math.nan, math.inf, -math.inf, "1e400", "",
       "../x", "/tmp", "ünï ☃", "a" * 200, True, False, None, [], [1], [[1]], {}, {"a": 1},
       "fit", "auto", "none", "zero", "cosine", "0.1"]
"""Values a user might put anywhere: extreme, non-finite, of the wrong type or shape."""
VALUES = st.one_of(st.sampled_from(ODD), st.integers(-3, 12), st.text(max_size=6),
                   st.floats(allow_nan=True, allow_infinity=True))
PLAUSIBLE = st.one_of(st.integers(1, 4), st.floats(0.001, 1.0), st.booleans())
"""Values that often keep a config valid, so that fuzzed runs also run."""
KEYS = {name: [f.name for f in __import__("dataclasses").fields(kind)]
        for name, kind in _sections().items()}
SECTION = st.sampled_from(sorted(KEYS))
SEARCH = int(os.environ.get("REPRO_FUZZ_SEARCH") or 0)
"""0 (``make test``): the same inputs on every run, so that CI checks what passed here; N > 0
(``make fuzz``): N times as many inputs, new ones on every run, to look for new failures."""
EXAMPLES = {kind: count * max(SEARCH, 1)
            for kind, count in {"files": 500, "command_lines": 300, "figure_data": 200}.items()}
FUZZ = settings(deadline=None, derandomize=SEARCH == 0, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class OverBudget(KeyboardInterrupt):
    """The run took longer than :data:`BUDGET_S`; stopped as Ctrl-C stops it."""


def _over_budget(*_: object) -> None:
    raise OverBudget


class SeveralProcesses(KeyboardInterrupt):
    """The run would start processes or wait for nodes; stopped as Ctrl-C stops it, at its
    launch. In this process a launch would start this test's own command again, and wait for
    it in a rendezvous no signal interrupts (the fuzz test once hung there for 15 minutes)."""


@contextlib.contextmanager
def _one_process() -> Iterator[list[bool]]:
    """Lightning's launchers, with a launch of several processes or nodes stopped by
    :class:`SeveralProcesses`; yields a flag set when one was."""
    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
    from lightning.pytorch.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    stopped = [False]

    def guarded(original: Any) -> Any:
        def launch(launcher: Any, *args: Any, **kwargs: Any) -> Any:
            sizes = getattr(launcher, "_strategy", launcher)  # the spawn launcher's are there
            if max(sizes.num_processes, sizes.num_nodes) > 1:
                stopped[0] = True
                raise SeveralProcesses
            return original(launcher, *args, **kwargs)

        return launch

    with contextlib.ExitStack() as patches:
        for kind in (_SubprocessScriptLauncher, _MultiProcessingLauncher):
            patches.enter_context(mock.patch.object(kind, "launch", guarded(kind.launch)))
        yield stopped


def _run(argv: list[str], root: Path) -> tuple[int, str, str]:
    """Run ``argv`` in ``root`` under the time budget, in this one process: exit code, stderr,
    and why it was stopped ("over budget", "several processes", or "" if it was not)."""
    err, cwd = io.StringIO(), Path.cwd()
    previous = signal.signal(signal.SIGALRM, _over_budget)
    signal.setitimer(signal.ITIMER_REAL, BUDGET_S)
    os.chdir(root)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                _one_process() as several:
            code = cli.main(argv)
    finally:
        over = signal.getitimer(signal.ITIMER_REAL)[0] == 0.0
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    stopped = "several processes" if several[0] else "over budget" if over else ""
    return code, err.getvalue(), stopped


def _check(argv: list[str], root: Path, made: set[Path]) -> None:
    """Run ``argv`` in ``root`` (holding the inputs ``made``) and check what it did."""
    code, err, stopped = _run(argv, root)
    event(f"exit {code}" + (f", stopped: {stopped}" if stopped else ""))
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    if code == 130 and stopped:
        assert lines and lines[-1].startswith("interrupted: "), err
    elif code != 0:
        assert code in (1, 2), (code, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    outputs = (root / "runs", root / "figures")
    left = {p for p in root.rglob("*") if p.is_file()} - made
    assert all(any(p.is_relative_to(out) for out in outputs) for p in left), sorted(left)
    assert not [p for p in left if p.name.endswith(".tmp")], sorted(left)
    for written in root.glob("runs/*/optimizer.ckpt"):
        phi = torch.load(written, weights_only=True)["state_dict"]
        assert all(bool(t.isfinite().all()) for t in phi.values()), written
    # files outside root: none may appear beside it (paths like ../x resolve there)
    assert {p.name for p in root.parent.iterdir()} == {root.name}


def _mutate(data: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """``data`` with one change: a setting set, removed or added, or a section replaced."""
    data = json.loads(json.dumps(data))
    kind = draw(st.sampled_from(["set"] * 6 + ["unknown", "remove", "section", "top"]))
    section = draw(SECTION)
    block = data.setdefault(section, {})
    if kind == "set" and isinstance(block, dict):
        block[draw(st.sampled_from(KEYS[section]))] = copy.deepcopy(draw(
            st.one_of(VALUES, PLAUSIBLE, PLAUSIBLE)))
    elif kind == "unknown" and isinstance(block, dict):
        block[draw(st.text("abcxyz_", min_size=1, max_size=4))] = copy.deepcopy(draw(VALUES))
    elif kind == "remove" and isinstance(block, dict) and block:
        block.pop(draw(st.sampled_from(sorted(block))))
    elif kind == "section":
        data[section] = copy.deepcopy(draw(VALUES))
    else:
        data[draw(st.sampled_from(["experiment", "seed", "profile", "profiles", "x"]))] = draw(
            st.one_of(VALUES, st.just({"quick": {"meta": 5}}), st.just({"quick": {"meta": {}}})))
    return data


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    """A config file: BASE with a few changes, and sometimes damaged as text."""
    data = BASE
    for _ in range(draw(st.integers(1, 3))):
        data = _mutate(data, draw)
    text = yaml.safe_dump(data, allow_unicode=True).encode()
    damage = draw(st.sampled_from(["none"] * 5 + ["twice", "cut", "bytes"]))
    if damage == "twice":
        text += b"meta:\n  steps: 2\n"
    elif damage == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=3)) + text[at:]
    return text


COMMANDS = st.sampled_from(["fit", "fit", "tune", "evaluate"])


def _case_root() -> Path:
    """A fresh folder, alone in a fresh parent, for one input."""
    return Path(tempfile.mkdtemp(dir=tempfile.mkdtemp(prefix="fuzz-")))


def _outputs(root: Path) -> list[str]:
    return ["--runs-dir", str(root / "runs"), "--figures-dir", str(root / "figures")]


TRAINERS = [{"num_nodes": 2, "strategy": "ddp"}] + [{"devices": 2}] * ((os.cpu_count() or 1) > 1)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_a_run_of_several_processes_is_stopped_at_its_launch(trainer, monkeypatch):
    monkeypatch.setenv("NODE_RANK", "0")  # as on a node launched by hand, so that a fit with
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # num_nodes 2 reaches its launch
    root = _case_root()
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({**BASE, "trainer": {**BASE["trainer"], **trainer}}))
    code, err, stopped = _run(["fit", "--config", str(config), *_outputs(root)], root)
    assert (code, stopped) == (130, "several processes"), err
    assert err.strip().startswith("interrupted: "), err


@settings(FUZZ, max_examples=EXAMPLES["files"])
@given(text=config_files(), command=COMMANDS)
def test_fuzzed_config_files_run_or_end_in_one_line(text, command):
    root = _case_root()
    config = root / "config.yaml"
    config.write_bytes(text)
    _check([command, "--config", str(config), *_outputs(root)], root, {config})


OVERRIDE_KEYS = st.one_of(
    st.builds(lambda s, k: f"--{s}.{k}", SECTION, st.sampled_from(sorted(
        {k for keys in KEYS.values() for k in keys}))),
    st.sampled_from(["--experiment", "--seed", "--profile", "--config", "--config=",
                     "--checkpoint", "--runs-dir", "stray", "--print_config=bad", "--x.y"]),
)


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """Overrides after a valid config: keys real or not, values odd, some left out."""
    words: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(OVERRIDE_KEYS)
        value = draw(VALUES)
        words += [key] if draw(st.booleans()) and not key.endswith("=") else []
        words += [key, yaml.safe_dump(value).strip().removesuffix("...").strip()]
    return words


@settings(FUZZ, max_examples=EXAMPLES["command_lines"])
@given(words=command_lines(), command=COMMANDS)
def test_fuzzed_command_lines_run_or_end_in_one_line(words, command):
    root = _case_root()
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(BASE))
    words = [w.replace("--runs-dir", "--runs-dir-x") for w in words]  # keep outputs in root
    _check([command, "--config", str(config), *words, *_outputs(root)], root, {config})


CURVE = {"step": [1, 2, 3, 4], "mean": [1.0, 0.5, 0.3, 0.2], "lo": [0.9, 0.4, 0.2, 0.1],
         "hi": [1.1, 0.6, 0.4, 0.3], "n": 2, "lr": 0.1, "diverged_at": None}
CURVES = {"figure": "figure4a", "title": "Quadratics", "profile": "paper",
          "curves": {name: dict(CURVE) for name in ("ADAM", "RMSprop", "SGD", "NAG", "LSTM")}}


@st.composite
def curves_files(draw: st.DrawFn) -> str:
    """figure4a's curves JSON with a few changes at any depth."""
    data: Any = json.loads(json.dumps(CURVES))
    for _ in range(draw(st.integers(1, 3))):
        target, key = data, None
        path = draw(st.lists(st.sampled_from(["curves", "LSTM", "SGD", "mean", "step", "lo",
                                              "figure", "diverged_at", "title"]), max_size=3))
        for step in path:
            if isinstance(target, dict) and step in target:
                target, key = target[step], step
        value = copy.deepcopy(draw(st.one_of(VALUES, st.lists(st.sampled_from(ODD[:8]),
                                                              max_size=6))))
        if isinstance(target, dict):
            target[key or "curves"] = value
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = value
        else:
            data = value if draw(st.booleans()) else data
    return json.dumps(data, allow_nan=True)


@settings(FUZZ, max_examples=EXAMPLES["figure_data"])
@given(text=curves_files(), command=st.sampled_from(["figure", "claims", "report"]))
def test_fuzzed_figure_data_draws_or_ends_in_one_line(text, command):
    root = _case_root()
    data = root / "figures" / "data"
    data.mkdir(parents=True)
    (data / "figure4a.json").write_text(text)
    made = {data / "figure4a.json"}
    argv = {"figure": ["figure", "figure4a"], "claims": ["claims"], "report": ["report"]}[command]
    _check([*argv, *_outputs(root)], root, made)
