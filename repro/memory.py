"""Keeping freed memory in the process (glibc), so that every truncation's activations reuse
pages instead of faulting fresh ones in.

By default glibc serves allocations above a few MiB with fresh ``mmap`` pages and returns the
top of the heap to the system once more than twice that is free. A truncation allocates and
frees a few hundred MiB of activations, so each one page-faulted (and zeroed) all of them
again. Fixing both thresholds keeps the heap at its peak: the resident size stays flat at the
peak of one truncation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = (1 << 31) - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
