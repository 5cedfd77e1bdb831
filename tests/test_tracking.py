"""Tests for repro.tracking: CSV + offline W&B logging and reading both back."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from repro import tracking
from tests import run_records

# Enough log calls for the .wandb file to span several 32 KiB blocks, so records split across
# block boundaries are exercised by the reader.
N_DIRECT_STEPS = 150


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    """Offline W&B with its config/cache/data dirs inside a temp dir (no network, no $HOME)."""
    root = tmp_path_factory.mktemp("wandb_env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        for var, sub in [
            ("WANDB_CONFIG_DIR", "config"),
            ("WANDB_CACHE_DIR", "cache"),
            ("WANDB_DATA_DIR", "data"),
        ]:
            mp.setenv(var, str(root / sub))
        yield root


def _expected_direct() -> dict[str, list[tuple[int, float]]]:
    expected: dict[str, list[tuple[int, float]]] = {"meta_loss": [], "grad_norm": [], "val": []}
    for step in range(N_DIRECT_STEPS):
        expected["meta_loss"].append((step, 1.0 / (step + 1)))
        expected["grad_norm"].append((step, 0.1 * step - 3.25))
        if step % 10 == 9:
            expected["val"].append((step, step / 7.0))
    return expected


@pytest.fixture(scope="module")
def direct_run(wandb_env, tmp_path_factory):
    """One run logged directly (no Trainer), finished, as ``(run_dir, expected_metrics)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = tmp_path_factory.mktemp("direct") / "run"
    loggers = tracking.make_loggers(run_dir, "direct", {"lr": 0.1, "optimizer": "lstm"})
    assert [type(lg).__name__ for lg in loggers] == ["CSVLogger", "WandbLogger"]
    assert loggers[1].experiment.settings.mode == "offline"

    for step in range(N_DIRECT_STEPS):
        metrics = {"meta_loss": 1.0 / (step + 1), "grad_norm": 0.1 * step - 3.25}
        if step % 10 == 9:
            metrics["val"] = step / 7.0
        tracking.log_metrics(loggers, metrics, step=step)
    for logger in loggers:
        logger.log_hyperparams({"extra": 3})

    png = run_dir / "fig.png"
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    fig.savefig(png)
    plt.close(fig)
    tracking.log_figure(loggers, "figure", png)
    tracking.log_curves_table(
        loggers,
        "curves",
        {
            "adam": {"step": [0, 1], "mean": [1.0, 0.5], "lo": [0.9, 0.4], "hi": [1.1, 0.6]},
            "lstm": {"step": [0, 1], "mean": [1.0, 0.2], "lo": [0.8, 0.1], "hi": [1.2, 0.3]},
        },
    )
    tracking.finish(loggers)
    tracking.finish(loggers)  # second call is a no-op
    return run_dir, _expected_direct()


class ToyModule(L.LightningModule):
    """Linear regression that logs ``meta_loss`` every step and remembers what it logged."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.logged: list[float] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("meta_loss", loss, on_step=True, on_epoch=False)
        self.logged.append(loss.detach().item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.fixture(scope="module")
def trainer_run(wandb_env, tmp_path_factory):
    """One run logged by a 4-step Lightning fit, as ``(run_dir, module)``."""
    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("trainer") / "run"
    loggers = tracking.make_loggers(run_dir, "trainer", {"seed": 0})
    data = TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    module = ToyModule()
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=loggers,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    trainer.fit(module, DataLoader(data, batch_size=4))
    tracking.finish(loggers)
    return run_dir, module


def test_direct_logging_roundtrip(direct_run):
    run_dir, expected = direct_run
    from_csv = tracking.read_csv_metrics(run_dir)
    from_wandb = run_records.read_offline_run(run_dir)
    assert from_csv == expected
    assert from_wandb == expected


def test_direct_run_files(direct_run):
    run_dir, _ = direct_run
    assert (run_dir / "csv" / "metrics.csv").is_file()
    hparams = (run_dir / "csv" / "hparams.yaml").read_text()
    assert "lr: 0.1" in hparams and "extra: 3" in hparams
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    assert wandb_file.stat().st_size > 2 * 32768  # the reader crossed block boundaries
    files = wandb_file.parent / "files"
    assert list(files.glob("media/images/figure_*.png"))
    (table_file,) = files.glob("media/table/curves_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["optimizer", "step", "mean", "lo", "hi"]
    assert table["data"][0] == ["adam", 0, 1.0, 0.9, 1.1]
    assert len(table["data"]) == 4


def test_trainer_logging_roundtrip(trainer_run):
    run_dir, module = trainer_run
    from_csv = tracking.read_csv_metrics(run_dir)
    from_wandb = run_records.read_offline_run(run_dir)
    assert from_wandb == from_csv
    assert from_wandb["meta_loss"] == list(enumerate(module.logged))
    assert len(module.logged) == 4


def test_read_offline_run_needs_exactly_one_run(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_records.read_offline_run(tmp_path)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """A $HOME with no W&B credentials and no W&B env vars."""
    for var in [
        "WANDB_MODE",
        "WANDB_API_KEY",
        "WANDB_IDENTITY_TOKEN_FILE",
        "WANDB_BASE_URL",
        "WANDB_CONFIG_DIR",
        "NETRC",
    ]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_wandb_mode_honours_env(no_credentials, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.wandb_mode() == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert tracking.wandb_mode() == "offline"


def test_wandb_mode_offline_without_key(no_credentials):
    assert tracking.wandb_mode() == "offline"


def test_wandb_mode_online_with_key(no_credentials, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert tracking.wandb_mode() == "online"


def test_wandb_mode_online_with_netrc(no_credentials: Path):
    netrc = no_credentials / ".netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {'k' * 40}\n")
    netrc.chmod(0o600)
    assert tracking.wandb_mode() == "online"


def test_a_run_with_wandb_disabled_starts_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    for keep_before in (None, 5):
        with tracking.run(tmp_path / "run", "x", {"a": 1}, keep_before=keep_before) as loggers:
            tracking.log_metrics(loggers, {"m": 1.0}, step=1)
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()


def test_each_start_in_a_run_folder_is_a_wandb_run_of_the_folders_group(wandb_env, tmp_path):
    """A fit and its resumes: distinct W&B runs (none lost), one group; another folder gets
    another group. Red if the group is drawn afresh at each start."""
    found = []
    for folder in ("fit", "fit", "fit", "other"):
        loggers = tracking.make_loggers(tmp_path / folder, folder, {"a": 1})
        run = loggers[1].experiment
        found.append((folder, run.id, run.group))
        tracking.finish(loggers)
    ids = {run_id for _, run_id, _ in found}
    groups = [group for _, _, group in found]
    assert len(ids) == 4
    assert groups[0] == groups[1] == groups[2] != groups[3]
    assert groups[0].startswith("fit-") and groups[0] in (tmp_path / "fit" / "wandb" / "group"
                                                          ).read_text()
