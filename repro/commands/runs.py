"""What every command shares: where its outputs go, its locked run folder, its device and the
inputs it reads."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from repro.config import Config
from repro.data.errors import DatasetError
from repro.errors import Diverged, MissingInputError
from repro.io import OutputError, run_lock
from repro.optimizers.phi_file import CheckpointError
from repro.paths import Paths
from repro.settings import ConfigError

T = TypeVar("T")


BAD_INPUT = (ConfigError, OutputError, CheckpointError, DatasetError, MissingInputError)
"""The errors of a bad input: the command line prints their one line and exits with 2."""


def set_threads(config: Config) -> None:
    """Apply ``trainer.threads``, when set, to torch's CPU thread pool."""
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)


def device_for(config: Config) -> torch.device:
    """CUDA when available and allowed by ``trainer.accelerator``, else the CPU.

    Refuses, with a one-line :class:`ConfigError`, what this machine lacks: ``gpu``/``cuda``
    without a CUDA GPU, and more ``trainer.devices`` than it has GPUs or, on the CPU (one
    process per device), cores.
    """
    trainer = config.trainer
    gpu = torch.cuda.is_available()
    if trainer.accelerator in ("gpu", "cuda") and not gpu:
        raise ConfigError(
            f"trainer.accelerator: {trainer.accelerator} asked for, but this machine has no "
            "CUDA GPU; use auto or cpu"
        )
    on_gpu = gpu and trainer.accelerator != "cpu"
    have = torch.cuda.device_count() if on_gpu else os.cpu_count() or 1
    if isinstance(trainer.devices, int) and trainer.devices > have:
        unit = "GPUs" if on_gpu else "CPU cores (one process per device)"
        raise ConfigError(
            f"trainer.devices: {trainer.devices} asked for, but this machine has {have} {unit}; "
            f"use at most {have} or auto"
        )
    return torch.device("cuda" if on_gpu else "cpu")


def refuse_lone_nodes(config: Config) -> None:
    """Refuse, with a one-line :class:`ConfigError`, ``trainer.num_nodes`` above 1 where no
    other node will join: no cluster Lightning detects (SLURM, torchrun, LSF, MPI), and no
    ``NODE_RANK`` and ``MASTER_ADDR`` set by hand. The fit would wait for them, silently and
    beyond the reach of Ctrl-C, for Lightning's half-hour timeout."""
    nodes = config.trainer.num_nodes
    if nodes == 1 or (os.environ.get("NODE_RANK") and os.environ.get("MASTER_ADDR")):
        return
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    clusters = (SLURMEnvironment, TorchElasticEnvironment, LSFEnvironment, MPIEnvironment)
    if not any(cluster.detect() for cluster in clusters):
        raise ConfigError(
            f"trainer.num_nodes: {nodes} asked for, but no other node will join this run; start "
            "each node under SLURM or torchrun, or with NODE_RANK and MASTER_ADDR set, or use 1"
        )


def ensure_writable(folder: Path) -> None:
    """Create ``folder``; a one-line :class:`OutputError` when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {folder}: {error.strerror or error}") from None
    probe = folder / ".write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write to {folder}: {error.strerror or error}") from None


def holding_run_folder(command: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run the decorated command with its (writable) run folder locked (:func:`run_lock`).

    When the command stops short, a run folder it made is removed again, with the parents it
    made that are left empty, unless it holds a checkpoint (``checkpoints/*.ckpt``) and the stop
    was not a divergence: what an interrupted, preempted or failed fit trained is kept, a
    diverged one's is not worth resuming.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def held(config: Config, paths: Paths, *args: Any, **kwargs: Any) -> T:
            run_dir = paths.run_dir(config, command)
            made = [d for d in [run_dir, *run_dir.parents] if not d.exists()]
            ensure_writable(run_dir)
            try:
                with run_lock(run_dir):
                    return function(config, paths, *args, **kwargs)
            except BaseException as error:
                kept = any((run_dir / "checkpoints").glob("*.ckpt"))
                if made and (isinstance(error, Diverged) or not kept):
                    _remove(run_dir, made)
                raise

        return held

    return decorate


def _remove(run_dir: Path, made: list[Path]) -> None:
    """Remove ``run_dir`` and, deepest first, each folder of ``made`` left empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in made[1:]:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: another run's folder lives in it
