"""Images for Neural Art: content photographs per split and style images, read offline.

An image is named either by a file in scikit-image's data folder (``astronaut``,
``chelsea.png``, ...; they ship with the package, no download) or by a path to an image file
or to a folder of images. Every image is read as RGB float32 ``[3, H, W]`` in [0, 1].
Training, validation and test content photographs must be disjoint files; a problem instance
draws a random square crop (side 40-100% of the shorter edge, optionally mirrored) of one of
its split's photographs, resized to the working resolution, so a few photographs give many
distinct contents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MIN_CROP = 0.4


class ImageError(FileNotFoundError):
    """An image that cannot be found or read, or splits that share a photograph; one line."""


def resolve(name: str) -> list[Path]:
    """The image files ``name`` stands for: a file, a folder's images, or a scikit-image name."""
    path = Path(name).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise ImageError(f"image folder {path} holds no images ({', '.join(SUFFIXES)})")
        return files
    if path.is_file():
        return [path]
    if "/" not in name:
        try:
            import skimage.data
        except ImportError:
            raise ImageError(
                "scikit-image is not installed; run 'make setup' or give image paths"
            ) from None
        folder = Path(skimage.data.__file__).parent
        for candidate in [folder / name, *(folder / f"{name}{s}" for s in SUFFIXES)]:
            if candidate.is_file():
                return [candidate]
    raise ImageError(
        f"image {name!r} not found: not a file, a folder, or an image of scikit-image's data"
    )


def read_image(path: Path) -> Tensor:
    """The image at ``path`` as RGB float32 ``[3, H, W]`` in [0, 1] (grey is repeated)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ImageError(f"cannot read image {path}: {error}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def load_split(names: Sequence[str]) -> list[Tensor]:
    """Every image the names stand for, read."""
    return [read_image(path) for name in names for path in resolve(name)]


def check_disjoint(splits: dict[str, Sequence[str]]) -> None:
    """Raise :class:`ImageError` when two splits name the same image file."""
    seen: dict[Path, str] = {}
    for split, names in splits.items():
        for name in names:
            for path in resolve(name):
                key = path.resolve()
                if key in seen and seen[key] != split:
                    raise ImageError(
                        f"image {path} is in both the {seen[key]} and the {split} contents; "
                        "splits must be disjoint"
                    )
                seen[key] = split


def resize(image: Tensor, size: int) -> Tensor:
    """``image [3, H, W]`` resized (antialiased bilinear) to ``[3, size, size]``."""
    return F.interpolate(
        image.unsqueeze(0), size=(size, size), mode="bilinear", antialias=True,
        align_corners=False,
    ).squeeze(0).clamp(0, 1)


def random_crop(image: Tensor, size: int, gen: torch.Generator, flip: bool = True) -> Tensor:
    """A random square crop of ``image`` (40-100% of its shorter side) resized to ``size``."""
    _, height, width = image.shape
    short = min(height, width)
    side = int(short * (MIN_CROP + (1 - MIN_CROP) * float(torch.rand((), generator=gen))))
    side = max(side, 1)
    top = int(torch.randint(0, height - side + 1, (), generator=gen))
    left = int(torch.randint(0, width - side + 1, (), generator=gen))
    crop = image[:, top : top + side, left : left + side]
    if flip and bool(torch.rand((), generator=gen) < 0.5):
        crop = crop.flip(-1)
    return resize(crop, size)


def center_square(image: Tensor, size: int) -> Tensor:
    """The largest centred square of ``image`` resized to ``size`` (how a style is used)."""
    _, height, width = image.shape
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    return resize(image[:, top : top + short, left : left + short], size)
