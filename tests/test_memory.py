import ctypes.util

import pytest

from repro.memory import keep_freed_memory


@pytest.mark.skipif(ctypes.util.find_library("c") is None, reason="no C library to configure")
def test_glibc_keeps_freed_memory():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # once per process, then cached
