"""Experiment configuration: typed dataclasses whose annotations carry their bounds, read by
jsonargparse from YAML (with a ``profiles:`` block) and ``--section.key VALUE`` overrides
(:mod:`repro.config_loading`).

The ``problem:`` section is the settings class of one optimizee family, registered by its unit
under :mod:`repro.families`; the other sections are the same for every family. Every error is a
:class:`~repro.settings.ConfigError` whose message is one line naming the bad key or value and
what is allowed. The ``Literal`` choices below are the one source of the modules' constants.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from repro.figures.registry import PANEL, Panel
from repro.settings import (
    FAMILIES,
    ProblemSettings,
    check_name,
    families_with,
    non_empty,
    require,
    section,
)

FLOAT32_MAX = 3.4028234663852886e38
SEED_MAX = 2**32 - 1  # the largest seed numpy takes (Lightning seeds it with ours)
Profile = Literal["paper", "quick"]
PROFILES: tuple[str, ...] = get_args(Profile)
Preprocessing = Literal["none", "logsign"]
Kernel = Literal["auto", "native", "torch"]
HeadInit = Literal["sonnet", "zero"]
Baseline = Literal["ADAM", "RMSprop", "SGD", "NAG"]


@dataclass(frozen=True)
@section("data")
class DataConfig:
    """The dataset the optimizee family draws its problems from (``none``: synthetic, or
    data the family holds itself); ``classes`` keeps only those labels, renumbered in that order
    (empty: all), where the family takes label subsets."""

    name: str = "none"
    root: str = "data"
    download: bool = True
    val_size: NonNegativeInt = 5000
    classes: list[NonNegativeInt] = field(default_factory=list)


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
        require(self.seed <= SEED_MAX, f"meta.seed: must be at most {SEED_MAX}, got {self.seed}")
        require(
            self.lr < FLOAT32_MAX / 10,
            f"meta.lr: must be below {FLOAT32_MAX / 10:.4g} (ADAM's first step on phi, 10 x "
            f"meta.lr, must be a float32), got {self.lr}",
        )
        require(
            self.unroll <= self.horizon,
            f"meta.unroll ({self.unroll}) is longer than meta.horizon ({self.horizon}); "
            "the unroll must fit in the horizon",
        )
        require(
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
        non_empty(self, "tune", "grid", "optimizers")


@dataclass(frozen=True)
@section("evaluate")
class EvaluateConfig:
    """Held-out evaluation: the curves ``panels`` and the LSTM's one-step ``trace`` (if named).

    ``panels`` names panels of the figure registry (:data:`repro.figures.registry.PANEL`), which
    says each one's title and steps; ``steps`` > 0 caps every panel's steps (short runs) and
    ``note`` is added to every panel's title (``title: note``, e.g. a departure from the paper).

    ``optimizer_from`` names another experiment whose trained optimizer is evaluated here
    (empty: this experiment's own); ``lstm_sub_from`` names one more whose optimizer is drawn
    as the curve ``LSTM-sub`` (empty: none). ``reference`` names a trained optimizer made
    elsewhere (a shipped name under ``repro/weights``, e.g. ``official_dm``, or a file), run
    with its own settings on the same problems and drawn as the curve ``reference_label``
    (empty: none); the claims never read it.
    """

    problems: PositiveInt = 100
    panels: list[str] = field(default_factory=lambda: ["figure4a"])
    steps: NonNegativeInt = 0
    note: str = ""
    optimizer_from: str = ""
    trace: str = "figure3"
    trace_step: NonNegativeInt = 10
    trace_coordinates: PositiveInt = 4
    lstm_sub_from: str = ""
    reference: str = ""
    reference_label: str = "LSTM (official code's φ)"

    def __post_init__(self) -> None:
        non_empty(self, "evaluate", "panels")
        for name in self.panels:
            require(name in PANEL, f"evaluate.panels: {name!r} is not a panel of the figure "
                    f"registry; choose among {', '.join(PANEL)}")
            require(self.panels.count(name) == 1, f"evaluate.panels: the name {name!r} appears "
                    "twice; each panel writes <name>.json")
        for key in ("optimizer_from", "trace", "lstm_sub_from"):
            check_name(getattr(self, key), f"evaluate.{key}", optional=True)
        taken = ("LSTM", "LSTM-sub", *get_args(Baseline))
        require(
            self.reference_label.strip() != "" and self.reference_label not in taken,
            f"evaluate.reference_label: {self.reference_label!r} must be a new curve name, "
            f"not empty nor one of {', '.join(taken)}",
        )
        steps = max(panel.steps for panel in self.curve_panels)
        require(
            not self.trace or self.trace_step < steps,
            f"evaluate.trace_step ({self.trace_step}) must be below the longest panel's steps "
            f"({steps})",
        )

    @property
    def curve_panels(self) -> list[Panel]:
        """The panels named, from the figure registry, each capped at ``steps`` and titled with
        ``note``."""
        return [PANEL[name].capped(self.steps, self.note) for name in self.panels]


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
        check_name(self.figure, "grid.figure")
        require(
            bool(self.layers) == bool(self.widths),
            "grid: set both grid.layers and grid.widths, or neither",
        )


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
        require(devices == "auto" or (isinstance(devices, int) and devices > 0),
                 f"trainer.devices: expected a positive integer or auto, got {devices!r}")


@dataclass(frozen=True)
@section("")
class Config:
    """One experiment."""

    experiment: str = "quadratic"
    seed: NonNegativeInt = 0
    problem: ProblemSettings = field(kw_only=True)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    profile: Profile = "paper"

    def __post_init__(self) -> None:
        """Refuse an experiment name that is not a name, and sections' settings that
        disagree with the problem family (its own checks last)."""
        check_name(self.experiment, "experiment")
        require(self.seed <= SEED_MAX, f"seed: must be at most {SEED_MAX}, got {self.seed}")
        problem, data = self.problem, self.data
        family = problem.family
        require(
            data.name in problem.datasets,
            f"problem.family {family!r} needs data.name "
            f"{' or '.join(problem.datasets)}, got {data.name!r}",
        )
        require(
            not self.grid.layers or problem.architecture_grid,
            f"grid: the architecture grid needs problem.family "
            f"{' or '.join(families_with('architecture_grid'))}, got {family!r}",
        )
        subsets = families_with("label_subsets")
        require(not data.classes or problem.label_subsets,
                f"data.classes: only for data.name "
                f"{' or '.join(d for name in subsets for d in FAMILIES[name].datasets)} "
                f"(the {' or '.join(subsets)} family)")
        grouped = families_with("parameter_groups")
        require(not self.optimizer.groups or bool(problem.parameter_groups),
                f"optimizer.groups: only the {' or '.join(grouped)} family has parameter groups "
                f"({', '.join(g for name in grouped for g in FAMILIES[name].parameter_groups)})")
        problem.check(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for logging and checkpoints)."""
        return dataclasses.asdict(self)

    @property
    def steps(self) -> int:
        """Optimizee steps of an evaluation rollout: the longest panel's."""
        return max(panel.steps for panel in self.evaluate.curve_panels)
