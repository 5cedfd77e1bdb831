"""Experiment configuration: typed, validated, loaded from YAML with profiles and overrides.

Every error is a :class:`ConfigError` whose message is one line naming the bad key or value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

PROFILES = ("paper", "quick")


class ConfigError(ValueError):
    """A bad configuration value; the message is one line."""


@dataclass(frozen=True)
class ProblemConfig:
    """The optimizee family and the size of one meta-training problem.

    ``train_hidden`` (MLPs; off when empty, as in the paper) lists the hidden layers of the
    networks meta-training cycles through, one per problem (e.g. ``[[20], [20, 20]]``);
    validation and evaluation keep ``hidden``.
    """

    family: Literal["quadratic", "mlp", "convnet", "neural_art"] = "quadratic"
    dim: int = 10
    scale: Literal["mean", "sum"] = "mean"
    init_std: float = 0.01
    batch: int = 128
    hidden: list[int] = field(default_factory=lambda: [20])
    activation: Literal["sigmoid", "relu", "tanh"] = "sigmoid"
    minibatch: int = 128
    channels: list[int] = field(default_factory=lambda: [16, 16, 16])
    kernel: int = 5
    train_hidden: list[list[int]] = field(default_factory=list)


@dataclass(frozen=True)
class DataConfig:
    """The dataset an MLP or conv-net optimizee trains on (``none`` for quadratics).

    ``classes`` keeps only those CIFAR-10 labels, renumbered in that order (empty: all ten).
    """

    name: Literal["none", "mnist", "fashion_mnist", "cifar10"] = "none"
    root: str = "data"
    download: bool = True
    val_size: int = 5000
    classes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OptimizerConfig:
    """The coordinatewise LSTM optimizer; ``groups`` names the family's parameter groups that
    each get an LSTM of their own (empty: one LSTM for all of theta). ``compile`` and ``kernel``
    choose how it runs, not what it computes (see ``LSTMOptimizer``)."""

    hidden: int = 20
    layers: int = 2
    preprocessing: Literal["none", "logsign"] = "none"
    p: float = 10.0
    output_scale: float = 1.0
    compile: bool = False
    kernel: Literal["auto", "native", "torch"] = "auto"
    groups: list[str] = field(default_factory=list)
    head_init: Literal["sonnet", "zero"] = "sonnet"


EXECUTION_SETTINGS = ("compile", "kernel")
"""Optimizer settings that choose how it runs; a checkpoint loads under any of their values."""
INIT_SETTINGS = ("head_init",)
"""Optimizer settings that only choose phi's initial value; a trained phi loads under any."""


@dataclass(frozen=True)
class MetaConfig:
    """Meta-training by truncated BPTT: ``steps`` truncations of ``unroll`` optimizee steps.

    ``checkpoint_every`` truncations a resumable checkpoint is written; a truncation whose
    meta-loss or meta-gradient is not finite is skipped, and more than ``max_skips`` in a row
    stop the run; ``clip_grad_norm`` > 0 clips the meta-gradient's norm (off in the paper).
    The meta-learning rate ``lr`` rises linearly over the first ``warmup`` truncations and then
    stays (``lr_schedule`` constant) or decays to zero at ``steps`` along a cosine. ``seed``
    varies phi's initialisation and the training problems alone (see :meth:`phi_seed`).
    """

    horizon: int = 100
    unroll: int = 20
    steps: int = 5000
    lr: float = 0.003
    second_order: bool = False
    val_every: int = 250
    val_problems: int = 100
    checkpoint_every: int = 50
    max_skips: int = 10
    clip_grad_norm: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup: int = 0
    seed: int = -1

    def phi_seed(self, experiment_seed: int) -> int:
        """The seed of phi's initialisation and of the training problems (``seed``, or the
        experiment's when -1); validation and test problems always follow the experiment's."""
        return experiment_seed if self.seed < 0 else self.seed


@dataclass(frozen=True)
class TuneConfig:
    """The baselines' learning-rate search on validation problems."""

    grid: list[float] = field(
        default_factory=lambda: [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4]
    )
    problems: int = 100
    optimizers: list[Literal["ADAM", "RMSprop", "SGD", "NAG"]] = field(
        default_factory=lambda: ["ADAM", "RMSprop", "SGD", "NAG"]
    )


@dataclass(frozen=True)
class PanelConfig:
    """One curves panel: its data file name, title and the number of steps it shows."""

    name: str = "figure4a"
    title: str = "Quadratics"
    steps: int = 100


@dataclass(frozen=True)
class EvaluateConfig:
    """Held-out evaluation: the curves ``panels`` and the LSTM's one-step ``trace`` (if named).

    ``optimizer_from`` names another experiment whose trained optimizer is evaluated here
    (empty: this experiment's own); ``lstm_sub_from`` names one more whose optimizer is drawn
    as the curve ``LSTM-sub`` (empty: none).
    """

    problems: int = 100
    panels: list[PanelConfig] = field(default_factory=lambda: [PanelConfig()])
    optimizer_from: str = ""
    trace: str = "figure3"
    trace_step: int = 10
    trace_coordinates: int = 4
    lstm_sub_from: str = ""


@dataclass(frozen=True)
class GridConfig:
    """An architecture grid (Figure 6): final loss of every optimizer for each depth x width.

    Empty ``layers`` means no grid; every baseline is re-tuned for each architecture.
    """

    figure: str = "figure6"
    title: str = "MNIST architectures"
    layers: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ArtConfig:
    """Neural Art: encoder, images, loss weights, and the extra outputs of its evaluation.

    ``encoder``: ``vgg19`` (torchvision's pretrained weights at ``weights``, or the torch hub
    cache when empty), ``random`` (VGG-19-shaped, He-normal from ``encoder_seed``, channels x
    ``width``) or ``auto`` (vgg19 when its weights file exists, else random). Images are
    scikit-image data names, files or folders. ``images`` names the data of the image triples
    (e.g. ``figure9a``); ``update_views`` writes the appendix's figure10-figure13 data.
    """

    encoder: Literal["auto", "vgg19", "random"] = "auto"
    weights: str = ""
    encoder_seed: int = 0
    width: float = 1.0
    size: int = 64
    style: str = "ihc"
    train_contents: list[str] = field(
        default_factory=lambda: [
            "astronaut", "camera", "coins", "motorcycle_left", "motorcycle_right",
        ]
    )
    val_contents: list[str] = field(default_factory=lambda: ["rocket"])
    test_contents: list[str] = field(default_factory=lambda: ["chelsea", "coffee"])
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    init_noise: float = 0.0
    images: str = ""
    update_views: bool = False


@dataclass(frozen=True)
class TrainerConfig:
    """Where and how meta-training runs; ``threads`` sets torch's CPU threads (0: its default).

    ``strategy``, ``devices`` and ``num_nodes`` go to Lightning's Trainer (``ddp`` for several
    processes); ``resume`` continues an interrupted fit from its last checkpoint.
    """

    accelerator: Literal["auto", "cpu", "gpu", "cuda"] = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    log_every: int = 10
    threads: int = 0
    deterministic: bool = True
    resume: bool = True


@dataclass(frozen=True)
class Config:
    """One experiment."""

    experiment: str = "quadratic"
    seed: int = 0
    problem: ProblemConfig = field(default_factory=ProblemConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    art: ArtConfig = field(default_factory=ArtConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    profile: Literal["paper", "quick"] = "paper"

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for logging and checkpoints)."""
        return dataclasses.asdict(self)

    @property
    def steps(self) -> int:
        """Optimizee steps of an evaluation rollout: the longest panel's."""
        return max(panel.steps for panel in self.evaluate.panels)


POSITIVE = {
    "problem.dim", "problem.batch", "problem.hidden", "problem.minibatch",
    "optimizer.hidden", "optimizer.layers", "optimizer.p",
    "meta.horizon", "meta.unroll", "meta.lr", "meta.val_every", "meta.val_problems",
    "tune.problems", "evaluate.problems", "evaluate.panels.steps", "evaluate.trace_coordinates",
    "trainer.log_every", "optimizer.output_scale", "grid.layers", "grid.widths",
    "meta.checkpoint_every", "trainer.num_nodes", "problem.channels", "problem.kernel",
    "art.width", "art.size",
}
NON_NEGATIVE = {
    "data.val_size", "problem.init_std", "meta.steps", "seed", "evaluate.trace_step",
    "trainer.threads", "meta.max_skips", "meta.warmup", "meta.clip_grad_norm", "data.classes",
    "art.encoder_seed", "art.content_weight", "art.style_weight", "art.tv_weight",
    "art.init_noise",
}


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(
                f"{key}: {value!r} is not allowed; choose one of {', '.join(map(str, allowed))}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} has the wrong type; expected {annotation}")
    if origin is list:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key}: expected a non-empty list, got {value!r}")
        (item,) = typing.get_args(annotation)
        if dataclasses.is_dataclass(item):
            return [_build(item, v, key) for v in value]
        return [_check_type(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {annotation}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key '{where}{unknown[0]}'; allowed under {prefix or 'the top level'}: "
            f"{', '.join(names)}"
        )
    values = {}
    for name in names:
        if name not in data:
            continue
        key = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], key)
            continue
        value = _check_type(data[name], hint, key)
        numbers = value if isinstance(value, list) else [value]
        if key in POSITIVE and any(not v > 0 for v in numbers):
            raise ConfigError(f"{key}: must be positive, got {data[name]!r}")
        if key in NON_NEGATIVE and any(v < 0 for v in numbers):
            raise ConfigError(f"{key}: must be zero or more, got {data[name]!r}")
        if key == "tune.grid" and any(not v > 0 for v in numbers):
            raise ConfigError(f"tune.grid: learning rates must be positive, got {data[name]!r}")
        values[name] = value
    return cls(**values)


def _validate(config: Config) -> Config:
    meta = config.meta
    mix = config.problem.train_hidden
    if mix and (config.problem.family != "mlp" or any(not h or min(h) <= 0 for h in mix)):
        raise ConfigError(
            f"problem.train_hidden: {mix!r} needs problem.family mlp and non-empty lists of "
            "positive widths, e.g. [[20], [20, 20]]"
        )
    devices = config.trainer.devices
    if devices != "auto" and not (isinstance(devices, int) and devices > 0):
        raise ConfigError(f"trainer.devices: expected a positive integer or auto, got {devices!r}")
    if meta.unroll > meta.horizon:
        raise ConfigError(
            f"meta.unroll ({meta.unroll}) is longer than meta.horizon ({meta.horizon}); "
            "the unroll must fit in the horizon"
        )
    if meta.horizon % meta.unroll:
        raise ConfigError(
            f"meta.horizon ({meta.horizon}) is not a multiple of meta.unroll ({meta.unroll})"
        )
    ev = config.evaluate
    steps = max(panel.steps for panel in ev.panels)
    if ev.trace and ev.trace_step >= steps:
        raise ConfigError(
            f"evaluate.trace_step ({ev.trace_step}) must be below the longest panel's steps "
            f"({steps})"
        )
    if config.problem.family == "neural_art" and config.art.size < 16:
        raise ConfigError(
            f"art.size: must be 16 or more (the encoder pools 4 times), got {config.art.size}"
        )
    quadratic = config.problem.family == "quadratic"
    if ev.trace and quadratic and ev.trace_coordinates > config.problem.dim:
        raise ConfigError(
            f"evaluate.trace_coordinates ({ev.trace_coordinates}) exceeds problem.dim "
            f"({config.problem.dim})"
        )
    if bool(config.grid.layers) != bool(config.grid.widths) or (
        config.grid.layers and config.problem.family != "mlp"
    ):
        raise ConfigError("grid: set both grid.layers and grid.widths, for an mlp problem")
    if config.problem.family != "convnet" and (
        (config.problem.family == "mlp") != (config.data.name not in ("none", "cifar10"))
    ):
        raise ConfigError(
            f"problem.family {config.problem.family!r} needs "
            + ("a dataset: set data.name to mnist or fashion_mnist"
               if config.problem.family == "mlp" else "data.name: none")
        )
    return _validate_cifar(config)


def _validate_cifar(config: Config) -> Config:
    """The conv-net family, CIFAR-10, label subsets and parameter groups go together."""
    convnet, data = config.problem.family == "convnet", config.data
    if convnet != (data.name == "cifar10"):
        raise ConfigError(
            "problem.family convnet and data.name cifar10 go together; got "
            f"problem.family {config.problem.family!r} with data.name {data.name!r}"
        )
    if data.classes and (not convnet or len(set(data.classes)) != len(data.classes)
                         or len(data.classes) < 2 or max(data.classes) > 9):
        raise ConfigError(
            f"data.classes: {data.classes!r} must be two or more distinct CIFAR-10 labels "
            "(0..9), for data.name cifar10"
        )
    if config.optimizer.groups and not convnet:
        raise ConfigError(
            "optimizer.groups: only the convnet family has parameter groups (conv, fc)"
        )
    return config


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict:
    """``"meta.lr=0.01"`` as a nested dict, the value read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value, e.g. meta.lr=0.01")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key")
    value: Any = yaml.safe_load(raw) if raw else ""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def from_dict(data: dict, profile: str = "paper", overrides: list[str] = ()) -> Config:
    """A validated Config from a raw dict with an optional ``profiles`` section."""
    if profile not in PROFILES:
        allowed = ", ".join(PROFILES)
        raise ConfigError(f"profile {profile!r} is not allowed; choose one of {allowed}")
    data = dict(data)
    profiles = data.pop("profiles", {}) or {}
    if not isinstance(profiles, dict) or set(profiles) - set(PROFILES):
        bad = sorted(set(profiles) - set(PROFILES)) if isinstance(profiles, dict) else [profiles]
        raise ConfigError(f"profiles: unknown profile {bad[0]!r}; allowed: {', '.join(PROFILES)}")
    merged = merge(data, profiles.get(profile) or {})
    for text in overrides:
        merged = merge(merged, parse_override(text))
    merged["profile"] = profile
    return _validate(_build(Config, merged, ""))


def load(path: Path | str, profile: str = "paper", overrides: list[str] = ()) -> Config:
    """Read and validate the YAML experiment config at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        raise ConfigError(
            f"config file {path} is empty; start from one of experiments/*.yaml"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} holds a {type(data).__name__}, not a mapping of sections "
            "(experiment:, problem:, meta:, ...); start from one of experiments/*.yaml"
        )
    return from_dict(data, profile, overrides)
