"""The suite's four commands: fit, tune, evaluate, figure. Each logs to W&B and CSV."""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from repro import tracking
from repro.config import Config
from repro.io import OutputError, provenance, write_json
from repro.meta.evaluate import evaluate as evaluate_rules
from repro.meta.evaluate import trace
from repro.meta.learner import MetaLearner, export_optimizer, load_optimizer
from repro.meta.tune import tune as tune_rules
from repro.optimizees import ProblemSource, make_family, make_source
from repro.optimizers.hand import make_baseline
from repro.optimizers.lstm import LSTMOptimizer


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

    Also applies ``trainer.threads`` to torch's CPU thread pool.
    """
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    wants_gpu = config.trainer.accelerator in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


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


def fit(config: Config, paths: Paths) -> Path:
    """Meta-train the LSTM optimizer; export the best (by validation) phi; return its path."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    from repro.data.problems import ProblemData

    run_dir = paths.run_dir(config, "fit")
    _ensure_writable(run_dir)
    device_for(config)
    L.seed_everything(config.seed, workers=True, verbose=False)
    learner = MetaLearner(config, make_source(config))
    loggers = tracking.make_loggers(run_dir, f"{config.experiment}-fit", config.to_dict())
    best = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best", monitor="val/final_loss", mode="min",
        save_top_k=1, save_last=True,
    )
    trainer = L.Trainer(
        max_steps=config.meta.steps,
        val_check_interval=config.meta.val_every,
        check_val_every_n_epoch=None,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        inference_mode=False,
        accelerator=config.trainer.accelerator,
        devices=config.trainer.devices,
        logger=loggers,
        callbacks=[best, LearningRateMonitor(logging_interval="step")],
        log_every_n_steps=config.trainer.log_every,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    started = time.perf_counter()
    exit_code = 1
    try:
        trainer.fit(learner, datamodule=ProblemData())
        exit_code = 0
    finally:
        tracking.finish(loggers, exit_code)
    seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return paths.checkpoint(config.experiment)
    selected = "final"
    val_loss = None
    if best.best_model_path:
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
        learner.load_state_dict(state["state_dict"])
        selected = f"best of validation at step {state['global_step']}"
        val_loss = float(best.best_model_score)
    return export_optimizer(
        learner,
        paths.checkpoint(config.experiment),
        selected=selected,
        val_final_loss=val_loss,
        meta_steps=int(trainer.global_step),
        seconds=seconds,
        seconds_per_truncation=seconds / max(int(trainer.global_step), 1),
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        meta=provenance(
            paths.config_file, config.seed, profile=config.profile, **_encoder_meta(learner.source)
        ),
    )


def tune(config: Config, paths: Paths) -> Path:
    """Search each baseline's learning rate on validation problems; record it; return the file."""
    run_dir = paths.run_dir(config, "tune")
    _ensure_writable(paths.data)
    _ensure_writable(run_dir)
    device = device_for(config)
    problem = make_source(config).sample("val", 0, config.tune.problems, device)
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

        results = tune_rules(
            problem, config.tune.optimizers, config.tune.grid, config.meta.horizon, report
        )
        exit_code = 0
    finally:
        tracking.finish(loggers, exit_code)
    return write_json(
        paths.tuned(config),
        {
            "experiment": config.experiment,
            "profile": config.profile,
            "criterion": "mean loss at the final step on validation problems",
            "split": "val",
            "problems": config.tune.problems,
            "steps": config.meta.horizon,
            "grid": config.tune.grid,
            "optimizers": results,
            "meta": provenance(paths.config_file, config.seed, profile=config.profile),
        },
    )


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist; {hint}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise MissingInputError(f"{path} is unreadable ({error}); {hint}") from None


def evaluate(config: Config, paths: Paths, checkpoint: Path | None = None) -> list[Path]:
    """Roll every optimizer over the test problems; write the curves and the LSTM trace."""
    checkpoint = checkpoint or paths.checkpoint(
        config.evaluate.optimizer_from or config.experiment
    )
    lstm = load_optimizer(checkpoint, config.optimizer)
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
        return [evaluate_grid(config, paths, lstm, checkpoint, source, device)]
    ev = config.evaluate
    problem = source.sample("test", 0, ev.problems, device)
    rules = _rules(tuned["optimizers"], config.tune.optimizers, lstm, paths.tuned(config))
    meta = provenance(
        paths.config_file, config.seed, profile=config.profile, checkpoint=str(checkpoint),
        problems=f"{ev.problems} test instances (split 'test')",
        **({"dataset": config.data.name} if config.data.name != "none" else {}),
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
    source: ProblemSource, device: torch.device,
) -> Path:
    """Final loss of the LSTM and of baselines re-tuned per architecture, over the grid."""
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
                name: {"mean": [], "lo": [], "hi": [], "lr": None if name == "LSTM" else []}
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
    return write_json(
        paths.data / f"{grid.figure}.json",
        {
            "figure": grid.figure, "title": _title(grid.title, config),
            "profile": config.profile, "x": "hidden units", "y": "final loss",
            "train_architecture": {"layers": len(trained), "width": trained[0]},
            "panels": panels,
            "meta": provenance(
                paths.config_file, config.seed, profile=config.profile,
                checkpoint=str(checkpoint), dataset=config.data.name,
                problems=f"{config.evaluate.problems} test instances per architecture",
            ),
        },
    )


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
    from repro.figures import COMPOSITE_MAKERS, COMPOSITES, FIGURES

    if name not in FIGURES and name not in COMPOSITES:
        known = ", ".join(sorted([*FIGURES, *COMPOSITES]))
        raise MissingInputError(f"unknown figure {name!r}; known: {known}")
    for panel in COMPOSITES.get(name, (name,)):
        hint = f"run 'python -m repro evaluate' to make the data of {panel}"
        _read_json(paths.data / f"{panel}.json", hint)
    _ensure_writable(paths.figures)
    if name in COMPOSITES:
        COMPOSITE_MAKERS[name](paths.data, paths.figures / name)
    else:
        FIGURES[name](paths.data / f"{name}.json", paths.figures / name)
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
