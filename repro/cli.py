"""Command line: ``python -m repro {fit,tune,evaluate,figure} --config FILE [--section.key VALUE]``
(``--print_config`` shows every setting, as a config that runs), ``python -m repro sweep PLAN``
(a recorded meta-training sweep or seed study) and ``python -m repro
{report,claims,wandb-report}`` over the figures folder. Parsed by jsonargparse from the typed
:class:`~repro.config.Config`."""

from __future__ import annotations

import errno
import itertools
import os
import re
import sys
import time
import traceback
from argparse import ArgumentError
from pathlib import Path

import yaml
from jsonargparse import ArgumentParser

from repro import config_loading as settings
from repro.config import Config
from repro.paths import FIGURES_ROOT, RUNS_ROOT, SWEEP_RUNS, Paths, errors_folder
from repro.settings import ConfigError, ProblemSettings

DIVERGED, BAD_INPUT_CODE, BUG, INTERRUPTED = 1, 2, 70, 130
FILE_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR,
               errno.ENOSPC, errno.EROFS, errno.EDQUOT}
"""The errors of a file a user named or gave room for: bad input, not a bug."""
PREEMPTED = 143  # 128 + SIGTERM: a scheduler may requeue the same command to resume
EXPERIMENT_COMMANDS = {
    "fit": "meta-train the LSTM optimizer",
    "tune": "search the baselines' learning rates on validation problems",
    "evaluate": "roll every optimizer over the test problems into curves",
    "figure": "draw a figure from its curves data",
}
STUDY_COMMANDS = {
    "sweep": "meta-train a recorded sweep's points, or its seeds, and write its record",
}
REPORT_COMMANDS = {
    "report": "write the HTML report of the figures folder",
    "claims": "check the paper's claims against the figures' data",
    "wandb-report": "publish the figures and claims as a W&B report",
}


def _parser(family: type[ProblemSettings]) -> tuple[ArgumentParser, dict[str, ArgumentParser]]:
    """The command line's parser, and each command's own (the problem section ``family``'s)."""
    parser = ArgumentParser(
        prog="python -m repro", exit_on_error=False,
        description="Learning to learn by gradient descent by gradient descent: reproduction.",
    )
    commands, subs = parser.add_subcommands(dest="command"), {}
    for name, text in {**EXPERIMENT_COMMANDS, **STUDY_COMMANDS, **REPORT_COMMANDS}.items():
        sub = subs[name] = ArgumentParser(exit_on_error=False, description=text)
        sub.add_argument("--figures-dir", type=str | None, help="default paper_figures[/<profile>]")
        sub.add_argument("--runs-dir", type=str | None, help="default runs/<profile>")
        if name in STUDY_COMMANDS:
            sub.add_argument("plan", help="the sweep's plan, e.g. experiments/sweeps/mnist.yaml")
            sub.add_argument("--part", type=str, default="sweep", help="sweep or seeds")
            sub.add_argument("--set", nargs="*", default=[],
                             help="config overrides for every fit: key=value ...")
            sub.add_argument("--weights", type=str | None,
                             help="'seeds': write the selected phi here")
            sub.add_argument("--out", type=str | None,
                             help="the record (<figures>/data/<part>_<experiment>.json)")
        elif name in EXPERIMENT_COMMANDS:
            if name == "figure":
                sub.add_argument("name", help="figure name, e.g. figure4a")
            settings.add_arguments(sub, family)
            sub.add_argument("--checkpoint", type=str | None, help="'evaluate': optimizer file")
        else:
            sub.add_argument("--profile", type=str | None, help="default: every profile")
            sub.add_argument("--out", type=str | None, help="the page (<figures>/index.html)")
            sub.add_argument("--accept", action="store_true",
                             help="'claims': record regressions as the new outcomes")
            sub.add_argument("--entity", type=str | None, help="W&B entity (default: yours)")
        commands.add_subcommand(name, sub, help=text)
    return parser, subs


def _expand(argv: list[str]) -> tuple[list[str], list[Path]]:
    """``argv`` with each ``--config FILE`` replaced by the file's settings, its profile (from
    ``--profile``, else ``$PROFILE``, else the file's) applied; and the files named."""
    profile = _option(argv, "--profile") or os.environ.get("PROFILE")
    out, files, tokens = [], [], iter(argv)
    for token in tokens:
        if token != "--config" and not token.startswith("--config="):
            out.append(token)
            continue
        path = token.partition("=")[2] if "=" in token else next(tokens, None)
        if not path:
            raise ConfigError(f"{token} needs a file, e.g. experiments/quadratic.yaml")
        files.append(Path(path))
        out += ["--config", yaml.safe_dump(settings.read(path, profile))]
    return out, files


def _report(command: str, args: object, root: Path) -> int:
    """``report``, ``claims`` or ``wandb-report`` over the figures folder ``root``."""
    from repro.report import html, model, terminal

    if command == "report":
        print(f"report written to {html.write(model.build(root), args.out or root / 'index.html')}")
        return 0
    if command == "claims":
        profile = args.profile or os.environ.get("PROFILE")
        text, code = terminal.gate(model.build(root, profile=profile), root / "claims.json",
                                   args.accept)
        print(text)
        return code
    from repro.report import wandb_report

    return wandb_report.publish(model.build(root), Path(args.runs_dir or RUNS_ROOT), args.entity)


def _sweep(args: object) -> int:
    """``sweep`` of the plan ``args.plan``: fits in ``<runs-dir>`` (default runs/sweep)."""
    from repro.commands import sweep

    paths = Paths(runs=Path(args.runs_dir or SWEEP_RUNS),
                  figures=Path(args.figures_dir or FIGURES_ROOT))
    out = sweep.sweep(Path(args.plan), args.part, list(args.set), paths,
                      Path(args.weights) if args.weights else None,
                      Path(args.out) if args.out else None)
    print(f"record written to {out}")
    return 0


def _experiment(command: str, args: object, config: Config | None, file: Path | None
                ) -> None:
    """``fit``, ``tune``, ``evaluate`` or ``figure`` of ``config``."""
    from repro.commands import evaluate, figure, fit, tune

    default = Paths.default(config.profile if config else os.environ.get("PROFILE") or "paper")
    paths = Paths(Path(args.runs_dir or default.runs), Path(args.figures_dir or default.figures),
                  file)
    if command == "fit":
        print(f"optimizer written to {fit.fit(config, paths)}")
    elif command == "tune":
        print(f"learning rates written to {tune.tune(config, paths)}")
    elif command == "evaluate":
        checkpoint = Path(args.checkpoint) if args.checkpoint else None
        for path in evaluate.evaluate(config, paths, checkpoint):
            print(f"curves written to {path}")
    else:
        for path in figure.figure(args.name, paths, config):
            print(f"figure written to {path}")


def _run(argv: list[str]) -> int:
    """Parse ``argv`` and run its command; every failure is left to :func:`main`."""
    argv, files = _expand(argv)
    family = settings.family_named(argv)
    parser, subs = _parser(family)
    if not argv:
        raise ConfigError(_CHOOSE)
    try:
        parsed = parser.parse_args(argv)
    except ArgumentError as error:
        text = settings.one_line(error, family)
        raise ConfigError(_CHOOSE if '"command"' in text else text) from None
    command, args = parsed.command, parsed[parsed.command]
    if command in REPORT_COMMANDS:
        return _report(command, args, Path(args.figures_dir or FIGURES_ROOT))
    if command in STUDY_COMMANDS:
        return _sweep(args)
    if not files and command != "figure":
        raise ConfigError(f"'{command}' needs --config, e.g. experiments/quadratic.yaml")
    config = settings.build(subs[command], args) if files else None
    _experiment(command, args, config, files[0] if files else None)
    return 0


_CHOOSE = (f"choose a command: "
           f"{', '.join({**EXPERIMENT_COMMANDS, **STUDY_COMMANDS, **REPORT_COMMANDS})}; "
           "e.g. python -m repro fit --config experiments/quadratic.yaml")


def outcome(error: BaseException, log_dir: Path) -> tuple[int, str]:
    """The exit code and the one line on stderr of a command that stopped on ``error``:
    bad input 2 (out of memory and unreadable files included), divergence 1, interrupted 130,
    preempted 143, and 70 for anything else, a bug, whose traceback goes to a file in
    ``log_dir`` (and to stderr as well with ``REPRO_DEBUG=1``)."""
    from repro.commands.runs import BAD_INPUT
    from repro.errors import Diverged, Preempted

    if isinstance(error, BAD_INPUT):
        return BAD_INPUT_CODE, f"error: {error}"
    if isinstance(error, OSError) and error.filename is not None and error.errno in FILE_ERRORS:
        return BAD_INPUT_CODE, f"error: {error.filename}: {error.strerror or error}"
    if isinstance(error, MemoryError) or (
            isinstance(error, RuntimeError) and re.search(r"(?i)out of memory|can't allocate|"
                                                          r"not enough memory|storage size "
                                                          r"calculation overflowed", str(error))):
        return BAD_INPUT_CODE, f"error: out of memory: {_allocation(error)}; lower the " \
                               "problem's or the optimizer's sizes"
    if isinstance(error, Diverged):
        return DIVERGED, f"error: {error}"
    if isinstance(error, Preempted):
        return PREEMPTED, f"stopped: {error}"
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, f"interrupted: {str(error) or 'nothing half-written was left behind'}"
    from repro.io import brief

    log = _crash_log(error, log_dir)
    if os.environ.get("REPRO_DEBUG") == "1":
        traceback.print_exception(error, file=sys.stderr)
    return BUG, f"error: unexpected {brief(error)} (a bug: the traceback is in {log})"


def _allocation(error: BaseException) -> str:
    """What ran out, from an allocator's message, in one short phrase."""
    found = re.search(r"tried to allocate (\d+) bytes", str(error))
    if found:
        gib = int(found[1]) / 2**30
        return f"tried to allocate {gib:,.{0 if gib >= 10 else 1}f} GiB"
    from repro.io import brief

    return brief(error)


def _crash_log(error: BaseException, log_dir: Path) -> Path:
    """Write ``error``'s traceback to a new file in ``log_dir`` (else the temporary folder)."""
    import tempfile

    text = "".join(traceback.format_exception(error))
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (log_dir, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
            return folder / name
        except OSError:
            continue
    return Path(name)


def _option(argv: list[str], name: str) -> str | None:
    """The last value ``argv`` gives option ``name`` (``name VALUE`` or ``name=VALUE``)."""
    given = [b for a, b in itertools.pairwise([*argv, None]) if a == name]
    given += [a.partition("=")[2] for a in argv if a.startswith(f"{name}=")]
    return given[-1] if given else None


def main(argv: list[str] | None = None) -> int:
    """Run one command inside the one error boundary: whatever stops it ends as one line on
    stderr and the exit code of :func:`outcome`; 0 when it succeeds."""
    from repro.memory import keep_freed_memory

    keep_freed_memory()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except BaseException as error:  # noqa: BLE001 - the one boundary of every command
        if type(error) is SystemExit and error.code in (None, 0):
            raise  # --help and --print_config end the program themselves
        code, line = outcome(error, errors_folder(_option(argv, "--runs-dir")))
        print(line, file=sys.stderr)
        return code
