"""Readers and writers for the IDX format of MNIST-style datasets, plain or gzipped.

An IDX file is: two zero bytes, a dtype code, the number of dimensions n, then n big-endian
uint32 sizes, then the values in C order, big-endian. See http://yann.lecun.com/exdb/mnist/.
"""

from __future__ import annotations

import gzip as _gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from repro.data.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> (big-endian numpy dtype, torch dtype)
IDX_DTYPES: dict[int, tuple[np.dtype, torch.dtype]] = {
    0x08: (np.dtype(">u1"), torch.uint8),
    0x09: (np.dtype(">i1"), torch.int8),
    0x0B: (np.dtype(">i2"), torch.int16),
    0x0C: (np.dtype(">i4"), torch.int32),
    0x0D: (np.dtype(">f4"), torch.float32),
    0x0E: (np.dtype(">f8"), torch.float64),
}
_CODE_OF_TORCH_DTYPE = {torch_dtype: code for code, (_, torch_dtype) in IDX_DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped when it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not an IDX file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read it ({type(e).__name__}: {e.strerror})") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return _gzip.decompress(raw)
    except EOFError:
        raise DatasetError(f"{path}: truncated gzip stream (the file is incomplete)") from None
    except (_gzip.BadGzipFile, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """The tensor stored in an IDX file (plain or gzipped), with the file's shape and dtype.

    Raises DatasetError, naming the file, when the file is missing, the magic number or the
    dimensions are invalid, or the payload is shorter or longer than the dimensions say.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DatasetError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_DTYPES:
        raise DatasetError(
            f"{path}: wrong magic number 0x{data[:4].hex()}; not an IDX file "
            f"(expected 0x0000 then a dtype code in "
            f"{{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and the number of dimensions)"
        )
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(
            f"{path}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    np_dtype, torch_dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * np_dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "oversized"
        shape = "x".join(map(str, dims))
        raise DatasetError(
            f"{path}: {what} payload: {actual} bytes after the header, "
            f"but dimensions {shape} of {np_dtype.itemsize}-byte values need {expected}"
        )
    array = np.frombuffer(data, dtype=np_dtype, offset=header).reshape(dims)
    return torch.from_numpy(array.astype(np_dtype.newbyteorder("="), copy=True))


def write_idx(path: str | os.PathLike[str], tensor: torch.Tensor, gzip: bool = False) -> Path:
    """Write a tensor as an IDX file (gzipped when gzip is true, reproducibly); return the path."""
    path = Path(path)
    if tensor.dtype not in _CODE_OF_TORCH_DTYPE:
        raise ValueError(f"IDX has no dtype for {tensor.dtype}")
    if tensor.dim() == 0 or tensor.dim() > 255:
        raise ValueError(f"IDX holds 1 to 255 dimensions, got {tensor.dim()}")
    code = _CODE_OF_TORCH_DTYPE[tensor.dtype]
    np_dtype = IDX_DTYPES[code][0]
    header = bytes([0, 0, code, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    payload = tensor.detach().cpu().contiguous().numpy().astype(np_dtype).tobytes()
    content = header + payload
    if gzip:
        content = _gzip.compress(content, mtime=0)
    path.write_bytes(content)
    return path
