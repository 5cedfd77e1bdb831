"""Where the suite writes the paper's figures (registered in :mod:`repro.figures.registry`).

A *source* is one folder of outputs, ``paper_figures[/<profile>][/<dataset>]``, holding figure
images and a ``data/`` folder of curves JSON. A figure is present in a source when its image
(or the image of one of its panels) is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.config import PROFILES
from repro.figures.registry import FIGURES, Figure
from repro.paths import figures_folder


@dataclass(frozen=True)
class Source:
    """One folder of outputs: its profile and dataset folder name."""

    folder: Path
    profile: str
    dataset: str

    @property
    def id(self) -> str:
        """``paper``, ``paper/fashion_mnist``, ``quick``, ``quick/fashion_mnist``, ..."""
        return self.profile if self.dataset == "mnist" else f"{self.profile}/{self.dataset}"

    @property
    def label(self) -> str:
        """A heading for the source, e.g. ``quick profile, Fashion-MNIST``."""
        names = {"mnist": "default datasets", "fashion_mnist": "Fashion-MNIST"}
        dataset, _, variant = self.dataset.partition("/")
        suffix = f" ({variant})" if variant else ""
        return f"{self.profile} profile, {names.get(dataset, dataset)}{suffix}"

    def data(self, panel: str) -> dict[str, Any] | None:
        """The data of ``panel``, or None when absent; a one-line error when it is there but
        not ``panel``'s data (a gate reading it must not pass over it)."""
        from repro.io import read_data

        path = self.folder / "data" / f"{panel}.json"
        if not path.is_file():
            return None
        return read_data(path, panel, "remake it with 'python -m repro evaluate'")

    def images(self, figure: Figure) -> list[Path]:
        """The figure's whole image when there is one, else the images of its panels."""
        whole = self.folder / f"{figure.name}.png"
        if whole.is_file():
            return [whole]
        return [p for p in (self.folder / f"{n}.png" for n in figure.panels) if p.is_file()]

    def present(self) -> list[Figure]:
        """The figures with at least one image in this source, in the paper's order."""
        return [figure for figure in FIGURES if self.images(figure)]


def source_of(root: Path, source_id: str) -> Source:
    """The source called ``source_id`` (see :attr:`Source.id`) under ``root``, present or not."""
    profile, _, dataset = source_id.partition("/")
    return Source(figures_folder(root, profile, dataset), profile, dataset or "mnist")


def sources(root: Path) -> list[Source]:
    """Every output folder under ``root`` (``paper_figures``): each folder at any depth with a
    ``data/`` folder or a figure image; the paper profile first."""
    root = Path(root)
    folders = {p.parent for p in root.rglob("data") if p.is_dir()}
    folders |= {p.parent for p in root.rglob("figure*.png") if "data" not in p.parent.parts}
    found = []
    for folder in folders:
        parts = folder.relative_to(root).parts
        named = bool(parts) and parts[0] in PROFILES
        dataset = "/".join(parts[1:] if named else parts) or "mnist"
        found.append(Source(folder, parts[0] if named else "paper", dataset))
    return sorted(
        found, key=lambda s: (PROFILES.index(s.profile), s.dataset != "mnist", s.dataset)
    )

