"""The CIFAR pipeline end to end (Figure 7) on a tiny generated release in the pickle format."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from repro.cli import main
from repro.commands.evaluate import evaluate
from repro.commands.figure import figure
from repro.commands.fit import fit
from repro.commands.tune import tune
from repro.config_loading import load
from repro.meta.learned import load_learned, make_learned
from repro.optimizers.grouped import GroupedRule
from repro.optimizers.lstm import LSTMOptimizer
from repro.paths import Paths
from repro.settings import ConfigError
from tests.data.cifar_files import write_cifar

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.download=false", "data.val_size=40", "problem.minibatch=8", "meta.steps=2",
    "meta.val_every=2", "meta.val_problems=1", "meta.horizon=4", "meta.unroll=2",
    "tune.problems=1", "tune.grid=[0.1,0.01]", "evaluate.problems=2",
]
STEPS = 4


def config(name: str, data: Path, short: bool = False):
    overrides = [*TINY, f"data.root={data}", *([f"evaluate.steps={STEPS}"] if short else [])]
    return load(ROOT / "experiments" / f"{name}.yaml", "quick", overrides)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root / "data", per_batch=40, test=40)
    paths = Paths(runs=root / "runs", figures=root / "figures")
    fit(config("cifar10", root / "data"), paths)
    fit(config("cifar_sub", root / "data"), paths)
    for name in ("cifar10", "cifar5", "cifar2"):
        cfg = config(name, root / "data", short=True)
        tune(cfg, paths)
        evaluate(cfg, paths)
    return root, paths


def test_checkpoint_holds_both_lstms(run):
    _, paths = run
    payload = torch.load(paths.checkpoint("cifar10"), weights_only=True)
    assert payload["optimizer"]["groups"] == ["conv", "fc"]
    heads = [k for k in payload["state_dict"] if k.endswith("head_weight")]
    assert sorted(heads) == ["conv.head_weight", "fc.head_weight"]
    conv, fc = payload["state_dict"]["conv.weights.0"], payload["state_dict"]["fc.weights.0"]
    assert not torch.equal(conv, fc)  # separate weights, each meta-trained


def test_figure7_panels_with_lstm_sub_on_the_subsets(run):
    root, paths = run
    for panel, classes, names in (
        ("figure7a", 10, {"ADAM", "RMSprop", "SGD", "NAG", "LSTM"}),
        ("figure7b", 5, {"ADAM", "RMSprop", "SGD", "NAG", "LSTM", "LSTM-sub"}),
        ("figure7c", 2, {"ADAM", "RMSprop", "SGD", "NAG", "LSTM", "LSTM-sub"}),
    ):
        data = json.loads((paths.data / f"{panel}.json").read_text())
        assert set(data["curves"]) == names and data["meta"]["dataset"] == "cifar10"
        for curve in data["curves"].values():
            assert curve["step"] == list(range(1, STEPS + 1)) and curve["n"] == 2
            # the loss at step 1 is near ln(classes): the head is sized to the subset
            assert abs(curve["mean"][0] - math.log(classes)) < 0.5 * math.log(classes)
        assert data["meta"]["checkpoint"].endswith("cifar10/optimizer.ckpt")
    sub = json.loads((paths.data / "figure7b.json").read_text())["meta"]
    assert sub["classes"] == [0, 1, 2, 3, 4]
    assert sub["lstm_sub_checkpoint"].endswith("cifar_sub/optimizer.ckpt")
    assert all(p.is_file() for p in figure("figure7", paths))


def test_learned_optimizer_is_one_lstm_per_group_and_loads_into_a_subset_network(run):
    root, paths = run
    cifar2 = config("cifar2", root / "data")
    rule = make_learned(cifar2)
    assert isinstance(rule, GroupedRule) and rule.names == ["conv", "fc"]
    assert rule.slices[-1].stop == 22_418  # the 2-way head
    loaded = load_learned(paths.checkpoint("cifar_sub"), cifar2)  # trained with a 5-way head
    assert isinstance(loaded.get_submodule("fc"), LSTMOptimizer)
    with pytest.raises(ConfigError, match="must list the convnet family's groups"):
        make_learned(replace(cifar2, optimizer=replace(cifar2.optimizer, groups=["fc", "conv"])))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optimizer.groups=[conv, fc]", "only the convnet family"),
        ("data.classes=[0, 1]", "data.classes"),
    ],
)
def test_groups_and_classes_need_the_cifar_family(override, message):
    with pytest.raises(ConfigError, match=message):
        load(ROOT / "experiments" / "mnist.yaml", "quick", [override])


def test_bad_subset_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="distinct CIFAR-10 labels"):
        load(ROOT / "experiments" / "cifar5.yaml", "quick", ["data.classes=[0, 0, 1]"])


def test_missing_cifar_folder_is_one_clear_line(tmp_path, capsys):
    code = main(["fit", "--config", str(ROOT / "experiments" / "cifar10.yaml"), "--profile",
                 "quick", "--data.root", str(tmp_path / "nothing"), "--data.download", "false",
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: CIFAR-10 not found") and err.count("\n") == 1
    assert str(tmp_path / "nothing" / "cifar-10-batches-py") in err
