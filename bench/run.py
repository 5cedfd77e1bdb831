"""Meta-training and evaluation throughput of each experiment, against two references measured
in the same run on the same machine: the common reimplementation (``bench.reference``) and the
machine's matmul limit for the LSTM's floating-point work.

Every case runs in a fresh subprocess so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import torch

from repro.io import commit, write_json

RESULTS = Path(__file__).resolve().parent / "results.json"


def lstm_flops_per_coordinate_step(inputs: int, hidden: int = 20, layers: int = 2) -> int:
    """Matrix-product FLOPs of one coordinate through the LSTM, forward and backward.

    Forward: 2·(in + H)·4H per layer plus 2·H for the head; backward: twice the forward
    (gradients with respect to the inputs and to the weights).
    """
    forward = 0
    width = inputs
    for _ in range(layers):
        forward += 2 * (width + hidden) * 4 * hidden
        width = hidden
    forward += 2 * hidden
    return 3 * forward


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_flops_per_second(device: torch.device, rows: int = 16384, seconds: float = 1.0) -> float:
    """Measured throughput of LSTM-shaped products ``[rows, 40] @ [40, 80]``."""
    a = torch.randn(rows, 40, device=device)
    b = torch.randn(40, 80, device=device)
    out = torch.empty(rows, 80, device=device)
    for _ in range(5):
        torch.mm(a, b, out=out)
    _sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            torch.mm(a, b, out=out)
        count += 20
        _sync(device)
    return count * 2 * rows * 40 * 80 / (time.perf_counter() - start)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _quadratic_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case; returns its timings and memory."""
    from bench.reference import ReferenceLSTM, reference_truncation
    from repro.meta.unroll import meta_loss, rollout, start, truncate, unroll
    from repro.optimizees.quadratic import QuadraticFamily
    from repro.optimizers.lstm import LSTMOptimizer

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    batch, unroll_len, truncations = spec["batch"], spec["unroll"], spec["truncations"]
    lstm = LSTMOptimizer(fused=spec.get("fused", True)).to(device)
    if spec.get("compile"):
        lstm.step = torch.compile(lstm.step, dynamic=False)
    problem = QuadraticFamily().sample(0, "train", 0, batch, device)
    coordinates = batch * problem.theta0.shape[1]
    if spec["kind"] == "evaluate":
        rollout(problem, lstm, 5)
        _sync(device)
        began = time.perf_counter()
        rollout(problem, lstm, spec["steps"])
        _sync(device)
        seconds = time.perf_counter() - began
        steps = spec["steps"]
        return {"steps_per_s": steps / seconds, "coord_steps_per_s": coordinates * steps / seconds,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    meta = torch.optim.Adam(lstm.parameters(), 1e-3)
    reference = ReferenceLSTM(lstm).to(device) if spec["kind"] == "reference" else None
    ref_meta = torch.optim.Adam(reference.parameters(), 1e-3) if reference else None
    carry = start(problem, lstm)
    theta, state = problem.initial_params(), None
    rss = []

    def one() -> None:
        nonlocal carry, theta, state
        if reference is None:
            losses, new = unroll(problem, lstm, carry, unroll_len)
            carry = truncate(new)
            loss = meta_loss(losses)
            meta.zero_grad()
            loss.backward()
            meta.step()
        else:
            loss, theta, state = reference_truncation(reference, problem, theta, state, unroll_len)
            theta = theta.detach()
            state = [[(h.detach(), c.detach()) for h, c in layers] for layers in state]
            ref_meta.zero_grad()
            loss.backward()
            ref_meta.step()

    for _ in range(spec["warmup"]):
        one()
    _sync(device)
    began = time.perf_counter()
    for _ in range(truncations):
        one()
        if spec["device"] == "cpu":
            rss.append(_rss_mib())
    _sync(device)
    seconds = time.perf_counter() - began
    steps = truncations * unroll_len
    return {
        "seconds_per_truncation": seconds / truncations,
        "steps_per_s": steps / seconds,
        "coord_steps_per_s": coordinates * steps / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_5_mib": rss[4] if len(rss) > 4 else None,
        "rss_last_mib": rss[-1] if rss else None,
    }


def _in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_quadratic_case, (spec,))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write ``bench/results.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a run of under two minutes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads per case"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    quick = args.quick
    batch = 1024 if not quick else 512
    base = {"device": args.device, "threads": args.threads, "unroll": 20, "batch": batch,
            "warmup": 2, "truncations": 100 if not quick else 10}
    limit_flops = matmul_flops_per_second(device, seconds=0.5 if quick else 2.0)
    flops = lstm_flops_per_coordinate_step(inputs=1)
    limit = limit_flops / flops
    cases = {
        "quadratic/meta-train/ours": {**base, "kind": "ours"},
        "quadratic/meta-train/reference": {**base, "kind": "reference",
                                           "truncations": 20 if not quick else 5},
        "quadratic/meta-train/ours-unfused": {**base, "kind": "ours", "fused": False,
                                              "truncations": 20 if not quick else 5},
        "quadratic/evaluate/ours": {**base, "kind": "evaluate", "steps": 100},
    }
    results = {}
    for name, spec in cases.items():
        print(f"running {name} ...", flush=True)
        results[name] = {**_in_subprocess(spec), "batch": spec["batch"], "dim": 10}
    ours = results["quadratic/meta-train/ours"]
    reference = results["quadratic/meta-train/reference"]
    summary = {
        "machine": {"device": str(device), "threads": args.threads, "cpu": platform.processor()
                    or platform.machine(), "torch": torch.__version__},
        "commit": commit(),
        "quick": quick,
        "matmul_gflops": limit_flops / 1e9,
        "lstm_flops_per_coordinate_step": flops,
        "limit_coord_steps_per_s": limit,
        "cases": results,
        "ratios": {
            "quadratic_vs_reference": ours["coord_steps_per_s"] / reference["coord_steps_per_s"],
            "quadratic_fraction_of_limit": ours["coord_steps_per_s"] / limit,
        },
    }
    if ours.get("rss_after_5_mib"):
        summary["ratios"]["quadratic_rss_growth"] = ours["rss_last_mib"] / ours["rss_after_5_mib"]
    write_json(args.out, summary)
    print(_table(summary))
    print(f"written to {args.out}")
    return 0


def _table(summary: dict[str, Any]) -> str:
    lines = [
        f"{'case':40} {'steps/s':>10} {'coord-steps/s':>14} {'peak MiB':>9}",
        "-" * 76,
    ]
    for name, row in summary["cases"].items():
        lines.append(
            f"{name:40} {row['steps_per_s']:10.1f} {row['coord_steps_per_s']:14.3e} "
            f"{row['peak_rss_mib']:9.0f}"
        )
    lines.append("-" * 76)
    lines.append(
        f"machine limit (LSTM matmul work): {summary['limit_coord_steps_per_s']:.3e} "
        f"coord-steps/s ({summary['matmul_gflops']:.0f} GFLOP/s measured, "
        f"{summary['lstm_flops_per_coordinate_step']} FLOP per coordinate-step)"
    )
    for key, value in summary["ratios"].items():
        lines.append(f"{key}: {value:.3g}")
    return "\n".join(lines)
