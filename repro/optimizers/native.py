"""The fused CPU kernel of the coordinatewise LSTM layer (``kernels/lstm_cpu.cpp``).

The C++ source is compiled on first use with the machine's C++ compiler (``$CXX``, else
``g++``) for this CPU, into a cache folder (``$REPRO_KERNEL_CACHE``, else
``~/.cache/l2l-repro/kernels``) keyed by the source, the flags, the compiler and the CPU, and
loaded with ctypes. Where it cannot be built, :func:`unavailable` says why and the LSTM keeps
its PyTorch layer.

``$REPRO_KERNEL_ISA`` picks the build: ``native`` (the default: every vector extension of this
CPU, so AVX-512's 32 registers where it has them) or ``avx2`` (AVX-512 switched off, as on a
CPU without it: the 16-register tiles); any other value is refused with a ValueError.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

SOURCE = Path(__file__).resolve().parent / "kernels" / "lstm_cpu.cpp"
FLAGS = (
    "-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fPIC",
    "-shared",
)
ISA_FLAGS = {"native": (), "avx2": ("-mno-avx512f",)}
HIDDEN = 20
MAX_FAN_IN = 64

_P = ctypes.c_void_p
_TIMINGS: list[tuple[dict[str, float], Callable[[], float]]] = []  # innermost block last


@contextmanager
def timing(clock: Callable[[], float] = time.perf_counter) -> Iterator[dict[str, float]]:
    """Within the block, the seconds (by ``clock``) of every kernel call, summed by kind and
    layer input width (``kernel forward, layer input width 2``, ...), in the dict it yields;
    of nested blocks, the innermost records."""
    _TIMINGS.append(({}, clock))
    try:
        yield _TIMINGS[-1][0]
    finally:
        _TIMINGS.pop()


@contextmanager
def _timed(kind: str, width: int) -> Iterator[None]:
    if not _TIMINGS:
        yield
        return
    record, clock = _TIMINGS[-1]
    began = clock()
    yield
    key = f"kernel {kind}, layer input width {width}"
    record[key] = record.get(key, 0.0) + clock() - began


def _cpu_id() -> str:
    """The CPU's model name and instruction-set flags (``-march=native`` depends on them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    keep = [line for line in text.splitlines() if line.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(keep)))


def isa() -> str:
    """The build ``$REPRO_KERNEL_ISA`` asks for (``native`` when unset)."""
    chosen = os.environ.get("REPRO_KERNEL_ISA") or "native"
    if chosen not in ISA_FLAGS:
        raise ValueError(f"REPRO_KERNEL_ISA must be one of {sorted(ISA_FLAGS)}, got {chosen!r}")
    return chosen


def _build(flags: tuple[str, ...]) -> Path:
    """The compiled library for this source, flags, compiler and CPU, built if not cached."""
    compiler = os.environ.get("CXX", "g++")
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    key = hashlib.sha256(
        "\0".join((SOURCE.read_text(), " ".join(flags), version, _cpu_id())).encode()
    ).hexdigest()[:16]
    folder = Path(os.environ.get("REPRO_KERNEL_CACHE", Path.home() / ".cache/l2l-repro/kernels"))
    target = folder / f"lstm_cpu_{key}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staged = Path(tmp) / target.name
        done = subprocess.run(
            [compiler, *flags, "-o", str(staged), str(SOURCE)],
            check=False, capture_output=True, text=True, timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {done.stderr.strip()[:500]}")
        os.replace(staged, target)
    return target


def _library() -> ctypes.CDLL | str:
    """The loaded kernel library of the build :func:`isa` asks for, or why it is not available."""
    return _load(isa())


@functools.cache
def _load(chosen: str) -> ctypes.CDLL | str:
    try:
        library = ctypes.CDLL(str(_build((*FLAGS, *ISA_FLAGS[chosen]))))
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        reason = f"the fused CPU kernel could not be built ({error})"
        warnings.warn(f"{reason}; the LSTM runs its PyTorch layer", RuntimeWarning, stacklevel=2)
        return reason
    head = [_P, _P, ctypes.c_float, _P]
    library.lstm_forward.argtypes = [ctypes.c_int64, ctypes.c_int, *[_P] * 9, *head, ctypes.c_int]
    library.lstm_forward.restype = None
    library.lstm_backward.argtypes = [
        ctypes.c_int64, ctypes.c_int, *[_P] * 13, _P, _P, ctypes.c_float, _P, _P, ctypes.c_int
    ]
    library.lstm_backward.restype = None
    library.lstm_registers.restype = ctypes.c_int
    library.lstm_step.argtypes = [
        ctypes.c_int64, ctypes.c_int, ctypes.c_int, *[_P] * 7, *head, ctypes.c_int
    ]
    library.lstm_step.restype = None
    return library


def registers() -> int:
    """The vector registers the loaded build's tiles were sized for: 32 (AVX-512) or 16."""
    library = _library()
    assert not isinstance(library, str), library
    return library.lstm_registers()


def unavailable() -> str | None:
    """Why the kernel cannot be used on this machine, or None when it can."""
    library = _library()
    return library if isinstance(library, str) else None


def supports(x: Tensor, hidden: int, weight: Tensor) -> bool:
    """Whether the kernel can run this layer: float32 CPU tensors, hidden size 20, fan-in ≤ 64."""
    return (
        x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and hidden == HIDDEN
        and weight.shape[0] <= MAX_FAN_IN
        and unavailable() is None
    )


def _ptr(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


@dataclass(frozen=True)
class Head:
    """The optimizer's linear head on a layer's output: update = (h' · weight + bias) · scale.

    ``weight`` holds the 20 weights and ``bias`` the one bias, both contiguous.
    """

    weight: Tensor
    bias: Tensor
    scale: float

    def __post_init__(self) -> None:
        if not (self.weight.is_contiguous() and self.bias.is_contiguous()):
            raise ValueError("the head's weight and bias must be contiguous")


def forward(
    x: Tensor, h: Tensor, c: Tensor, weight: Tensor, bias: Tensor, save: bool,
    head: Head | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """``(h', c', act, tanh_c, update)`` of one layer: ``act`` and ``tanh_c`` (what the backward
    needs) only when ``save``, ``update`` ``[N]`` only with a ``head``."""
    library = _library()
    assert not isinstance(library, str), library
    x, h, c, weight, bias = (t.contiguous() for t in (x, h, c, weight, bias))
    rows, inputs = x.shape
    h_out, c_out = torch.empty_like(h), torch.empty_like(c)
    act = x.new_empty(rows, 4 * HIDDEN) if save else None
    tanh_c = torch.empty_like(c) if save else None
    update = x.new_empty(rows) if head is not None else None
    with _timed("forward", inputs):
        library.lstm_forward(
            rows, inputs, *map(_ptr, (x, h, c, weight, bias, h_out, c_out, act, tanh_c)),
            *((None, None, 1.0) if head is None
              else (_ptr(head.weight), _ptr(head.bias), head.scale)),
            _ptr(update), torch.get_num_threads(),
        )
    return h_out, c_out, act, tanh_c, update


def backward(
    x: Tensor, h: Tensor, c: Tensor, weight: Tensor, act: Tensor, tanh_c: Tensor,
    dh_out: Tensor, dc_out: Tensor, need_dx: bool, head: Head | None = None,
    d_update: Tensor | None = None,
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    """Gradients ``(dx, dh, dc, dweight, dbias, d_head_weight, d_head_bias)`` of one layer from
    those of ``(h', c')`` and, with a ``head``, of its ``update``."""
    library = _library()
    assert not isinstance(library, str), library
    x, h, c, weight = (t.contiguous() for t in (x, h, c, weight))
    dh_out, dc_out = dh_out.contiguous(), dc_out.contiguous()
    rows, inputs = x.shape
    dx = torch.empty_like(x) if need_dx else None
    dh, dc = torch.empty_like(h), torch.empty_like(c)
    dweight, dbias = torch.empty_like(weight), weight.new_empty(weight.shape[1])
    d_head_w = d_head_b = None
    if head is not None:
        d_update = d_update.contiguous()
        d_head_w, d_head_b = torch.empty_like(head.weight), torch.empty_like(head.bias)
    with _timed("backward", inputs):
        library.lstm_backward(
            rows, inputs,
            *map(_ptr, (x, h, c, weight, act, tanh_c, dh_out, dc_out, dx, dh, dc, dweight,
                        dbias)),
            _ptr(None if head is None else head.weight), _ptr(d_update),
            1.0 if head is None else head.scale, _ptr(d_head_w), _ptr(d_head_b),
            torch.get_num_threads(),
        )
    return dx, dh, dc, dweight, dbias, d_head_w, d_head_b


def _pointers(tensors: list[Tensor]) -> ctypes.Array:
    return (_P * len(tensors))(*(t.data_ptr() for t in tensors))


def _overlapping(tensors: list[Tensor]) -> bool:
    """Whether the memory of any two of ``tensors`` overlaps."""
    spans = sorted((t.data_ptr(), t.data_ptr() + t.numel() * t.element_size()) for t in tensors)
    return any(start < end for (_, end), (start, _) in itertools.pairwise(spans))


def step(
    x: Tensor, h: list[Tensor], c: list[Tensor], weights: list[Tensor], biases: list[Tensor],
    head: Head, in_place: bool = False,
) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """``(h', c', update)`` of every layer (one tensor per layer in h' and c') and the head, in
    one kernel call that saves nothing for a backward: the same numbers as :func:`forward` layer
    by layer. ``in_place`` writes h' and c' over h and c (contiguous ones; a ValueError where
    any two of them share memory) and returns them."""
    library = _library()
    assert not isinstance(library, str), library
    assert len(h) == len(c) == len(weights) == len(biases) >= 1, "one state per layer"
    x, layers = x.contiguous(), len(h)
    h, c, weights, biases = ([t.contiguous() for t in group] for group in (h, c, weights, biases))
    if in_place and _overlapping([*h, *c]):
        raise ValueError("an in-place step needs every layer's h and c in memory of its own")
    h_out, c_out = (h, c) if in_place else ([torch.empty_like(t) for t in g] for g in (h, c))
    update = x.new_empty(len(x))
    with _timed("step (every layer)", x.shape[1]):
        library.lstm_step(
            x.shape[0], layers, x.shape[1], x.data_ptr(),
            *map(_pointers, (h, c, weights, biases)), _pointers(h_out), _pointers(c_out),
            head.weight.data_ptr(), head.bias.data_ptr(), head.scale, update.data_ptr(),
            torch.get_num_threads(),
        )
    return h_out, c_out, update
