"""The architecture grid (Figure 6): final loss of the LSTM and of baselines re-tuned for each
network of ``config.grid``, every depth times every width."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from tqdm import tqdm

from repro.config import Config
from repro.meta.evaluate import evaluate, rules_at
from repro.meta.tune import tune
from repro.optimizees import Family
from repro.optimizers.base import UpdateRule


def architecture_grid(
    config: Config, family: Family, learned: Mapping[str, UpdateRule], device: torch.device
) -> list[dict[str, Any]]:
    """One panel per depth: each rule's final mean loss and 95% interval at every width, and
    each baseline's tuned rate and whether it lies at the edge of the tuning grid. ``learned``
    are the learned optimizers by curve name (``LSTM`` first, which the rule set of
    :func:`rules_at` holds; the others are added beside it)."""
    grid, names, steps = config.grid, config.tune.optimizers, config.meta.horizon
    panels = []
    with tqdm(total=len(grid.layers) * len(grid.widths), desc="architectures", unit="net") as bar:
        for layers in grid.layers:
            points = {name: {"mean": [], "lo": [], "hi": [], "lr": [], "at_grid_edge": []}
                      for name in names}
            points.update({name: {"mean": [], "lo": [], "hi": [], "lr": None,
                                  "at_grid_edge": None} for name in learned})
            for width in grid.widths:
                nets = replace(family, hidden=(width,) * layers)
                val = nets.sample("val", 0, config.tune.problems, device)
                test = nets.sample("test", 0, config.evaluate.problems, device)
                tuned = tune(val, names, config.tune.grid, steps)
                rules = rules_at({name: tuned[name]["lr"] for name in names}, learned["LSTM"])
                rules.update({name: (rule, None) for name, rule in learned.items()})
                for name, curve in evaluate(test, rules, steps).items():
                    for key in ("mean", "lo", "hi"):
                        points[name][key].append(curve[key][-1])
                    if name not in learned:
                        points[name]["lr"].append(curve["lr"])
                        points[name]["at_grid_edge"].append(tuned[name]["at_grid_edge"])
                bar.update()
            panels.append({"layers": layers, "widths": list(grid.widths), "curves": points})
    return panels
