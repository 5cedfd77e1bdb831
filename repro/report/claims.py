"""The paper's claims as one declarative list, checked on the curves JSON.

Each :class:`Claim` names a panel's data file, the paper's words, and a predicate kind with its
arguments. :func:`check` evaluates it on that panel's JSON and gives ✓ (holds), ✗ (fails) or
"no data" (no file) with the numbers behind the verdict. Missing evidence is never a pass: a claim
about "every baseline" reads every baseline the panel was evaluated with, fails unless the
paper's four (:data:`REQUIRED`) are among them with a value at every step it reads, and fails
on a NaN anywhere it reads. A baseline added to the suite after the data was made changes no
verdict on that data. Nothing here is typed by hand from a result.

A claim whose words ask for more than a win ("by a clear margin") has a :attr:`Claim.margin`:
the LSTM's loss must be below ``(1 - margin)`` times the best baseline's (above ``(1 + margin)``
times the worst's for a claim that it fails), and its words state that margin, checked when the
claim is made, so the text and the check cannot drift apart. Margins are relative, for losses,
which are never negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from repro.optimizers.hand import BASELINES
from repro.report.reference import value_at

HOLDS, FAILS, NO_DATA = "holds", "fails", "no data"
MARKS = {HOLDS: "✓", FAILS: "✗", NO_DATA: "–"}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper about one panel: ``kind`` is a key of :data:`PREDICATES`."""

    id: str
    figure: str
    panel: str
    text: str
    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    tag: str = "fig"
    margin: float = 0.0
    """How much better than its rival the LSTM must be, as a fraction of the rival's loss
    (0.05: below 95% of the best baseline's loss); 0: any win."""

    def __post_init__(self) -> None:
        if not 0 <= self.margin < 1:
            raise ValueError(f"claim {self.id}: margin {self.margin} is not in [0, 1)")
        if self.margin and margin_words(self.margin) not in self.text:
            raise ValueError(f"claim {self.id}: its text does not state its margin "
                             f"({margin_words(self.margin)!r})")
        if "clear" in self.text and not self.margin:
            raise ValueError(f"claim {self.id}: a clear margin needs a margin to check")


@dataclass(frozen=True)
class Outcome:
    """A claim's verdict on one source's data: ``status`` in (holds, fails, no data)."""

    claim: Claim
    status: str
    detail: str

    @property
    def mark(self) -> str:
        """✓, ✗ or – for the status."""
        return MARKS[self.status]


def margin_words(margin: float) -> str:
    """How a claim's text states its margin: ``by more than 5%``."""
    return f"by more than {margin:.0%}"


REQUIRED: tuple[str, ...] = ("ADAM", "RMSprop", "SGD", "NAG")
"""The paper's baselines: a claim about "every baseline" needs them in its data, at every step
it reads."""


def compared(curves: dict[str, Any]) -> tuple[str, ...]:
    """The baselines a claim about "every baseline" compares with: the paper's four and every
    other registered baseline the panel's data holds."""
    return (*REQUIRED, *(n for n in curves if n in BASELINES and n not in REQUIRED))


def _fmt(value: float) -> str:
    return "diverged" if math.isinf(value) else f"{value:.4g}"


def _last_step(curves: dict[str, Any]) -> int:
    """The last step of the longest curve in the panel (0 without curves)."""
    return max((int(c["step"][-1]) for c in curves.values() if c.get("step")), default=0)


def _read(values: dict[str, float | None], where: str) -> dict[str, float] | str:
    """``values`` when every one is there and none is NaN, else what is missing (one line)."""
    missing = [name for name, value in values.items() if value is None]
    if missing:
        return f"{where}: no value for {', '.join(missing)}"
    nan = [name for name, value in values.items() if math.isnan(value)]
    if nan:
        return f"{where}: NaN for {', '.join(nan)}"
    return values  # type: ignore[return-value]


def _at(curves: dict[str, Any], who: str, step: int, where: str) -> dict[str, float] | str:
    """``who``'s and every :func:`compared` baseline's mean at ``step`` (diverged: inf), or what
    is missing (told as at ``where``)."""
    return _read({n: value_at(curves[n], step) if n in curves else None
                  for n in (who, *compared(curves))}, where)


def _compare(
    values: dict[str, float], who: str, below: bool, where: str, margin: float = 0.0
) -> tuple[bool, str]:
    """Whether ``who`` is below ``1 - margin`` times the best (``below``) or above ``1 + margin``
    times the worst of the others, with the numbers (and their ratio when there is a margin)."""
    ours = values[who]
    others = {n: v for n, v in values.items() if n != who}
    rival = (min if below else max)(others, key=others.get)
    factor = 1 - margin if below else 1 + margin
    bound = factor * others[rival] if margin else others[rival]
    holds = ours < bound if below else ours > bound
    sign = ("<" if holds else "≥") if below else (">" if holds else "≤")
    scale = f"{factor:.4g} × " if margin else ""
    ratio = ""
    if margin and math.isfinite(ours) and math.isfinite(others[rival]) and others[rival] > 0:
        ratio = f" (ratio {ours / others[rival]:.3f})"
    return holds, f"{where}: {who} {_fmt(ours)} {sign} {scale}{rival} {_fmt(others[rival])}{ratio}"


def _compare_at(
    curves: dict[str, Any], who: str, step: int | None, below: bool, where: str | None = None,
    margin: float = 0.0,
) -> tuple[bool, str]:
    """:func:`_compare` at ``step`` (None: the last step), or why the values are missing."""
    step = _last_step(curves) if step is None else step
    where = where or f"step {step}"
    values = _at(curves, who, step, where)
    if isinstance(values, str):
        return False, values
    return _compare(values, who, below, where, margin)


def below_all_at(
    data: dict[str, Any], step: int | None = None, who: str = "LSTM", margin: float = 0.0
):
    """``who`` is below every :func:`compared` baseline at ``step`` (None: the last step),
    by more than ``margin`` of the best one's loss."""
    return _compare_at(data.get("curves") or {}, who, step, below=True, margin=margin)


def above_all_at(
    data: dict[str, Any], step: int | None = None, who: str = "LSTM", margin: float = 0.0
):
    """``who`` is above every baseline at ``step`` (None: the last step), by more than
    ``margin`` of the worst one's loss: it failed."""
    return _compare_at(data.get("curves") or {}, who, step, below=False, margin=margin)


def below_all_between(
    data: dict[str, Any], first: int = 1, last: int | None = None, who: str = "LSTM",
    margin: float = 0.0,
):
    """``who`` is below every baseline (by more than ``margin``) at every step from ``first``
    to ``last`` (None: the panel's last step); a step where any of them has no value fails the
    claim."""
    curves = data.get("curves") or {}
    end = _last_step(curves) if last is None else last
    steps = range(first, end + 1)
    if not steps:
        return False, f"no step from {first} in the data"
    span = f"steps {first}–{end}"
    lost = []
    for step in steps:
        values = _at(curves, who, step, f"step {step}")
        if isinstance(values, str):
            return False, f"{span}: {values}"
        if not _compare(values, who, True, "", margin)[0]:
            lost.append(step)
    if not lost:
        return True, f"{who} lowest at all {len(steps)} {span}"
    shown = ", ".join(str(s) for s in lost[:5]) + (", …" if len(lost) > 5 else "")
    first_loss = below_all_at(data, lost[0], who, margin)[1]
    return False, f"{who} not lowest at {len(lost)} of {span}: {shown}; {first_loss}"


def rises_after(data: dict[str, Any], step: int, who: str = "LSTM", margin: float = 0.0):
    """``who``'s loss at the panel's last step is above its loss at ``step`` (by more than
    ``margin`` of it)."""
    curves = data.get("curves") or {}
    last = _last_step(curves)
    curve = curves.get(who)
    values = _read(
        {f"{who}@{s}": value_at(curve, s) if curve else None for s in (step, last)},
        f"steps {step} and {last}",
    )
    if isinstance(values, str):
        return False, values
    at, end = values[f"{who}@{step}"], values[f"{who}@{last}"]
    holds = end > (1 + margin) * at
    sign = ">" if holds else "≤"
    scale = f"{1 + margin:.4g} × " if margin else ""
    return holds, f"{who} {_fmt(end)} at step {last} {sign} {scale}{_fmt(at)} at step {step}"


def grid_below_all_at(
    data: dict[str, Any], layers: int, width: int, who: str = "LSTM", margin: float = 0.0
):
    """In an architecture grid, ``who``'s final loss is the lowest at ``layers`` × ``width``
    (by more than ``margin`` of the next one's)."""
    for panel in data.get("panels") or []:
        if panel["layers"] == layers and width in panel["widths"]:
            curves = {n: {"step": panel["widths"], "mean": c["mean"]}
                      for n, c in panel["curves"].items()}
            return _compare_at(curves, who, width, True, f"{layers}×{width}", margin)
    return False, f"{layers} layer(s) × {width} units is not in the grid"


PREDICATES: dict[str, Callable[..., tuple[bool, str]]] = {
    "below_all_at": below_all_at,
    "above_all_at": above_all_at,
    "below_all_between": below_all_between,
    "rises_after": rises_after,
    "grid_below_all_at": grid_below_all_at,
}

CLAIMS: tuple[Claim, ...] = (
    Claim("4a-lowest-every-step", "figure4", "figure4a",
          "Quadratics: the LSTM is lowest at every step", "below_all_between", {"first": 1}),
    Claim("4a-lowest-at-100", "figure4", "figure4a",
          "Quadratics: the LSTM is below every baseline at step 100", "below_all_at",
          {"step": 100}),
    Claim("4b-drops-at-once", "figure4", "figure4b",
          "MNIST: the LSTM drops at once, below every baseline at step 10 (their plateau)",
          "below_all_at", {"step": 10}),
    Claim("4b-lowest-at-100", "figure4", "figure4b",
          "MNIST: the LSTM beats every baseline by a clear margin at step 100 (its loss lower "
          "than the best baseline's by more than 5%)", "below_all_at", {"step": 100}, "paper~",
          margin=0.05),
    Claim("4c-keeps-winning", "figure4", "figure4c",
          "MNIST, 200 steps: the LSTM stays lowest over steps 100–200 (trained on 100)",
          "below_all_between", {"first": 100, "last": 200}),
    Claim("5a-lowest-at-100", "figure5", "figure5a",
          "MNIST, 40 units: the LSTM generalises and beats every baseline at step 100",
          "below_all_at", {"step": 100}, "paper✓"),
    Claim("5b-lowest-at-100", "figure5", "figure5b",
          "MNIST, 2 layers: the LSTM generalises and beats every baseline at step 100",
          "below_all_at", {"step": 100}, "paper✓"),
    Claim("5c-fails", "figure5", "figure5c",
          "MNIST, ReLU: the LSTM fails, above every baseline at step 100", "above_all_at",
          {"step": 100}, "paper✓"),
    Claim("5c-rises", "figure5", "figure5c",
          "MNIST, ReLU: the LSTM's loss rises after step 60", "rises_after", {"step": 60}),
    Claim("6-best-at-training-net", "figure6", "figure6",
          "Architecture grid: at the training network (1 layer × 20 units) the LSTM's final loss "
          "is below every baseline's", "grid_below_all_at", {"layers": 1, "width": 20}, "paper~"),
    Claim("7a-lowest", "figure7", "figure7a",
          "CIFAR-10: the LSTM is below every baseline at the last step", "below_all_at", {},
          "paper✓"),
    Claim("7b-lowest", "figure7", "figure7b",
          "CIFAR-5: the LSTM is below every baseline at the last step", "below_all_at", {},
          "paper✓"),
    Claim("7b-sub-lowest", "figure7", "figure7b",
          "CIFAR-5: LSTM-sub, never trained on these labels, is below every baseline at the "
          "last step", "below_all_at", {"who": "LSTM-sub"}, "paper~"),
    Claim("7c-lowest", "figure7", "figure7c",
          "CIFAR-2: the LSTM is below every baseline at the last step", "below_all_at", {},
          "paper✓"),
    Claim("7c-sub-lowest", "figure7", "figure7c",
          "CIFAR-2: LSTM-sub is below every baseline at the last step", "below_all_at",
          {"who": "LSTM-sub"}, "paper~"),
    Claim("8a-lowest", "figure8", "figure8a",
          "Neural Art, training style and resolution: the LSTM beats every baseline at the last "
          "step", "below_all_at", {}, "paper~"),
    Claim("8b-lowest", "figure8", "figure8b",
          "Neural Art, test style at double resolution: the LSTM beats every baseline at the "
          "last step", "below_all_at", {}, "paper~"),
)


def check(claim: Claim, data: dict[str, Any] | None) -> Outcome:
    """The claim's verdict on its panel's curves JSON (None: the panel has no data)."""
    if data is None:
        return Outcome(claim, NO_DATA, f"no {claim.panel}.json")
    holds, detail = PREDICATES[claim.kind](data, **claim.args, margin=claim.margin)
    return Outcome(claim, HOLDS if holds else FAILS, detail)
