"""Why meta-training sat at ln 10, and how log/sign sees the 2-layer net's gradients.

    PYTHONPATH=. .venv/bin/python scripts/plateau_probe.py --data.name fashion_mnist

1. The untrained LSTM (each ``optimizer.head_init``) run for 20 and 100 steps on 10 validation
   networks of experiments/mnist.yaml: the mean and spread of its update to W1, the fraction of
   hidden units whose pre-activation exceeds 5 in magnitude (saturated sigmoids) on the step's
   minibatch, and the loss.
2. With ``--checkpoint``, the trained LSTM's update u per weight matrix along its own
   trajectory: mean |u|, mean |g|, and the cosine of u with -g and with -sign(g).
3. For the MLPs of mnist.yaml (1 x 20) and mnist_2layers.yaml (2 x 20) at theta_0, per weight
   matrix, the median |gradient| and the fraction of coordinates below e^-p (where log/sign
   switches to its linear branch) for p = 10 (the paper) and p = 5 (the official code).
Written to <figures>/data/plateau_probe.json.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro.config_loading import load  # noqa: E402
from repro.io import provenance, write_json  # noqa: E402
from repro.meta.experiments import make_source  # noqa: E402
from repro.meta.learned import load_learned, make_learned  # noqa: E402
from repro.meta.unroll import start, unroll  # noqa: E402

PS = (10.0, 5.0)


def scales(config_file: Path, overrides: list[str], problems: int) -> dict[str, dict]:
    """Per weight matrix: median |g| and the fraction of |g| < e^-p for each p in PS."""
    config = load(config_file, "paper", overrides)
    source = make_source(config)
    problem = source.sample("val", 0, problems, "cpu")
    _, grad = problem.loss_and_grad(problem.initial_params(), 0)
    out = {}
    for name, shape, offset in source.layout():
        if not name.startswith("W"):
            continue
        size = math.prod(shape)
        magnitude = grad[:, offset : offset + size].abs().flatten()
        out[name] = {
            "shape": list(shape),
            "median_abs_grad": float(magnitude.median()),
            **{f"below_e^-{p:g}": float((magnitude < math.exp(-p)).float().mean()) for p in PS},
        }
    return out


@torch.no_grad()
def untrained(config_file: Path, overrides: list[str], problems: int) -> dict[str, dict]:
    """The untrained LSTM's drift of W1 and the hidden units it saturates, per head_init."""
    out = {}
    for head in ("sonnet", "zero"):
        config = load(config_file, "paper", [*overrides, f"optimizer.head_init={head}"])
        torch.manual_seed(config.seed)
        lstm = make_learned(config)
        problem = make_source(config).sample("val", 0, problems, "cpu")
        carry = start(problem, lstm)
        theta0, rows = carry.theta, {}
        n_w1 = 784 * config.problem.hidden[0]
        for steps in (20, 80):
            _, carry = unroll(problem, lstm, carry, steps)
            update = (carry.theta - theta0)[:, :n_w1]
            x, _ = problem.minibatch(carry.step)
            z = torch.bmm(x, carry.theta[:, :n_w1].reshape(problems, 784, -1))
            rows[f"step {carry.step}"] = {
                "W1_update_mean": float(update.mean()), "W1_update_std": float(update.std()),
                "saturated_hidden_fraction": float((z.abs() > 5).float().mean()),
                "loss": float(carry.loss.mean()),
            }
        out[head] = rows
    return out


@torch.no_grad()
def alignment(config_file: Path, overrides: list[str], problems: int, checkpoint: Path) -> dict:
    """Per step and weight matrix: how the trained LSTM's update lines up with the gradient."""
    config = load(config_file, "paper", overrides)
    lstm = load_learned(checkpoint, config)
    family = make_source(config)
    problem = family.sample("val", 0, problems, "cpu")
    views = [(n, o, math.prod(s)) for n, s, o in family.layout() if n[0] == "W"]
    carry, out = start(problem, lstm), {}
    for step in range(60):
        theta, grad = carry.theta, carry.grad
        _, carry = unroll(problem, lstm, carry, 1)
        if step not in (0, 5, 20, 59):
            continue
        update, row = carry.theta - theta, {}
        for name, offset, size in views:
            u, g = update[:, offset : offset + size].flatten(), grad[:, offset : offset + size]
            g = g.flatten()
            row[name] = {
                "mean_abs_update": float(u.abs().mean()), "mean_abs_grad": float(g.abs().mean()),
                "cos_update_neg_grad": float(F.cosine_similarity(u, -g, dim=0)),
                "cos_update_neg_sign_grad": float(F.cosine_similarity(u, -g.sign(), dim=0)),
            }
        out[f"step {step}"] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures-dir", type=Path, default=ROOT / "paper_figures")
    parser.add_argument("--problems", type=int, default=10)
    parser.add_argument("--checkpoint", type=Path, help="a trained phi to probe (item 2)")
    args, extra = parser.parse_known_args()
    overrides = [f"{k[2:]}={v}" for k, v in zip(extra[::2], extra[1::2], strict=True)]
    nets = {
        "1x20 (training net)": ROOT / "experiments" / "mnist.yaml",
        "2x20 (Figure 5b)": ROOT / "experiments" / "mnist_2layers.yaml",
    }
    data = {
        "untrained_lstm": untrained(nets["1x20 (training net)"], overrides, args.problems),
        **({"trained_lstm": {
            "checkpoint": str(args.checkpoint),
            "steps": alignment(nets["1x20 (training net)"], overrides, args.problems,
                               args.checkpoint),
        }} if args.checkpoint else {}),
        "what": "gradient magnitudes at theta_0 (step 0) per weight matrix; log/sign encodes "
                "|g| < e^-p by its linear branch (-1, e^p g), larger ones as (log|g|/p, sign g)",
        "problems": f"{args.problems} validation problems",
        "nets": {name: scales(path, overrides, args.problems) for name, path in nets.items()},
        "meta": provenance("experiments/mnist_2layers.yaml", 0),
    }
    out = write_json(args.figures_dir / "data" / "plateau_probe.json", data)
    for head, rows in data["untrained_lstm"].items():
        print("untrained LSTM,", head, "head:", rows)
    for name, layers in data["nets"].items():
        for layer, row in layers.items():
            print(name, layer, {k: round(v, 7) for k, v in row.items() if k != "shape"})
    print(f"written to {out}")


if __name__ == "__main__":
    main()
