"""glibc keeps a freed block resident once keep_freed_memory has run (a fresh process each)."""

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(  # CI runs Linux: there the tests run and fail without it
    ctypes.util.find_library("c") is None and not os.environ.get("CI"),
    reason="no C library to configure",
)
ROOT = Path(__file__).resolve().parents[1]
# Prints the fraction of a freed 64 MiB block still resident; argv[1] "keep" configures glibc.
FREED_AND_RESIDENT = """
import ctypes, os, sys
if sys.argv[1] == "keep":
    from repro.memory import keep_freed_memory
    assert keep_freed_memory() is True
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
size = 64 << 20
before = rss()
block = libc.malloc(size)
ctypes.memset(block, 1, size)
libc.free(block)
print((rss() - before) / size)
"""


def _resident_after_free(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FREED_AND_RESIDENT, mode], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return float(out)


def test_glibc_keeps_freed_memory():
    assert _resident_after_free("keep") > 0.9


def test_control_by_default_glibc_returns_a_freed_block():
    assert _resident_after_free("default") < 0.1
