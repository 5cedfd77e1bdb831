"""All-or-nothing dataset downloads: torchvision fetches into a staging folder inside the data
root, and only a complete result is moved into place."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 30.0


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


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet, if any."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_created(path: Path, created: Path | None) -> None:
    """Remove the empty folders from ``path`` up to ``created``, the ones a failed try made."""
    if created is None:
        return
    current = path
    while True:
        try:
            current.rmdir()
        except OSError:
            return
        if current == created:
            return
        current = current.parent


@contextmanager
def staged(root: Path, prefix: str) -> Iterator[Path]:
    """A fresh staging folder inside ``root`` (created if needed) for one download.

    While the body runs, sockets time out after ``DOWNLOAD_TIMEOUT_S``; anything it raises
    becomes :class:`DownloadFailed` with a short reason. The staging folder is always removed,
    and after a failure so are the folders made for ``root``: nothing of a failed try is left.
    """
    created = _first_missing(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = f"cannot create the folder ({type(e).__name__}: {e.strerror})"
        raise DownloadFailed(reason) from None
    staging: Path | None = None
    ok = False
    previous_timeout = socket.getdefaulttimeout()
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        yield staging
        ok = True
    except DownloadFailed:
        raise
    except Exception as e:
        raise DownloadFailed(short_reason(e)) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not ok:
            _remove_created(root, created)
