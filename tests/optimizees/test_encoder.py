"""The Neural Art encoder switch: torchvision's VGG-19 weights file, or fixed random weights."""

import pytest
import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from repro.optimizees.encoder import (
    VGG19_FILE,
    EncoderChoice,
    EncoderError,
    layer_names,
    make_encoder,
    random_encoder,
)


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """A weights file in torchvision's VGG-19 format (``features.N.*`` keys), random values.

    Only the ``features`` entries are written (the full model's classifier adds 123M
    parameters and ~500 MB the encoder never reads); they come from torchvision's own
    ``make_layers(cfgs["E"])``, the builder of ``torchvision.models.vgg19().features``.
    """
    torch.manual_seed(1)
    features = make_layers(cfgs["E"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path_factory.mktemp("hub") / VGG19_FILE
    torch.save(state, path)
    return path, state


def test_layer_names_follow_vgg19():
    names = layer_names()
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names.index("relu4_2") == 22 and names.index("relu5_1") == 29


def test_weights_file_loads_through_the_real_code(vgg19_file):
    path, state = vgg19_file
    encoder = make_encoder(EncoderChoice("auto", weights=str(path)))
    assert encoder.description.startswith("vgg19")
    convs = [m for m in encoder.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13  # conv1_1 ... conv5_1
    assert torch.equal(convs[0].weight, state["features.0.weight"])
    assert torch.equal(convs[-1].weight, state["features.28.weight"])
    assert not any(isinstance(m, nn.MaxPool2d) for m in encoder.features)
    out = encoder(torch.rand(1, 3, 32, 32), ("relu1_1", "relu5_1"))
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["relu5_1"].shape == (1, 512, 2, 2)


def test_auto_finds_the_torch_hub_cache(vgg19_file, tmp_path, monkeypatch):
    path, _ = vgg19_file
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / VGG19_FILE).symlink_to(path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert make_encoder(EncoderChoice("auto")).description.startswith("vgg19")
    assert make_encoder(EncoderChoice("random", width=0.125)).description.startswith("random")


def test_without_weights_auto_falls_back_and_vgg19_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    encoder = make_encoder(EncoderChoice("auto", seed=3, width=0.125))
    assert encoder.description == "random (seed 3, width 0.125)"
    with pytest.raises(EncoderError, match="not found"):
        make_encoder(EncoderChoice("vgg19"))


def test_a_file_of_another_model_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(EncoderError, match="not torchvision's VGG-19"):
        make_encoder(EncoderChoice("vgg19", weights=str(path)))


def test_random_encoder_is_fixed_by_its_seed():
    x = torch.rand(1, 3, 16, 16)
    a = random_encoder(0, 0.125)(x, ("relu3_1",))["relu3_1"]
    b = random_encoder(0, 0.125)(x, ("relu3_1",))["relu3_1"]
    c = random_encoder(1, 0.125)(x, ("relu3_1",))["relu3_1"]
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == (1, 32, 4, 4) and a.abs().mean() > 0
