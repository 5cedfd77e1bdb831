"""Command line: ``python -m repro {fit,tune,evaluate,figure} --config FILE [--key.sub VALUE]``,
and ``python -m repro {report,claims,wandb-report}`` over the figures folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from repro.config import PROFILES, ConfigError, load

COMMANDS = ("fit", "tune", "evaluate", "figure")
PREEMPTED = 143  # 128 + SIGTERM: a scheduler may requeue the same command to resume
REPORT_COMMANDS = ("report", "claims", "wandb-report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m repro",
        description="Learning to learn by gradient descent by gradient descent: reproduction.",
        epilog="Any config value can be overridden as --section.key VALUE, e.g. --meta.lr 0.01.",
    )
    parser.add_argument("command", choices=COMMANDS + REPORT_COMMANDS)
    parser.add_argument("name", nargs="?", help="figure name (for 'figure'), e.g. figure4a")
    parser.add_argument("--config", type=Path, help="experiment YAML, e.g. experiments/x.yaml")
    parser.add_argument(
        "--profile", default=os.environ.get("PROFILE"),
        help="paper|quick (default paper; 'claims' and 'report': every profile)",
    )
    parser.add_argument("--runs-dir", type=Path, help="default runs/<profile>")
    parser.add_argument("--figures-dir", type=Path, help="default paper_figures[/<profile>]")
    parser.add_argument("--checkpoint", type=Path, help="optimizer checkpoint for 'evaluate'")
    parser.add_argument("--out", type=Path, help="'report': the page (<figures>/index.html)")
    parser.add_argument(
        "--accept", action="store_true", help="'claims': record regressions as the new outcomes"
    )
    parser.add_argument("--entity", help="'wandb-report': W&B entity (default: your default)")
    return parser


def _report_command(args: argparse.Namespace, extra: list[str]) -> int:
    """``report``, ``claims`` or ``wandb-report`` over the figures folder (paper_figures)."""
    from repro.io import OutputError
    from repro.report import html, model, terminal

    root = args.figures_dir or Path("paper_figures")
    try:
        if extra:
            raise ConfigError(f"unexpected argument {extra[0]!r} for '{args.command}'")
        if args.command == "report":
            out = html.write(model.build(root), args.out or root / "index.html")
            print(f"report written to {out}")
            return 0
        if args.command == "claims":
            text, code = terminal.gate(
                model.build(root, profile=args.profile), root / "claims.json", args.accept
            )
            print(text)
            return code
        from repro.report import wandb_report

        return wandb_report.publish(model.build(root), args.runs_dir or Path("runs"), args.entity)
    except (ConfigError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _overrides(extra: list[str]) -> list[str]:
    """``--a.b VALUE`` / ``--a.b=VALUE`` pairs as ``a.b=VALUE`` strings."""
    out, i = [], 0
    while i < len(extra):
        token = extra[i]
        if not token.startswith("--") or len(token) == 2:
            raise ConfigError(f"unexpected argument {token!r}; overrides look like --meta.lr 0.01")
        key = token[2:]
        if "=" in key:
            out.append(key)
            i += 1
            continue
        if i + 1 >= len(extra):
            raise ConfigError(f"override --{key} needs a value")
        out.append(f"{key}={extra[i + 1]}")
        i += 2
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one command; a bad input ends with a one-line ``error:`` message and exit code 2."""
    args, extra = _parser().parse_known_args(argv)
    if args.command in REPORT_COMMANDS:
        return _report_command(args, extra)

    from repro.commands.evaluate import evaluate
    from repro.commands.figure import figure
    from repro.commands.fit import fit
    from repro.commands.runs import MissingInputError, Paths, default_paths
    from repro.commands.tune import tune
    from repro.data.errors import DatasetError
    from repro.io import OutputError
    from repro.memory import keep_freed_memory
    from repro.meta.learner import MetaTrainingDiverged
    from repro.meta.training import Preempted
    from repro.optimizers.checkpoint import CheckpointError

    keep_freed_memory()
    args.profile = args.profile or "paper"
    try:
        if args.profile not in PROFILES:
            raise ConfigError(
                f"profile {args.profile!r} is not allowed; choose one of {', '.join(PROFILES)}"
            )
        overrides = _overrides(extra)
        config = None
        if args.config is not None:
            config = load(args.config, args.profile, overrides)
        elif args.command != "figure" or overrides:
            raise ConfigError(f"'{args.command}' needs --config, e.g. experiments/quadratic.yaml")
        paths = default_paths(args.profile, config_file=args.config)
        paths = Paths(
            runs=args.runs_dir or paths.runs,
            figures=args.figures_dir or paths.figures,
            config_file=args.config,
        )
        if args.command == "fit":
            print(f"optimizer written to {fit(config, paths)}")
        elif args.command == "tune":
            print(f"learning rates written to {tune(config, paths)}")
        elif args.command == "evaluate":
            for path in evaluate(config, paths, args.checkpoint):
                print(f"curves written to {path}")
        else:
            if not args.name:
                raise ConfigError("'figure' needs a figure name, e.g. 'figure figure4a'")
            for path in figure(args.name, paths, config):
                print(f"figure written to {path}")
    except (
        ConfigError, OutputError, CheckpointError, DatasetError, MissingInputError
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MetaTrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Preempted as error:
        print(f"stopped: {error}", file=sys.stderr)
        return PREEMPTED
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind", file=sys.stderr)
        return 130
    return 0
