"""The suite's four commands: fit, tune, evaluate, figure. Each logs to W&B and CSV."""

from __future__ import annotations

import functools
import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from repro import tracking
from repro.config import Config, ConfigError
from repro.io import OutputError, brief, provenance, run_lock, write_json
from repro.meta.checkpoint import export_optimizer, resume_from
from repro.meta.evaluate import evaluate as evaluate_rules
from repro.meta.evaluate import trace
from repro.meta.experiments import make_experiment, make_source
from repro.meta.learned import load_learned
from repro.meta.tune import search
from repro.meta.tune import tune as tune_rules
from repro.optimizees import ProblemSource, make_family
from repro.optimizers.hand import make_baseline
from repro.optimizers.lstm import LSTMOptimizer

T = TypeVar("T")


class MissingInputError(FileNotFoundError):
    """An input a command needs (checkpoint, tuned rates, curves) is missing; one line."""


@dataclass(frozen=True)
class Paths:
    """Where one experiment's runs and figures go."""

    runs: Path
    figures: Path
    config_file: Path | None = None

    @property
    def data(self) -> Path:
        """Folder of the figures' JSON data."""
        return self.figures / "data"

    def run_dir(self, config: Config, command: str) -> Path:
        """The run folder of ``command`` for ``config``."""
        return self.runs / config.experiment / command

    def checkpoint(self, experiment: str) -> Path:
        """The exported best optimizer of ``experiment``'s meta-training."""
        return self.runs / experiment / "optimizer.ckpt"

    def tuned(self, config: Config) -> Path:
        """The recorded learning-rate search of ``config``'s baselines."""
        return self.data / f"tuned_lr_{config.experiment}.json"


def default_paths(profile: str, root: Path = Path("."), config_file: Path | None = None) -> Paths:
    """``runs/<profile>`` and ``paper_figures`` (``paper_figures/quick`` for the quick profile)."""
    figures = root / "paper_figures" if profile == "paper" else root / "paper_figures" / profile
    return Paths(runs=root / "runs" / profile, figures=figures, config_file=config_file)


def device_for(config: Config) -> torch.device:
    """CUDA when available and allowed by ``trainer.accelerator``, else the CPU.

    Refuses, with a one-line :class:`ConfigError`, what this machine lacks: ``gpu``/``cuda``
    without a CUDA GPU, and more ``trainer.devices`` than it has GPUs or, on the CPU (one
    process per device), cores. Also applies ``trainer.threads`` to torch's CPU thread pool.
    """
    trainer = config.trainer
    gpu = torch.cuda.is_available()
    if trainer.accelerator in ("gpu", "cuda") and not gpu:
        raise ConfigError(
            f"trainer.accelerator: {trainer.accelerator} asked for, but this machine has no "
            "CUDA GPU; use auto or cpu"
        )
    on_gpu = gpu and trainer.accelerator != "cpu"
    have = torch.cuda.device_count() if on_gpu else os.cpu_count() or 1
    if isinstance(trainer.devices, int) and trainer.devices > have:
        unit = "GPUs" if on_gpu else "CPU cores (one process per device)"
        raise ConfigError(
            f"trainer.devices: {trainer.devices} asked for, but this machine has {have} {unit}; "
            f"use at most {have} or auto"
        )
    if trainer.threads:
        torch.set_num_threads(trainer.threads)
    return torch.device("cuda" if on_gpu else "cpu")


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {folder}: {error.strerror or error}") from None
    probe = folder / ".write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write to {folder}: {error.strerror or error}") from None


def _holding_run_folder(command: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run the decorated command with its run folder locked (see :func:`repro.io.run_lock`)."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def held(config: Config, paths: Paths, *args: Any, **kwargs: Any) -> T:
            run_dir = paths.run_dir(config, command)
            _ensure_writable(run_dir)
            with run_lock(run_dir):
                return function(config, paths, *args, **kwargs)

        return held

    return decorate


@_holding_run_folder("fit")
def fit(config: Config, paths: Paths) -> Path:
    """Meta-train the LSTM optimizer; export the best (by validation) phi; return its path.

    An interrupted fit of the same settings resumes from its last checkpoint; on SIGTERM the
    fit writes that checkpoint (or, signalled during validation, keeps the last one written)
    and raises :class:`Preempted`.
    """
    import lightning as L
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from repro.meta.training import Preempted, make_trainer

    run_dir = paths.run_dir(config, "fit")
    _ensure_writable(run_dir)
    device_for(config)
    L.seed_everything(config.meta.phi_seed(config.seed), workers=True, verbose=False)
    resume = resume_from(config, run_dir)
    learner, data = make_experiment(config)
    loggers = tracking.make_loggers(run_dir, f"{config.experiment}-fit", config.to_dict())
    trainer, best, preemption = make_trainer(config, run_dir, loggers)
    if resume is not None and trainer.is_global_zero:
        print(f"resuming meta-training from {resume}")
    if config.meta.clip_grad_norm and trainer.is_global_zero:
        print(f"meta-gradient norm clipped at {config.meta.clip_grad_norm}")
    started = time.perf_counter()
    exit_code = 1
    try:
        trainer.fit(learner, datamodule=data, ckpt_path=resume)
        exit_code = 0
    except SIGTERMException:
        # SIGTERM after Preemption's check (during validation): Lightning stops the fit itself
        raise Preempted(
            f"preempted during truncation {trainer.global_step}: the last checkpoint written, "
            f"{preemption.last_path}, stands; run the same command again to resume"
        ) from None
    finally:
        tracking.finish(loggers, exit_code)
    seconds = time.perf_counter() - started
    if preemption.stopped_at is not None:
        raise Preempted(
            f"preempted after truncation {preemption.stopped_at}: checkpoint "
            f"{preemption.last_path} written; run the same command again to resume"
        )
    if not trainer.is_global_zero:
        return paths.checkpoint(config.experiment)
    selected = "final"
    val_loss = None
    truncation = int(trainer.global_step)
    if best.best_model_path:
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
        learner.load_state_dict(state["state_dict"])
        truncation = int(state["global_step"])
        selected = f"best of validation at step {truncation}"
        val_loss = float(best.best_model_score)
    return export_optimizer(
        learner.optimizer_net,
        config,
        paths.checkpoint(config.experiment),
        selected=selected,
        selected_truncation=truncation,
        val_final_loss=val_loss,
        meta_steps=int(trainer.global_step),
        skipped_truncations=learner.skipped,
        clip_grad_norm=config.meta.clip_grad_norm or None,
        world_size=trainer.world_size,
        resumed_from=str(resume) if resume else None,
        seconds=seconds,
        seconds_per_truncation=seconds / max(learner.truncations_run, 1),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        meta=provenance(
            paths.config_file, config.seed, profile=config.profile,
            phi_seed=config.meta.phi_seed(config.seed), **_encoder_meta(learner.source)
        ),
    )


@_holding_run_folder("tune")
def tune(config: Config, paths: Paths) -> Path:
    """Search each baseline's learning rate on validation problems; record it; return the file."""
    run_dir = paths.run_dir(config, "tune")
    _ensure_writable(paths.data)
    _ensure_writable(run_dir)
    started = time.perf_counter()
    device = device_for(config)
    source = make_source(config)
    loggers = tracking.make_loggers(run_dir, f"{config.experiment}-tune", config.to_dict())
    exit_code = 1
    try:
        step = 0

        def report(name: str, lr: float, loss: float) -> None:
            nonlocal step
            tracking.log_metrics(
                loggers, {f"tune/{name}/final_loss": min(loss, 1e30), f"tune/{name}/lr": lr}, step
            )
            step += 1

        searched = search(
            source, "val", config.tune.problems, config.tune.optimizers, config.tune.grid,
            config.meta.horizon, device, report,
        )
        exit_code = 0
    finally:
        tracking.finish(loggers, exit_code)
    return write_json(
        paths.tuned(config),
        {
            "experiment": config.experiment,
            "profile": config.profile,
            **searched,
            "meta": provenance(
                paths.config_file, config.seed, profile=config.profile,
                wall_seconds=round(time.perf_counter() - started, 1),
            ),
        },
    )


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist; {hint}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise MissingInputError(f"{path} is unreadable ({brief(error)}); {hint}") from None


@_holding_run_folder("evaluate")
def evaluate(config: Config, paths: Paths, checkpoint: Path | None = None) -> list[Path]:
    """Roll every optimizer over the test problems; write the curves and the LSTM trace."""
    checkpoint = checkpoint or paths.checkpoint(
        config.evaluate.optimizer_from or config.experiment
    )
    started = time.perf_counter()
    lstm = load_learned(checkpoint, config)
    grid = bool(config.grid.layers)
    tuned = None if grid else _read_json(paths.tuned(config), "run 'python -m repro tune' first")
    run_dir = paths.run_dir(config, "evaluate")
    _ensure_writable(paths.data)
    _ensure_writable(run_dir)
    device = device_for(config)
    lstm.to(device)
    source = make_source(config)
    _check_encoder(checkpoint, source)
    if grid:
        return [evaluate_grid(config, paths, lstm, checkpoint, source, device, started)]
    ev = config.evaluate
    problem = source.sample("test", 0, ev.problems, device)
    rules = _rules(tuned["optimizers"], config.tune.optimizers, lstm, paths.tuned(config))
    if ev.lstm_sub_from:
        sub = load_learned(paths.checkpoint(ev.lstm_sub_from), config).to(device)
        rules["LSTM-sub"] = (sub, None)
    meta = provenance(
        paths.config_file, config.seed, profile=config.profile, checkpoint=str(checkpoint),
        selected=selection(checkpoint),
        problems=f"{ev.problems} test instances (split 'test')",
        dataset=_dataset(config),
        **({"classes": config.data.classes} if config.data.classes else {}),
        **(
            {"lstm_sub_checkpoint": str(paths.checkpoint(ev.lstm_sub_from))}
            if ev.lstm_sub_from else {}
        ),
        **_encoder_meta(source),
    )
    loggers = tracking.make_loggers(run_dir, f"{config.experiment}-evaluate", config.to_dict())
    exit_code = 1
    try:
        curves = evaluate_rules(problem, rules, config.steps)
        for name, curve in curves.items():
            for step, mean in zip(curve["step"], curve["mean"], strict=True):
                if mean is not None:
                    tracking.log_metrics(loggers, {f"evaluate/{name}": mean}, step)
        for panel in ev.panels:
            tracking.log_curves_table(
                loggers, f"curves/{panel.name}", shorten(curves, panel.steps)
            )
        exit_code = 0
    finally:
        tracking.finish(loggers, exit_code)
    meta["wall_seconds"] = _wall_seconds(checkpoint, tuned, started)
    written = [
        write_json(
            paths.data / f"{panel.name}.json",
            {
                "figure": panel.name, "title": _title(panel.title, config),
                "profile": config.profile,
                "x": "step", "y": "loss", "curves": shorten(curves, panel.steps), "meta": meta,
            },
        )
        for panel in ev.panels
    ]
    if ev.trace:
        data = trace(problem, lstm, ev.trace_step, ev.trace_coordinates)
        dim = data["n_coordinates"]
        written.append(
            write_json(
                paths.data / f"{ev.trace}.json",
                {
                    "figure": ev.trace, "title": "One step of the LSTM optimizer",
                    "profile": config.profile,
                    "problem": f"{config.experiment}, {dim}-d, test instance 0",
                    **data, "meta": meta,
                },
            )
        )
    if _is_art(config):
        written += _art_outputs(config, paths, problem, rules, meta)
    return written


def _is_art(config: Config) -> bool:
    return config.problem.family == "neural_art"


def _encoder_meta(source: ProblemSource) -> dict[str, str]:
    """``{"encoder": description}`` for a family with a feature encoder (Neural Art), else {}."""
    encoder = getattr(source.family, "encoder", None)
    return {"encoder": encoder.description} if encoder is not None else {}


def _check_encoder(checkpoint: Path, source: ProblemSource) -> None:
    """Say so when the optimizer was meta-trained with another encoder than the one now used."""
    now = _encoder_meta(source).get("encoder")
    if now is None:
        return
    trained = (torch.load(checkpoint, map_location="cpu", weights_only=True).get("meta") or {})
    if trained.get("encoder") not in (None, now):
        print(f"note: the optimizer was meta-trained with encoder {trained['encoder']}; "
              f"evaluating with {now}")


def _art_outputs(
    config: Config, paths: Paths, problem: Any, rules: dict[str, tuple[Any, float | None]],
    meta: dict[str, Any],
) -> list[Path]:
    """Neural Art's image triple and update-rule views, as ``config.art`` asks."""
    from repro import art

    written = []
    if config.art.images:
        title = _title(config.evaluate.panels[0].title, config)
        written += art.write_images(config, paths.data, problem, rules["LSTM"][0], meta, title)
    if config.art.update_views:
        written += art.write_update_views(config, paths.data, problem, rules, meta)
    return written


def _rules(
    tuned: dict[str, Any], names: list[str], lstm: LSTMOptimizer, where: Path | str
) -> dict[str, tuple[Any, float | None]]:
    """Each baseline at its tuned rate (``tuned[name]["lr"]``) and the LSTM, by legend name."""
    rules: dict[str, tuple[Any, float | None]] = {}
    for name in names:
        if name not in tuned:
            raise MissingInputError(f"{where} has no learning rate for {name}")
        lr = tuned[name]["lr"]
        rules[name] = (make_baseline(name, lr), lr)
    rules["LSTM"] = (lstm, None)
    return rules


def evaluate_grid(
    config: Config, paths: Paths, lstm: LSTMOptimizer, checkpoint: Path,
    source: ProblemSource, device: torch.device, started: float | None = None,
) -> Path:
    """Final loss of the LSTM and of baselines re-tuned per architecture, over the grid.

    ``started`` (a ``time.perf_counter()`` reading) is when the command began, for its wall time.
    """
    run_dir = paths.run_dir(config, "evaluate")
    horizon, grid = config.meta.horizon, config.grid
    names = [*config.tune.optimizers, "LSTM"]
    panels = []
    loggers = tracking.make_loggers(run_dir, f"{config.experiment}-evaluate", config.to_dict())
    exit_code, index = 1, 0
    progress = tqdm(total=len(grid.layers) * len(grid.widths), desc="architectures", unit="net")
    try:
        for layers in grid.layers:
            points: dict[str, dict[str, Any]] = {
                name: {"mean": [], "lo": [], "hi": [], "lr": None if name == "LSTM" else [],
                       "at_grid_edge": None if name == "LSTM" else []}
                for name in names
            }
            for width in grid.widths:
                hidden = [width] * layers
                arch = replace(config, problem=replace(config.problem, hidden=hidden))
                arch_source = source.with_family(make_family(arch))
                val = arch_source.sample("val", 0, config.tune.problems, device)
                test = arch_source.sample("test", 0, config.evaluate.problems, device)
                tuned = tune_rules(val, config.tune.optimizers, config.tune.grid, horizon)
                rules = _rules(tuned, config.tune.optimizers, lstm, "the grid's tuning")
                for name, curve in evaluate_rules(test, rules, horizon).items():
                    for key in ("mean", "lo", "hi"):
                        points[name][key].append(curve[key][-1])
                    if name != "LSTM":
                        points[name]["lr"].append(curve["lr"])
                        points[name]["at_grid_edge"].append(tuned[name]["at_grid_edge"])
                    if curve["mean"][-1] is not None:
                        tracking.log_metrics(
                            loggers, {f"grid/{layers}x{width}/{name}": curve["mean"][-1]}, index
                        )
                index += 1
                progress.update()
            panels.append({"layers": layers, "widths": list(grid.widths), "curves": points})
        exit_code = 0
    finally:
        progress.close()
        tracking.finish(loggers, exit_code)
    trained = config.problem.hidden
    wall = _wall_seconds(checkpoint, None, time.perf_counter() if started is None else started)
    return write_json(
        paths.data / f"{grid.figure}.json",
        {
            "figure": grid.figure, "title": _title(grid.title, config),
            "profile": config.profile, "x": "hidden units", "y": "final loss",
            "train_architecture": {"layers": len(trained), "width": trained[0]},
            "panels": panels,
            "meta": provenance(
                paths.config_file, config.seed, profile=config.profile,
                checkpoint=str(checkpoint), selected=selection(checkpoint),
                dataset=config.data.name,
                problems=f"{config.evaluate.problems} test instances per architecture",
                wall_seconds=wall,
            ),
        },
    )


def _dataset(config: Config) -> str:
    """The data an experiment's optimizees fit: the dataset's name, or ``synthetic``."""
    if config.problem.family == "neural_art":
        return "images"
    return config.data.name if config.data.name != "none" else "synthetic"


def selection(checkpoint: Path) -> dict[str, Any]:
    """Which phi an optimizer file holds: its seed, the truncation selected on validation and
    that validation loss (from a fit's export or a shipped weights file)."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    meta = payload.get("meta") or {}
    if "truncation" in meta:  # a shipped weights file (repro/weights)
        return {key: meta.get(key) for key in ("dataset", "seed", "truncation", "val_loss",
                                               "commit")}
    return {
        "seed": meta.get("phi_seed", meta.get("seed")),
        "truncation": payload.get("selected_truncation", payload.get("meta_steps")),
        "val_loss": payload.get("val_final_loss"),
        "commit": meta.get("commit"),
    }


def _wall_seconds(
    checkpoint: Path, tuned: dict[str, Any] | None, started: float
) -> dict[str, float | None]:
    """Wall-clock seconds of the runs behind a data file: meta-training (from the checkpoint),
    the baselines' tuning (from its record) and this evaluation (since ``started``)."""
    try:
        fit_seconds = torch.load(checkpoint, map_location="cpu", weights_only=True).get("seconds")
    except (OSError, RuntimeError, AttributeError):
        fit_seconds = None
    tune_seconds = ((tuned or {}).get("meta") or {}).get("wall_seconds")
    return {
        "fit": None if fit_seconds is None else round(float(fit_seconds), 1),
        "tune": tune_seconds,
        "evaluate": round(time.perf_counter() - started, 1),
    }


def _title(title: str, config: Config) -> str:
    """A panel's title, naming Fashion-MNIST where it replaces MNIST; ``{size}``: art.size."""
    title = title.replace("{size}", str(config.art.size))
    return title.replace("MNIST", "Fashion-MNIST") if config.data.name == "fashion_mnist" else title


def shorten(curves: dict[str, dict[str, Any]], steps: int) -> dict[str, dict[str, Any]]:
    """The curves cut to their first ``steps`` steps."""
    out = {}
    for name, curve in curves.items():
        cut = {k: (v[:steps] if isinstance(v, list) else v) for k, v in curve.items()}
        if cut.get("diverged_at") is not None and cut["diverged_at"] > steps:
            cut["diverged_at"] = None
        out[name] = cut
    return out


def figure(name: str, paths: Paths, config: Config | None = None) -> list[Path]:
    """Draw figure ``name`` from its JSON data; log the image to W&B when a config is given."""
    from repro.figures import NAMES, draw, inputs

    if name not in NAMES:
        raise MissingInputError(f"unknown figure {name!r}; known: {', '.join(sorted(NAMES))}")
    for panel in inputs(name):
        hint = f"run 'python -m repro evaluate' to make the data of {panel}"
        _read_json(paths.data / f"{panel}.json", hint)
    _ensure_writable(paths.figures)
    draw(name, paths.data, paths.figures / name)
    written = [paths.figures / f"{name}.{ext}" for ext in ("png", "pdf")]
    if config is not None:
        loggers = tracking.make_loggers(
            paths.run_dir(config, f"figure-{name}"), f"{config.experiment}-{name}", config.to_dict()
        )
        try:
            tracking.log_figure(loggers, f"figures/{name}", written[0])
        finally:
            tracking.finish(loggers)
    return written
