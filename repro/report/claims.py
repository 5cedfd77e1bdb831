"""The paper's claims as one declarative list, checked on the curves JSON.

Each :class:`Claim` names a panel's data file, the paper's words, and a predicate kind with its
arguments. :func:`check` evaluates it on that panel's JSON and gives ✓ (holds), ✗ (fails) or
"no data" with the numbers behind the verdict. Nothing here is typed by hand from a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def _learned(name: str) -> bool:
    return name.startswith("LSTM")


def _fmt(value: float) -> str:
    return "diverged" if math.isinf(value) else f"{value:.4g}"


def _last_step(curve: dict[str, Any]) -> int:
    return int(curve["step"][-1])


def _baselines_at(curves: dict[str, Any], step: int) -> dict[str, float]:
    return {
        name: value
        for name, curve in curves.items()
        if not _learned(name) and (value := value_at(curve, step)) is not None
    }


def _compare_at(
    curves: dict[str, Any], who: str, step: int | None, below: bool
) -> tuple[bool | None, str]:
    if who not in curves:
        return None, f"no {who} curve"
    step = _last_step(curves[who]) if step is None else step
    ours = value_at(curves[who], step)
    others = _baselines_at(curves, step)
    if ours is None or not others:
        return None, f"step {step} is not in the data"
    if below:
        best = min(others, key=others.get)
        holds = ours < others[best]
        sign = "<" if holds else "≥"
        return holds, f"step {step}: {who} {_fmt(ours)} {sign} {best} {_fmt(others[best])}"
    worst = max(others, key=others.get)
    holds = ours > others[worst]
    sign = ">" if holds else "≤"
    return holds, f"step {step}: {who} {_fmt(ours)} {sign} {worst} {_fmt(others[worst])}"


def below_all_at(data: dict[str, Any], step: int | None = None, who: str = "LSTM"):
    """``who`` is below every baseline at ``step`` (None: the last step)."""
    return _compare_at(data.get("curves") or {}, who, step, below=True)


def above_all_at(data: dict[str, Any], step: int | None = None, who: str = "LSTM"):
    """``who`` is above every baseline at ``step`` (None: the last step): it failed."""
    return _compare_at(data.get("curves") or {}, who, step, below=False)


def below_all_between(
    data: dict[str, Any], first: int = 1, last: int | None = None, who: str = "LSTM"
):
    """``who`` is below every baseline at every step from ``first`` to ``last`` (None: end)."""
    curves = data.get("curves") or {}
    if who not in curves:
        return None, f"no {who} curve"
    steps = [s for s in curves[who]["step"] if s >= first and (last is None or s <= last)]
    if not steps:
        return None, f"no step from {first} in the data"
    lost = [s for s in steps if below_all_at(data, s, who)[0] is False]
    span = f"steps {steps[0]}–{steps[-1]}"
    if not lost:
        return True, f"{who} lowest at all {len(steps)} {span}"
    shown = ", ".join(str(s) for s in lost[:5]) + (", …" if len(lost) > 5 else "")
    first_loss = below_all_at(data, lost[0], who)[1]
    return False, f"{who} not lowest at {len(lost)} of {span}: {shown}; {first_loss}"


def rises_after(data: dict[str, Any], step: int, who: str = "LSTM"):
    """``who``'s loss at the last step is above its loss at ``step``."""
    curves = data.get("curves") or {}
    if who not in curves:
        return None, f"no {who} curve"
    at, end = value_at(curves[who], step), value_at(curves[who], _last_step(curves[who]))
    if at is None or end is None:
        return None, f"step {step} is not in the data"
    last = _last_step(curves[who])
    sign = ">" if end > at else "≤"
    return end > at, f"{who} {_fmt(end)} at step {last} {sign} {_fmt(at)} at step {step}"


def grid_below_all_at(data: dict[str, Any], layers: int, width: int, who: str = "LSTM"):
    """In an architecture grid, ``who``'s final loss is the lowest at ``layers`` × ``width``."""
    for panel in data.get("panels") or []:
        if panel["layers"] != layers or width not in panel["widths"]:
            continue
        index = panel["widths"].index(width)
        finals = {
            name: math.inf if points["mean"][index] is None else float(points["mean"][index])
            for name, points in panel["curves"].items()
        }
        if who not in finals:
            return None, f"no {who} points"
        others = {n: v for n, v in finals.items() if not _learned(n)}
        best = min(others, key=others.get)
        holds = finals[who] < others[best]
        sign = "<" if holds else "≥"
        return holds, (
            f"{layers}×{width}: {who} {_fmt(finals[who])} {sign} {best} {_fmt(others[best])}"
        )
    return None, f"{layers} layer(s) × {width} units is not in the grid"


PREDICATES: dict[str, Callable[..., tuple[bool | None, str]]] = {
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
          "MNIST: the LSTM beats every baseline by a clear margin at step 100", "below_all_at",
          {"step": 100}, "paper~"),
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
    holds, detail = PREDICATES[claim.kind](data, **claim.args)
    status = NO_DATA if holds is None else HOLDS if holds else FAILS
    return Outcome(claim, status, detail)


def for_figure(figure: str) -> list[Claim]:
    """The claims about ``figure``, in the list's order."""
    return [claim for claim in CLAIMS if claim.figure == figure]
