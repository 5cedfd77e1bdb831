"""The README's LearnedOptimizer examples run as written, and their loss falls."""

import os
import re
from pathlib import Path

import pytest
import torch

from repro.data.idx import read_idx, write_idx
from repro.data.mnist_files import DEBIAN_FASHION_MNIST, FILES

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The learned optimizer in your own training loop"
IN_CI = bool(os.environ.get("CI"))  # CI installs Fashion-MNIST: there a missing one fails


def examples() -> list[str]:
    """The ``python`` code blocks of the README's LearnedOptimizer section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _generated() -> dict[str, torch.Tensor]:
    """IDX tensors of a learnable stand-in for Fashion-MNIST: label k brightens rows 2k+4..5."""
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for split, n in (("train", 12_800), ("test", 100)):  # 100 minibatches of 128
        labels = torch.randint(0, 10, (n,), generator=gen, dtype=torch.uint8)
        images = torch.randint(0, 80, (n, 28, 28), generator=gen, dtype=torch.uint8)
        for k in range(10):
            images[labels == k, 2 * k + 4 : 2 * k + 6] += 170
        tensors[f"{split}_images"], tensors[f"{split}_labels"] = images, labels
    return tensors


def _installed() -> bool:
    return all((DEBIAN_FASHION_MNIST / f"{base}.gz").is_file() for base in FILES.values())


@pytest.fixture(params=["fashion_mnist", "generated"])
def data_folder(request, tmp_path, monkeypatch):
    """A working folder whose ``data/FashionMNIST/raw`` holds the IDX files torchvision reads
    (so ``download=True`` finds them and downloads nothing): Debian's Fashion-MNIST, or
    generated images."""
    if request.param == "fashion_mnist" and not _installed():
        if IN_CI:
            pytest.fail(f"{DEBIAN_FASHION_MNIST} is missing: .ci/run installs it")
        pytest.skip("dataset-fashion-mnist is not installed")
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    tensors = _generated() if request.param == "generated" else None
    for key, base in FILES.items():
        tensor = tensors[key] if tensors else read_idx(DEBIAN_FASHION_MNIST / f"{base}.gz")
        write_idx(raw / base, tensor)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _falls(losses: list[float]) -> bool:
    """The mean of the last 10 losses below 0.7 times that of the first 10."""
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    return last < 0.7 * first


def test_the_plain_loop_and_the_lightning_module_train(data_folder):
    loop, lightning = examples()
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(loop, "README.md (plain loop)", "exec"), namespace)
    assert len(namespace["losses"]) == 100 and _falls(namespace["losses"])
    exec(compile(lightning, "README.md (LightningModule)", "exec"), namespace)
    losses = namespace["classifier"].losses
    assert len(losses) == 100 and _falls(losses)


def test_the_check_fails_the_plain_loop_when_nothing_is_learned(data_folder):
    loop, _ = examples()
    built = 'LearnedOptimizer(model.parameters(), weights="mnist_fashion_mnist")'
    assert built in loop
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(loop.replace(built, "torch.optim.SGD(model.parameters(), lr=0.0)"),
                 "README.md (plain loop, no learning)", "exec"), namespace)
    assert not _falls(namespace["losses"])
