"""The machine a measurement was made on: CPU model, vector extensions, cores, torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

VECTOR_PREFIXES = ("avx", "fma", "sse4", "asimd", "sve", "neon")


def describe() -> dict[str, Any]:
    """The CPU's model name, its vector extensions (x86 or ARM flags), its cores, and torch's
    version."""
    model, flags = platform.processor() or platform.machine(), []
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.is_file() else []:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name":
            model = value
        elif key in ("flags", "Features"):  # x86, ARM
            flags = sorted(f for f in value.split() if f.startswith(VECTOR_PREFIXES))
    return {"cpu": model, "vector_extensions": flags, "cores": os.cpu_count(),
            "torch": str(torch.__version__)}
