"""What ``repro evaluate`` writes and logs: curve panels, the LSTM's trace and the
architecture grid."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger

from repro import tracking
from repro.config import Config
from repro.figures.registry import Panel
from repro.io import write_json
from repro.meta.evaluate import trace as lstm_trace
from repro.optimizees.base import Problem
from repro.optimizers.lstm import LSTMOptimizer
from repro.optimizers.phi_file import PhiFile
from repro.paths import REFERENCE_FILE, Paths
from repro.report import reference


def paper_values(dataset: str | None, path: Path = REFERENCE_FILE) -> dict[str, dict[str, Any]]:
    """Per panel, the paper's ``steps`` and ``loss`` (optimizer -> values) where the paper's
    panel was run on ``dataset``; empty when the reference file is missing."""
    return {name: {"steps": ref["steps"], "loss": ref["loss"]}
            for name, ref in reference.load(path).items() if ref.get("dataset") == dataset}


def panel(
    config: Config, paths: Paths, panel: Panel, curves: dict[str, Any],
    meta: dict[str, Any], paper: dict[str, Any] | None = None,
) -> Path:
    """One panel's curves file: the curves cut to ``panel.steps``, and ``paper``, the paper's
    values at its steps (drawn as markers), when given."""
    return _write(config, paths, panel.name, panel.title, meta, x="step", y="loss",
                  curves=shorten(curves, panel.steps), **({"paper": paper} if paper else {}))


def trace(
    config: Config, paths: Paths, problem: Problem, lstm: LSTMOptimizer, meta: dict[str, Any]
) -> Path:
    """The LSTM's inputs, state and updates at ``evaluate.trace_step`` (Figure 3's data)."""
    ev = config.evaluate
    data = lstm_trace(problem, lstm, ev.trace_step, ev.trace_coordinates)
    problem_text = f"{config.experiment}, {data['n_coordinates']}-d, test instance 0"
    return _write(config, paths, ev.trace, "One step of the LSTM optimizer", meta,
                  problem=problem_text, **data)


def grid(config: Config, paths: Paths, panels: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """The architecture grid's final losses (:func:`repro.meta.grid.architecture_grid`)."""
    trained = config.problem.hidden
    return _write(config, paths, config.grid.figure, config.grid.title, meta,
                  x="hidden units", y="final loss",
                  train_architecture={"layers": len(trained), "width": trained[0]}, panels=panels)


def _write(
    config: Config, paths: Paths, figure: str, title_text: str, meta: dict[str, Any], **body: Any
) -> Path:
    """``figure``'s data file: its name, :func:`title`, profile, ``body`` and ``meta``."""
    return write_json(paths.data / f"{figure}.json", {
        "figure": figure, "title": title(title_text, config), "profile": config.profile, **body,
        "meta": meta,
    })


def wall_seconds(
    checkpoint: PhiFile, tuned: dict[str, Any] | None, started: float
) -> dict[str, float | None]:
    """Wall-clock seconds of the runs behind a data file: meta-training (from the checkpoint),
    the baselines' tuning (from its record) and this evaluation (since ``started``)."""
    fit_seconds = checkpoint.fit.get("seconds")
    return {"fit": None if fit_seconds is None else round(float(fit_seconds), 1),
            "tune": ((tuned or {}).get("meta") or {}).get("wall_seconds"),
            "evaluate": round(time.perf_counter() - started, 1)}


def title(text: str, config: Config) -> str:
    """A panel's title, naming Fashion-MNIST where it replaces MNIST; ``{key}`` in it: the
    ``problem`` section's setting ``key`` (e.g. Neural Art's ``{size}``)."""
    for key, value in dataclasses.asdict(config.problem).items():
        text = text.replace(f"{{{key}}}", str(value))
    return text.replace("MNIST", "Fashion-MNIST") if config.data.name == "fashion_mnist" else text


def shorten(curves: dict[str, dict[str, Any]], steps: int) -> dict[str, dict[str, Any]]:
    """The curves cut to their first ``steps`` steps."""
    out = {}
    for name, curve in curves.items():
        cut = {k: (v[:steps] if isinstance(v, list) else v) for k, v in curve.items()}
        if cut.get("diverged_at") is not None and cut["diverged_at"] > steps:
            cut["diverged_at"] = None
        out[name] = cut
    return out


def log_curves(loggers: list[Logger], curves: dict[str, Any], panels: list[Panel]) -> None:
    """Each optimizer's mean loss per step, and each panel's curves as a table."""
    for name, curve in curves.items():
        for step, mean in zip(curve["step"], curve["mean"], strict=True):
            if mean is not None:
                tracking.log_metrics(loggers, {f"evaluate/{name}": mean}, step)
    for panel in panels:
        tracking.log_curves_table(loggers, f"curves/{panel.name}", shorten(curves, panel.steps))


def log_grid(loggers: list[Logger], panels: list[dict[str, Any]]) -> None:
    """Each optimizer's final loss on each network of the grid, one logging step per network."""
    nets = [(panel, i, w) for panel in panels for i, w in enumerate(panel["widths"])]
    for index, (panel, i, width) in enumerate(nets):
        for name, curve in panel["curves"].items():
            if curve["mean"][i] is not None:
                key = f"grid/{panel['layers']}x{width}/{name}"
                tracking.log_metrics(loggers, {key: curve["mean"][i]}, index)
