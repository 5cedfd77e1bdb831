"""``repro figure``: draw one figure from its JSON data."""

from __future__ import annotations

from pathlib import Path

from repro import tracking
from repro.commands.runs import ensure_writable
from repro.config import Config
from repro.errors import MissingInputError
from repro.io import read_data
from repro.paths import Paths


def figure(name: str, paths: Paths, config: Config | None = None) -> list[Path]:
    """Draw figure ``name`` from its JSON data; log the image to W&B when a config is given."""
    from repro.figures import NAMES, draw, inputs

    if name not in NAMES:
        raise MissingInputError(f"unknown figure {name!r}; known: {', '.join(sorted(NAMES))}")
    for panel in inputs(name):
        hint = f"run 'python -m repro evaluate' to make the data of {panel}"
        read_data(paths.data / f"{panel}.json", panel, hint)
    ensure_writable(paths.figures)
    draw(name, paths.data, paths.figures / name)
    written = [paths.figures / f"{name}.{ext}" for ext in ("png", "pdf")]
    if config is not None:
        run_dir = paths.run_dir(config, f"figure-{name}")
        with tracking.run(run_dir, f"{config.experiment}-{name}", config.to_dict()) as loggers:
            tracking.log_figure(loggers, f"figures/{name}", written[0])
    return written
