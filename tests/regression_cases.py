"""The metric regression cases, and their calibration into tests/baselines.yaml.

Each case runs a real pipeline in a folder and returns its curves and metrics: every optimizer's
mean loss at the last step (``<name>.final``) and over all steps (``<name>.mean``), every tuned
baseline's rate (``<name>.lr``) and, for a shipped phi, how far it moves theta in its first 10
steps (``LSTM.travel``: scaling the update by 0.9 moves it out of its band, the final loss
not). tests/test_regression.py runs each case once, at its ``check`` point, and checks every
metric against its band.

``python -m tests.regression_cases [case ...]`` (``make calibrate``) runs each case over its
calibration grid: every meta seed and thread count that should give the same answer up to float
rounding (on another CPU the kernel rounds differently, which for a meta-training is like
drawing another meta seed). Each metric's reference is the median of those runs, its band
median +- max(5%, 3 sigma) (:func:`repro.checks.reference`). The test problems are a fixed
draw (the config's seed), as in the check, so the band does not widen by the spread between
draws (recorded apart as ``draw_spread``): that spread (the shipped phi's final loss: its
``draw_spread`` sigma in tests/baselines.yaml) would hide the 5% regression the bands are
there to catch.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import torch
import yaml

from repro.checks import FLOOR, curve_metrics, reference
from repro.commands.evaluate import evaluate
from repro.commands.fit import fit
from repro.commands.runs import set_threads
from repro.commands.tune import tune
from repro.config import Config
from repro.config_loading import load
from repro.host import describe
from repro.io import atomic_write, commit
from repro.meta.experiments import make_source
from repro.meta.learned import load_learned
from repro.meta.unroll import start, unroll
from repro.paths import Paths

ROOT = Path(__file__).resolve().parents[1]
BASELINES_FILE = ROOT / "tests" / "baselines.yaml"
QUADRATIC = ROOT / "experiments" / "quadratic.yaml"
MNIST_CONFIG = ROOT / "experiments" / "mnist.yaml"
MNIST_ROOT = ROOT / "data"
OFFICIAL_SETTINGS = ("optimizer.p=5.0", "optimizer.output_scale=0.01")
TRAVEL_STEPS = 10


def _paths(folder: Path) -> Paths:
    return Paths(runs=folder / "runs", figures=folder / "figures")


def quick_pipeline(folder: Path, config_file: Path, panel: str, overrides: list[str]) -> dict:
    """Fit, tune and evaluate in the quick profile; the curves of ``panel``."""
    config = load(config_file, "quick", overrides)
    paths = _paths(folder)
    fit(config, paths)
    tune(config, paths)
    evaluate(config, paths)
    return json.loads((paths.data / f"{panel}.json").read_text())


def mnist_config(overrides: list[str]) -> Config:
    """The quick profile on the real MNIST test split: ADAM and NAG tuned on its 4 validation
    problems, 20 test networks, 100 steps."""
    return load(MNIST_CONFIG, "quick", [
        "data.name=mnist", f"data.root={MNIST_ROOT}", "data.download=false",
        "tune.optimizers=[ADAM,NAG]", "evaluate.reference=",
        "evaluate.panels=[figure4b]", *overrides,
    ])


def mnist_curves(folder: Path, checkpoint: Path, overrides: list[str]) -> dict:
    """Tuned ADAM and NAG and the optimizer at ``checkpoint`` on the real MNIST test split."""
    config = mnist_config(overrides)
    paths = _paths(folder)
    tune(config, paths)
    evaluate(config, paths, checkpoint)
    return json.loads((paths.data / "figure4b.json").read_text())


def figure4b(folder: Path, overrides: list[str]) -> tuple[dict, dict[str, float]]:
    """Figure 4b regenerated on real MNIST, paper profile: every baseline tuned afresh on the
    10 validation networks, the shipped phi and the official code's on the 100 test networks."""
    from repro.weights import path_of

    config = load(MNIST_CONFIG, "paper", [
        "data.name=mnist", f"data.root={MNIST_ROOT}", "data.download=false",
        "evaluate.panels=[figure4b]", *overrides,
    ])
    paths = _paths(folder)
    tune(config, paths)
    evaluate(config, paths, path_of("mnist"))
    curves = json.loads((paths.data / "figure4b.json").read_text())
    return curves, curve_metrics(curves)


def lstm_travel(checkpoint: Path, config: Config) -> float:
    """Mean distance ||theta_10 - theta_0|| over the config's test problems (the draw evaluate
    uses): how far the phi at ``checkpoint`` moves theta in its first ``TRAVEL_STEPS`` steps (a
    change of the update's scale shows here first)."""
    set_threads(config)
    problem = make_source(config).sample("test", 0, config.evaluate.problems, "cpu")
    rule = load_learned(checkpoint, config)
    with torch.no_grad():
        carry = start(problem, rule)
        _, end = unroll(problem, rule, carry, TRAVEL_STEPS)
    return float((end.theta - carry.theta).double().norm(dim=1).mean())


Measure = Callable[[Path, list[str]], tuple[dict, dict[str, float]]]


@dataclass(frozen=True)
class Case:
    """One regression case: ``measure(folder, overrides)`` returns its curves and metrics;
    ``grid`` the override sets it is calibrated over, ``check`` those the test runs it with
    (one point of the grid); ``draws`` the test-problem draws (``seed=``) whose spread is
    recorded beside the band."""

    name: str
    what: str
    measure: Measure
    grid: tuple[tuple[str, ...], ...]
    check: tuple[str, ...]
    draws: tuple[int, ...] = (1, 2, 3)


def _quadratic(folder: Path, overrides: list[str]) -> tuple[dict, dict[str, float]]:
    curves = quick_pipeline(folder, QUADRATIC, "figure4a", overrides)
    return curves, curve_metrics(curves)


def _mnist_quick(folder: Path, overrides: list[str]) -> tuple[dict, dict[str, float]]:
    curves = quick_pipeline(folder, MNIST_CONFIG, "figure4b", [
        "data.name=mnist", f"data.root={MNIST_ROOT}", "data.download=false",
        "evaluate.reference=", "evaluate.panels=[figure4b]",
        *overrides,
    ])
    return curves, curve_metrics(curves)


def shipped(weights: str, settings: tuple[str, ...] = ()) -> Measure:
    """The measure of the shipped phi ``weights`` on real MNIST (evaluated with ``settings``)."""
    def measure(folder: Path, overrides: list[str]) -> tuple[dict, dict[str, float]]:
        from repro.weights import path_of

        every = [*settings, *overrides]
        curves = mnist_curves(folder, path_of(weights), every)
        travelled = lstm_travel(path_of(weights), mnist_config(every))
        return curves, {**curve_metrics(curves), "LSTM.travel": travelled}

    return measure


def _threads(*seeds: int) -> tuple[tuple[str, ...], ...]:
    return tuple((f"meta.seed={s}", f"trainer.threads={t}") for s, t in product(seeds, (1, 2)))


THREADS = (("trainer.threads=1",), ("trainer.threads=2",))


CASES = {case.name: case for case in (
    Case("quadratic_quick", "experiments/quadratic.yaml, quick profile (fit, tune, evaluate), "
         "100 test quadratics, step 100", _quadratic, _threads(0, 1, 2, 3, 4),
         ("meta.seed=0", "trainer.threads=1"), draws=()),
    Case("mnist_quick", "experiments/mnist.yaml on real MNIST, quick profile (1,000 "
         "truncations, every baseline tuned on 4 validation problems), 20 test networks, "
         "step 100", _mnist_quick, _threads(0, 1, 2), ("meta.seed=0", "trainer.threads=2"),
         draws=()),
    Case("mnist_shipped", "repro/weights/mnist.pt on 20 real MNIST test networks, step 100, "
         "ADAM and NAG tuned in the quick profile", shipped("mnist"), THREADS, THREADS[1]),
    Case("official_dm_shipped", "repro/weights/official_dm.pt (p 5, output x 0.01) on 20 real "
         "MNIST test networks, step 100, ADAM and NAG tuned in the quick profile",
         shipped("official_dm", OFFICIAL_SETTINGS), THREADS, THREADS[1]),
    Case("figure4b_paper", "Figure 4b on real MNIST, paper profile: repro/weights/mnist.pt and "
         "the official dm phi on 100 test networks, step 100, every baseline tuned afresh on 10 "
         "validation networks", figure4b, THREADS, THREADS[1], draws=()),
)}


def references(name: str) -> dict[str, dict[str, Any]]:
    """The calibrated references of case ``name`` in tests/baselines.yaml."""
    return yaml.safe_load(BASELINES_FILE.read_text())["cases"][name]["metrics"]


def _runs(case: Case) -> Iterator[tuple[list[str], dict[str, float]]]:
    for overrides in [list(o) for o in case.grid] + [[f"seed={d}"] for d in case.draws]:
        with tempfile.TemporaryDirectory() as tmp:
            _, metrics = case.measure(Path(tmp), overrides)
        print(f"{case.name} {' '.join(overrides)}: {metrics}", flush=True)
        yield overrides, metrics


def calibrate(case: Case) -> dict[str, Any]:
    """Run ``case`` over its grid and draws; its references and the draws' spread."""
    runs = list(_runs(case))
    grid, draws = runs[:len(case.grid)], runs[len(case.grid):]
    names = sorted(grid[0][1])
    return {
        "what": case.what,
        "grid": [" ".join(o) for o, _ in grid],
        "metrics": {n: reference([m[n] for _, m in grid]) for n in names},
        "draw_spread": {n: {"draws": [o[0] for o, _ in draws],
                            "sigma": statistics.pstdev([m[n] for _, m in draws])}
                        for n in names} if draws else {},
    }


def main(names: list[str]) -> None:
    """Calibrate the named cases (every case by default) and rewrite tests/baselines.yaml."""
    stored = yaml.safe_load(BASELINES_FILE.read_text()) if BASELINES_FILE.is_file() else {}
    cases, made = stored.get("cases", {}), commit()  # the code that runs, before it runs
    header = ("# Calibrated references of the metric regression checks: written by make "
              "calibrate\n# (tests/regression_cases.py says how); do not edit by hand.\n")
    for name in names or list(CASES):
        cases[name] = {**calibrate(CASES[name]), "commit": made,
                       "date": datetime.now(UTC).strftime("%Y-%m-%d"), "host": describe()}
        text = yaml.safe_dump({"floor": FLOOR, "cases": dict(sorted(cases.items()))},
                              sort_keys=False)
        atomic_write(BASELINES_FILE, lambda tmp, t=header + text: tmp.write_text(t))
        print(f"{name}: written to {BASELINES_FILE}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
