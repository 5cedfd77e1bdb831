"""The official code's trained MNIST optimizers, converted to our LSTM's phi.

Chen et al. 2020 ("Training Stronger Baselines for Learning to Optimize", MIT licence) published
coordinatewise 2x20 LSTM optimizers meta-trained on MNIST (MLP 784-20-10, sigmoid) by the paper's
own TensorFlow code (google-deepmind/learning-to-learn, Sonnet 1). Their arrays, as plain
``.npz`` (``lstm_1/w_gates`` (22, 80), ``lstm_1/b_gates``, ``lstm_2/w_gates`` (40, 80),
``lstm_2/b_gates``, ``linear/w`` (20, 1), ``linear/b``), map onto :class:`LSTMOptimizer` as
follows: both take the layer input as [x, h]; Sonnet's gate columns (i, j, f, o) become ours
(input, forget, output, cell = j); Sonnet adds a forget bias of 1 inside the cell and does not
store it, ours is stored, so it is folded into the forget bias; preprocessing LogAndSign with
k = 5 is our ``logsign`` with p = 5 (same float32 epsilon); the update is the linear head times
0.01. ``python -m repro.weights.official FOLDER [--out repro/weights]`` writes
``official_<name>.pt`` for each of :data:`NAMES` found in ``FOLDER``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.optimizers.phi_file import PhiFile
from repro.optimizers.preprocess import n_features

HIDDEN = 20
LAYERS = 2
FORGET_BIAS = 1.0
"""What Sonnet 1's LSTM adds to the forget gate's pre-activation without storing it."""
SONNET_GATES = ("i", "j", "f", "o")
OUR_GATES = ("i", "f", "o", "j")
"""The gate blocks of our columns, in Sonnet's names: input, forget, output, cell candidate."""

TRAINING = {
    "dm": "the paper's recipe: 10,000 epochs of 100 optimizee steps (unrolls of 20, so 50,000 "
          "truncations), meta-ADAM",
    "dm_aug": "5,000 epochs of 500 steps",
    "dm_il": "with imitation of ADAM",
    "dm_cl": "with a curriculum of horizons",
    "dm_cl_il": "curriculum and imitation",
}
"""How each was meta-trained, in the words of the anchors' README (from Chen et al.'s)."""
NAMES = tuple(TRAINING)
"""The five optimizers, by the names of their original files."""
TRUNCATIONS = {"dm": 50_000}
"""Truncations of meta-training where the source states them (not which one was kept)."""

REPOSITORY = "VITA-Group/L2O-Training-Techniques"
COMMIT = "0a3da557b8462382c5b6bec895aab88cdf1f9d96"
SOURCE = (
    'Chen et al. 2020, "Training Stronger Baselines for Learning to Optimize" (NeurIPS 2020), '
    "trained with the official code of Andrychowicz et al. 2016 "
    "(google-deepmind/learning-to-learn, Sonnet 1)"
)
LICENCE = "MIT"
LICENCE_FILE = "LICENSE.official"
COPYRIGHT = "Copyright (c) 2020 Tianlong Chen"

SETTINGS: dict[str, Any] = {
    "hidden": HIDDEN, "layers": LAYERS, "preprocessing": "logsign", "p": 5.0,
    "output_scale": 0.01, "compile": False, "kernel": "auto", "groups": [],
    "head_init": "sonnet",
}
"""The ``OptimizerConfig`` fields of every converted optimizer (Sonnet's LogAndSign k = 5,
output scale 0.01, 2 layers of 20)."""

_SHAPES = {
    "lstm_1/w_gates": (n_features("logsign") + HIDDEN, 4 * HIDDEN), "lstm_1/b_gates": (4 * HIDDEN,),
    "lstm_2/w_gates": (2 * HIDDEN, 4 * HIDDEN), "lstm_2/b_gates": (4 * HIDDEN,),
    "linear/w": (HIDDEN, 1), "linear/b": (1,),
}


def reorder_gates(array: np.ndarray, hidden: int = HIDDEN) -> np.ndarray:
    """``array``'s last axis, four gate blocks of ``hidden`` in Sonnet's order (i, j, f, o),
    rearranged into ours (i, f, o, j)."""
    blocks = dict(zip(SONNET_GATES, np.split(array, 4, axis=-1), strict=True))
    if blocks["i"].shape[-1] != hidden:
        raise ValueError(f"expected 4 gate blocks of {hidden}, got a last axis of {array.shape}")
    return np.concatenate([blocks[gate] for gate in OUR_GATES], axis=-1)


def fold_forget_bias(bias: np.ndarray, hidden: int = HIDDEN) -> np.ndarray:
    """A bias in our gate order with Sonnet's implicit forget bias added to its forget block."""
    folded = bias.copy()
    folded[hidden : 2 * hidden] += np.float32(FORGET_BIAS)
    return folded


def check_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError (one line) unless ``arrays`` are the six Sonnet arrays, float32, with
    the shapes of a 2x20 LSTM on LogAndSign input."""
    shapes = {key: tuple(np.shape(arrays[key])) for key in arrays}
    if shapes != _SHAPES:
        raise ValueError(f"not a 2x20 Sonnet LSTM optimizer: arrays {shapes}, expected {_SHAPES}")
    odd = [key for key in _SHAPES if np.asarray(arrays[key]).dtype != np.float32]
    if odd:
        raise ValueError(f"expected float32 arrays; {', '.join(odd)} are not")


def state_dict(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Our ``LSTMOptimizer`` state dict (float32) holding the Sonnet ``arrays``' optimizer."""
    check_arrays(arrays)
    phi: dict[str, torch.Tensor] = {}
    for layer in range(LAYERS):
        weight = reorder_gates(np.asarray(arrays[f"lstm_{layer + 1}/w_gates"]))
        bias = fold_forget_bias(reorder_gates(np.asarray(arrays[f"lstm_{layer + 1}/b_gates"])))
        phi[f"weights.{layer}"] = torch.from_numpy(np.ascontiguousarray(weight))
        phi[f"biases.{layer}"] = torch.from_numpy(np.ascontiguousarray(bias))
    phi["head_weight"] = torch.from_numpy(np.array(arrays["linear/w"]))
    phi["head_bias"] = torch.from_numpy(np.array(arrays["linear/b"]))
    return phi


def meta(name: str) -> dict[str, Any]:
    """The provenance recorded with the converted optimizer ``name`` (one of :data:`NAMES`):
    no config or commit of this suite."""
    return {
        "origin": "official", "name": name, "experiment": "mnist", "dataset": "mnist",
        "source": SOURCE, "repository": REPOSITORY, "source_commit": COMMIT,
        "source_file": f"L2O-DM & RNNProp/trained_models/{name}/cw.l2l-0",
        "licence": LICENCE, "licence_file": LICENCE_FILE, "copyright": COPYRIGHT,
        "trained": TRAINING[name], "meta_truncations": TRUNCATIONS.get(name),
        "conversion": "Sonnet gates (i, j, f, o) -> (input, forget, output, cell = j); forget "
                      "bias 1 folded into the forget bias; LogAndSign k = 5 as logsign p = 5; "
                      "output scale 0.01",
        "config": None, "commit": None,
    }


SELECTION = {"seed": None, "truncation": None, "val_loss": None,
             "criterion": "the official code's saved optimizer (converted, not re-selected)"}
"""No phi was selected by us: no seed, truncation or validation loss of this suite (the
official code kept its own best)."""


def payload(arrays: Mapping[str, np.ndarray], name: str) -> PhiFile:
    """The shipped optimizer (see :mod:`repro.weights`) of the Sonnet ``arrays`` of the
    official optimizer ``name``."""
    if name not in TRAINING:
        raise ValueError(f"unknown official optimizer {name!r}; known: {', '.join(NAMES)}")
    return PhiFile(state_dict(arrays), dict(SETTINGS), dict(SELECTION), meta(name))


def convert(path: Path) -> PhiFile:
    """The optimizer of the ``.npz`` file at ``path``, named by its stem (``dm.npz`` -> dm)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as arrays:
        return payload({key: arrays[key] for key in arrays.files}, path.stem)


def convert_folder(folder: Path, out: Path) -> list[Path]:
    """Write ``out/official_<name>.pt`` for every ``<name>.npz`` of :data:`NAMES` in
    ``folder`` (all five must be there); returns the paths written."""
    folder, out = Path(folder), Path(out)
    missing = [name for name in NAMES if not (folder / f"{name}.npz").is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {', '.join(f'{n}.npz' for n in missing)}")
    return [
        convert(folder / f"{name}.npz").save(out / f"official_{name}.pt") for name in NAMES
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m repro.weights.official FOLDER [--out repro/weights]``: convert the official
    optimizers' ``.npz`` files of FOLDER into shipped weights ``official_<name>.pt``."""
    parser = argparse.ArgumentParser(
        prog="python -m repro.weights.official", description=main.__doc__
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        written = convert_folder(args.folder, args.out)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    for path in written:
        print(f"weights written to {path}")


if __name__ == "__main__":
    main()
