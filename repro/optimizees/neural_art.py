"""Neural Art (paper §3.5): theta is the image being styled, one coordinate per pixel channel.

f(theta) = alpha * content + beta * style + gamma * TV, following Gatys et al. (2015), with
each term scale-free, so that no layer's (or encoder's) activation scale decides the balance:

* content: squared error of the encoder's ``content_layer`` activations of the image against
  the content photograph's, relative to the latter's squared norm;
* style: over ``style_layers`` (equal weights, averaged), the squared error of the Gram
  matrices G = F F^T / (C H W) of the image against the style image's, relative to the
  latter's squared norm;
* TV: mean squared difference of horizontally and vertically neighbouring pixels.

A problem instance is one content image (a random crop of a photograph of its split) with
the family's style image; theta_0 is the content image plus N(0, init_noise^2) noise per
coordinate, drawn from the instance's seed. theta is ``[B, 3 * size * size]`` (channel-major).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from repro.data.images import random_crop
from repro.optimizees.base import autograd_loss_and_grad, generator
from repro.optimizees.encoder import Encoder
from repro.optimizees.family import Family

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram(features: Tensor) -> Tensor:
    """Gram matrices ``[B, C, C]`` of features ``[B, C, H, W]``, divided by C * H * W."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def relative_error(value: Tensor, target: Tensor) -> Tensor:
    """Per instance, the sum of squared differences divided by the target's sum of squares."""
    scale = target.pow(2).flatten(1).sum(1).clamp_min(1e-30)
    return (value - target).pow(2).flatten(1).sum(1) / scale


def total_variation(images: Tensor) -> Tensor:
    """Mean squared difference of neighbouring pixels of ``images [B, 3, H, W]``, ``[B]``."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).pow(2).flatten(1).mean(1)
    dy = (images[..., 1:, :] - images[..., :-1, :]).pow(2).flatten(1).mean(1)
    return dx + dy


@dataclass(frozen=True, eq=False)
class NeuralArtFamily(Family):
    """Styling content crops of one split's photographs with one style image."""

    encoder: Encoder
    contents: dict[str, list[Tensor]]
    style: Tensor
    size: int = 64
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.0
    init_noise: float = 0.0
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    seed: int = 0

    @property
    def n_params(self) -> int:
        """Coordinates of theta: 3 * size * size."""
        return 3 * self.size * self.size

    def content_images(self, split: str, count: int, gen: torch.Generator) -> Tensor:
        """``count`` content crops ``[count, 3, size, size]`` of ``split``, drawn from ``gen``."""
        photos = self.contents.get(split) or []
        if not photos:
            raise ValueError(f"no content images for split {split!r}")
        crops = []
        for _ in range(count):
            photo = photos[int(torch.randint(0, len(photos), (), generator=gen))]
            crops.append(random_crop(photo, self.size, gen, flip=split == "train"))
        return torch.stack(crops)

    def describe(self) -> dict[str, str]:
        """Photographs styled through the encoder ``encoder.description``."""
        return {"dataset": "images", "encoder": self.encoder.description}

    def sample(
        self, split: str, index: int, count: int, device: torch.device | str = "cpu"
    ) -> NeuralArtProblems:
        """``count`` instances of the stream (seed, split, index) on ``device``."""
        gen = generator(self.seed, split, index)
        content = self.content_images(split, count, gen)
        noise = torch.randn(content.shape, generator=gen) * self.init_noise
        self.encoder.to(device)
        content = content.to(device)
        with torch.no_grad():
            targets = self.encoder(content, (self.content_layer,))[self.content_layer]
            style = self.encoder(self.style.unsqueeze(0).to(device), self.style_layers)
            grams = {name: gram(style[name]) for name in self.style_layers}
        return NeuralArtProblems(
            family=self, content=content, theta0=(content + noise.to(device)).flatten(1),
            content_target=targets, style_grams=grams,
        )


@dataclass(frozen=True, eq=False)
class NeuralArtProblems:
    """B images to style: content ``[B, 3, S, S]``, theta_0 ``[B, 3 S S]`` and the targets."""

    family: NeuralArtFamily
    content: Tensor
    theta0: Tensor
    content_target: Tensor
    style_grams: dict[str, Tensor] = field(default_factory=dict)

    def initial_params(self) -> Tensor:
        """theta_0, shape ``[B, n]``."""
        return self.theta0

    def images(self, theta: Tensor) -> Tensor:
        """theta viewed as images ``[B, 3, S, S]``."""
        size = self.family.size
        return theta.reshape(theta.shape[0], 3, size, size)

    def terms(self, theta: Tensor) -> dict[str, Tensor]:
        """The unweighted content, style and TV terms, each ``[B]``."""
        fam = self.family
        images = self.images(theta)
        feats = fam.encoder(images, (fam.content_layer, *fam.style_layers))
        content = relative_error(feats[fam.content_layer], self.content_target)
        style = torch.stack(
            [relative_error(gram(feats[name]), self.style_grams[name]) for name in fam.style_layers]
        ).mean(0)
        return {"content": content, "style": style, "tv": total_variation(images)}

    def loss(self, theta: Tensor, step: int = 0) -> Tensor:
        """f(theta) per instance, ``[B]``."""
        fam, terms = self.family, self.terms(theta)
        return (fam.content_weight * terms["content"] + fam.style_weight * terms["style"]
                + fam.tv_weight * terms["tv"])

    def loss_and_grad(
        self, theta: Tensor, step: int = 0, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Losses ``[B]`` (with graph to theta) and the gradient ``[B, n]``."""
        return autograd_loss_and_grad(self.loss, theta, create_graph)
