"""What every settings section shares: one-line :class:`ConfigError`\\ s, the ``@section`` check
of nulls and non-finite numbers, and the optimizee families' settings (:class:`ProblemSettings`),
each registered by its unit under ``repro/families`` as the ``problem.family`` it answers to.

A family's settings are the ``problem:`` section of an experiment: only that family's own fields,
its own checks, and the hooks that build its problems (:class:`ProblemSettings`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args

from jsonargparse.typing import PositiveInt

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad configuration value; the message is one line."""


def require(ok: bool, message: str) -> None:
    """Raise a :class:`ConfigError` of ``message`` unless ``ok``."""
    if not ok:
        raise ConfigError(message)


NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
"""What a name that becomes a file or folder name may be: never a path."""


def check_name(value: str, key: str, optional: bool = False) -> None:
    """Refuse ``value`` for ``key`` unless it is a name (or, when ``optional``, empty)."""
    require(
        (optional and value == "") or (isinstance(value, str) and NAME.fullmatch(value)),
        f"{key}: {value!r} is not a name; use letters, digits, _ and - (it names files and "
        "folders)",
    )


def non_empty(settings: Any, prefix: str, *names: str) -> None:
    """Refuse an empty list in the fields ``names`` of ``settings``."""
    for name in names:
        require(bool(getattr(settings, name)), f"{prefix}.{name}: expected a non-empty list")


def section(prefix: str) -> Callable[[type[T]], type[T]]:
    """Make every instance of the decorated settings class refuse, before its own checks, a null
    where a setting's type has none and a number that is not finite, naming the key
    (``prefix.key``; the top level's with an empty ``prefix``), then run its own checks (a base
    class's where it has none). Applied below ``@dataclass``, so that the ``__init__`` it
    generates calls the check."""

    def decorate(kind: type[T]) -> type[T]:
        own = kind.__dict__.get("__post_init__") or getattr(kind, "_own_checks", None)

        def __post_init__(self: T) -> None:
            hints = typing.get_type_hints(type(self))
            for f in dataclasses.fields(self):
                _value(getattr(self, f.name), f"{prefix}.{f.name}" if prefix else f.name,
                       type(None) in get_args(hints[f.name]))
            if own is not None:
                own(self)

        kind._own_checks = own
        kind.__post_init__ = __post_init__
        return kind

    return decorate


def _value(value: Any, key: str, nullable: bool = False) -> None:
    """Refuse ``value`` of ``key`` when it is (or a list in it holds) a null, unless
    ``nullable``, a number that is not finite, or an integer no 64-bit integer holds (torch's
    sizes and seeds)."""
    require(value is not None or nullable, f"{key}: expected a value, got null")
    if isinstance(value, list):
        for item in value:
            _value(item, key)
    elif isinstance(value, float):
        require(math.isfinite(value), f"{key}: must be a finite number, got {value}")
    elif isinstance(value, int) and not isinstance(value, bool):
        require(-(2**63) <= value < 2**63, f"{key}: {value} does not fit a 64-bit integer")


FAMILIES: dict[str, type[ProblemSettings]] = {}
"""Each ``problem.family`` name and its settings class, in the order the units registered."""


def register(kind: type[T]) -> type[T]:
    """Register the settings class of a family unit under its ``family`` field's default."""
    FAMILIES[kind.family] = kind
    return kind


@dataclass(frozen=True)
class ProblemSettings:
    """The ``problem:`` section: the optimizee family (``family``, the tag that picks the
    settings class) and ``batch``, the problems one meta-training step draws.

    A family's unit subclasses this with its own fields and checks, and overrides the hooks
    below: what it builds (:meth:`build`) and, where it needs them, its data module, its
    training sources and its extra evaluation outputs. The class attributes say what the
    generic sections may ask of the family.
    """

    family: str = ""
    batch: PositiveInt = 128

    default: ClassVar[bool] = False
    """Whether this is the family of a config that names none (one unit says so)."""
    datasets: ClassVar[tuple[str, ...]] = ("none",)
    """The ``data.name`` values its problems can be drawn from."""
    synthetic: ClassVar[str] = "synthetic"
    """What its data files record as their dataset where it reads none (``data.name: none``)."""
    label_subsets: ClassVar[bool] = False
    """Whether ``data.classes`` may pick a subset of its dataset's labels."""
    architecture_grid: ClassVar[bool] = False
    """Whether ``grid:`` may vary its networks' depth and width (Figure 6)."""
    parameter_groups: ClassVar[tuple[str, ...]] = ()
    """The groups of theta ``optimizer.groups`` may give one LSTM each."""

    def check(self, config: Any) -> None:
        """Refuse settings of other sections that disagree with this family (none by default)."""

    def build(self, config: Any, data: Any = None) -> Any:
        """The family's problems (a ``repro.optimizees.Family``), seeded by ``config.seed``;
        data-driven families draw from ``data`` (a ``Dataset``)."""
        raise NotImplementedError

    def datamodule(self, config: Any) -> Any:
        """The data module (a ``ProblemData``) a fit hands to ``Trainer.fit``: by default
        truncation indices only (problems drawn from seeds, or from data the family holds)."""
        # Typed Any, in every unit: jsonargparse runs a module's type-checking-only imports
        # when it reads the settings, and ProblemData's would load Lightning (+260 MiB).
        from repro.data.problems import ProblemData  # Lightning: not for loading settings

        return ProblemData()

    def training_sources(self, config: Any, source: Any) -> list[Any]:
        """Where training problems come from: ``source`` with problem streams seeded by
        ``meta.phi_seed``."""
        seed = config.meta.phi_seed(config.seed)
        return [source if source.seed == seed else source.with_seed(seed)]

    def outputs(
        self, config: Any, folder: Path, problem: Any,
        rules: Mapping[str, tuple[Any, float | None]], meta: Mapping[str, Any], title: str,
    ) -> list[Path]:
        """Data files beyond the curves that ``repro evaluate`` writes into ``folder`` (none by
        default)."""
        return []


def settings_of(family: Any) -> type[ProblemSettings]:
    """The settings class registered as ``family`` (the default family's when None)."""
    if family is None:
        return next(kind for kind in FAMILIES.values() if kind.default)
    require(isinstance(family, str) and family in FAMILIES,
            f"problem.family: {family!r} is not allowed; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[family]


def families_with(attribute: str) -> list[str]:
    """The registered families whose class attribute ``attribute`` is set."""
    return [name for name, kind in FAMILIES.items() if getattr(kind, attribute)]
