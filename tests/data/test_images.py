"""Neural Art's images: scikit-image's bundled photographs, user files, crops, disjoint splits."""

import numpy as np
import pytest
import torch
from PIL import Image

from repro.data.images import (
    ImageError,
    center_square,
    check_disjoint,
    load_split,
    random_crop,
    read_image,
    resolve,
)
from repro.families.neural_art import NeuralArtProblem


def test_bundled_photographs_load_offline_as_rgb():
    (path,) = resolve("camera")
    image = read_image(path)
    assert image.shape == (3, 512, 512) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1
    assert torch.equal(image[0], image[1])  # a grey photograph has three equal channels
    assert read_image(resolve("chelsea.png")[0]).shape == (3, 300, 451)


def test_default_splits_are_disjoint_and_overlap_is_refused():
    art = NeuralArtProblem()
    check_disjoint({"train": art.train_contents, "val": art.val_contents,
                    "test": art.test_contents})
    with pytest.raises(ImageError, match="both the train and the test"):
        check_disjoint({"train": ["camera"], "test": ["camera.png"]})


def test_a_user_folder_and_a_broken_file(tmp_path):
    for k, colour in enumerate(((255, 0, 0), (0, 0, 255))):
        Image.new("RGB", (40, 30), colour).save(tmp_path / f"photo{k}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_split([str(tmp_path)])
    assert [tuple(im.shape) for im in images] == [(3, 30, 40), (3, 30, 40)]
    assert images[0][0].mean() == 1 and images[1][2].mean() == 1
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageError, match="cannot read image") as error:
        read_image(bad)
    assert "\n" not in str(error.value)
    with pytest.raises(ImageError, match="not found"):
        resolve("no_such_image")


def test_crops_are_seeded_and_sized():
    image = torch.from_numpy(np.random.default_rng(0).random((3, 50, 80), dtype=np.float32))
    crop = random_crop(image, 16, torch.Generator().manual_seed(0))
    again = random_crop(image, 16, torch.Generator().manual_seed(0))
    other = random_crop(image, 16, torch.Generator().manual_seed(1))
    assert crop.shape == (3, 16, 16) and torch.equal(crop, again)
    assert not torch.equal(crop, other)
    assert center_square(image, 24).shape == (3, 24, 24)
