"""The regression checks' arithmetic: metrics of a curves record, references and bands."""

import math

import pytest

from repro.checks import curve_metrics, failures, outside, reference, table


def _curves(**means):
    return {"curves": {name: {"mean": m, "lr": None if name == "LSTM" else 0.1}
                       for name, m in means.items()}}


def test_curve_metrics_are_final_and_mean_loss_and_the_rate():
    metrics = curve_metrics(_curves(LSTM=[3.0, 2.0, 1.0], ADAM=[4.0, 3.0, 2.0]))
    assert metrics == {"LSTM.final": 1.0, "LSTM.mean": 2.0,
                       "ADAM.final": 2.0, "ADAM.mean": 3.0, "ADAM.lr": 0.1}
    diverged = curve_metrics(_curves(LSTM=[3.0, None, None]))
    assert diverged["LSTM.final"] == math.inf and diverged["LSTM.mean"] == math.inf


def test_failures_checks_below_and_the_range():
    bounds = {"learned": "LSTM", "below": ["ADAM"], "final_range": [0.5, 1.5]}
    assert failures(_curves(LSTM=[1.0], ADAM=[2.0]), bounds) == []
    assert failures(_curves(LSTM=[2.5], ADAM=[2.0]), bounds) == [
        "LSTM final loss 2.5 is not below ADAM's 2", "LSTM final loss 2.5 is outside the stored "
        "range [0.5, 1.5]"]


def test_outside_names_every_metric_that_moved_either_way():
    refs = {"a": reference([1.0, 1.0]), "b": reference([2.0, 2.2])}
    assert outside({"a": 1.04, "b": 2.1}, refs) == []
    assert [line.split(":")[0] for line in outside({"a": 1.06, "b": 1.7}, refs)] == ["a", "b"]
    assert outside({"a": 0.94, "b": 2.1}, refs)[0].startswith("a: 0.94 outside")
    assert outside({"a": math.inf, "b": 2.1}, refs) != []
    assert outside({"b": 2.1, "c": 1.0}, refs) == [
        "c: no reference (rerun make calibrate)", "a: not measured"]
    shown = table({"a": 1.06, "b": 2.1}, refs).splitlines()
    assert len(shown) == 2 and "1.06" in shown[0] and "median 1" in shown[0]


def test_a_diverged_calibration_run_leaves_no_reference():
    with pytest.raises(ValueError, match="diverged"):
        reference([1.0, math.inf])


def test_reference_band_is_the_larger_of_5_percent_and_3_sigma():
    tight = reference([1.0, 1.0, 1.0])
    assert tight["tolerance"] == pytest.approx(0.05) and tight["sigma"] == 0
    wide = reference([1.0, 2.0, 3.0])
    assert wide["median"] == 2.0 and wide["tolerance"] == pytest.approx(3 * (2 / 3) ** 0.5)
    assert wide["band"] == pytest.approx([2.0 - wide["tolerance"], 2.0 + wide["tolerance"]])
