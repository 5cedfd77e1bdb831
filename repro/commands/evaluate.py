"""``repro evaluate``: roll every optimizer over the test problems and write the curves; over
an architecture grid, the LSTM against baselines re-tuned per network."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from repro import tracking
from repro.commands import records, runs
from repro.config import Config, EvaluateConfig
from repro.errors import MissingInputError
from repro.io import provenance, read_json
from repro.meta.evaluate import evaluate as evaluate_rules
from repro.meta.evaluate import rules_at
from repro.meta.experiments import make_source
from repro.meta.grid import architecture_grid
from repro.meta.learned import load_learned, note_differences
from repro.optim import load_rule, resolve_weights
from repro.optimizers.phi_file import PhiFile
from repro.paths import Paths


@runs.holding_run_folder("evaluate")
def evaluate(config: Config, paths: Paths, checkpoint: Path | None = None) -> list[Path]:
    """Roll every optimizer over the test problems; write the curves, the LSTM trace and the
    family's own outputs (or, with ``grid.layers``, the architecture grid's final losses)."""
    ev, started, grid = config.evaluate, time.perf_counter(), bool(config.grid.layers)
    stored = PhiFile.read(checkpoint or paths.checkpoint(ev.optimizer_from or config.experiment))
    lstm = load_learned(stored, config)
    extra, reference = reference_rules(ev)
    tuned = None if grid else read_json(paths.tuned(config), "run 'python -m repro tune' first")
    runs.ensure_writable(paths.data)
    runs.set_threads(config)
    device = runs.device_for(config)
    lstm.to(device)
    extra = {name: rule.to(device) for name, rule in extra.items()}
    family = make_source(config)
    note_differences(stored, family)
    meta = provenance(paths.config_file, config.seed, profile=config.profile,
                      checkpoint=str(stored.path), selected=stored.selected(),
                      **family.describe(), **reference)
    run = (paths.run_dir(config, "evaluate"), f"{config.experiment}-evaluate", config.to_dict())
    if grid:
        with tracking.run(*run) as loggers:
            panels = architecture_grid(config, family, {"LSTM": lstm, **extra}, device)
            records.log_grid(loggers, panels)
        meta.update(problems=f"{ev.problems} test instances per architecture",
                    wall_seconds=records.wall_seconds(stored, None, started))
        return [records.grid(config, paths, panels, meta)]
    rates = tuned_rates(tuned, config.tune.optimizers, paths.tuned(config))
    rules = rules_at(rates, lstm)
    if ev.lstm_sub_from:
        sub = paths.checkpoint(ev.lstm_sub_from)
        rules["LSTM-sub"] = (load_learned(sub, config).to(device), None)
        meta["lstm_sub_checkpoint"] = str(sub)
    rules.update({name: (rule, None) for name, rule in extra.items()})
    meta["problems"] = f"{ev.problems} test instances (split 'test')"
    meta.update({"classes": config.data.classes} if config.data.classes else {})
    problem = family.sample("test", 0, ev.problems, device)
    with tracking.run(*run) as loggers:
        curves = evaluate_rules(problem, rules, config.steps)
        records.log_curves(loggers, curves, ev.curve_panels)
    meta["wall_seconds"] = records.wall_seconds(stored, tuned, started)
    paper = records.paper_values(meta.get("dataset"))
    written = [records.panel(config, paths, panel, curves, meta, paper.get(panel.name))
               for panel in ev.curve_panels]
    written += [records.trace(config, paths, problem, lstm, meta)] if ev.trace else []
    title = records.title(ev.curve_panels[0].title, config) if ev.panels else ""
    return written + config.problem.outputs(config, paths.data, problem, rules, meta, title)


def tuned_rates(tuned: Any, names: list[str], path: Path) -> dict[str, float]:
    """The learning rate of each baseline of ``names`` in the tuning record ``tuned`` (read
    from ``path``); a one-line :class:`~repro.errors.MissingInputError` naming the first
    baseline without a finite rate >= 0."""
    entries = tuned.get("optimizers") if isinstance(tuned, dict) else None
    rates = {}
    for name in names:
        entry = entries.get(name) if isinstance(entries, dict) else None
        lr = entry.get("lr") if isinstance(entry, dict) else None
        if not (isinstance(lr, int | float) and not isinstance(lr, bool) and math.isfinite(lr)
                and lr >= 0):
            raise MissingInputError(f"{path} has no learning rate for {name}; run 'python "
                                         "-m repro tune' again")
        rates[name] = float(lr)
    return rates


def reference_rules(ev: EvaluateConfig) -> tuple[dict[str, torch.nn.Module], dict[str, Any]]:
    """The reference optimizer of ``evaluate.reference`` by its label (empty when none is
    named) and the provenance to record (``{"reference": ...}``); a one-line
    :class:`~repro.errors.MissingInputError` when it names nothing known."""
    if not ev.reference:
        return {}, {}
    try:
        rule = load_rule(ev.reference)
    except ValueError as error:
        raise MissingInputError(f"evaluate.reference: {error}") from None
    stored = PhiFile.read(resolve_weights(ev.reference)).meta
    keys = ("source", "repository", "licence", "trained")
    record = {"label": ev.reference_label, "weights": ev.reference,
              **{key: stored[key] for key in keys if key in stored}}
    return {ev.reference_label: rule}, {"reference": record}
