"""Measure the spread behind a regression bound: the quick-profile pipeline over several seeds.

``python scripts/regression_seeds.py experiments/quadratic.yaml --panel figure4a --seeds 0 1 2 3 4
--out tests/regression_seeds.json`` fits, tunes and evaluates the quick profile once per
``meta.seed`` (phi's initialisation and the training problems; the tuned baselines and the test
problems stay those of ``seed``), and records every optimizer's final loss per seed, with the
LSTM's minimum and maximum, under the config's experiment name in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from repro.checks import final_mean
from repro.commands.evaluate import evaluate
from repro.commands.fit import fit
from repro.commands.runs import Paths
from repro.commands.tune import tune
from repro.config import load
from repro.io import commit, write_json


def measure(config_file: Path, panel: str, seeds: list[int], extra: list[str]) -> dict:
    """Every optimizer's final loss on ``panel`` for each meta seed, and the LSTM's spread."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures"
        tuning = Paths(runs=Path(tmp) / "tune", figures=figures)
        tune(load(config_file, "quick", extra), tuning)
        finals: dict[str, dict[str, float]] = {}
        for seed in seeds:
            config = load(config_file, "quick", [*extra, f"meta.seed={seed}"])
            paths = Paths(runs=Path(tmp) / f"seed{seed}", figures=figures)
            fit(config, paths)
            evaluate(config, paths)
            curves = json.loads((paths.data / f"{panel}.json").read_text())
            finals[str(seed)] = {name: final_mean(curves, name) for name in curves["curves"]}
            print(f"meta.seed {seed}: {finals[str(seed)]}", flush=True)
    lstm = [row["LSTM"] for row in finals.values()]
    return {
        "config": str(config_file), "profile": "quick", "panel": panel, "overrides": extra,
        "commit": commit(), "final_loss": finals, "lstm_min": min(lstm), "lstm_max": max(lstm),
    }


def main() -> None:
    """Measure and merge the record into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--panel", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    parser.add_argument("--name", help="the record's key (default: the config's stem)")
    parser.add_argument("--out", type=Path, default=Path("tests/regression_seeds.json"))
    args = parser.parse_args()
    record = json.loads(args.out.read_text()) if args.out.is_file() else {}
    record[args.name or args.config.stem] = measure(args.config, args.panel, args.seeds, args.set)
    write_json(args.out, dict(sorted(record.items())))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
