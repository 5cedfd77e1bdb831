"""``repro evaluate``: roll every optimizer over the test problems and write the curves; over
an architecture grid, the LSTM against baselines re-tuned per network."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from repro import tracking
from repro.commands import runs
from repro.commands.runs import Paths
from repro.config import Config, PanelConfig
from repro.io import provenance, write_json
from repro.meta.evaluate import evaluate as evaluate_rules
from repro.meta.evaluate import trace
from repro.meta.experiments import make_source
from repro.meta.learned import load_learned
from repro.meta.tune import tune as tune_rules
from repro.optimizees import Family, make_family
from repro.optimizers.checkpoint import Checkpoint
from repro.optimizers.hand import make_baseline


@runs.holding_run_folder("evaluate")
def evaluate(config: Config, paths: Paths, checkpoint: Path | None = None) -> list[Path]:
    """Roll every optimizer over the test problems; write the curves, the LSTM trace and the
    family's own outputs (or, with ``grid.layers``, the architecture grid's final losses)."""
    ev = config.evaluate
    started = time.perf_counter()
    stored = Checkpoint.read(checkpoint or paths.checkpoint(ev.optimizer_from or config.experiment))
    lstm = load_learned(stored, config)
    grid, hint = bool(config.grid.layers), "run 'python -m repro tune' first"
    tuned = None if grid else runs.read_json(paths.tuned(config), hint)
    runs.ensure_writable(paths.data)
    runs.set_threads(config)
    device = runs.device_for(config)
    lstm.to(device)
    family = make_source(config)
    _note_differences(stored, family)
    if grid:
        return [_grid(config, paths, lstm, stored, family, device, started)]
    problem = family.sample("test", 0, ev.problems, device)
    rules = _rules(tuned["optimizers"], config.tune.optimizers, lstm, paths.tuned(config))
    sub = paths.checkpoint(ev.lstm_sub_from) if ev.lstm_sub_from else None
    if sub is not None:
        rules["LSTM-sub"] = (load_learned(sub, config).to(device), None)
    meta = provenance(
        paths.config_file, config.seed, profile=config.profile, checkpoint=str(stored.path),
        selected=stored.selection(), problems=f"{ev.problems} test instances (split 'test')",
        **family.describe(),
        **({"classes": config.data.classes} if config.data.classes else {}),
        **({"lstm_sub_checkpoint": str(sub)} if sub is not None else {}),
    )
    run_dir = paths.run_dir(config, "evaluate")
    with tracking.run(run_dir, f"{config.experiment}-evaluate", config.to_dict()) as loggers:
        curves = evaluate_rules(problem, rules, config.steps)
        for name, curve in curves.items():
            for step, mean in zip(curve["step"], curve["mean"], strict=True):
                if mean is not None:
                    tracking.log_metrics(loggers, {f"evaluate/{name}": mean}, step)
        for panel in ev.panels:
            cut = _shorten(curves, panel.steps)
            tracking.log_curves_table(loggers, f"curves/{panel.name}", cut)
    meta["wall_seconds"] = _wall_seconds(stored, tuned, started)
    written = [_panel(config, paths, panel, curves, meta) for panel in ev.panels]
    if ev.trace:
        written.append(_trace(config, paths, problem, lstm, meta))
    title = _title(ev.panels[0].title, config) if ev.panels else ""
    return written + family.outputs(config, paths.data, problem, rules, meta, title)


def _panel(
    config: Config, paths: Paths, panel: PanelConfig, curves: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """One panel's curves file: the curves cut to ``panel.steps``."""
    return write_json(
        paths.data / f"{panel.name}.json",
        {
            "figure": panel.name, "title": _title(panel.title, config),
            "profile": config.profile,
            "x": "step", "y": "loss", "curves": _shorten(curves, panel.steps), "meta": meta,
        },
    )


def _trace(config: Config, paths: Paths, problem: Any, lstm: Any, meta: dict[str, Any]) -> Path:
    """The LSTM's inputs, state and updates at ``evaluate.trace_step`` (Figure 3's data)."""
    ev = config.evaluate
    data = trace(problem, lstm, ev.trace_step, ev.trace_coordinates)
    return write_json(
        paths.data / f"{ev.trace}.json",
        {
            "figure": ev.trace, "title": "One step of the LSTM optimizer",
            "profile": config.profile,
            "problem": f"{config.experiment}, {data['n_coordinates']}-d, test instance 0",
            **data, "meta": meta,
        },
    )


def _grid(
    config: Config, paths: Paths, lstm: Any, checkpoint: Checkpoint, family: Family,
    device: torch.device, started: float,
) -> Path:
    """Final loss of the LSTM and of baselines re-tuned per architecture, over the grid.

    ``started`` (a ``time.perf_counter()`` reading) is when the command began, for its wall time.
    """
    grid, names = config.grid, [*config.tune.optimizers, "LSTM"]
    panels, index = [], 0
    run_dir = paths.run_dir(config, "evaluate")
    with (
        tracking.run(run_dir, f"{config.experiment}-evaluate", config.to_dict()) as loggers,
        tqdm(total=len(grid.layers) * len(grid.widths), desc="architectures", unit="net") as bar,
    ):
        for layers in grid.layers:
            points: dict[str, dict[str, Any]] = {
                name: {"mean": [], "lo": [], "hi": [], "lr": None if name == "LSTM" else [],
                       "at_grid_edge": None if name == "LSTM" else []}
                for name in names
            }
            for width in grid.widths:
                finals = _architecture(config, family, lstm, device, [width] * layers, points)
                for name, mean in finals:
                    if mean is not None:
                        key = f"grid/{layers}x{width}/{name}"
                        tracking.log_metrics(loggers, {key: mean}, index)
                index += 1
                bar.update()
            panels.append({"layers": layers, "widths": list(grid.widths), "curves": points})
    trained = config.problem.hidden
    return write_json(
        paths.data / f"{grid.figure}.json",
        {
            "figure": grid.figure, "title": _title(grid.title, config),
            "profile": config.profile, "x": "hidden units", "y": "final loss",
            "train_architecture": {"layers": len(trained), "width": trained[0]},
            "panels": panels,
            "meta": provenance(
                paths.config_file, config.seed, profile=config.profile,
                checkpoint=str(checkpoint.path), selected=checkpoint.selection(),
                **family.describe(),
                problems=f"{config.evaluate.problems} test instances per architecture",
                wall_seconds=_wall_seconds(checkpoint, None, started),
            ),
        },
    )


def _architecture(
    config: Config, family: Family, lstm: Any, device: torch.device, hidden: list[int],
    points: dict[str, dict[str, Any]],
) -> list[tuple[str, float | None]]:
    """Tune the baselines on nets of ``hidden`` units, evaluate every rule on them, add each
    final loss to ``points``; return ``(name, final mean loss)`` per rule."""
    arch = replace(config, problem=replace(config.problem, hidden=hidden))
    nets = family.with_family(make_family(arch))
    val = nets.sample("val", 0, config.tune.problems, device)
    test = nets.sample("test", 0, config.evaluate.problems, device)
    tuned = tune_rules(val, config.tune.optimizers, config.tune.grid, config.meta.horizon)
    rules = _rules(tuned, config.tune.optimizers, lstm, "the grid's tuning")
    finals = []
    for name, curve in evaluate_rules(test, rules, config.meta.horizon).items():
        for key in ("mean", "lo", "hi"):
            points[name][key].append(curve[key][-1])
        if name != "LSTM":
            points[name]["lr"].append(curve["lr"])
            points[name]["at_grid_edge"].append(tuned[name]["at_grid_edge"])
        finals.append((name, curve["mean"][-1]))
    return finals


def _rules(
    tuned: dict[str, Any], names: list[str], lstm: Any, where: Path | str
) -> dict[str, tuple[Any, float | None]]:
    """Each baseline at its tuned rate (``tuned[name]["lr"]``) and the LSTM, by legend name."""
    out: dict[str, tuple[Any, float | None]] = {}
    for name in names:
        if name not in tuned:
            raise runs.MissingInputError(f"{where} has no learning rate for {name}")
        lr = tuned[name]["lr"]
        out[name] = (make_baseline(name, lr), lr)
    out["LSTM"] = (lstm, None)
    return out


def _note_differences(checkpoint: Checkpoint, family: Family) -> None:
    """Say so where the optimizer was meta-trained on another family description (dataset,
    encoder) than the one it is evaluated on."""
    trained = checkpoint.meta
    for key, now in family.describe().items():
        if trained.get(key) not in (None, "none", now):  # shipped files may record "none"
            print(f"note: the optimizer was meta-trained with {key} {trained[key]}; "
                  f"evaluating with {now}")


def _wall_seconds(
    checkpoint: Checkpoint, tuned: dict[str, Any] | None, started: float
) -> dict[str, float | None]:
    """Wall-clock seconds of the runs behind a data file: meta-training (from the checkpoint),
    the baselines' tuning (from its record) and this evaluation (since ``started``)."""
    fit_seconds = checkpoint.payload.get("seconds")
    return {
        "fit": None if fit_seconds is None else round(float(fit_seconds), 1),
        "tune": ((tuned or {}).get("meta") or {}).get("wall_seconds"),
        "evaluate": round(time.perf_counter() - started, 1),
    }


def _title(text: str, config: Config) -> str:
    """A panel's title, naming Fashion-MNIST where it replaces MNIST; ``{size}``: art.size."""
    text = text.replace("{size}", str(config.art.size))
    return text.replace("MNIST", "Fashion-MNIST") if config.data.name == "fashion_mnist" else text


def _shorten(curves: dict[str, dict[str, Any]], steps: int) -> dict[str, dict[str, Any]]:
    """The curves cut to their first ``steps`` steps."""
    out = {}
    for name, curve in curves.items():
        cut = {k: (v[:steps] if isinstance(v, list) else v) for k, v in curve.items()}
        if cut.get("diverged_at") is not None and cut["diverged_at"] > steps:
            cut["diverged_at"] = None
        out[name] = cut
    return out
