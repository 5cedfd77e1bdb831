"""The ways a command stops short that are not bad input, each with its exit code at the
command line's boundary (:func:`repro.cli.main`)."""

from __future__ import annotations


class Diverged(RuntimeError):
    """An optimizer diverged where the command needed a finite result (exit code 1)."""


class Preempted(RuntimeError):
    """Meta-training stopped on SIGTERM after writing its last checkpoint (exit code 143)."""


class MissingInputError(FileNotFoundError):
    """An input a command needs (checkpoint, tuned rates, curves) is missing or is not what it
    should be; one line."""
