"""The CPU's multiply-add peak for 8-float vectors (``bench/fma_peak.cpp``), measured: the bound
no product of the LSTM kernel can pass on this machine."""

from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile
import time
from pathlib import Path

from repro.optimizers import native

SOURCE = Path(__file__).resolve().parent / "fma_peak.cpp"


def fma8_flops_per_second(threads: int, seconds: float = 1.0) -> float | None:
    """FLOP/s of ``threads`` threads of independent 8-float FMAs, built with the kernel's
    compiler and flags; None where it cannot be built."""
    with tempfile.TemporaryDirectory() as folder:
        library = Path(folder) / "fma_peak.so"
        built = subprocess.run(
            [os.environ.get("CXX", "g++"), *native.FLAGS, "-o", str(library), str(SOURCE)],
            check=False, capture_output=True, timeout=120,
        )
        if built.returncode != 0:
            return None
        peak = ctypes.CDLL(str(library))
        peak.fma_rounds.argtypes = [ctypes.c_int64, ctypes.c_int]
        peak.fma_rounds.restype = ctypes.c_float
        per_round = 2 * 8 * peak.fma_chains() * threads
        rounds, best = 1 << 16, 0.0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            start = time.perf_counter()
            peak.fma_rounds(rounds, threads)
            elapsed = time.perf_counter() - start
            best = max(best, per_round * rounds / elapsed)
            rounds *= 2 if elapsed < 0.05 else 1
        return best
