"""A dataset's train and test splits as read, with the folder they came from."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class LabelledSplits:
    """Images and labels of the train and test splits; ``source`` is where they were read."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(train={tuple(self.train_images.shape)}, "
            f"test={tuple(self.test_images.shape)}, source={self.source!r})"
        )
