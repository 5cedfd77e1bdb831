"""Generated image classification data shared by the tests of learned optimizers."""

import torch


def learnable_images(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [n, 784] in [0, 1] whose label k brightens row block k: a loss that can fall."""
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = torch.rand(n, 28, 28, generator=gen) * 0.3
    for k in range(10):
        images[labels == k, 2 * k + 4 : 2 * k + 6] += 0.7
    return images.reshape(n, 784), labels
