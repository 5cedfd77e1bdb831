"""Metric regression: a real quick-profile meta-training on quadratics, then evaluation."""

import json
from pathlib import Path

import pytest

from repro import pipeline
from repro.checks import failures, load_bounds
from repro.config import load

ROOT = Path(__file__).resolve().parents[1]
QUADRATIC = ROOT / "experiments" / "quadratic.yaml"
BOUNDS = load_bounds(ROOT / "tests" / "regression_bounds.yaml", "quadratic_quick")


def _run(tmp_path: Path, config_file: Path, panel: str, overrides: list[str]) -> dict:
    """Fit, tune and evaluate in the quick profile; the curves of ``panel``."""
    config = load(config_file, "quick", overrides)
    paths = pipeline.Paths(runs=tmp_path / "runs", figures=tmp_path / "figures")
    pipeline.fit(config, paths)
    pipeline.tune(config, paths)
    pipeline.evaluate(config, paths)
    return json.loads((paths.data / f"{panel}.json").read_text())


def _curves(tmp_path: Path, overrides: list[str]) -> dict:
    return _run(tmp_path, QUADRATIC, "figure4a", overrides)


@pytest.mark.slow
def test_quick_profile_lstm_beats_tuned_adam_within_stored_bounds(tmp_path):
    curves = _curves(tmp_path, [])
    assert failures(curves, BOUNDS) == []


FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_BOUNDS = load_bounds(ROOT / "tests" / "regression_bounds.yaml", "fashion_mnist_quick")
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist (done by .ci/run)"
)


def _fashion_curves(tmp_path: Path, overrides: list[str]) -> dict:
    return _run(tmp_path, ROOT / "experiments" / "mnist.yaml", "figure4b", [
        "data.name=fashion_mnist", "data.download=false", "tune.optimizers=[ADAM]",
        "evaluate.panels=[{name: figure4b, title: MNIST, steps: 100}]", *overrides,
    ])


@pytest.mark.slow
@needs_fashion
def test_fashion_mnist_quick_profile_lands_within_stored_bounds(tmp_path):
    curves = _fashion_curves(tmp_path, [])
    assert failures(curves, FASHION_BOUNDS) == []


@needs_fashion
def test_fashion_mnist_check_fails_for_an_untrained_lstm(tmp_path):
    curves = _fashion_curves(tmp_path, ["meta.steps=0", "evaluate.problems=4"])
    assert any("outside the stored range" in line for line in failures(curves, FASHION_BOUNDS))


def test_check_fails_for_an_untrained_lstm(tmp_path):
    curves = _curves(tmp_path, ["meta.steps=0", "tune.optimizers=[ADAM]"])
    found = failures(curves, BOUNDS)
    assert any("is not below ADAM" in line for line in found)
