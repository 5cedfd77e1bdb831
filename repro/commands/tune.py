"""``repro tune``: search each baseline's learning rate on validation problems."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from repro import tracking
from repro.commands.runs import device_for, ensure_writable, holding_run_folder, set_threads
from repro.config import Config
from repro.io import provenance, write_json
from repro.meta.experiments import make_source
from repro.meta.tune import search
from repro.paths import Paths


@holding_run_folder("tune")
def tune(config: Config, paths: Paths) -> Path:
    """Search each baseline's learning rate on validation problems; record it; return the file."""
    ensure_writable(paths.data)
    started = time.perf_counter()
    set_threads(config)
    device = device_for(config)
    family = make_source(config)
    with tracking.run(
        paths.run_dir(config, "tune"), f"{config.experiment}-tune", config.to_dict()
    ) as loggers:
        steps = itertools.count()

        def report(name: str, lr: float, loss: float) -> None:
            metrics = {f"tune/{name}/final_loss": min(loss, 1e30), f"tune/{name}/lr": lr}
            tracking.log_metrics(loggers, metrics, next(steps))

        searched = search(
            family, "val", config.tune.problems, config.tune.optimizers, config.tune.grid,
            config.meta.horizon, device, report,
        )
    return write_json(
        paths.tuned(config),
        {
            "experiment": config.experiment,
            "profile": config.profile,
            **searched,
            "meta": provenance(
                paths.config_file, config.seed, profile=config.profile,
                wall_seconds=round(time.perf_counter() - started, 1),
            ),
        },
    )
