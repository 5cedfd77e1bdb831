"""The data module of problem-sampled meta-training: an endless stream of truncation indices.

Problem instances are sampled by the learner from seeds derived from these indices, so a run is
reproducible from (config, seed) and its position in the stream.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import lightning as L
from torch.utils.data import DataLoader, IterableDataset


class TruncationIndices(IterableDataset):
    """0, 1, 2, ...: the global index of each truncation."""

    def __iter__(self) -> Iterator[int]:
        return itertools.count()


class ProblemData(L.LightningDataModule):
    """One index per training step; one tick per validation pass."""

    def train_dataloader(self) -> DataLoader:
        """Endless truncation indices."""
        return DataLoader(TruncationIndices(), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        """A single item: validation rolls out its own fixed problems."""
        return DataLoader([0], batch_size=None)
