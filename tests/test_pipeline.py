"""The whole quadratic pipeline (fit, tune, evaluate, figure) on a tiny configuration."""

import json
import os
from pathlib import Path

import pytest
import torch

from repro import tracking
from repro.commands.evaluate import evaluate
from repro.commands.figure import figure
from repro.commands.fit import fit
from repro.commands.tune import tune
from repro.config_loading import load
from repro.optimizers.lstm import TorchLayers
from repro.optimizers.phi_file import CheckpointError, PhiFile, load_optimizer
from repro.paths import Paths
from tests import run_records

QUADRATIC = Path(__file__).resolve().parents[1] / "experiments" / "quadratic.yaml"
TINY = [
    "problem.batch=4", "meta.steps=12", "meta.val_every=6", "meta.val_problems=8",
    "meta.horizon=20", "meta.unroll=5", "tune.problems=8", "tune.grid=[0.3,0.1,0.01]",
    "evaluate.problems=10",
    "evaluate.steps=20", "evaluate.trace_step=3",
    "trainer.log_every=1",
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    config = load(QUADRATIC, "quick", TINY)
    paths = Paths(runs=root / "runs", figures=root / "figures", config_file=QUADRATIC)
    ckpt = fit(config, paths)
    tuned = tune(config, paths)
    data = evaluate(config, paths)
    figures = [*figure("figure4a", paths, config), *figure("figure3", paths)]
    return config, paths, ckpt, tuned, data, figures


def test_fit_exports_the_validated_optimizer(outputs):
    config, paths, ckpt, *_ = outputs
    stored = PhiFile.read(ckpt)
    assert stored.fit["meta_steps"] == 12
    assert stored.selection["criterion"].startswith("best of validation")
    assert stored.selection["val_loss"] > 0
    lstm = load_optimizer(ckpt, config.optimizer)
    assert sum(p.numel() for p in lstm.parameters()) > 0
    with pytest.raises(CheckpointError, match="optimizer.hidden=20"):
        load_optimizer(ckpt, load(QUADRATIC, overrides=["optimizer.hidden=8"]).optimizer)
    # how the LSTM runs is not part of what it is: any kernel loads the same phi
    other = load(QUADRATIC, overrides=["optimizer.kernel=torch"]).optimizer
    loaded = load_optimizer(ckpt, other)
    assert isinstance(loaded.implementation, TorchLayers)  # the PyTorch layer, no kernel
    for a, b in zip(loaded.parameters(), lstm.parameters(), strict=True):
        assert torch.equal(a, b)


def test_tuning_records_every_rate_and_picks_the_lowest(outputs):
    _, _, _, tuned, *_ = outputs
    record = json.loads(tuned.read_text())
    assert record["split"] == "val" and record["grid"] == [0.3, 0.1, 0.01]
    for result in record["optimizers"].values():
        finite = {float(k): v for k, v in result["grid"].items() if v is not None}
        assert result["lr"] == min(finite, key=finite.get)


def test_curves_follow_the_data_contract(outputs):
    _, paths, _, _, data, _ = outputs
    curves = json.loads((paths.data / "figure4a.json").read_text())
    assert curves["figure"] == "figure4a" and curves["profile"] == "quick"
    assert list(curves["curves"]) == ["ADAM", "RMSprop", "SGD", "NAG", "LSTM"]
    for name, curve in curves["curves"].items():
        assert curve["step"] == list(range(1, 21)) and curve["n"] == 10
        bands = zip(curve["lo"], curve["mean"], curve["hi"], strict=True)
        assert all(lo <= m <= hi for lo, m, hi in bands)
        assert (curve["lr"] is None) == (name == "LSTM")
    assert {"config", "seed", "checkpoint", "commit", "created"} <= set(curves["meta"])
    assert curves["meta"]["dataset"] == "synthetic"
    exported = PhiFile.read(paths.checkpoint("quadratic"))
    step = exported.selection["truncation"]
    assert exported.selection["criterion"] == f"best of validation at step {step}"
    assert curves["meta"]["selected"] == {
        "dataset": "synthetic", "seed": 0, "truncation": step,
        "val_loss": exported.selection["val_loss"], "commit": exported.meta["commit"],
    }
    wall = curves["meta"]["wall_seconds"]
    assert set(wall) == {"fit", "tune", "evaluate"} and all(v > 0 for v in wall.values())
    trace = json.loads((paths.data / "figure3.json").read_text())
    assert trace["step"] == 3 and len(trace["coordinates"]) == 4
    for coord in trace["coordinates"]:
        assert len(coord["h"]) == 2 and len(coord["h"][0]) == 20


def test_figures_written(outputs):
    *_, figures = outputs
    assert {p.name for p in figures} == {
        "figure4a.png", "figure4a.pdf", "figure3.png", "figure3.pdf"
    }
    assert all(p.stat().st_size > 1000 for p in figures)


def test_wandb_offline_run_equals_csv_log(outputs):
    config, paths, *_ = outputs
    run_dir = paths.run_dir(config, "fit")
    csv = tracking.read_csv_metrics(run_dir)
    logged = run_records.read_offline_run(run_dir)
    assert len(csv["train/meta_loss"]) == 12
    assert len(csv["val/final_loss"]) == 2
    assert any(key.startswith("lr-") for key in csv)
    for key in ("train/meta_loss", "val/final_loss"):
        assert [step for step, _ in logged[key]] == [step for step, _ in csv[key]]
        assert [v for _, v in logged[key]] == pytest.approx([v for _, v in csv[key]])
    evaluated = run_records.read_offline_run(paths.run_dir(config, "evaluate"))
    curves = json.loads((paths.data / "figure4a.json").read_text())["curves"]
    assert [v for _, v in evaluated["evaluate/LSTM"]] == pytest.approx(curves["LSTM"]["mean"])


def test_same_config_and_seed_give_identical_curves(outputs, tmp_path):
    config, first, *_ = outputs
    again = Paths(runs=tmp_path / "runs", figures=tmp_path / "figures",
                           config_file=QUADRATIC)
    fit(config, again)
    tune(config, again)
    evaluate(config, again)
    for name in ("figure4a.json", "figure3.json", f"tuned_lr_{config.experiment}.json"):
        a, b = (json.loads((p.data / name).read_text()) for p in (first, again))
        a.pop("meta", None), b.pop("meta", None)
        assert a == b, name


def test_a_run_folder_is_held_by_one_run_at_a_time(tmp_path):
    from repro.io import OutputError, run_lock

    busy = pytest.raises(OutputError, match=f"in use by pid {os.getpid()}")
    with run_lock(tmp_path), busy, run_lock(tmp_path):
        pass
    with run_lock(tmp_path):
        pass


def test_a_file_in_the_layout_before_phi_files_reads_as_one(outputs, tmp_path):
    ckpt = outputs[2]
    exported = torch.load(ckpt, weights_only=True)
    meta = {"dataset": "fashion_mnist", "seed": 3, "truncation": 1200, "val_loss": 0.5,
            "commit": "abc1234", "config": "experiments/mnist.yaml", "selected": "best"}
    shipped = tmp_path / "shipped.pt"
    torch.save({"state_dict": exported["state_dict"], "optimizer": exported["optimizer"],
                "meta": meta}, shipped)
    assert PhiFile.read(shipped).selected() == {
        k: meta[k] for k in ("dataset", "seed", "truncation", "val_loss", "commit")
    }
    assert PhiFile.read(shipped).selection["criterion"] == "best"
    fit = {"experiment": "quadratic", "selected": "final", "selected_truncation": 12,
           "val_final_loss": None, "meta_steps": 12, "seconds": 3.0,
           "meta": {"seed": 0, "phi_seed": 5, "commit": "abc1234", "config": "q.yaml"}}
    torch.save({"state_dict": exported["state_dict"], "optimizer": exported["optimizer"],
                **fit}, shipped)
    old = PhiFile.read(shipped)
    assert old.selection == {"seed": 5, "truncation": 12, "val_loss": None, "criterion": "final"}
    assert old.fit == {"meta_steps": 12, "seconds": 3.0} and old.meta["experiment"] == "quadratic"


def test_a_fit_is_shipped_as_a_weights_file_that_loads_and_evaluates(outputs, tmp_path):
    from repro import weights

    config, paths, ckpt, *_ = outputs
    out = tmp_path / "quadratic.pt"
    weights.main([str(ckpt), str(out)])
    payload = torch.load(out, weights_only=True)
    assert set(payload) == {"format", "state_dict", "optimizer", "selection", "meta", "fit"}
    assert payload["selection"]["truncation"] == PhiFile.read(ckpt).selection["truncation"]
    assert {"dataset", "config", "seed", "commit"} <= set(payload["meta"])
    shipped, trained = load_optimizer(out, config.optimizer), load_optimizer(ckpt, config.optimizer)
    for a, b in zip(shipped.parameters(), trained.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="no shipped optimizer 'nope'; available: "):
        weights.path_of("nope")


def test_no_shipped_weights_file_records_a_path_of_the_machine_that_made_it():
    from repro.weights import available, path_of

    for name in available():
        config = torch.load(path_of(name), weights_only=True)["meta"].get("config")
        assert config is None or not Path(config).is_absolute(), (name, config)


def test_a_config_inside_a_checkout_is_recorded_relative_to_it(tmp_path):
    from repro.io import portable, provenance

    checkout = tmp_path / "elsewhere" / "clone"
    (checkout / "repro").mkdir(parents=True)
    (checkout / "repro" / "__init__.py").write_text("")
    assert portable(checkout / "experiments" / "mnist.yaml") == "experiments/mnist.yaml"
    assert provenance(checkout / "experiments" / "mnist.yaml", 0)["config"] == (
        "experiments/mnist.yaml")
    assert portable(tmp_path / "mine.yaml") == str(tmp_path / "mine.yaml")
    assert portable("experiments/quadratic.yaml") == "experiments/quadratic.yaml"
