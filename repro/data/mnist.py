"""MNIST and Fashion-MNIST in memory: the IDX files read and checked, the splits, the data
module. The files are found or fetched by :mod:`repro.data.mnist_files`."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from repro.data.errors import DatasetError
from repro.data.idx import read_idx
from repro.data.mnist_files import canonical_name, ensure_mnist
from repro.data.problems import LabelledSplits, ProblemData

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


def _read_uint8(path: Path, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The unsigned-byte tensor of shape ``N x shape`` in an IDX file; ``what`` names its rows."""
    tensor = read_idx(path)
    if tensor.dtype != torch.uint8 or tensor.dim() != 1 + len(shape) or tensor.shape[1:] != shape:
        raise DatasetError(
            f"{path}: expected unsigned-byte {what} of shape {'x'.join(['N', *map(str, shape)])}, "
            f"got {str(tensor.dtype).removeprefix('torch.')} of shape "
            f"{'x'.join(map(str, tensor.shape))}"
        )
    return tensor


def _read_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 [N, 784] in [0, 1] and labels as int64 [N], checked against each other."""
    images = _read_uint8(images_path, "images", IMAGE_SHAPE)
    labels = _read_uint8(labels_path, "labels", ())
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels; the files do not belong together"
        )
    if images.shape[0] == 0:
        raise DatasetError(f"{images_path}: holds no images")
    if int(labels.max()) >= NUM_CLASSES:
        raise DatasetError(
            f"{labels_path}: label {int(labels.max())} out of range 0..{NUM_CLASSES - 1}"
        )
    flat = images.reshape(images.shape[0], -1).to(torch.float32).div_(255.0)
    return flat, labels.to(torch.int64)


def load_mnist(
    name: str, root: str | os.PathLike[str] | None = "data", download: bool = True
) -> LabelledSplits:
    """The dataset's train and test splits, from the first folder that has the files, else
    downloaded into ``root`` when ``download`` is true: images flattened to float32 [N, 784] in
    [0, 1], labels int64 [N] in 0..9; ``source`` is the folder the files were read from.

    Raises one DatasetError (one line) when the files are missing, cannot be fetched, or are
    malformed.
    """
    files = ensure_mnist(name, root, download)
    train = _read_split(files["train_images"], files["train_labels"])
    test = _read_split(files["test_images"], files["test_labels"])
    return LabelledSplits(*train, *test, source=str(files["train_images"].parent))


def split_train_val(
    data: LabelledSplits | int, val_size: int = 5000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint, sorted index sets (train, validation) over the training split, fixed by ``seed``;
    ``data`` is the dataset or the size of its training split."""
    n = data if isinstance(data, int) else int(data.train_images.shape[0])
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}) for {n} training images, got {val_size}")
    generator = torch.Generator().manual_seed(seed)
    permutation = torch.randperm(n, generator=generator)
    val = permutation[:val_size].sort().values
    train = permutation[val_size:].sort().values
    return train, val


class MNISTDataModule(ProblemData):
    """MNIST or Fashion-MNIST in memory, split into ``train`` (training minus validation),
    ``val`` (model selection) and ``test`` (the figures' curves).

    After :meth:`setup`, ``splits[split]`` is ``(images float32 [N, 784] in [0, 1], labels int64
    [N])``; optimizees draw their own minibatches from these tensors. The dataloaders are those
    of :class:`ProblemData`: one truncation index per training step.
    """

    def __init__(
        self,
        name: str = "mnist",
        root: str | os.PathLike[str] | None = "data",
        download: bool = True,
        val_size: int = 5000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.name = canonical_name(name)
        self.root = root
        self.download = download
        self.val_size = val_size
        self.seed = seed
        self.source: str | None = None

    def prepare_data(self) -> None:
        """Make sure the files exist, downloading them when allowed."""
        ensure_mnist(self.name, self.root, self.download)

    def setup(self, stage: str | None = None) -> None:
        """Load the tensors and split them (once)."""
        if self.splits:
            return
        data = load_mnist(self.name, self.root, self.download)
        train, val = split_train_val(data, self.val_size, self.seed)
        self.source = data.source
        self.splits = {
            "train": (data.train_images[train], data.train_labels[train]),
            "val": (data.train_images[val], data.train_labels[val]),
            "test": (data.test_images, data.test_labels),
        }
