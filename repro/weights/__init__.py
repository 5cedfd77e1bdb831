"""Trained optimizers shipped with the suite: ``<name>.pt`` files beside this module.

Each file loads with ``torch.load(path, weights_only=True)`` into ``{"state_dict": phi,
"optimizer": its settings (``OptimizerConfig`` fields), "meta": dataset, config, seed, commit,
truncation selected and its validation loss}``; ``python -m repro evaluate --checkpoint`` and
``make ... WEIGHTS=<name>`` evaluate one without meta-training.
"""

from __future__ import annotations

from pathlib import Path

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
