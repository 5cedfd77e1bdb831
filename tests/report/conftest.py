"""A small figures folder with made-up curves for the report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.report.helpers import REPO, baselines, decay, grid, panel, png, write


@pytest.fixture
def figures_root(tmp_path) -> Path:
    """``paper`` source: Figure 4a (LSTM lowest everywhere); ``quick/fashion_mnist``: Figure 5
    (40 units holds, 2 layers fails, ReLU fails and rises: both ReLU claims hold) and Figure 6."""
    root = tmp_path / "paper_figures"
    root.mkdir()
    shutil.copy(REPO / "paper_figures" / "reference.yaml", root / "reference.yaml")
    write(root / "data" / "figure4a.json",
          panel("figure4a", {**baselines(), "LSTM": decay(0.8, 0.08)}, "paper", "synthetic"))
    png(root / "figure4a.png")
    quick = root / "quick" / "fashion_mnist"
    rising = decay(1.0, 0.05)
    rising[60:] = [rising[59] + 0.02 * i for i in range(1, 41)]
    for name, lstm in (
        ("figure5a", decay(0.9, 0.1)), ("figure5b", [2.3] * 100), ("figure5c", rising),
    ):
        write(quick / "data" / f"{name}.json",
              panel(name, {**baselines(), "LSTM": lstm}, "quick", "fashion_mnist"))
    png(quick / "figure5.png", (300, 100))
    write(quick / "data" / "figure6.json", grid(lstm_best_at_20=True))
    png(quick / "figure6.png")
    return root
