"""The feature network of Neural Art: VGG-19 features, pretrained or with fixed random weights.

Both encoders have VGG-19's layer layout (torchvision's ``vgg.cfgs["E"]``, built by its own
``make_layers``) cut after ``relu5_1``, with average instead of max pooling (as Gatys et al.
2015). ``vgg19`` loads torchvision's pretrained ``vgg19-dcbb9e9d.pth`` (a configured path, or
the torch hub cache); ``random`` draws every convolution from a He-normal distribution with a
recorded seed, its channel widths optionally scaled by ``width`` (1.0 is VGG-19's). ``auto``
is ``vgg19`` when the weights file is present, else ``random``. Inputs are RGB images in
[0, 1], normalised with ImageNet's mean and standard deviation inside the encoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor, nn

VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# VGG-19's conv blocks (channels per conv; "M" a pooling), torchvision's cfgs["E"].
VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
LAST_LAYER = "relu5_1"
EncoderName = Literal["auto", "vgg19", "random"]
ENCODERS: tuple[str, ...] = get_args(EncoderName)


class EncoderError(FileNotFoundError):
    """The pretrained encoder was asked for but its weights file is missing or unreadable."""


def layer_names(cfg: tuple[int | str, ...] = VGG19_CFG) -> list[str]:
    """The name of each module of torchvision's VGG ``features`` (``conv1_1``, ``relu1_1``...)."""
    names, block, conv = [], 1, 1
    for item in cfg:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def _features(cfg: tuple[int | str, ...]) -> nn.Sequential:
    """torchvision's VGG feature stack for ``cfg``, cut after relu5_1, pooling averaged."""
    from torchvision.models.vgg import make_layers

    layers = list(make_layers(list(cfg)))[: layer_names(cfg).index(LAST_LAYER) + 1]
    return nn.Sequential(
        *(nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in layers)
    )


class Encoder(nn.Module):
    """Frozen VGG-style features; :meth:`forward` returns the named layers' activations."""

    def __init__(self, features: nn.Sequential, description: str) -> None:
        super().__init__()
        self.features = features.requires_grad_(False).eval()
        self.description = description
        self.names = layer_names()[: len(features)]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor, layers: tuple[str, ...]) -> dict[str, Tensor]:
        """Activations ``{name: [B, C, H, W]}`` of ``layers`` for images ``[B, 3, H, W]``."""
        x = (images - self.mean) / self.std
        wanted, out = set(layers), {}
        last = max(self.names.index(name) for name in layers)
        for name, module in zip(self.names[: last + 1], self.features, strict=False):
            x = module(x)
            if name in wanted:
                out[name] = x
        return out


def vgg19_encoder(weights: Path) -> Encoder:
    """VGG-19 features from a torchvision state-dict file (its ``features.*`` entries)."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise EncoderError(f"cannot read VGG-19 weights {weights}: {error}") from None
    features = _features(VGG19_CFG)
    own = {f"features.{k}": k for k in features.state_dict()}
    missing = [key for key in own if key not in state]
    if missing:
        raise EncoderError(f"{weights} is not torchvision's VGG-19 state dict (no {missing[0]!r})")
    features.load_state_dict({own[key]: state[key] for key in own})
    return Encoder(features, f"vgg19 ({weights.name})")


def random_encoder(seed: int, width: float = 1.0) -> Encoder:
    """A VGG-19-shaped encoder with He-normal weights drawn from ``seed``, channels x ``width``."""
    cfg = tuple(item if item == "M" else max(1, round(item * width)) for item in VGG19_CFG)
    features = _features(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in features:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
                )
                module.bias.zero_()
    return Encoder(features, f"random (seed {seed}, width {width:g})")


@dataclass(frozen=True)
class EncoderChoice:
    """Which encoder to build: ``kind`` one of :data:`ENCODERS`, and its settings."""

    kind: str = "auto"
    weights: str = ""
    seed: int = 0
    width: float = 1.0


def make_encoder(choice: EncoderChoice) -> Encoder:
    """The encoder ``choice`` names; ``auto`` takes VGG-19 only when its weights file (the
    configured one, else torchvision's cache ``$TORCH_HOME/hub/checkpoints/...``) exists."""
    if choice.kind not in ENCODERS:
        raise ValueError(f"unknown encoder {choice.kind!r}; allowed: {', '.join(ENCODERS)}")
    path = (Path(os.path.expanduser(choice.weights)) if choice.weights
            else Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE)
    if choice.kind == "vgg19" or (choice.kind == "auto" and path.is_file()):
        if not path.is_file():
            raise EncoderError(
                f"VGG-19 weights {path} not found; put torchvision's {VGG19_FILE} there, set "
                "problem.weights, or use problem.encoder: random"
            )
        return vgg19_encoder(path)
    return random_encoder(choice.seed, choice.width)
