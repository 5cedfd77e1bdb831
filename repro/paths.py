"""Every path convention of the suite: where a profile's runs and figures go, a dataset's
figures folder under them, a sweep's fits, a crash's traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.config import Config

FIGURES_ROOT = Path("paper_figures")
"""The figures of every profile: the paper profile's at the top, another's in ``<profile>/``."""
RUNS_ROOT = Path("runs")
"""The run folders: ``<profile>/<experiment>/<command>``, a sweep's under ``sweep/``."""
SWEEP_RUNS = RUNS_ROOT / "sweep"
"""A sweep's fits: ``<dataset>/<part>/<point>``."""
REFERENCE_FILE = Path(__file__).resolve().parents[1] / FIGURES_ROOT / "reference.yaml"
"""The paper's values read off its plots."""


def figures_folder(root: Path, profile: str, dataset: str = "") -> Path:
    """The figures of ``profile`` (and of ``dataset``'s own folder, when named) under
    ``root``: ``root[/<profile>][/<dataset>]``, the paper profile at the top."""
    base = Path(root) if profile == "paper" else Path(root) / profile
    return base / dataset if dataset else base


def errors_folder(runs: str | Path | None) -> Path:
    """Where a crash's traceback goes: ``<runs>/errors`` (``runs/errors`` by default)."""
    return Path(runs or RUNS_ROOT) / "errors"


@dataclass(frozen=True)
class Paths:
    """Where one experiment's runs and figures go."""

    runs: Path
    figures: Path
    config_file: Path | None = None

    @classmethod
    def default(cls, profile: str) -> Paths:
        """``runs/<profile>`` and the profile's figures folder (:func:`figures_folder`)."""
        return cls(runs=RUNS_ROOT / profile, figures=figures_folder(FIGURES_ROOT, profile))

    @property
    def data(self) -> Path:
        """Folder of the figures' JSON data."""
        return self.figures / "data"

    def run_dir(self, config: Config, command: str) -> Path:
        """The run folder of ``command`` for ``config``."""
        return self.runs / config.experiment / command

    def checkpoint(self, experiment: str) -> Path:
        """The exported best optimizer of ``experiment``'s meta-training."""
        return self.runs / experiment / "optimizer.ckpt"

    def tuned(self, config: Config) -> Path:
        """The recorded learning-rate search of ``config``'s baselines."""
        return self.data / f"tuned_lr_{config.experiment}.json"
