"""Writing outputs so that a crash never leaves a half-written file, and run provenance."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from repro.errors import MissingInputError


class OutputError(OSError):
    """An output could not be written; the message is one line naming the path."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place with
    the mode a new file takes under the process's umask."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        raise
    return path


def _umask() -> int:
    """The process's umask."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        return _UMASK


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import, where /proc is not there to tell


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for one run: a second run on the same folder fails at once.

    Only the global rank 0 process locks (the other ranks of a distributed run share its folder).
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) != 0:
        yield
        return
    path = Path(folder) / ".lock"
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise OutputError(
                f"run folder {folder} is in use by {owner}; wait for it to finish or pass "
                "another --runs-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically."""
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def brief(error: BaseException, limit: int = 120) -> str:
    """``error`` as one short line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


OUTPUTS = ("paper_figures", "runs", "tests/baselines.yaml")
"""The folders of figures, their data and run records (checkpoints, metrics histories), and the
regression checks' calibrated references: what the code writes, not part of the code's
state."""


def commit(root: Path | None = None) -> str:
    """The current git commit of the suite, or ``unknown``; ``+dirty`` when a tracked file
    outside :data:`OUTPUTS` differs from it (regenerating the committed figure data in place,
    or resuming a committed run, does not make the code that made it dirty)."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             *(f":(exclude){folder}" for folder in OUTPUTS)], cwd=root,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def is_dirty(recorded: str) -> bool:
    """Whether a commit recorded by :func:`commit` marks a tree with uncommitted changes."""
    return recorded.endswith("+dirty")


def portable(path: str | Path) -> str:
    """``path`` as the repository names it: relative to the checkout of this suite that holds
    it (a clone or worktree anywhere), else as given."""
    path = Path(path)
    if path.is_absolute():
        for parent in path.parents:
            if (parent / "repro" / "__init__.py").is_file():
                return path.relative_to(parent).as_posix()
    return str(path)


def provenance(config_path: str | Path | None, seed: int, **extra: Any) -> dict[str, Any]:
    """The ``meta`` block of a data file: config (:func:`portable`), seed, commit and creation
    time."""
    return {
        "config": portable(config_path) if config_path else None,
        "seed": seed,
        "commit": commit(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def read_data(path: Path, name: str, hint: str) -> dict[str, Any]:
    """The data of figure or panel ``name`` at ``path``; a one-line
    :class:`MissingInputError` (with ``hint``) when it is missing, unreadable or not ``name``'s
    data (:func:`repro.figures.check_data`)."""
    from repro.figures import check_data

    data = read_json(path, hint)
    try:
        check_data(name, data)
    except ValueError as error:
        raise MissingInputError(f"{path} is not {name}'s data: {error}") from None
    return data


def read_json(path: Path, hint: str) -> dict[str, Any]:
    """The JSON record at ``path``; a one-line :class:`MissingInputError` (with ``hint``) when
    it is missing or unreadable."""
    if not path.is_file():
        raise MissingInputError(f"{path} does not exist; {hint}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise MissingInputError(f"{path} is unreadable ({brief(error)}); {hint}") from None
