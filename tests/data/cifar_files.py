"""Tiny CIFAR-10 releases written in the exact on-disk format of ``cifar-10-batches-py``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from repro.data.cifar import FOLDER, TEST_BATCH, TRAIN_BATCHES

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]


def _batch(rng: np.random.Generator, n: int, name: str, byte_keys: bool) -> dict:
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(k) for k in np.arange(n) % 10]  # every class present, in a fixed order
    rng.shuffle(labels)
    batch = {"batch_label": name, "labels": labels, "data": data,
             "filenames": [f"img_{i}.png" for i in range(n)]}
    # The release was pickled by Python 2: its keys load as bytes; accept str keys as well.
    return {k.encode(): v for k, v in batch.items()} if byte_keys else batch


def write_cifar(root: Path, per_batch: int = 20, test: int = 20, seed: int = 0) -> dict:
    """``root/cifar-10-batches-py`` with five training batches, the test batch and the meta
    file; returns ``{batch name: (data uint8 [N, 3072], labels list)}`` as written."""
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name, n in [*((b, per_batch) for b in TRAIN_BATCHES), (TEST_BATCH, test)]:
        batch = _batch(rng, n, name, byte_keys=name != TEST_BATCH)
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
        written[name] = (batch.get(b"data", batch.get("data")),
                         batch.get(b"labels", batch.get("labels")))
    meta = {"label_names": LABEL_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    return written
