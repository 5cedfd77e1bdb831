"""The MNIST pipeline end to end on a tiny generated dataset in the exact IDX format."""

import json
from pathlib import Path

import pytest
import torch

from repro import pipeline
from repro.cli import main
from repro.config import load
from repro.data.idx import write_idx

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "problem.hidden=[4]", "data.download=false", "data.val_size=60", "meta.steps=4",
    "meta.val_every=2", "meta.val_problems=2", "meta.horizon=10", "meta.unroll=5",
    "tune.problems=2", "tune.grid=[0.3,0.03]", "evaluate.problems=3",
]


def _dataset(root: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    root.mkdir(parents=True)
    for split, n in (("train", 300), ("t10k", 100)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz",
                  torch.randint(0, 256, (n, 28, 28), generator=gen, dtype=torch.uint8), gzip=True)
        write_idx(root / f"{split}-labels-idx1-ubyte",
                  torch.randint(0, 10, (n,), generator=gen, dtype=torch.uint8), gzip=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    _dataset(root / "data")
    paths = pipeline.Paths(runs=root / "runs", figures=root / "figures")
    base = load(ROOT / "experiments" / "mnist.yaml", "quick", [
        *TINY, f"data.root={root / 'data'}",
        "evaluate.panels=[{name: figure4b, title: MNIST, steps: 10},"
        " {name: figure4c, title: 'MNIST, 200 steps', steps: 20}]",
    ])
    pipeline.fit(base, paths)
    pipeline.tune(base, paths)
    pipeline.evaluate(base, paths)
    relu = load(ROOT / "experiments" / "mnist_relu.yaml", "quick", [
        *TINY, f"data.root={root / 'data'}",
        "evaluate.panels=[{name: figure5c, title: 'MNIST, ReLU', steps: 10}]",
    ])
    pipeline.tune(relu, paths)
    pipeline.evaluate(relu, paths)
    return root, paths


def test_base_network_curves_for_100_and_200_step_panels(run):
    _, paths = run
    b = json.loads((paths.data / "figure4b.json").read_text())
    c = json.loads((paths.data / "figure4c.json").read_text())
    assert b["title"] == "MNIST" and c["title"] == "MNIST, 200 steps"
    assert b["meta"]["dataset"] == "mnist"
    for name in ("ADAM", "RMSprop", "SGD", "NAG", "LSTM"):
        assert b["curves"][name]["step"] == list(range(1, 11))
        assert c["curves"][name]["step"] == list(range(1, 21))
        assert c["curves"][name]["mean"][:10] == b["curves"][name]["mean"]
        assert 1.5 < b["curves"][name]["mean"][0] < 3.0  # cross-entropy near ln 10 at the start


def test_variant_uses_the_base_networks_optimizer_and_its_own_tuning(run):
    _, paths = run
    curves = json.loads((paths.data / "figure5c.json").read_text())
    assert curves["meta"]["checkpoint"].endswith("mnist/optimizer.ckpt")
    assert curves["title"] == "MNIST, ReLU"
    assert (paths.data / "tuned_lr_mnist_relu.json").is_file()


def test_architecture_grid_retunes_baselines_per_network(run):
    root, paths = run
    grid = load(ROOT / "experiments" / "mnist_grid.yaml", "quick", [
        *TINY, f"data.root={root / 'data'}", "grid.layers=[1,2]", "grid.widths=[3,4]",
    ])
    (path,) = pipeline.evaluate(grid, paths)
    data = json.loads(path.read_text())
    assert data["figure"] == "figure6" and data["train_architecture"] == {"layers": 1, "width": 4}
    assert [p["layers"] for p in data["panels"]] == [1, 2]
    for panel in data["panels"]:
        assert panel["widths"] == [3, 4]
        assert set(panel["curves"]) == {"ADAM", "RMSprop", "SGD", "NAG", "LSTM"}
        assert len(panel["curves"]["ADAM"]["lr"]) == 2 and panel["curves"]["LSTM"]["lr"] is None
        assert all(m is None or m > 0 for m in panel["curves"]["LSTM"]["mean"])
    assert pipeline.figure("figure6", paths)[0].is_file()


def test_missing_dataset_is_one_clear_line(tmp_path, capsys):
    code = main(["fit", "--config", str(ROOT / "experiments" / "mnist.yaml"), "--profile", "quick",
                 "--data.root", str(tmp_path / "nothing"), "--data.download", "false",
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: MNIST not found") and err.count("\n") == 1
    assert str(tmp_path / "nothing") in err
