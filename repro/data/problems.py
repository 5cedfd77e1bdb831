"""The data module of problem-sampled meta-training: an endless stream of truncation indices.

Problem instances are sampled by the learner from seeds derived from these indices, so a run is
reproducible from (config, seed) and its position in the stream. A data module of a dataset
(:class:`~repro.data.mnist.MNISTDataModule`, :class:`~repro.data.cifar.CIFARDataModule`) is one
of these whose ``setup`` fills ``splits``, the tensors its problems draw minibatches from, from
the dataset's splits as read (:class:`LabelledSplits`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset


@dataclass(frozen=True, eq=False)
class LabelledSplits:
    """A dataset's train and test splits as read: images and labels of each; ``source`` is
    where they were read."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    source: str

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(train={tuple(self.train_images.shape)}, "
            f"test={tuple(self.test_images.shape)}, source={self.source!r})"
        )


class TruncationIndices(IterableDataset):
    """0, 1, 2, ...: the global index of each truncation."""

    def __iter__(self) -> Iterator[int]:
        return itertools.count()


class ProblemData(L.LightningDataModule):
    """One index per training step; one tick per validation pass.

    ``splits`` maps ``train``, ``val`` and ``test`` to (inputs, labels) once a dataset's module
    is set up; it stays empty where problems need no dataset (quadratics, Neural Art).
    """

    def __init__(self) -> None:
        super().__init__()
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def train_dataloader(self) -> DataLoader:
        """Endless truncation indices."""
        return DataLoader(TruncationIndices(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        """A single item: validation rolls out its own fixed problems."""
        return DataLoader([0], batch_size=None)
