"""Experiment configuration: typed dataclasses whose annotations carry their bounds, read by
jsonargparse from YAML (with a ``profiles:`` block) and ``--section.key VALUE`` overrides
(:mod:`repro.config_loading`).

Every error is a :class:`ConfigError` whose message is one line naming the bad key or value
and what is allowed. The ``Literal`` choices below are the one source of each module's
constants (``ACTIVATIONS``, ``KERNELS``, ...).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

T = TypeVar("T")
Profile = Literal["paper", "quick"]
PROFILES: tuple[str, ...] = get_args(Profile)
Activation = Literal["sigmoid", "relu", "tanh"]
Scale = Literal["mean", "sum"]
Preprocessing = Literal["none", "logsign"]
Kernel = Literal["auto", "native", "torch"]
HeadInit = Literal["sonnet", "zero"]
Encoder = Literal["auto", "vgg19", "random"]
FamilyName = Literal["quadratic", "mlp", "convnet", "neural_art"]
Baseline = Literal["ADAM", "RMSprop", "SGD", "NAG"]
DatasetName = Literal["none", "mnist", "fashion_mnist", "cifar10"]
DATASETS: dict[str, tuple[str, ...]] = {
    "quadratic": ("none",), "mlp": ("mnist", "fashion_mnist"), "convnet": ("cifar10",),
    "neural_art": ("none",),
}
"""The datasets each family's problems can be drawn from."""


class ConfigError(ValueError):
    """A bad configuration value; the message is one line."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
"""What a name that becomes a file or folder name may be: never a path."""


def _name(value: str, key: str, optional: bool = False) -> None:
    """Refuse ``value`` for ``key`` unless it is a name (or, when ``optional``, empty)."""
    _require(
        (optional and value == "") or (isinstance(value, str) and NAME.fullmatch(value)),
        f"{key}: {value!r} is not a name; use letters, digits, _ and - (it names files and "
        "folders)",
    )


def section(prefix: str) -> Callable[[type[T]], type[T]]:
    """Make every instance of the decorated settings class refuse, before its own checks, a null
    where a setting's type has none and a number that is not finite, naming the key
    (``prefix.key``; the top level's with an empty ``prefix``). Applied below ``@dataclass``, so
    that the ``__init__`` it generates calls the check."""

    def decorate(kind: type[T]) -> type[T]:
        own = getattr(kind, "__post_init__", None)

        def __post_init__(self: T) -> None:
            _fields(self, prefix)
            if own is not None:
                own(self)

        kind.__post_init__ = __post_init__
        return kind

    return decorate


def _fields(settings: Any, prefix: str) -> None:
    """Check each field of the dataclass ``settings`` with :func:`_value`."""
    hints = typing.get_type_hints(type(settings))
    for f in dataclasses.fields(settings):
        _value(getattr(settings, f.name), f"{prefix}.{f.name}" if prefix else f.name,
               type(None) in get_args(hints[f.name]))


def _value(value: Any, key: str, nullable: bool = False) -> None:
    """Refuse ``value`` of ``key`` when it is (or a list in it holds) a null, unless
    ``nullable``, or a number that is not finite."""
    _require(value is not None or nullable, f"{key}: expected a value, got null")
    if isinstance(value, list):
        for item in value:
            _value(item, key)
    elif isinstance(value, float):
        _require(math.isfinite(value), f"{key}: must be a finite number, got {value}")


def _non_empty(section: Any, prefix: str, *names: str) -> None:
    for name in names:
        _require(bool(getattr(section, name)), f"{prefix}.{name}: expected a non-empty list")


@dataclass(frozen=True)
@section("problem")
class ProblemConfig:
    """The optimizee family and the size of one meta-training problem.

    ``train_hidden`` (MLPs; off when empty, as in the paper) lists the hidden layers of the
    networks meta-training cycles through, one per problem (e.g. ``[[20], [20, 20]]``);
    validation and evaluation keep ``hidden``.
    """

    family: FamilyName = "quadratic"
    dim: PositiveInt = 10
    scale: Scale = "mean"
    init_std: NonNegativeFloat = 0.01
    batch: PositiveInt = 128
    hidden: list[PositiveInt] = field(default_factory=lambda: [20])
    activation: Activation = "sigmoid"
    minibatch: PositiveInt = 128
    channels: list[PositiveInt] = field(default_factory=lambda: [16, 16, 16])
    kernel: PositiveInt = 5
    train_hidden: list[list[PositiveInt]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _non_empty(self, "problem", "hidden", "channels")
        _require(
            all(self.train_hidden) and (not self.train_hidden or self.family == "mlp"),
            f"problem.train_hidden: {self.train_hidden!r} needs problem.family mlp and non-empty "
            "lists of positive widths, e.g. [[20], [20, 20]]",
        )


@dataclass(frozen=True)
@section("data")
class DataConfig:
    """The dataset an MLP or conv-net optimizee trains on (``none`` for quadratics).

    ``classes`` keeps only those CIFAR-10 labels, renumbered in that order (empty: all ten).
    """

    name: DatasetName = "none"
    root: str = "data"
    download: bool = True
    val_size: NonNegativeInt = 5000
    classes: list[NonNegativeInt] = field(default_factory=list)

    def __post_init__(self) -> None:
        classes = self.classes
        _require(
            not classes or (len(set(classes)) == len(classes) >= 2 and max(classes) <= 9),
            f"data.classes: {classes!r} must be two or more distinct CIFAR-10 labels (0..9), "
            "for data.name cifar10",
        )


@dataclass(frozen=True)
@section("optimizer")
class OptimizerConfig:
    """The coordinatewise LSTM optimizer; ``groups`` names the family's parameter groups that
    each get an LSTM of their own (empty: one LSTM for all of theta). ``compile`` and ``kernel``
    choose how it runs, not what it computes (see ``LSTMOptimizer``)."""

    hidden: PositiveInt = 20
    layers: PositiveInt = 2
    preprocessing: Preprocessing = "none"
    p: PositiveFloat = 10.0
    output_scale: PositiveFloat = 1.0
    compile: bool = False
    kernel: Kernel = "auto"
    groups: list[str] = field(default_factory=list)
    head_init: HeadInit = "sonnet"


EXECUTION_SETTINGS = ("compile", "kernel")
"""Optimizer settings that choose how it runs; a checkpoint loads under any of their values."""
INIT_SETTINGS = ("head_init",)
"""Optimizer settings that only choose phi's initial value; a trained phi loads under any."""


@dataclass(frozen=True)
@section("meta")
class MetaConfig:
    """Meta-training by truncated BPTT: ``steps`` truncations of ``unroll`` optimizee steps.

    ``checkpoint_every`` truncations a resumable checkpoint is written; a truncation whose
    meta-loss or meta-gradient is not finite is skipped, and more than ``max_skips`` in a row
    stop the run; ``clip_grad_norm`` > 0 clips the meta-gradient's norm (off in the paper).
    The meta-learning rate ``lr`` rises linearly over the first ``warmup`` truncations and then
    stays (``lr_schedule`` constant) or decays to zero at ``steps`` along a cosine. ``seed``
    varies phi's initialisation and the training problems alone (see :meth:`phi_seed`).
    """

    horizon: PositiveInt = 100
    unroll: PositiveInt = 20
    steps: NonNegativeInt = 5000
    lr: PositiveFloat = 0.003
    second_order: bool = False
    val_every: PositiveInt = 250
    val_problems: PositiveInt = 100
    checkpoint_every: PositiveInt = 50
    max_skips: NonNegativeInt = 10
    clip_grad_norm: NonNegativeFloat = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup: NonNegativeInt = 0
    seed: int = -1

    def __post_init__(self) -> None:
        _require(
            self.unroll <= self.horizon,
            f"meta.unroll ({self.unroll}) is longer than meta.horizon ({self.horizon}); "
            "the unroll must fit in the horizon",
        )
        _require(
            self.horizon % self.unroll == 0,
            f"meta.horizon ({self.horizon}) is not a multiple of meta.unroll ({self.unroll})",
        )

    def phi_seed(self, experiment_seed: int) -> int:
        """The seed of phi's initialisation and of the training problems (``seed``, or the
        experiment's when -1); validation and test problems always follow the experiment's."""
        return experiment_seed if self.seed < 0 else self.seed


@dataclass(frozen=True)
@section("tune")
class TuneConfig:
    """The baselines' learning-rate search on validation problems."""

    grid: list[PositiveFloat] = field(
        default_factory=lambda: [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4]
    )
    problems: PositiveInt = 100
    optimizers: list[Baseline] = field(
        default_factory=lambda: ["ADAM", "RMSprop", "SGD", "NAG"]
    )

    def __post_init__(self) -> None:
        _non_empty(self, "tune", "grid", "optimizers")


@dataclass(frozen=True)
@section("evaluate.panels")
class PanelConfig:
    """One curves panel: its data file name, title and the number of steps it shows."""

    name: str = "figure4a"
    title: str = "Quadratics"
    steps: PositiveInt = 100


@dataclass(frozen=True)
@section("evaluate")
class EvaluateConfig:
    """Held-out evaluation: the curves ``panels`` and the LSTM's one-step ``trace`` (if named).

    ``optimizer_from`` names another experiment whose trained optimizer is evaluated here
    (empty: this experiment's own); ``lstm_sub_from`` names one more whose optimizer is drawn
    as the curve ``LSTM-sub`` (empty: none). ``reference`` names a trained optimizer made
    elsewhere (a shipped name under ``repro/weights``, e.g. ``official_dm``, or a file), run
    with its own settings on the same problems and drawn as the curve ``reference_label``
    (empty: none); the claims never read it.
    """

    problems: PositiveInt = 100
    panels: list[PanelConfig] = field(default_factory=lambda: [PanelConfig()])
    optimizer_from: str = ""
    trace: str = "figure3"
    trace_step: NonNegativeInt = 10
    trace_coordinates: PositiveInt = 4
    lstm_sub_from: str = ""
    reference: str = ""
    reference_label: str = "LSTM (official code's φ)"

    def __post_init__(self) -> None:
        _non_empty(self, "evaluate", "panels")
        names = [panel.name for panel in self.panels]
        for name in names:
            _name(name, "evaluate.panels.name")
            _require(names.count(name) == 1, f"evaluate.panels: the name {name!r} appears twice; "
                     "each panel writes <name>.json")
        for key in ("optimizer_from", "trace", "lstm_sub_from"):
            _name(getattr(self, key), f"evaluate.{key}", optional=True)
        taken = ("LSTM", "LSTM-sub", *get_args(Baseline))
        _require(
            self.reference_label.strip() != "" and self.reference_label not in taken,
            f"evaluate.reference_label: {self.reference_label!r} must be a new curve name, "
            f"not empty nor one of {', '.join(taken)}",
        )
        steps = max(panel.steps for panel in self.panels)
        _require(
            not self.trace or self.trace_step < steps,
            f"evaluate.trace_step ({self.trace_step}) must be below the longest panel's steps "
            f"({steps})",
        )


@dataclass(frozen=True)
@section("grid")
class GridConfig:
    """An architecture grid (Figure 6): final loss of every optimizer for each depth x width.

    Empty ``layers`` means no grid; every baseline is re-tuned for each architecture.
    """

    figure: str = "figure6"
    title: str = "MNIST architectures"
    layers: list[PositiveInt] = field(default_factory=list)
    widths: list[PositiveInt] = field(default_factory=list)

    def __post_init__(self) -> None:
        _name(self.figure, "grid.figure")
        _require(
            bool(self.layers) == bool(self.widths),
            "grid: set both grid.layers and grid.widths, or neither",
        )


@dataclass(frozen=True)
@section("art")
class ArtConfig:
    """Neural Art: encoder, images, loss weights, and the extra outputs of its evaluation.

    ``encoder``: ``vgg19`` (torchvision's pretrained weights at ``weights``, or the torch hub
    cache when empty), ``random`` (VGG-19-shaped, He-normal from ``encoder_seed``, channels x
    ``width``) or ``auto`` (vgg19 when its weights file exists, else random). Images are
    scikit-image data names, files or folders. ``images`` names the data of the image triples
    (e.g. ``figure9a``); ``update_views`` writes the appendix's figure10-figure13 data.
    """

    encoder: Encoder = "auto"
    weights: str = ""
    encoder_seed: NonNegativeInt = 0
    width: PositiveFloat = 1.0
    size: PositiveInt = 64
    style: str = "ihc"
    train_contents: list[str] = field(
        default_factory=lambda: [
            "astronaut", "camera", "coins", "motorcycle_left", "motorcycle_right",
        ]
    )
    val_contents: list[str] = field(default_factory=lambda: ["rocket"])
    test_contents: list[str] = field(default_factory=lambda: ["chelsea", "coffee"])
    content_weight: NonNegativeFloat = 1.0
    style_weight: NonNegativeFloat = 1.0
    tv_weight: NonNegativeFloat = 0.0
    init_noise: NonNegativeFloat = 0.0
    images: str = ""
    update_views: bool = False

    def __post_init__(self) -> None:
        _non_empty(self, "art", "train_contents", "val_contents", "test_contents")
        _name(self.images, "art.images", optional=True)


@dataclass(frozen=True)
@section("trainer")
class TrainerConfig:
    """Where and how meta-training runs; ``threads`` sets torch's CPU threads (0: its default).

    ``strategy``, ``devices`` and ``num_nodes`` go to Lightning's Trainer (``ddp`` for several
    processes); ``resume`` continues an interrupted fit from its last checkpoint.
    """

    accelerator: Literal["auto", "cpu", "gpu", "cuda"] = "auto"
    devices: int | Literal["auto"] = 1
    num_nodes: PositiveInt = 1
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    log_every: PositiveInt = 10
    threads: NonNegativeInt = 0
    deterministic: bool = True
    resume: bool = True

    def __post_init__(self) -> None:
        devices = self.devices
        _require(devices == "auto" or (isinstance(devices, int) and devices > 0),
                 f"trainer.devices: expected a positive integer or auto, got {devices!r}")


@dataclass(frozen=True)
@section("")
class Config:
    """One experiment."""

    experiment: str = "quadratic"
    seed: NonNegativeInt = 0
    problem: ProblemConfig = field(default_factory=ProblemConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    art: ArtConfig = field(default_factory=ArtConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    profile: Profile = "paper"

    def __post_init__(self) -> None:
        """Refuse an experiment name that is not a name, and sections' settings that
        disagree with each other."""
        _name(self.experiment, "experiment")
        family, data = self.problem.family, self.data
        _require(
            data.name in DATASETS[family],
            f"problem.family {family!r} needs data.name "
            f"{' or '.join(DATASETS[family])}, got {data.name!r}",
        )
        _require(
            not self.grid.layers or family == "mlp",
            f"grid: the architecture grid needs problem.family mlp, got {family!r}",
        )
        _require(family != "neural_art" or self.art.size >= 16,
                 f"art.size: must be 16 or more (the encoder pools 4 times), got {self.art.size}")
        ev = self.evaluate
        _require(
            not (ev.trace and family == "quadratic" and ev.trace_coordinates > self.problem.dim),
            f"evaluate.trace_coordinates ({ev.trace_coordinates}) exceeds problem.dim "
            f"({self.problem.dim})",
        )
        _require(not data.classes or family == "convnet",
                 "data.classes: only for data.name cifar10 (the convnet family)")
        _require(not self.optimizer.groups or family == "convnet",
                 "optimizer.groups: only the convnet family has parameter groups (conv, fc)")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for logging and checkpoints)."""
        return dataclasses.asdict(self)

    @property
    def steps(self) -> int:
        """Optimizee steps of an evaluation rollout: the longest panel's."""
        return max(panel.steps for panel in self.evaluate.panels)
