"""The IDX reader and writer on files in the exact on-disk format, plain and gzipped."""

import gzip
import struct

import pytest
import torch

from repro.data.errors import DatasetError
from repro.data.idx import read_idx, write_idx


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_header_and_payload_are_the_exact_idx_bytes(tmp_path):
    tensor = torch.tensor([[1, 2, 3], [4, 5, 255]], dtype=torch.uint8)
    path = write_idx(tmp_path / "t-idx2-ubyte", tensor, gzip=False)
    assert path.read_bytes() == (
        b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes([1, 2, 3, 4, 5, 255])
    )
    wide = write_idx(tmp_path / "s", torch.tensor([1, -2], dtype=torch.int16), gzip=False)
    assert wide.read_bytes() == b"\x00\x00\x0b\x01" + struct.pack(">I", 2) + b"\x00\x01\xff\xfe"


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    "dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.float32, torch.float64]
)
def test_round_trip(tmp_path, gz, dtype):
    generator = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        tensor = torch.randn(5, 4, 3, generator=generator, dtype=dtype)
    else:
        info = torch.iinfo(dtype)
        tensor = torch.randint(info.min, info.max, (5, 4, 3), generator=generator, dtype=dtype)
    path = write_idx(tmp_path / ("f.gz" if gz else "f"), tensor, gzip=gz)
    assert path.read_bytes().startswith(b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == dtype
    assert torch.equal(back, tensor)


def test_gzip_is_detected_by_content_not_extension(tmp_path):
    tensor = torch.arange(10, dtype=torch.uint8)
    zipped_no_suffix = write_idx(tmp_path / "labels-idx1-ubyte", tensor, gzip=True)
    plain_with_suffix = write_idx(tmp_path / "labels-idx1-ubyte.gz", tensor, gzip=False)
    assert torch.equal(read_idx(zipped_no_suffix), tensor)
    assert torch.equal(read_idx(plain_with_suffix), tensor)


def test_writer_output_is_reproducible(tmp_path):
    tensor = torch.arange(6, dtype=torch.uint8)
    a = write_idx(tmp_path / "a.gz", tensor, gzip=True).read_bytes()
    b = write_idx(tmp_path / "b.gz", tensor, gzip=True).read_bytes()
    assert a == b


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_payload(tmp_path, gz):
    path = tmp_path / "images-idx3-ubyte"
    content = write_idx(path, torch.zeros(4, 28, 28, dtype=torch.uint8)).read_bytes()[:-10]
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DatasetError) as error:
        read_idx(path)
    message = _one_line(error)
    assert str(path) in message
    assert "truncated" in message
    assert "4x28x28" in message


def test_oversized_payload(tmp_path):
    path = write_idx(tmp_path / "labels", torch.zeros(7, dtype=torch.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DatasetError, match="oversized") as error:
        read_idx(path)
    assert str(path) in _one_line(error)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "x.gz", torch.arange(200, dtype=torch.uint8), gzip=True)
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DatasetError, match="truncated gzip") as error:
        read_idx(path)
    assert str(path) in _one_line(error)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x00\x99\x01\x00\x00\x00\x01\x07",  # unknown dtype code
        b"\x01\x00\x08\x01\x00\x00\x00\x01\x07",  # not starting with two zero bytes
        b"<html>404 Not Found</html>",  # what a captive portal serves
    ],
    ids=["dtype-code", "leading-bytes", "html"],
)
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_wrong_magic_number(tmp_path, content, gz):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DatasetError, match="magic number") as error:
        read_idx(path)
    assert str(path) in _one_line(error)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated header"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
    ],
)
def test_bad_header(tmp_path, content, match):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match) as error:
        read_idx(path)
    assert str(path) in _one_line(error)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file") as error:
        read_idx(tmp_path / "absent")
    assert isinstance(error.value, ValueError)
    assert str(tmp_path / "absent") in _one_line(error)
