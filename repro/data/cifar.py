"""CIFAR-10 and its label subsets: where the batches are found, how they are read, the data module.

The data is the ``cifar-10-batches-py`` folder of the official Python release: pickled batches
``data_batch_1`` … ``data_batch_5`` (training) and ``test_batch``, each a dict with ``data``
(uint8 ``[N, 3072]``, channel-major 3x32x32 rows) and ``labels`` (N ints in 0..9), plus
``batches.meta``. It is looked for at ``<root>/cifar-10-batches-py`` and at ``<root>`` itself,
and read by :func:`read_batch`, which accepts any file in that format whatever its checksum and
builds only plain containers and numpy arrays. A missing folder is downloaded into the root when
allowed (see :mod:`repro.data.download`).

Images stay uint8 ``[N, 3, 32, 32]`` in memory (184 MB for all 60,000); the optimizee scales
each minibatch to [0, 1] (pixels / 255, as the official code) when it draws it.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.data.download import DownloadFailed, found_or_fetched, locate, staged
from repro.data.errors import DatasetError
from repro.data.mnist import split_train_val
from repro.data.problems import LabelledSplits, ProblemData

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
FILES = (*TRAIN_BATCHES, TEST_BATCH, META)
IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10

# (module, name) the batches may refer to: numpy arrays and the byte-string codec of protocol 2;
# numpy < 2 wrote numpy._core as numpy.core.
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Builds only containers, strings, numbers and numpy arrays; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refuses to load {module}.{name}")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def search_dirs(root: str | os.PathLike[str] | None) -> list[Path]:
    """The folders searched for the batches, in order: ``<root>/cifar-10-batches-py``, then
    ``<root>`` itself."""
    if root is None:
        return []
    root = Path(root).expanduser().absolute()
    return [root / FOLDER, root]


def _missing_in(folder: Path) -> list[str]:
    return [name for name in FILES if not (folder / name).is_file()]


def _download(root: Path) -> Path:
    """Fetch the release with torchvision into ``root/cifar-10-batches-py``; all or nothing."""
    with staged(root, ".cifar10-download-") as staging:
        from torchvision import datasets

        datasets.CIFAR10(str(staging), train=True, download=True)
        fetched = staging / FOLDER
        missing = _missing_in(fetched)
        if missing:
            raise DownloadFailed(f"the download did not produce {', '.join(missing)}")
        final = root / FOLDER
        if final.exists():
            raise DownloadFailed(f"{final} exists but lacks some batches; remove it and retry")
        os.replace(fetched, final)
        return final


def _not_found_message(root: str | os.PathLike[str] | None, looked: str, download: str) -> str:
    where = Path(root).expanduser().absolute() / FOLDER if root is not None else f"<root>/{FOLDER}"
    files = ", ".join(FILES)
    return (
        f"CIFAR-10 not found: looked in {looked}; {download}. To fix: put the folder {FOLDER} of "
        f"the Python release (with {files}) at {where}, or pass --data.root <folder that holds "
        f"{FOLDER}> (make DATA_ROOT=<folder>), or rerun with internet access and download enabled."
    )


def ensure_cifar(root: str | os.PathLike[str] | None, download: bool = True) -> Path:
    """The folder holding every batch, downloaded into ``root`` first when it is found nowhere
    and ``download`` is true.

    Raises one DatasetError naming the folders looked in, the download's fate and the fixes.
    """
    located = locate(search_dirs(root), lambda folder: (folder, _missing_in(folder)), len(FILES))
    return found_or_fetched(located, root, download, _download, partial(_not_found_message, root))


def _text_keys(raw: dict) -> dict[str, Any]:
    """Keys as str: the release was pickled by Python 2, whose str keys load as bytes."""
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``[N, 3, 32, 32]`` and labels int64 ``[N]`` of one pickled batch.

    Raises DatasetError (one line, naming the file) when it is unreadable or malformed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = _BatchUnpickler(handle, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise DatasetError(
            f"{path}: not a readable CIFAR-10 batch ({type(error).__name__}: {error}); "
            f"replace the {FOLDER} folder with a fresh copy"
        ) from None
    batch = _text_keys(raw) if isinstance(raw, dict) else {}
    data, labels = batch.get("data"), batch.get("labels")
    size = int(np.prod(IMAGE_SHAPE))
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.shape[1:] == (size,)):
        got = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise DatasetError(f"{path}: expected 'data' as uint8 rows of {size} values, got {got}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != data.shape[0]:
        count = len(labels) if isinstance(labels, (list, np.ndarray)) else "no"
        raise DatasetError(
            f"{path}: has {data.shape[0]} images but {count} labels; the batch is corrupt"
        )
    label_tensor = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(label_tensor) and not 0 <= int(label_tensor.min()) <= int(label_tensor.max()) < 10:
        raise DatasetError(f"{path}: labels outside 0..{NUM_CLASSES - 1}")
    images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, *IMAGE_SHAPE)
    return images, label_tensor


def load_cifar(
    root: str | os.PathLike[str] | None = "data", download: bool = True
) -> LabelledSplits:
    """data_batch_1..5 as the training split and test_batch as the test split: images uint8
    ``[N, 3, 32, 32]``, labels int64 ``[N]``."""
    folder = ensure_cifar(root, download)
    images, labels = zip(*(read_batch(folder / name) for name in TRAIN_BATCHES), strict=True)
    test = read_batch(folder / TEST_BATCH)
    return LabelledSplits(torch.cat(images), torch.cat(labels), *test, source=str(folder))


def select_classes(
    images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows whose label is in ``classes``, relabelled 0..len(classes)-1 in that order."""
    classes = list(classes)
    if len(set(classes)) != len(classes) or any(not 0 <= c < NUM_CLASSES for c in classes):
        raise ValueError(f"classes must be distinct labels in 0..{NUM_CLASSES - 1}, got {classes}")
    lookup = torch.full((NUM_CLASSES,), -1, dtype=torch.int64)
    lookup[classes] = torch.arange(len(classes))
    new = lookup[labels]
    keep = new >= 0
    return images[keep], new[keep]


class CIFARDataModule(ProblemData):
    """CIFAR-10, or the subset of its ``classes``, split into ``train`` (training batches minus
    validation), ``val`` (model selection and tuning) and ``test`` (test_batch: the curves).

    The validation rows are chosen over all 50,000 training images before the class filter, so
    every subset's validation images come from the same held-out set. After :meth:`setup`,
    ``splits[split]`` is ``(images uint8 [N, 3, 32, 32], labels int64 [N] in 0..k-1)``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = "data",
        download: bool = True,
        val_size: int = 5000,
        seed: int = 0,
        classes: Sequence[int] = tuple(range(NUM_CLASSES)),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.root = root
        self.download = download
        self.val_size = val_size
        self.seed = seed
        self.classes = list(classes)
        self.source: str | None = None

    def prepare_data(self) -> None:
        """Make sure the batches exist, downloading them when allowed."""
        ensure_cifar(self.root, self.download)

    def setup(self, stage: str | None = None) -> None:
        """Read the batches, split off validation, keep the configured classes (once)."""
        if self.splits:
            return
        data = load_cifar(self.root, self.download)
        train, val = split_train_val(int(data.train_images.shape[0]), self.val_size, self.seed)
        self.source = data.source
        raw = {
            "train": (data.train_images[train], data.train_labels[train]),
            "val": (data.train_images[val], data.train_labels[val]),
            "test": (data.test_images, data.test_labels),
        }
        self.splits = {
            split: select_classes(images, labels, self.classes)
            for split, (images, labels) in raw.items()
        }
        empty = [split for split, (images, _) in self.splits.items() if images.shape[0] == 0]
        if empty:
            raise DatasetError(
                f"CIFAR-10 in {self.source} has no images of classes {self.classes} in the "
                f"{', '.join(empty)} split; check data.classes and data.val_size"
            )
