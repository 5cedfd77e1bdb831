"""The Neural Art pipeline end to end at 16x16 (quick profile): fit, tune, evaluate, figures."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.commands.evaluate import evaluate
from repro.commands.figure import figure
from repro.commands.fit import fit
from repro.commands.tune import tune
from repro.config_loading import load
from repro.paths import Paths

pytestmark = pytest.mark.slow  # about 30 s on 2 cores

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TINY = [
    "problem.size=16", "problem.encoder=random", "problem.width=0.125", "meta.steps=2",
    "meta.val_every=2",
    "meta.val_problems=1", "meta.horizon=8", "meta.unroll=4", "tune.problems=1",
    "tune.grid=[0.1]", "evaluate.problems=2", "trainer.log_every=1",
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("art")
    train = load(EXPERIMENTS / "neural_art.yaml", "quick", [*TINY, "evaluate.steps=8"])
    test = load(EXPERIMENTS / "neural_art_test.yaml", "quick", [*TINY, "evaluate.steps=8"])
    paths = Paths(runs=root / "runs", figures=root / "figures")
    fit(train, paths)
    for config in (train, test):
        tune(config, paths)
        evaluate(config, paths)
    figures = [
        path
        for name in ("figure8", "figure9", "figure10", "figure11", "figure12", "figure13")
        for path in figure(name, paths)
    ]
    return paths, figures


def test_curves_of_both_conditions_name_the_encoder(outputs):
    paths, _ = outputs
    for name, title in (("figure8a", "Training style, 16x16"), ("figure8b", "Test style, 16x16")):
        data = json.loads((paths.data / f"{name}.json").read_text())
        assert data["title"] == title and data["profile"] == "quick"
        assert list(data["curves"]) == ["ADAM", "RMSprop", "SGD", "NAG", "LSTM"]
        assert all(len(c["step"]) == 8 and c["n"] == 2 for c in data["curves"].values())
        assert data["meta"]["encoder"] == "random (seed 0, width 0.125)"
    trained = torch.load(paths.checkpoint("neural_art"), weights_only=True)
    assert trained["meta"]["encoder"] == "random (seed 0, width 0.125)"


def test_image_triples_are_saved_with_their_data(outputs):
    paths, _ = outputs
    for name, style in (("figure9a", "ihc"), ("figure9b", "hubble_deep_field")):
        data = json.loads((paths.data / f"{name}.json").read_text())
        assert data["style"] == style and data["size"] == 16
        with np.load(paths.data / data["images"]) as images:
            assert {k: images[k].shape for k in images} == {
                k: (3, 16, 16) for k in ("content", "lstm", "style")
            }
            assert not np.array_equal(images["lstm"], images["content"])
        assert (paths.data / f"{name}_lstm.png").stat().st_size > 100


def test_update_views_follow_the_lstm_trajectory(outputs):
    paths, _ = outputs
    history = json.loads((paths.data / "figure10.json").read_text())
    assert len(history["coordinates"]) == 2 and history["steps"] == list(range(1, 9))
    for coord in history["coordinates"]:
        sgd = np.array(coord["updates"]["SGD"])
        assert np.allclose(sgd, -history["lr"]["SGD"] * np.array(coord["grad"]), rtol=1e-5)
    for name in ("figure11", "figure12", "figure13"):
        data = json.loads((paths.data / f"{name}.json").read_text())
        assert [p["step"] for p in data["panels"]] == [1, 4, 8]
        assert data["coordinate"]["channel"] in "RGB"


def test_every_figure_is_drawn(outputs):
    _, figures = outputs
    assert len(figures) == 12 and all(p.stat().st_size > 1000 for p in figures)
