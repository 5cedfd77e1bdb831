"""Trained optimizers shipped with the suite: ``<name>.pt`` files beside this module.

Each file is a :class:`~repro.optimizers.phi_file.PhiFile` (it loads with
``torch.load(path, weights_only=True)``); ``python -m repro evaluate --checkpoint`` and
``make ... WEIGHTS=<name>`` evaluate one without meta-training. ``official_*.pt`` are not ours:
the official code's MNIST optimizers (Chen et al. 2020, MIT: ``LICENSE.official``, README.md),
converted by :mod:`repro.weights.official`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.optimizers.phi_file import SELECTION, PhiFile

FOLDER = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped optimizers, sorted."""
    return sorted(path.stem for path in FOLDER.glob("*.pt"))


def path_of(name: str) -> Path:
    """The file of the shipped optimizer ``name``; an unknown name lists the known ones."""
    path = FOLDER / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped optimizer {name!r}; available: {', '.join(available()) or 'none'}"
        )
    return path


def ship(checkpoint: Path, out: Path, dataset: str, selected: dict[str, Any]) -> Path:
    """Write the phi of a fit's exported ``checkpoint`` to ``out`` as a shipped optimizer.

    ``selected`` says which phi it is: ``seed``, ``truncation``, ``val_loss`` and ``criterion``
    (how it was chosen).
    """
    chosen = {key: selected[key] for key in SELECTION}
    return PhiFile.read(checkpoint).replace(dataset=dataset, **chosen).save(out)


def main(argv: list[str] | None = None) -> None:
    """``python -m repro.weights CHECKPOINT OUT --dataset NAME``: ship a fit's exported phi."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m repro.weights", description=main.__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dataset", default="none")
    args = parser.parse_args(argv)
    chosen = {**PhiFile.read(args.checkpoint).selected(),
              "criterion": "lowest validation loss of the fit (early stopping)"}
    print(f"weights written to {ship(args.checkpoint, args.out, args.dataset, chosen)}")
