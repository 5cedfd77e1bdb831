"""``repro sweep``: run a recorded meta-training sweep or seed study and write its record.

``part="sweep"`` meta-trains every point of the plan; ``part="seeds"`` meta-trains the plan's
recipe once per seed and selects, on fresh validation problems, the phi the figures use
(``weights`` receives it). Each fit runs as ``python -m repro fit`` in its own run folder
(``<runs>/<dataset>/<part>/<point>``), so an interrupted sweep resumes where it stopped and a
finished point is not trained again. The record (JSON and figure) is rewritten after every
point. ``overrides`` (``key=value``) go to every fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from repro.commands.runs import set_threads
from repro.config import Config
from repro.config_loading import load
from repro.figures.sweep import draw_sweep
from repro.io import provenance, read_json, write_json
from repro.meta.sweep import (
    SELECTION_STREAM,
    revalidate,
    summarise,
    tuned_validation_losses,
)
from repro.meta.sweep import validation_history as history_of
from repro.optimizers.phi_file import PhiFile
from repro.paths import Paths
from repro.settings import ConfigError
from repro.weights import ship

PARTS = ("sweep", "seeds")
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def points(plan: dict[str, Any], part: str) -> list[tuple[str, dict[str, Any]]]:
    """The plan's ``part`` as (name, config overrides) pairs: every point of a sweep, or the
    recipe once per seed."""
    if part == "sweep":
        common = plan.get("common", {})
        return [(p["name"], {**common, **p.get("overrides", {})}) for p in plan["points"]]
    recipe = plan["recipe"]
    return [(f"seed{seed}", {**recipe, "meta.seed": seed}) for seed in plan["seeds"]]


def _as_arguments(overrides: dict[str, Any]) -> list[str]:
    return [f"--{key}={str(value).lower() if isinstance(value, bool) else value}"
            for key, value in overrides.items()]


def _fit(config_file: Path, point: Paths, arguments: list[str], log: Path) -> float:
    """Meta-train one point into ``point`` (resuming if interrupted); its wall seconds in this
    call."""
    command = [sys.executable, "-m", "repro", "fit", "--config", str(config_file),
               "--runs-dir", str(point.runs), "--figures-dir", str(point.figures), *arguments]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH"))))}
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def _baselines(config: Config, paths: Paths) -> tuple[Path, dict[str, float]]:
    """The tuned-rates file of ``config`` and each baseline's validation loss in it; a
    one-line error when it is missing or was tuned on other validation problems."""
    tuned_file = paths.tuned(config)
    tuned = read_json(tuned_file, "run 'python -m repro tune' first")
    if tuned["problems"] != config.meta.val_problems:
        raise ConfigError(
            f"baselines tuned on {tuned['problems']} validation problems, fits validate on "
            f"{config.meta.val_problems}; they must be the same problems"
        )
    return tuned_file, tuned_validation_losses(tuned)


@dataclass(frozen=True)
class Study:
    """What every point of a sweep shares: its plan and part, the config every fit starts
    from (the plan's file with ``overrides``), and the tuned baselines' validation losses."""

    plan: dict[str, Any]
    part: str
    config_file: Path
    config: Config
    overrides: list[str]
    baselines: dict[str, float]


def _point(study: Study, name: str, overrides: dict[str, Any], run_root: Path,
           earlier: dict[str, Any]) -> dict[str, Any]:
    """Fit one point where it has no exported phi yet; its record (``earlier``: the records
    of the last run, whose selection loss is kept for an unchanged checkpoint)."""
    point = Paths(runs=run_root, figures=run_root / "figures")
    ckpt = point.checkpoint(study.config.experiment)
    seconds = None
    if not ckpt.is_file():
        arguments = [f"--{item}" for item in study.overrides] + _as_arguments(overrides)
        seconds = _fit(study.config_file, point, arguments, run_root / "fit.log")
    exported = PhiFile.read(ckpt)
    record = {
        "name": name, "overrides": overrides,
        **summarise(history_of(point.run_dir(study.config, "fit")), study.baselines),
        "truncations": exported.fit["meta_steps"],
        "seconds": exported.fit.get("seconds", seconds), "checkpoint": str(ckpt),
        "selected": exported.selection["criterion"], "fit_commit": exported.meta["commit"],
        "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
    }
    if study.part == "seeds":
        record["selection_problems"] = problems = study.plan["selection_problems"]
        before = earlier.get(name, {})
        if all(before.get(key) == record[key] for key in ("checkpoint_sha256",
                                                           "selection_problems")) and (
                before.get("selection_loss") is not None):  # measured already
            record["selection_loss"] = before["selection_loss"]
        else:
            config = load(study.config_file, "paper", [
                *study.overrides, *(f"{k}={v}" for k, v in overrides.items())])
            set_threads(config)
            record["selection_loss"] = revalidate(config, ckpt, problems)
    return record


def sweep(plan_file: Path, part: str, overrides: list[str], paths: Paths,
          weights: Path | None = None, out: Path | None = None) -> Path:
    """Meta-train the plan's ``part`` with ``overrides`` (``key=value``) on every fit; write
    its record to ``out`` (default ``<figures>/data/<part>_<experiment>.json``) and return it.
    Fits run in ``<paths.runs>/<dataset>/<part>/<point>``; the tuned baselines are read from
    ``paths``."""
    if part not in PARTS:
        raise ConfigError(f"--part must be one of {', '.join(PARTS)}, got {part!r}")
    plan = yaml.safe_load(Path(plan_file).read_text())
    config_file = Path(plan["config"])
    config = load(config_file, "paper", overrides)
    out = out or paths.data / f"{part}_{config_file.stem}.json"
    tuned_file, baselines = _baselines(config, paths)
    # the code that runs, recorded before it runs: shipping the selected phi into
    # repro/weights changes a tracked file, which must not mark the record's own code dirty
    meta = provenance(Path(plan_file), config.seed)
    earlier = {r["name"]: r for r in json.loads(out.read_text())["points"]} if out.is_file() else {}
    study = Study(plan, part, config_file, config, list(overrides), baselines)
    records: list[dict[str, Any]] = []
    for name, point_overrides in points(plan, part):
        run_root = paths.runs / config.data.name / part / name.replace(" ", "_")
        records.append(_point(study, name, point_overrides, run_root, earlier))
        print(f"{name}: best val {records[-1]['best_val_loss']} at {records[-1]['best_at']}, "
              f"escaped at {records[-1]['escaped_at']}, beats {records[-1]['beats']}", flush=True)
        data = record(plan_file, part, config, tuned_file, baselines, records,
                      plan.get("selection_problems"), meta)
        if weights is not None and "selected" in data:
            ship(Path(data["selected"]["checkpoint"]), weights, config.data.name,
                 data["selected"])
        write_json(out, data)
        draw_sweep(out.parent.parent / f"{out.stem}.png", data)
    return out


def record(plan_file: Path, part: str, config: Config, tuned_file: Path,
           baselines: dict[str, float], records: list[dict[str, Any]], selection: int | None,
           meta: dict[str, Any]) -> dict[str, Any]:
    """The record of the points so far; for seeds, how many escaped and beat ADAM, and the
    selected seed (the lowest ``selection_loss``)."""
    data: dict[str, Any] = {
        "part": part, "plan": str(plan_file), "dataset": config.data.name,
        "validation": f"{config.meta.val_problems} validation problems (split 'val'), mean loss "
                      f"at step {config.meta.horizon}",
        "baselines": {"file": str(tuned_file), "val_loss": baselines},
        "points": records,
        "meta": meta,
    }
    if part != "seeds":
        return data
    done = [r for r in records if r["best_val_loss"] is not None]
    data["escaped"] = f"{sum(r['escaped_at'] is not None for r in records)}/{len(records)}"
    data["beat_adam"] = f"{sum('ADAM' in r['beats'] for r in records)}/{len(records)}"
    if done:
        chosen = min(done, key=lambda r: r["selection_loss"])
        data["selected"] = {
            "seed": chosen["overrides"]["meta.seed"], "truncation": chosen["best_at"],
            "val_loss": chosen["best_val_loss"], "selection_loss": chosen["selection_loss"],
            "checkpoint": chosen["checkpoint"],
            "criterion": f"the lowest mean loss at step {config.meta.horizon} of each seed's "
                         f"validation-best phi on {selection} validation problems (split "
                         f"'val', stream {SELECTION_STREAM}: fresh to every fit)",
        }
    return data

