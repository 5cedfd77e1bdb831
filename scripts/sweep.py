"""Run a recorded meta-training sweep or seed study and write its record (JSON + figure).

    PYTHONPATH=. .venv/bin/python scripts/sweep.py experiments/sweeps/mnist.yaml \
        --part sweep --data.name fashion_mnist

``--part sweep`` meta-trains every point of the plan; ``--part seeds`` meta-trains the plan's
recipe once per seed and selects, on validation, the phi the figures use (``--weights``
copies it to a file). Each fit runs as ``python -m repro fit`` in its own run folder, so an
interrupted sweep resumes where it stopped and a finished point is not trained again. The
record is rewritten after every point. Extra ``--key value`` arguments go to every fit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro.commands.runs import Paths, set_threads  # noqa: E402
from repro.config import load  # noqa: E402
from repro.io import provenance, write_json  # noqa: E402
from repro.meta.sweep import (  # noqa: E402
    SELECTION_STREAM,
    revalidate,
    summarise,
    tuned_validation_losses,
    validation_history,
)
from repro.weights import ship  # noqa: E402


def _args(overrides: dict[str, Any]) -> list[str]:
    out = []
    for key, value in overrides.items():
        out += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return out


def _fit(config_file: Path, run_root: Path, args: list[str], log: Path) -> float:
    """Meta-train one point (resuming if interrupted); return its wall seconds this call."""
    command = [sys.executable, "-m", "repro", "fit", "--config",
               str(config_file.relative_to(ROOT)), "--runs-dir", str(run_root),
               "--figures-dir", str(run_root / "figures"), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                       check=True)
    return time.perf_counter() - started


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _points(plan: dict[str, Any], part: str) -> list[tuple[str, dict[str, Any]]]:
    if part == "sweep":
        common = plan.get("common", {})
        return [(p["name"], {**common, **p.get("overrides", {})}) for p in plan["points"]]
    recipe = plan["recipe"]
    return [(f"seed{seed}", {**recipe, "meta.seed": seed}) for seed in plan["seeds"]]


def run(plan_file: Path, part: str, extra: list[str], out: Path, weights: Path | None) -> Path:
    """Meta-train the plan's ``part``; write and return its record at ``out``."""
    plan = yaml.safe_load(plan_file.read_text())
    config_file = ROOT / plan["config"]
    pairs = dict(zip(extra[::2], extra[1::2], strict=True))
    dataset = pairs.get("--data.name", "mnist")
    config = load(config_file, "paper", [f"{k[2:]}={v}" for k, v in pairs.items()])
    paths = Paths(runs=ROOT / "runs", figures=out.parent.parent)
    tuned_file = paths.tuned(config)
    if not tuned_file.is_file():
        raise SystemExit(f"error: {tuned_file} does not exist; run 'python -m repro tune' first")
    tuned = json.loads(tuned_file.read_text())
    if tuned["problems"] != config.meta.val_problems:
        raise SystemExit(
            f"error: baselines tuned on {tuned['problems']} validation problems, fits validate "
            f"on {config.meta.val_problems}; they must be the same problems"
        )
    baselines = tuned_validation_losses(tuned)
    # the code that runs, recorded before it runs: shipping the selected phi into
    # repro/weights changes a tracked file, which must not mark the record's own code dirty
    meta = provenance(plan_file.relative_to(ROOT), config.seed)
    earlier = {r["name"]: r for r in json.loads(out.read_text())["points"]} if out.is_file() else {}
    records: list[dict[str, Any]] = []
    for name, overrides in _points(plan, part):
        run_root = ROOT / "runs" / "sweep" / dataset / part / name.replace(" ", "_")
        ckpt = run_root / config.experiment / "optimizer.ckpt"
        seconds = None
        if not ckpt.is_file():
            seconds = _fit(config_file, run_root, extra + _args(overrides), run_root / "fit.log")
        exported = torch.load(ckpt, map_location="cpu", weights_only=False)
        history = validation_history(run_root / config.experiment / "fit")
        records.append({
            "name": name, "overrides": overrides, **summarise(history, baselines),
            "truncations": exported["meta_steps"],
            "seconds": exported.get("seconds", seconds),
            "checkpoint": str(ckpt.relative_to(ROOT)),
            "selected": exported["selected"],
            "fit_commit": exported["meta"]["commit"],
            "checkpoint_sha256": _sha256(ckpt),
        })
        if part == "seeds":
            records[-1]["selection_problems"] = plan["selection_problems"]
            before = earlier.get(name, {})
            if all(before.get(key) == records[-1][key]
                   for key in ("checkpoint_sha256", "selection_problems")) and (
                    before.get("selection_loss") is not None):  # measured already
                records[-1]["selection_loss"] = before["selection_loss"]
            else:
                point = load(config_file, "paper", [f"{k[2:]}={v}" for k, v in pairs.items()]
                             + [f"{k}={v}" for k, v in overrides.items()])
                set_threads(point)
                records[-1]["selection_loss"] = revalidate(point, ckpt,
                                                           plan["selection_problems"])
        print(f"{name}: best val {records[-1]['best_val_loss']} at {records[-1]['best_at']}, "
              f"escaped at {records[-1]['escaped_at']}, beats {records[-1]['beats']}", flush=True)
        _write(out, plan_file, part, config, tuned_file, baselines, records, weights,
               plan.get("selection_problems"), meta)
    return out


def _write(out, plan_file, part, config, tuned_file, baselines, records, weights,
           selection, meta) -> None:
    data: dict[str, Any] = {
        "part": part, "plan": str(plan_file.relative_to(ROOT)), "dataset": config.data.name,
        "validation": f"{config.meta.val_problems} validation problems (split 'val'), mean loss "
                      f"at step {config.meta.horizon}",
        "baselines": {"file": str(tuned_file.relative_to(ROOT)), "val_loss": baselines},
        "points": records,
        "meta": meta,
    }
    if part == "seeds":
        done = [r for r in records if r["best_val_loss"] is not None]
        data["escaped"] = f"{sum(r['escaped_at'] is not None for r in records)}/{len(records)}"
        data["beat_adam"] = f"{sum('ADAM' in r['beats'] for r in records)}/{len(records)}"
        if done:
            chosen = min(done, key=lambda r: r["selection_loss"])
            data["selected"] = {
                "seed": chosen["overrides"]["meta.seed"], "truncation": chosen["best_at"],
                "val_loss": chosen["best_val_loss"], "selection_loss": chosen["selection_loss"],
                "checkpoint": chosen["checkpoint"],
                "criterion": f"the lowest mean loss at step {config.meta.horizon} of each seed's "
                             f"validation-best phi on {selection} validation problems (split "
                             f"'val', stream {SELECTION_STREAM}: fresh to every fit)",
            }
            if weights is not None:
                ship(ROOT / chosen["checkpoint"], weights, config.data.name, data["selected"])
    write_json(out, data)
    _figure(out.parent.parent / f"{out.stem}.png", data)


def _figure(path: Path, data: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.figures.style import save

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for record in data["points"]:
        steps = [s for s, v in record["history"] if v is not None]
        values = [v for _, v in record["history"] if v is not None]
        ax.plot(steps, values, label=record["name"], lw=1.2)
    for name, loss in data["baselines"]["val_loss"].items():
        ax.axhline(loss, ls=":", lw=0.8, color="grey")
        ax.annotate(f"tuned {name}", (1.0, loss), xycoords=("axes fraction", "data"),
                    fontsize=7, color="grey", va="bottom", ha="right")
    ax.set(xlabel="truncations", ylabel="validation loss (step 100)", yscale="log",
           title=f"{data['dataset']}: meta-training {data['part']}")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save(fig, path.with_suffix(""), formats=("png",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("--part", choices=("sweep", "seeds"), default="sweep")
    parser.add_argument("--out", type=Path, help="default <figures>/data/<part>_<experiment>.json")
    parser.add_argument("--figures-dir", type=Path, default=ROOT / "paper_figures")
    parser.add_argument("--weights", type=Path, help="seeds: write the selected phi here")
    args, extra = parser.parse_known_args()
    plan = yaml.safe_load(args.plan.read_text())
    out = args.out or args.figures_dir / "data" / f"{args.part}_{Path(plan['config']).stem}.json"
    weights = args.weights.resolve() if args.weights else None
    print(f"record written to {run(args.plan.resolve(), args.part, extra, out.resolve(), weights)}")


if __name__ == "__main__":
    main()
