"""Finding a dataset's files in its search folders, else an all-or-nothing download: a source
(torchvision, or pip for MNIST) fetches into a staging folder inside the data root, and only a
complete result is moved into place."""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from repro.data.errors import DatasetError

DOWNLOAD_TIMEOUT_S = 30.0
T = TypeVar("T")


class DownloadFailed(Exception):
    """A download did not produce the dataset's files; the message is the short reason."""


def short_reason(error: BaseException) -> str:
    """One short line for a failed download: the underlying network error, else the error class
    and its message."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # torchvision's MNIST.download: "Error downloading F:\nTried M, got:\n<error>\n..."
    causes = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("Tried ")]
    if lines and causes:
        text = f"{lines[0].rstrip(':')}: {'; '.join(dict.fromkeys(causes))}"
    elif text:
        text = f"{type(error).__name__}: {text}"
    else:
        text = type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def staged(root: Path, prefix: str) -> Iterator[Path]:
    """A fresh staging folder inside ``root`` (created if needed) for one download.

    While the body runs, sockets time out after ``DOWNLOAD_TIMEOUT_S``; anything it raises
    becomes :class:`DownloadFailed` with a short reason. The staging folder is always removed,
    and after a failure so are the folders made for ``root``: nothing of a failed try is left.
    """
    # the folders this call creates, innermost first
    created = list(itertools.takewhile(lambda p: not p.exists(), (root, *root.parents)))
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = f"cannot create the folder ({type(e).__name__}: {e.strerror})"
        raise DownloadFailed(reason) from None
    ok = False
    previous_timeout = socket.getdefaulttimeout()
    try:
        with tempfile.TemporaryDirectory(prefix=prefix, dir=root, ignore_cleanup_errors=True) as d:
            socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
            yield Path(d)
        ok = True
    except DownloadFailed:
        raise
    except Exception as e:
        raise DownloadFailed(short_reason(e)) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
        if not ok:
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    break


def locate(
    folders: Iterable[Path],
    contents: Callable[[Path], tuple[T, list[str]]],
    total: int,
    count_found: bool = False,
) -> tuple[T | None, str]:
    """What ``contents`` finds in the first folder that lacks none of the ``total`` files, or
    None and where we looked (one phrase); ``contents(folder)`` is (found, names missing)."""
    looked: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            looked.append(f"{folder} (no such folder)")
            continue
        found, missing = contents(folder)
        if not missing:
            return found, ""
        if len(missing) == total:
            looked.append(f"{folder} (none of the files)")
        else:
            has = f"has {total - len(missing)} of the {total} files; " if count_found else ""
            looked.append(f"{folder} ({has}lacks {', '.join(missing)})")
    return None, ", ".join(looked) if looked else "no folder (no data root given)"


def found_or_fetched(
    located: tuple[T | None, str],
    root: str | os.PathLike[str] | None,
    download: bool,
    fetch: Callable[[Path], T],
    not_found: Callable[[str, str], str],
) -> T:
    """What :func:`locate` found, else what ``fetch(root)`` downloads when ``download`` is true.

    Raises one DatasetError, ``not_found(where we looked, the download's fate)``, otherwise.
    """
    found, looked = located
    if found is not None:
        return found
    if not download:
        status = "download disabled (download=False)"
    elif root is None:
        status = "no download (no data root to download into)"
    else:
        target = Path(root).expanduser().absolute()
        try:
            return fetch(target)
        except DownloadFailed as e:
            status = f"the download into {target} failed ({e})"
    raise DatasetError(not_found(looked, status))
