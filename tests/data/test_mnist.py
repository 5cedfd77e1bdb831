"""MNIST-format data on tiny generated IDX files: finding, reading, splitting, errors, download."""

import gzip
import socket
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torchvision.datasets import mnist as tv_mnist

from repro.data import mnist
from repro.data.errors import DatasetError
from repro.data.idx import write_idx
from repro.data.mnist import (
    MNISTDataModule,
    find_mnist_files,
    load_mnist,
    split_train_val,
)

N_TRAIN, N_TEST = 50, 20
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def make_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random 28x28 unsigned-byte images (with 0 and 255 present) and labels 0..9."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = torch.randint(0, 256, (n, 28, 28), generator=generator, dtype=torch.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        tensors[f"{split}_images"] = images
        tensors[f"{split}_labels"] = torch.randint(0, 10, (n,), generator=generator).to(torch.uint8)
    return tensors


def write_set(folder: Path, gz: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """The four files of a tiny MNIST-format dataset in ``folder``; returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = make_tensors(seed)
    for key, base in NAMES.items():
        write_idx(folder / (f"{base}.gz" if gz else base), tensors[key], gzip=gz)
    return tensors


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No real Debian folder and no network: a download attempt fails at once, like offline."""
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    calls = []

    def offline(url, download_root, filename=None, md5=None, **kwargs):
        calls.append(url)
        Path(download_root, filename).write_bytes(b"\x1f\x8b partial")  # a half-written file
        raise URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    return calls


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    assert isinstance(error.value, ValueError)
    return message


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subfolder", "gz"),
    [
        ("mnist", "", False),
        ("mnist", "", True),
        ("mnist", "MNIST/raw", False),
        ("mnist", "MNIST/raw", True),
        ("fashion_mnist", "FashionMNIST/raw", True),
        ("fashion_mnist", "", False),
    ],
)
def test_load_reads_the_files(tmp_path, name, subfolder, gz):
    root = tmp_path / "data"
    folder = root / subfolder if subfolder else root
    written = write_set(folder, gz=gz)
    data = load_mnist(name, root, download=False)
    assert data.train_images.shape == (N_TRAIN, 784)
    assert data.test_images.shape == (N_TEST, 784)
    assert data.train_images.dtype == data.test_images.dtype == torch.float32
    assert data.train_labels.dtype == data.test_labels.dtype == torch.int64
    assert data.train_images.min() == 0.0
    assert data.train_images.max() == 1.0
    for split in ("train", "test"):
        images = getattr(data, f"{split}_images")
        expected = written[f"{split}_images"].reshape(-1, 784).float() / 255
        assert torch.equal(images, expected)
        assert torch.equal(getattr(data, f"{split}_labels"), written[f"{split}_labels"].long())
    assert data.source == str(folder.absolute())


def test_find_mixed_plain_and_gzip_and_preference(tmp_path):
    root = tmp_path / "data"
    write_set(root / "MNIST" / "raw", gz=True)
    files = find_mnist_files("mnist", root)
    assert set(files) == set(NAMES)
    assert all(p.parent == (root / "MNIST" / "raw").absolute() for p in files.values())
    # the root itself comes first, and in a folder a plain file is preferred to its .gz
    write_set(root, gz=True)
    write_idx(root / NAMES["test_labels"], make_tensors()["test_labels"], gzip=False)
    files = find_mnist_files("mnist", root)
    assert files["test_labels"] == (root / NAMES["test_labels"]).absolute()
    assert files["train_images"] == (root / f"{NAMES['train_images']}.gz").absolute()


def test_debian_folder_for_fashion_mnist_only(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_MNIST", debian)
    write_set(debian, gz=True, seed=1)
    data = load_mnist("fashion-mnist", root=None, download=False)
    assert data.source == str(debian)
    assert data.train_images.shape == (N_TRAIN, 784)
    # a user folder wins over Debian's
    root = tmp_path / "data"
    write_set(root / "FashionMNIST" / "raw", seed=2)
    assert load_mnist("fashion_mnist", root, download=False).source.endswith("FashionMNIST/raw")
    # and MNIST never reads the Fashion-MNIST files
    with pytest.raises(DatasetError):
        load_mnist("mnist", tmp_path / "elsewhere", download=False)


def test_unknown_name():
    with pytest.raises(DatasetError, match="unknown"):
        find_mnist_files("cifar10", "data")


# --- train/validation split --------------------------------------------------------------------


def test_split_is_disjoint_complete_and_deterministic():
    train, val = split_train_val(1000, val_size=100, seed=0)
    assert len(train) == 900 and len(val) == 100
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(1000))
    again_train, again_val = split_train_val(1000, val_size=100, seed=0)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert not torch.equal(val, split_train_val(1000, val_size=100, seed=1)[1])
    assert val[0] != 0 or val[-1] != 99  # shuffled, not the first rows


def test_split_of_data_and_bounds(tmp_path):
    write_set(tmp_path)
    data = load_mnist("mnist", tmp_path, download=False)
    train, val = split_train_val(data, val_size=10)
    assert len(train) == N_TRAIN - 10 and len(val) == 10
    with pytest.raises(ValueError, match="val_size"):
        split_train_val(data, val_size=N_TRAIN)


# --- data module -------------------------------------------------------------------------------


def test_data_module_splits(tmp_path):
    written = write_set(tmp_path / "MNIST" / "raw")
    module = MNISTDataModule(name="mnist", root=tmp_path, download=False, val_size=10)
    module.prepare_data()
    module.setup("fit")
    assert set(module.splits) == {"train", "val", "test"}
    sizes = {k: (v[0].shape, v[1].shape) for k, v in module.splits.items()}
    assert sizes == {
        "train": ((N_TRAIN - 10, 784), (N_TRAIN - 10,)),
        "val": ((10, 784), (10,)),
        "test": ((N_TEST, 784), (N_TEST,)),
    }
    train_rows = {tuple(row.tolist()) for row in module.splits["train"][0]}
    val_rows = {tuple(row.tolist()) for row in module.splits["val"][0]}
    assert not train_rows & val_rows
    all_rows = {tuple(row.tolist()) for row in written["train_images"].reshape(-1, 784) / 255.0}
    assert train_rows | val_rows == all_rows
    assert torch.equal(module.splits["test"][1], written["test_labels"].long())
    first = module.splits["train"][0]
    module.setup("validate")  # loads once
    assert module.splits["train"][0] is first
    assert [x for x, _ in zip(module.train_dataloader(), range(3), strict=False)] == [0, 1, 2]


# --- errors ------------------------------------------------------------------------------------


def test_missing_folder_without_download(tmp_path, hermetic):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as error:
        load_mnist("mnist", root, download=False)
    message = one_line(error)
    assert str(root) in message
    assert "download disabled" in message
    assert "--data.root" in message
    assert "train-images-idx3-ubyte" in message
    assert not root.exists()
    assert hermetic == []  # no download attempted


@pytest.mark.parametrize("root_exists", [False, True])
def test_missing_folder_with_failed_download(tmp_path, hermetic, root_exists):
    root = tmp_path / "data"
    if root_exists:
        root.mkdir()
        (root / "notes.txt").write_text("the user's own file")
    before = tree(root)
    timeout = socket.getdefaulttimeout()
    with pytest.raises(DatasetError) as error:
        load_mnist("mnist", root, download=True)
    message = one_line(error)
    assert hermetic, "torchvision's download was attempted"
    assert str(root) in message
    assert "download" in message and "failed" in message
    assert "Name or service not known" in message  # the short reason
    assert "--data.root" in message  # how to fix it
    assert tree(root) == before  # no partial files or folders left behind
    assert root.exists() == root_exists
    assert socket.getdefaulttimeout() == timeout


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    """Two files arrive, the third fails: none of them stays."""
    tensors = make_tensors()
    by_file = {f"{base}.gz": tensors[key] for key, base in NAMES.items()}

    def flaky(url, download_root, filename=None, md5=None, **kwargs):
        if filename.startswith("t10k-images"):
            raise URLError(TimeoutError("timed out"))
        write_idx(Path(download_root, filename), by_file[filename], gzip=True)

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", flaky)
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="timed out") as error:
        load_mnist("mnist", root, download=True)
    one_line(error)
    assert not root.exists()


def test_fashion_mnist_error_says_apt_get(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_mnist("fashion_mnist", tmp_path / "data", download=True)
    message = one_line(error)
    assert "Fashion-MNIST" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "FashionMNIST/raw" in message
    assert tree(tmp_path / "data") == []


def test_incomplete_folder_names_the_missing_file(tmp_path):
    write_set(tmp_path)
    (tmp_path / NAMES["test_labels"]).unlink()
    with pytest.raises(DatasetError) as error:
        load_mnist("mnist", tmp_path, download=False)
    message = one_line(error)
    assert "3 of the 4" in message
    assert "lacks t10k-labels-idx1-ubyte" in message


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_file(tmp_path, gz):
    write_set(tmp_path, gz=gz)
    path = tmp_path / (NAMES["train_images"] + (".gz" if gz else ""))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError) as error:
        load_mnist("mnist", tmp_path, download=False)
    message = one_line(error)
    assert str(path) in message
    assert "truncated" in message


def test_wrong_magic_number(tmp_path):
    write_set(tmp_path)
    path = tmp_path / NAMES["test_labels"]
    content = bytearray(path.read_bytes())
    content[2] = 0x42
    path.write_bytes(bytes(content))
    with pytest.raises(DatasetError, match="magic number") as error:
        load_mnist("mnist", tmp_path, download=False)
    assert str(path) in one_line(error)


def test_label_and_image_counts_differ(tmp_path):
    tensors = write_set(tmp_path)
    labels = tmp_path / NAMES["train_labels"]
    write_idx(labels, tensors["train_labels"][:-1])
    with pytest.raises(DatasetError) as error:
        load_mnist("mnist", tmp_path, download=False)
    message = one_line(error)
    assert f"{N_TRAIN} images" in message and f"{N_TRAIN - 1} labels" in message
    assert str(labels) in message


@pytest.mark.parametrize(
    ("key", "tensor", "match"),
    [
        ("train_images", torch.zeros(N_TRAIN, 27, 28, dtype=torch.uint8), "Nx28x28"),
        ("train_images", torch.zeros(N_TRAIN, 28, 28, dtype=torch.float32), "unsigned-byte"),
        ("test_labels", torch.full((N_TEST,), 10, dtype=torch.uint8), "out of range"),
        ("test_labels", torch.zeros(N_TEST, 1, dtype=torch.uint8), "labels of shape N"),
    ],
)
def test_wrong_contents(tmp_path, key, tensor, match):
    write_set(tmp_path)
    write_idx(tmp_path / NAMES[key], tensor)
    with pytest.raises(DatasetError, match=match) as error:
        load_mnist("mnist", tmp_path, download=False)
    assert str(tmp_path / NAMES[key]) in one_line(error)


# --- download --------------------------------------------------------------------------------


def test_download_moves_files_into_place(tmp_path, monkeypatch):
    """A (simulated) successful torchvision download ends in root/MNIST/raw, read by our reader."""
    tensors = make_tensors(seed=3)
    by_file = {f"{base}.gz": tensors[key] for key, base in NAMES.items()}
    fetched = []

    def fake(url, download_root, filename=None, md5=None, **kwargs):
        fetched.append(filename)
        archive = write_idx(Path(download_root, filename), by_file[filename], gzip=True)
        Path(download_root, filename.removesuffix(".gz")).write_bytes(
            gzip.decompress(archive.read_bytes())
        )

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fake)
    root = tmp_path / "data"
    module = MNISTDataModule(root=root, download=True, val_size=5)
    module.prepare_data()
    assert sorted(fetched) == sorted(by_file)
    raw = root / "MNIST" / "raw"
    assert tree(root) == sorted(
        ["MNIST", "MNIST/raw"]
        + [f"MNIST/raw/{base}{ext}" for base in NAMES.values() for ext in ("", ".gz")]
    )
    module.setup()
    assert module.source == str(raw.absolute())
    assert torch.equal(module.splits["test"][1], tensors["test_labels"].long())
    fetched.clear()
    load_mnist("mnist", root, download=True)
    assert fetched == []  # found, not fetched again


# --- the real Debian package -------------------------------------------------------------------

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (DEBIAN / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_MNIST", DEBIAN)
    data = load_mnist("fashion_mnist", root=None, download=False)
    assert data.source == str(DEBIAN)
    assert data.train_images.shape == (60000, 784)
    assert data.test_images.shape == (10000, 784)
    assert data.train_labels.bincount().tolist() == [6000] * 10
    assert data.test_labels.bincount().tolist() == [1000] * 10
    assert data.train_images.min() >= 0.0 and data.train_images.max() <= 1.0
