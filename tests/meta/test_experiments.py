"""Each experiment's LightningModule and data module are what ``Trainer.fit`` receives, and the
data module is prepared and set up there (or by ``make_source`` where no Trainer runs)."""

from pathlib import Path

import lightning as L
import pytest

from repro.commands import fit as fit_command
from repro.config_loading import load, read
from repro.data.cifar import CIFARDataModule
from repro.data.mnist import MNISTDataModule
from repro.data.problems import ProblemData
from repro.meta.experiments import make_source
from repro.meta.learner import MetaLearner
from repro.paths import Paths
from repro.settings import FAMILIES
from tests.data.cifar_files import write_cifar
from tests.test_mnist_pipeline import _dataset as write_mnist

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT_FILES = ROOT / "experiments"
TINY = ["meta.steps=2", "meta.val_every=2", "meta.val_problems=1", "meta.horizon=4",
        "meta.unroll=2", "optimizer.hidden=4"]
MNIST = ["problem.hidden=[4]", "data.download=false", "data.val_size=60"]
CASES = {
    "quadratic": (ProblemData, None, ["problem.batch=2"]),
    "mnist": (MNISTDataModule, write_mnist, MNIST),
    "cifar10": (CIFARDataModule,
                lambda root: write_cifar(root, per_batch=40, test=40),
                ["data.download=false", "data.val_size=40", "problem.minibatch=8"]),
    "neural_art": (ProblemData, None,
                   ["problem.size=16", "problem.encoder=random", "problem.width=0.125"]),
}


@pytest.fixture
def prepared(monkeypatch):
    """The data modules whose ``prepare_data`` ran, in order."""
    ran = []
    for module in (ProblemData, MNISTDataModule, CIFARDataModule):

        def prepare(self, real=module.prepare_data):
            ran.append(self)
            real(self)

        monkeypatch.setattr(module, "prepare_data", prepare)
    return ran


def test_every_unit_registers_its_family_and_every_experiment_names_one():
    units = {path.stem for path in (ROOT / "repro" / "families").glob("[!_]*.py")}
    assert set(FAMILIES) == units and {"quadratic", "mlp", "convnet", "neural_art"} <= units
    named = {read(path)["problem"]["family"] for path in EXPERIMENT_FILES.glob("*.yaml")}
    assert named == units


@pytest.mark.parametrize("name", list(CASES))
def test_fit_hands_the_experiment_and_its_prepared_data_module_to_trainer_fit(
    name, tmp_path, monkeypatch, prepared
):
    data_class, write, extra = CASES[name]
    fits = []
    real_fit = L.Trainer.fit

    def fit(trainer, model, **kwargs):
        real_fit(trainer, model, **kwargs)
        fits.append((trainer, model, kwargs["datamodule"]))

    monkeypatch.setattr(L.Trainer, "fit", fit)
    root = []
    if write is not None:
        write(tmp_path / "data")
        root = [f"data.root={tmp_path / 'data'}"]
    config = load(EXPERIMENT_FILES / f"{name}.yaml", "quick", [*TINY, *extra, *root])
    fit_command.fit(config, Paths(runs=tmp_path / "runs", figures=tmp_path / "figures"))
    ((trainer, learner, data),) = fits
    assert type(learner) is MetaLearner and trainer.lightning_module is learner
    assert type(data) is data_class and trainer.datamodule is data
    assert len(prepared) == 1 and prepared[0] is data
    if write is None:
        assert data.splits == {} and getattr(learner.source, "data", None) is None
    else:  # set up by the fit, and the learner's problems draw from its tensors
        assert set(data.splits) == {"train", "val", "test"}
        assert learner.source.data.splits is data.splits
        assert all(source.data.splits is data.splits for source in learner.train_sources)


def test_make_source_prepares_and_sets_up_the_data_module_without_a_trainer(tmp_path, prepared):
    write_mnist(tmp_path / "data")
    config = load(EXPERIMENT_FILES / "mnist.yaml", "quick",
                  [*MNIST, f"data.root={tmp_path / 'data'}"])
    source = make_source(config)
    assert [type(data) for data in prepared] == [MNISTDataModule]
    assert source.data.splits is prepared[0].splits
    splits = source.data.splits
    assert [len(splits[split][1]) for split in ("train", "val", "test")] == [240, 60, 100]
