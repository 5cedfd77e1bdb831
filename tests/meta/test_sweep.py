"""The sweep record: plateau escape, best validation loss, baselines beaten."""

import math

import pytest

from repro.meta.sweep import ESCAPE_MARGIN, PLATEAU, escape_truncation, summarise

STUCK = [(99, 2.3026), (199, 2.3019), (299, 2.3011)]
ESCAPING = [(99, 2.30), (199, 1.2), (299, 0.62), (399, 0.64)]
BASELINES = {"ADAM": 0.65, "NAG": 0.56}


def test_a_run_that_stays_at_ln10_never_escapes():
    assert escape_truncation(STUCK) is None
    assert summarise(STUCK, BASELINES)["beats"] == []


def test_the_escape_is_the_first_validation_clearly_below_ln10():
    assert escape_truncation(ESCAPING) == 199
    assert escape_truncation([(5, PLATEAU - ESCAPE_MARGIN + 1e-3)]) is None


def test_best_loss_its_step_and_the_baselines_beaten():
    record = summarise(ESCAPING, BASELINES)
    assert record["best_val_loss"] == pytest.approx(0.62)
    assert record["best_at"] == 299
    assert record["beats"] == ["ADAM"]


def test_a_diverged_validation_is_never_the_best_nor_an_escape():
    history = [(99, math.nan), (199, 2.2), (299, -math.inf)]
    record = summarise(history, BASELINES)
    assert record["best_val_loss"] == pytest.approx(2.2)
    assert record["escaped_at"] is None
    assert record["history"][0] == [99, None]
    assert summarise([(99, math.nan)], BASELINES)["best_val_loss"] is None


def test_validation_history_counts_truncations_as_the_best_checkpoint_does(tmp_path):
    from repro.meta.sweep import validation_history

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "step,train/meta_loss,val/final_loss\n0,40.1,\n99,,2.1\n199,,0.9\n199,,0.8\n"
    )
    assert validation_history(tmp_path) == [(100, 2.1), (200, 0.8)]


def test_revalidate_compares_on_validation_problems_no_fit_has_seen():
    """The selection loss is the horizon loss on stream 1 of split 'val' (a fit validates on
    stream 0): red if it reuses the fit's own validation problems or another split."""
    from pathlib import Path

    from repro.config_loading import load
    from repro.meta.evaluate import final_loss
    from repro.meta.experiments import make_source
    from repro.meta.learned import load_learned
    from repro.meta.sweep import SELECTION_STREAM, revalidate
    from repro.meta.unroll import rollout
    from repro.weights import path_of

    root = Path(__file__).resolve().parents[2]
    config = load(root / "experiments" / "quadratic.yaml", "quick", ["meta.horizon=20"])
    phi = path_of("quadratic")
    lstm = load_learned(phi, config)
    family = make_source(config)

    def on(split, stream):
        return final_loss(rollout(family.sample(split, stream, 8, "cpu"), lstm, 20))

    assert SELECTION_STREAM != 0
    assert revalidate(config, phi, 8) == on("val", SELECTION_STREAM)
    assert revalidate(config, phi, 8) not in (on("val", 0), on("test", SELECTION_STREAM))
