"""Metric regression: real pipelines checked against the calibrated references of
tests/baselines.yaml (tests/regression_cases.py), and the claims' "below" bounds of
tests/regression_bounds.yaml."""

import os
from pathlib import Path
from unittest import mock

import pytest
import yaml

from repro.checks import FLOOR, failures, load_bounds, outside, reference, table
from repro.io import is_dirty
from repro.optimizers.hand import BASELINES
from repro.optimizers.lstm import LSTMOptimizer
from tests.regression_cases import (
    BASELINES_FILE,
    CASES,
    MNIST_ROOT,
    OFFICIAL_SETTINGS,
    mnist_curves,
    quick_pipeline,
    references,
)

ROOT = Path(__file__).resolve().parents[1]
BOUNDS_FILE = ROOT / "tests" / "regression_bounds.yaml"
BOUNDS = load_bounds(BOUNDS_FILE, "quadratic_quick")
IN_CI = bool(os.environ.get("CI"))


def _check(case: str, tmp_path: Path) -> None:
    """Run ``case`` as it stands: its claims' bounds hold and every metric is in its band."""
    curves, metrics = CASES[case].measure(tmp_path, list(CASES[case].check))
    assert failures(curves, load_bounds(BOUNDS_FILE, case)) == []
    refs = references(case)
    assert outside(metrics, refs) == [], "\n" + table(metrics, refs)


def test_the_references_are_what_their_samples_give():
    """Red if tests/baselines.yaml was edited by hand, misses a case, or was calibrated from an
    uncommitted tree or on fewer than two runs."""
    stored = yaml.safe_load(BASELINES_FILE.read_text())
    assert stored["floor"] == FLOOR
    assert sorted(stored["cases"]) == sorted(CASES)
    for name, case in stored["cases"].items():
        assert not is_dirty(case["commit"]) and case["commit"] != "unknown", name
        assert case["host"]["cpu"] and case["host"]["vector_extensions"], name
        assert case["grid"] == [" ".join(o) for o in CASES[name].grid], name
        assert CASES[name].check in CASES[name].grid, name
        for metric, ref in case["metrics"].items():
            assert ref["n"] == len(CASES[name].grid) >= 2, (name, metric)
            again = reference(ref["samples"])
            for key in ("median", "sigma", "tolerance", "band"):
                assert ref[key] == pytest.approx(again[key]), (name, metric, key)


def test_quadratic_references_cover_the_lstm_and_every_baseline():
    refs = references("quadratic_quick")
    assert {"LSTM.final", "LSTM.mean"} <= set(refs)
    for name in BASELINES:
        assert {f"{name}.final", f"{name}.mean", f"{name}.lr"} <= set(refs), name
    assert sorted(BOUNDS["below"]) == sorted(BASELINES)


@pytest.mark.slow
def test_quick_profile_lstm_beats_every_tuned_baseline_within_the_references(tmp_path):
    _check("quadratic_quick", tmp_path)


def test_check_fails_for_an_untrained_lstm(tmp_path):
    curves, metrics = CASES["quadratic_quick"].measure(tmp_path, ["meta.steps=0"])
    # an untrained LSTM stays far above even the wide band of meta seeds 0-4
    found = failures(curves, BOUNDS)
    assert all(any(f"is not below {name}" in line for line in found) for name in BASELINES)
    assert any(line.startswith("LSTM.final:") for line in outside(metrics,
                                                                  references("quadratic_quick")))


FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_BOUNDS = load_bounds(BOUNDS_FILE, "fashion_mnist_quick")
# In CI (CI set) the dataset must be there: the tests run and fail without it.
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir() and not IN_CI,
    reason="apt-get install dataset-fashion-mnist (done by .ci/run)",
)


@pytest.mark.skipif(not IN_CI, reason="outside CI a missing dataset skips the real-data checks")
def test_ci_has_the_real_dataset():
    assert FASHION.is_dir(), f"{FASHION} is missing: .ci/run installs dataset-fashion-mnist"


def _fashion_curves(tmp_path: Path, overrides: list[str]) -> dict:
    return quick_pipeline(tmp_path, ROOT / "experiments" / "mnist.yaml", "figure4b", [
        "data.name=fashion_mnist", "data.download=false", "tune.optimizers=[ADAM]",
        "evaluate.panels=[figure4b]",
        # meta-training's trajectory depends on float rounding, hence on the thread count:
        # pinned to the 2 threads the bounds were measured with (other tests change it)
        "trainer.threads=2", *overrides,
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


MNIST_RAW = MNIST_ROOT / "MNIST" / "raw"
# In CI `make data` (run by .ci/run) fetches real MNIST there; outside CI a missing copy skips.
needs_mnist = pytest.mark.skipif(
    not MNIST_RAW.is_dir() and not IN_CI, reason="make data (fetches real MNIST; done by .ci/run)"
)


def untrained_copy(tmp_path: Path, weights: str) -> Path:
    """A copy of the shipped ``weights`` with phi at its fresh (Sonnet) initialisation."""
    import torch

    from repro.weights import path_of

    shipped = torch.load(path_of(weights), weights_only=True)
    settings = shipped["optimizer"]
    untrained = LSTMOptimizer(
        **{k: settings[k] for k in ("hidden", "layers", "preprocessing", "p", "output_scale")}
    )
    path = tmp_path / "untrained.pt"
    torch.save({**shipped, "state_dict": untrained.state_dict()}, path)
    return path


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("case", ["mnist_shipped", "official_dm_shipped"])
def test_shipped_phi_beats_tuned_adam_and_nag_on_the_mnist_test_split(tmp_path, case):
    _check(case, tmp_path)


@pytest.mark.slow
@needs_mnist
def test_mnist_check_fails_for_an_untrained_lstm(tmp_path):
    bounds = load_bounds(BOUNDS_FILE, "official_dm_shipped")
    found = failures(mnist_curves(tmp_path, untrained_copy(tmp_path, "official_dm"),
                                  list(OFFICIAL_SETTINGS)), bounds)
    assert any("is not below ADAM" in line for line in found)
    assert any("is not below NAG" in line for line in found)


@pytest.mark.figure
@needs_mnist
def test_quick_meta_training_on_real_mnist_within_the_references(tmp_path):
    """The slow tier (make test-slow): the MNIST pipeline's quick profile on real MNIST (fit,
    tune every baseline, evaluate)."""
    _check("mnist_quick", tmp_path)


@pytest.mark.figure
@needs_mnist
def test_figure4b_regenerated_on_real_mnist_within_the_references(tmp_path):
    """The slow tier (make test-slow): Figure 4b's data made afresh, paper profile."""
    _check("figure4b_paper", tmp_path)


def _scaled_update(scale: float):
    step = LSTMOptimizer.step

    def scaled(self, grad, state):
        update, new_state = step(self, grad, state)
        return scale * update, new_state

    return scaled


@pytest.mark.slow
@needs_mnist
def test_a_09x_lstm_update_at_evaluation_leaves_its_band(tmp_path):
    """The LSTM's update scaled by 0.9 at evaluation: its final loss stays inside its 5% band,
    the distance it travels in 10 steps leaves its band."""
    with mock.patch.object(LSTMOptimizer, "step", _scaled_update(0.9)):
        _, metrics = CASES["mnist_shipped"].measure(tmp_path,
                                                    list(CASES["mnist_shipped"].check))
    found = outside(metrics, references("mnist_shipped"))
    assert [line.split(":")[0] for line in found] == ["LSTM.travel"], found


@pytest.mark.slow
@needs_mnist
def test_every_baseline_at_07x_its_tuned_rate_leaves_its_band(tmp_path):
    """Evaluation running every baseline at 0.7x the rate it records: the final losses stay in
    their bands (the tuned rate is an optimum, where the loss is flat), the mean over the steps
    of every baseline leaves its band."""
    import repro.meta.evaluate as evaluation

    make_baseline = evaluation.make_baseline
    with mock.patch.object(evaluation, "make_baseline",
                           lambda name, lr: make_baseline(name, 0.7 * lr)):
        curves, metrics = CASES["mnist_shipped"].measure(tmp_path,
                                                         list(CASES["mnist_shipped"].check))
    found = {line.split(":")[0] for line in outside(metrics, references("mnist_shipped"))}
    assert {f"{name}.mean" for name in curves["curves"] if name != "LSTM"} <= found, found
    assert not any(name.startswith("LSTM") or name.endswith(".final") for name in found), found
