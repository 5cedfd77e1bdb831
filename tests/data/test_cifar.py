"""CIFAR-10 on tiny generated batches in the release's pickle format: finding, reading,
label subsets, errors, and a download that leaves nothing half-written."""

import os
import pickle
import socket
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torchvision import datasets

from repro.data.cifar import (
    FOLDER,
    CIFARDataModule,
    ensure_cifar,
    load_cifar,
    read_batch,
    select_classes,
)
from repro.data.errors import DatasetError
from tests.data.cifar_files import write_cifar


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def offline(monkeypatch):
    """torchvision's CIFAR10 download writes a partial archive, then fails as offline."""
    calls = []

    def fail(root, train=True, download=False, **kwargs):
        calls.append(root)
        Path(root, "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b partial")
        raise URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(datasets, "CIFAR10", fail)
    return calls


def test_reads_every_batch_channel_major_and_both_key_kinds(tmp_path):
    written = write_cifar(tmp_path, per_batch=20, test=30)
    data = load_cifar(tmp_path, download=False)
    assert data.train_images.shape == (100, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (30, 3, 32, 32)
    raw, labels = written["data_batch_2"]
    row = 20 + 7  # batch 2, image 7
    assert data.train_images[row, 1, 0, 0] == raw[7, 1024]  # green plane starts at 1024
    assert data.train_images[row, 2, 31, 31] == raw[7, 3071]
    assert data.train_labels[20:40].tolist() == labels
    assert data.test_labels.tolist() == written["test_batch"][1]  # str keys in the test batch
    assert data.source == str((tmp_path / FOLDER).absolute())


def test_numpy_1_module_paths_of_the_release_are_read(tmp_path):
    written = write_cifar(tmp_path)
    path = tmp_path / FOLDER / "data_batch_1"
    old = path.read_bytes()
    assert b"numpy._core.multiarray\n" in old
    path.write_bytes(old.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    images, labels = read_batch(path)
    assert torch.equal(images.reshape(20, -1), torch.from_numpy(written["data_batch_1"][0]))


def test_the_batches_folder_itself_may_be_the_root(tmp_path):
    write_cifar(tmp_path)
    assert ensure_cifar(tmp_path / FOLDER, download=False) == (tmp_path / FOLDER).absolute()


def test_missing_folder_is_one_line_naming_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_cifar(tmp_path / "none", download=False)
    message = str(error.value)
    assert "\n" not in message and message.startswith("CIFAR-10 not found")
    assert str(tmp_path / "none" / FOLDER) in message and "--data.root" in message
    assert "download disabled" in message


def test_a_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / FOLDER / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match="lacks data_batch_4"):
        load_cifar(tmp_path, download=False)


def test_failed_download_leaves_nothing_behind(tmp_path, offline):
    root = tmp_path / "new" / "data"
    with pytest.raises(DatasetError) as error:
        load_cifar(root, download=True)
    assert offline and "Name or service not known" in str(error.value)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError):
        load_cifar(existing, download=True)
    assert tree(existing) == ["notes.txt"]


def test_successful_download_is_moved_into_place(tmp_path, monkeypatch):
    def fetch(root, train=True, download=False, **kwargs):
        write_cifar(Path(root), per_batch=10, test=10, seed=3)

    monkeypatch.setattr(datasets, "CIFAR10", fetch)
    folder = ensure_cifar(tmp_path, download=True)
    assert folder == (tmp_path / FOLDER).absolute()
    assert tree(tmp_path)[0] == FOLDER and not [p for p in tree(tmp_path) if "download" in p]
    assert load_cifar(tmp_path, download=False).train_images.shape[0] == 50


def test_corrupt_and_malformed_batches_are_one_line_errors(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / FOLDER / "data_batch_1"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetError, match="data_batch_1: not a readable CIFAR-10 batch"):
        load_cifar(tmp_path, download=False)
    with open(path, "wb") as handle:
        pickle.dump({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}, handle)
    with pytest.raises(DatasetError, match="expected 'data' as uint8 rows of 3072"):
        read_batch(path)
    with open(path, "wb") as handle:
        pickle.dump({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1]}, handle)
    with pytest.raises(DatasetError, match="3 images but 2 labels"):
        read_batch(path)


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def test_a_batch_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({"data": _Payload()}, protocol=2))
    with pytest.raises(DatasetError, match="refuses to load posix.getcwd"):
        read_batch(path)


def test_select_classes_keeps_and_renumbers_in_order():
    images = torch.arange(10).view(10, 1, 1, 1).expand(10, 3, 32, 32)
    labels = torch.tensor([0, 5, 1, 9, 5, 2, 7, 0, 6, 8])
    kept, new = select_classes(images, labels, [5, 0])
    assert new.tolist() == [1, 0, 0, 1]
    assert kept[:, 0, 0, 0].tolist() == [0, 1, 4, 7]
    with pytest.raises(ValueError, match="distinct"):
        select_classes(images, labels, [1, 1])


@pytest.mark.parametrize("classes", [list(range(10)), [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [0, 1]])
def test_data_module_splits_and_subsets(tmp_path, classes):
    write_cifar(tmp_path, per_batch=40, test=30)
    module = CIFARDataModule(tmp_path, download=False, val_size=50, seed=0, classes=classes)
    module.setup()
    full = load_cifar(tmp_path, download=False)
    for images, labels in module.splits.values():
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
        assert set(labels.tolist()) == set(range(len(classes)))  # head size = len(classes)
    test_images, test_labels = module.splits["test"]
    expected = torch.isin(full.test_labels, torch.tensor(classes))
    assert torch.equal(test_images, full.test_images[expected])
    assert torch.equal(torch.tensor(classes)[test_labels], full.test_labels[expected])
    train_rows = {tuple(x.flatten()[:16].tolist()) for x in module.splits["train"][0]}
    val_rows = {tuple(x.flatten()[:16].tolist()) for x in module.splits["val"][0]}
    assert not train_rows & val_rows
    assert len(train_rows) + len(val_rows) == int(
        torch.isin(full.train_labels, torch.tensor(classes)).sum()
    )
