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
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


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


def native_kernel_status() -> str:
    """"built" or why the fused CPU kernel is not available here."""
    from repro.optimizers import native

    return native.unavailable() or "built"


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


def _problem_and_lstm(spec: dict[str, Any], device: torch.device):
    """The benchmark's problem batch and a fresh learned optimizer set up as the experiment's
    config (throughput does not depend on pixel values: random images of the right shape stand
    in for MNIST and CIFAR-10)."""
    from repro.optimizees.family import Dataset
    from repro.optimizees.mlp import MLPFamily
    from repro.optimizees.quadratic import QuadraticFamily
    from repro.optimizers.lstm import LSTMOptimizer

    options = {"fused": spec.get("fused", True), "compiled": spec.get("compiled", False),
               "kernel": spec.get("kernel", "auto")}
    gen = torch.Generator().manual_seed(0)
    if spec["experiment"] == "quadratic":
        problem = QuadraticFamily().sample("train", 0, spec["batch"], device)
        return problem, LSTMOptimizer(**options).to(device)
    if spec["experiment"] == "mnist":
        images = torch.rand(10_000, 784, generator=gen)
        labels = torch.randint(0, 10, (10_000,), generator=gen)
        family = MLPFamily(data=Dataset.one(images, labels))
        problem = family.sample("train", 0, spec["batch"], device)
        lstm = LSTMOptimizer(preprocessing="logsign", output_scale=0.1, **options)
        return problem, lstm.to(device)
    return _configured(spec, device, gen)


def _configured(spec: dict[str, Any], device: torch.device, gen: torch.Generator):
    """Problem and learned optimizer of ``experiments/<experiment>.yaml`` in ``spec``'s profile."""
    from dataclasses import replace

    from repro.config import load
    from repro.meta.learned import make_learned
    from repro.optimizees import Dataset, make_family

    config = load(EXPERIMENTS / f"{spec['experiment']}.yaml", spec.get("profile", "paper"))
    config = replace(config, optimizer=replace(config.optimizer, kernel=spec.get("kernel", "auto")))
    family = make_family(config)
    if config.problem.family == "convnet":  # random images of CIFAR's shape
        images = torch.randint(0, 256, (2_000, *family.image), generator=gen, dtype=torch.uint8)
        labels = torch.randint(0, family.classes, (2_000,), generator=gen)
        family = replace(family, data=Dataset.one(images, labels))
    problem = family.sample("train", 0, spec["batch"], device)
    return problem, make_learned(config).to(device)


def _case(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one case; returns its timings and memory."""
    from bench.reference import (
        ReferenceLSTM,
        mlp_parameters,
        reference_mlp_truncation,
        reference_truncation,
    )
    from repro.memory import keep_freed_memory
    from repro.meta.unroll import meta_loss, rollout, start, truncate, unroll

    keep_freed_memory()  # as every ``python -m repro`` run does
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    torch.manual_seed(0)
    if spec["kind"] == "optimizer-step":
        return _optimizer_step(spec, device)
    unroll_len, truncations = spec["unroll"], spec["truncations"]
    problem, lstm = _problem_and_lstm(spec, device)
    coordinates = problem.initial_params().numel()
    mlp = spec["experiment"] == "mnist"
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
    theta, state, done = problem.initial_params(), None, 0
    if mlp:
        theta = mlp_parameters(problem, theta)
    rss = []

    def one() -> None:
        nonlocal carry, theta, state, done
        if reference is None:
            losses, new = unroll(problem, lstm, carry, unroll_len)
            carry = truncate(new)
            loss = meta_loss(losses)
            meta.zero_grad()
            loss.backward()
            meta.step()
        elif mlp:
            loss, theta, state = reference_mlp_truncation(
                reference, problem, theta, state, done, unroll_len
            )
            theta = {name: p.detach() for name, p in theta.items()}
        else:
            loss, theta, state = reference_truncation(reference, problem, theta, state, unroll_len)
            theta = theta.detach()
        if reference is not None:
            done += unroll_len
            state = [[(h.detach(), c.detach()) for h, c in layers] for layers in state]
            ref_meta.zero_grad()
            loss.backward()
            ref_meta.step()

    for _ in range(spec["warmup"]):
        one()
    _sync(device)
    if spec.get("profiler"):
        return {"profile": _profile(one, truncations, unroll_len)}
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


def _optimizer_step(spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """One ``step()`` of :class:`repro.optim.LearnedOptimizer` (shipped MNIST phi) and of
    ``torch.optim.Adam`` on the same nn.Module MNIST MLP (784-20-10 sigmoid) and gradients.

    The two alternate over ``rounds`` rounds of ``steps`` steps (Adam ``adam_repeats`` times
    as many), after ``warmup`` steps each; each keeps its fastest round, so that a moment of
    load on a shared machine does not land on one of them alone.
    """
    from torch import nn

    from repro.optim import LearnedOptimizer

    model = nn.Sequential(nn.Linear(784, 20), nn.Sigmoid(), nn.Linear(20, 10)).to(device)
    x = torch.rand(128, 784, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    nn.functional.cross_entropy(model(x), y).backward()
    coordinates = sum(p.numel() for p in model.parameters())
    optimizers = {
        "learned": (LearnedOptimizer(model.parameters()), spec["steps"]),
        "adam": (torch.optim.Adam(model.parameters(), 1e-3), spec["steps"] * spec["adam_repeats"]),
    }
    for optimizer, _ in optimizers.values():
        for _ in range(spec["warmup"]):
            optimizer.step()
    seconds = dict.fromkeys(optimizers, float("inf"))
    for _ in range(spec["rounds"]):
        for name, (optimizer, steps) in optimizers.items():
            _sync(device)
            began = time.perf_counter()
            for _ in range(steps):
                optimizer.step()
            _sync(device)
            seconds[name] = min(seconds[name], (time.perf_counter() - began) / steps)
    return {
        "steps_per_s": 1 / seconds["learned"],
        "coord_steps_per_s": coordinates / seconds["learned"],
        "adam_steps_per_s": 1 / seconds["adam"],
        "vs_adam": seconds["learned"] / seconds["adam"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _profile(one, truncations: int, steps: int) -> str:
    """Where the time of ``truncations`` calls of ``one`` goes: the fused kernel's calls timed by
    wall clock (forward and backward, by layer input width), and the rest.

    Plain timers rather than torch.profiler: under the profiler the kernel's forward took 4.0-6.7
    ms per call on this machine, against 1.2-1.7 ms without it.
    """
    from repro.optimizers import native

    spent: dict[str, list[float]] = {}

    def timed(name: str, fn):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            out = fn(*args, **kwargs)
            key = f"kernel {name}, layer input width {args[0].shape[1]}"
            spent.setdefault(key, []).append(time.perf_counter() - began)
            return out

        return wrapper

    forward, backward = native.forward, native.backward
    native.forward, native.backward = timed("forward", forward), timed("backward", backward)
    try:
        began = time.perf_counter()
        for _ in range(truncations):
            one()
        total = time.perf_counter() - began
    finally:
        native.forward, native.backward = forward, backward
    per_step = 1e3 / (truncations * steps)
    lines = [f"{'part':48} {'ms per step':>12} {'share':>7}"]
    for key, times in sorted(spent.items()):
        lines.append(f"{key:48} {sum(times) * per_step:12.2f} {sum(times) / total:7.1%}")
    rest = total - sum(sum(t) for t in spent.values())
    lines.append(f"{'everything else (optimizee, unroll, ADAM on phi)':48} {rest * per_step:12.2f} "
                 f"{rest / total:7.1%}")
    lines.append(f"{'total':48} {total * per_step:12.2f} {1:7.1%}")
    return "\n".join(lines)


def _in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_case, (spec,))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write ``bench/results.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a run of under two minutes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads per case"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile", action="store_true",
        help="only profile MNIST meta-training (where the time goes) into bench/profile_mnist.txt",
    )
    args = parser.parse_args(argv)
    if args.profile:
        spec = {"device": args.device, "threads": args.threads, "unroll": 20, "batch": 1,
                "warmup": 2, "truncations": 10, "experiment": "mnist", "kind": "ours",
                "profiler": True}
        table = _in_subprocess(spec)["profile"]
        target = args.out.parent / "profile_mnist.txt"
        target.write_text(f"commit {commit()}, {args.threads} threads, {args.device}\n{table}")
        print(table)
        print(f"written to {target}")
        return 0
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    quick = args.quick
    batch = 1024 if not quick else 512
    base = {"device": args.device, "threads": args.threads, "unroll": 20, "batch": batch,
            "warmup": 2, "truncations": 100 if not quick else 10}
    limit_flops = matmul_flops_per_second(device, seconds=0.5 if quick else 2.0)
    short = 20 if not quick else 5
    quad = {**base, "experiment": "quadratic"}
    # The MNIST MLP: one network per problem, as in the paper (15,910 coordinates).
    mnist = {**base, "experiment": "mnist", "batch": 1, "truncations": 30 if not quick else 5}
    cifar = {**base, "experiment": "cifar10", "batch": 1, "warmup": 1,
             "truncations": 3 if not quick else 1}
    # Neural Art in the quick profile (encoder width 0.25): the full-width random VGG costs ~12 s
    # per truncation here.
    art = {**cifar, "experiment": "neural_art", "profile": "quick"}
    cases = {
        "quadratic/meta-train/ours": {**quad, "kind": "ours"},
        "quadratic/meta-train/reference": {**quad, "kind": "reference", "truncations": short},
        "quadratic/meta-train/ours-torch-layer": {**quad, "kind": "ours", "kernel": "torch",
                                                  "truncations": short},
        "quadratic/meta-train/ours-unfused": {**quad, "kind": "ours", "fused": False,
                                              "truncations": short},
        "quadratic/evaluate/ours": {**quad, "kind": "evaluate", "steps": 100},
        **({} if quick else {"quadratic/meta-train/ours-compiled": {
            **quad, "kind": "ours", "fused": False, "compiled": True, "warmup": 3,
            "truncations": short}}),
        "mnist/meta-train/ours": {**mnist, "kind": "ours"},
        "mnist/meta-train/reference": {**mnist, "kind": "reference",
                                       "truncations": 10 if not quick else 3},
        "mnist/meta-train/ours-torch-layer": {**mnist, "kind": "ours", "kernel": "torch",
                                              "truncations": 10 if not quick else 3},
        "mnist/evaluate/ours": {**mnist, "kind": "evaluate", "steps": 100 if not quick else 20},
        "mnist/optimizer-step/learned-vs-adam": {**mnist, "kind": "optimizer-step",
                                                 "steps": 20, "adam_repeats": 20,
                                                 "rounds": 5 if not quick else 2},
        "cifar10/meta-train/ours": {**cifar, "kind": "ours"},
        "cifar10/evaluate/ours": {**cifar, "kind": "evaluate", "steps": 20},
        "neural_art-quick/meta-train/ours": {**art, "kind": "ours"},
        "neural_art-quick/evaluate/ours": {**art, "kind": "evaluate", "steps": 20},
    }
    results = {}
    for name, spec in cases.items():
        print(f"running {name} ...", flush=True)
        results[name] = {**_in_subprocess(spec), "batch": spec["batch"]}
    ours = results["quadratic/meta-train/ours"]
    reference = results["quadratic/meta-train/reference"]
    mnist_ours = results["mnist/meta-train/ours"]
    limit = limit_flops / lstm_flops_per_coordinate_step(inputs=1)
    mnist_limit = limit_flops / lstm_flops_per_coordinate_step(inputs=2)
    summary = {
        "machine": {"device": str(device), "threads": args.threads, "cpu": platform.processor()
                    or platform.machine(), "torch": torch.__version__},
        "commit": commit(),
        "quick": quick,
        "matmul_gflops": limit_flops / 1e9,
        "lstm_flops_per_coordinate_step": {
            "quadratic": lstm_flops_per_coordinate_step(inputs=1),
            "mnist": lstm_flops_per_coordinate_step(inputs=2),
        },
        "kernel": native_kernel_status(),
        "limit_coord_steps_per_s": {"quadratic": limit, "mnist": mnist_limit},
        "cases": results,
        "ratios": {
            "quadratic_vs_reference": ours["coord_steps_per_s"] / reference["coord_steps_per_s"],
            "quadratic_fraction_of_limit": ours["coord_steps_per_s"] / limit,
            "mnist_vs_reference": mnist_ours["coord_steps_per_s"]
            / results["mnist/meta-train/reference"]["coord_steps_per_s"],
            "mnist_fraction_of_limit": mnist_ours["coord_steps_per_s"] / mnist_limit,
            "mnist_seconds_per_100_step_episode": 100 / mnist_ours["steps_per_s"],
            "quadratic_vs_torch_layer": ours["coord_steps_per_s"]
            / results["quadratic/meta-train/ours-torch-layer"]["coord_steps_per_s"],
            "mnist_vs_torch_layer": mnist_ours["coord_steps_per_s"]
            / results["mnist/meta-train/ours-torch-layer"]["coord_steps_per_s"],
            "optimizer_step_vs_adam":
            results["mnist/optimizer-step/learned-vs-adam"]["vs_adam"],
            "cifar10_fraction_of_limit": results["cifar10/meta-train/ours"]["coord_steps_per_s"]
            / mnist_limit,
            "neural_art_quick_fraction_of_limit":
            results["neural_art-quick/meta-train/ours"]["coord_steps_per_s"] / mnist_limit,
        },
    }
    for name, row in (("quadratic", ours), ("mnist", mnist_ours)):
        if row.get("rss_after_5_mib"):
            summary["ratios"][f"{name}_rss_growth"] = row["rss_last_mib"] / row["rss_after_5_mib"]
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
    for name, limit in summary["limit_coord_steps_per_s"].items():
        lines.append(
            f"{name} machine limit (LSTM matmul work): {limit:.3e} coord-steps/s "
            f"({summary['matmul_gflops']:.0f} GFLOP/s measured, "
            f"{summary['lstm_flops_per_coordinate_step'][name]} FLOP per coordinate-step)"
        )
    lines.append(f"fused CPU kernel: {summary['kernel']}")
    for key, value in summary["ratios"].items():
        lines.append(f"{key}: {value:.3g}")
    return "\n".join(lines)
