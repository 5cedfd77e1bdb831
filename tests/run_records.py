"""Reading an offline W&B run back (:func:`read_offline_run`; wandb has no public offline
reader) in the format of :func:`repro.tracking.read_csv_metrics`, ``{metric_key: [(step,
value), ...]}`` in logging order, so the tests can compare a run's two records.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repro.tracking import STEP_KEY, Metrics


def read_offline_run(run_dir: Path) -> Metrics:
    """Return ``{key: [(step, value), ...]}`` for every scalar logged to the single offline W&B
    run under ``run_dir/wandb/``, read from its ``run-*.wandb`` record file.

    ``step`` is the ``trainer/global_step`` value Lightning's WandbLogger stores with each
    ``log_metrics`` call (i.e. the ``step`` given to it), falling back to W&B's own ``_step``
    counter for rows logged without one. W&B-internal keys (``_step``, ``_runtime``,
    ``_timestamp``, ...) and the step key itself are omitted; nested keys are joined with ".".
    Media, tables and booleans are skipped. A truncated final record (run still being written or
    killed) is ignored.
    """
    # Internal, unavoidable: W&B has no public reader of an offline run's records.
    from wandb.proto import wandb_internal_pb2

    files = sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"expected exactly one offline W&B run under {Path(run_dir) / 'wandb'}, "
            f"found {len(files)}: {[str(f) for f in files]}"
        )

    out: Metrics = {}
    for payload in _iter_leveldb_records(files[0].read_bytes(), files[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") != "history":
            continue
        row: dict[str, Any] = {}
        for item in record.history.item:
            key = ".".join(item.nested_key) if item.nested_key else item.key
            row[key] = json.loads(item.value_json)
        # media/tables are stored flattened ("figure._type", "figure.width", ...): drop them
        media = tuple(key[: -len("_type")] for key in row if key.endswith("._type"))
        step = row.get(STEP_KEY, row.get("_step", record.history.step.num))
        if not _is_number(step):
            continue
        for key, value in row.items():
            if (
                key == STEP_KEY
                or key.startswith("_")
                or (media and key.startswith(media))
                or not _is_number(value)
            ):
                continue
            out.setdefault(key, []).append((int(step), float(value)))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# W&B's transaction log: a 7-byte file header, then LevelDB log format
# (https://github.com/google/leveldb/blob/main/doc/log_format.md) with 32 KiB blocks and
# zlib CRC-32 (not CRC-32C) over type byte + payload.
_HEADER = struct.Struct("<4sHB")
_HEADER_IDENT, _HEADER_MAGIC, _HEADER_VERSION = b":W&B", 0xBEE1, 0
_CHUNK = struct.Struct("<IHB")
_BLOCK_LEN = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}


def _iter_leveldb_records(data: bytes, path: Path) -> Iterator[bytes]:
    """Yield the payload of each complete record in a W&B ``.wandb`` file."""
    if len(data) < _HEADER.size:
        return
    ident, magic, version = _HEADER.unpack_from(data)
    if (ident, magic) != (_HEADER_IDENT, _HEADER_MAGIC):
        raise ValueError(f"{path} is not a W&B transaction log")
    if version != _HEADER_VERSION:
        raise ValueError(f"{path}: unsupported W&B transaction log version {version}")

    pos = _HEADER.size
    pending: bytearray | None = None
    while True:
        left_in_block = _BLOCK_LEN - pos % _BLOCK_LEN
        if left_in_block < _CHUNK.size:  # block trailer
            pos += left_in_block
            continue
        if pos + _CHUNK.size > len(data):
            return
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        start, end = pos + _CHUNK.size, pos + _CHUNK.size + length
        if kind == 0 and length == 0:  # zero padding up to the block end
            pos += left_in_block
            continue
        if end > len(data):  # truncated tail
            return
        payload = data[start:end]
        if kind not in _TYPE_CRC or zlib.crc32(payload, _TYPE_CRC[kind]) != crc:
            raise ValueError(f"{path}: corrupt record at byte {pos}")
        pos = end
        if kind == _FULL:
            pending = None
            yield payload
        elif kind == _FIRST:
            pending = bytearray(payload)
        elif pending is not None:  # MIDDLE / LAST continue a FIRST
            pending += payload
            if kind == _LAST:
                yield bytes(pending)
                pending = None
