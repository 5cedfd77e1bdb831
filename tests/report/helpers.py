"""Made-up curves (obviously synthetic) and images for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
NAMES = ("ADAM", "RMSprop", "SGD", "NAG", "LSTM")


def curve(mean) -> dict:
    """A curve from its means, with a ±10% band."""
    mean = [float(m) for m in mean]
    return {
        "step": list(range(1, len(mean) + 1)), "mean": mean, "lo": [0.9 * m for m in mean],
        "hi": [1.1 * m for m in mean], "n": 3, "lr": None,
    }


def decay(start: float, rate: float, steps: int = 100) -> list[float]:
    """An exponential decay towards 0.01."""
    return (start * np.exp(-rate * np.arange(1, steps + 1)) + 0.01).tolist()


def panel(name: str, curves: dict, profile: str, dataset: str) -> dict:
    """A panel's curves JSON as the pipeline writes it."""
    return {
        "figure": name, "title": name, "profile": profile, "x": "step", "y": "loss",
        "curves": {k: curve(v) for k, v in curves.items()},
        "meta": {
            "config": f"experiments/{name}.yaml", "seed": 7, "commit": "abc1234",
            "created": "2026-01-01T00:00:00+00:00", "profile": profile, "dataset": dataset,
            "wall_seconds": {"fit": 125.0, "tune": 9.0, "evaluate": 3.0},
        },
    }


def baselines(steps: int = 100) -> dict:
    """Four baselines, each decaying at its own rate."""
    return {
        n: decay(1.0, r, steps) for n, r in zip(NAMES[:4], (0.03, 0.04, 0.02, 0.05), strict=True)
    }


def png(path: Path, size=(120, 80)) -> None:
    """A real (tiny) PNG image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (228, 26, 28)).save(path)


def write(path: Path, data: dict) -> None:
    """Write ``data`` as JSON, making the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def grid(lstm_best_at_20: bool) -> dict:
    """An architecture grid (1 layer × widths 10, 20, 40)."""
    lstm = [0.5, 0.2 if lstm_best_at_20 else 0.9, 0.6]
    points = {n: {"mean": [0.6, 0.4, 0.5], "lo": [0.5] * 3, "hi": [0.7] * 3} for n in NAMES[:4]}
    points["LSTM"] = {"mean": lstm, "lo": lstm, "hi": lstm}
    return {
        "figure": "figure6", "title": "architectures", "profile": "quick", "x": "hidden units",
        "y": "final loss", "train_architecture": {"layers": 1, "width": 20},
        "panels": [{"layers": 1, "widths": [10, 20, 40], "curves": points}],
        "meta": {"seed": 0, "commit": "abc1234", "dataset": "fashion_mnist"},
    }
