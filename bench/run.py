"""Meta-training and evaluation throughput of each experiment against references measured in
the same run on the same machine: the common reimplementation (``bench.reference``), the
machine's matmul limit for the LSTM's floating-point work, and the code of an earlier commit
(the ``baseline`` cases). The cases and ratios are declared in :mod:`bench.cases`; each case
runs in a fresh subprocess, so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bench.cases import RATIOS, Case, Ratio, cases
from bench.fma_peak import fma8_flops_per_second
from bench.kernel_parts import DIRECTIONS, kernel_parts
from bench.timing import TimedProblem, fastest, sync
from repro.io import commit, write_json

RESULTS = Path(__file__).resolve().parent / "results.json"
STEP_CASE = "mnist/optimizer-step/learned-vs-adam"


def lstm_forward_flops(inputs: int, hidden: int = 20, layers: int = 2) -> int:
    """Matrix-product FLOPs of one coordinate through the LSTM's forward: 2·(in + H)·4H per
    layer plus 2·H for the head (all that the drop-in optimizer's step does)."""
    return 2 * (inputs + hidden) * 4 * hidden + (layers - 1) * 2 * (2 * hidden) * 4 * hidden \
        + 2 * hidden


def lstm_flops_per_coordinate_step(inputs: int, hidden: int = 20, layers: int = 2) -> int:
    """Matrix-product FLOPs of one coordinate through the LSTM, forward and backward: the
    backward twice the forward (gradients with respect to the inputs and to the weights)."""
    return 3 * lstm_forward_flops(inputs, hidden, layers)


def kernel_build() -> dict[str, Any]:
    """The fused CPU kernel's status here: "built" and the vector registers its tiles use, or
    why it is not available."""
    from repro.optimizers import native

    reason = native.unavailable()
    return {"status": reason or "built", "registers": None if reason else native.registers()}


def matmul_flops_per_second(device: torch.device, rows: int = 16384, seconds: float = 1.0) -> float:
    """Measured throughput of LSTM-shaped products ``[rows, 40] @ [40, 80]``: the fastest of
    rounds of 20, so that a moment of load on a shared machine does not lower the limit."""
    a = torch.randn(rows, 40, device=device)
    b = torch.randn(40, 80, device=device)
    out = torch.empty(rows, 80, device=device)
    per_call = fastest(lambda: torch.mm(a, b, out=out), seconds, repeats=20, warmup=5,
                       sync=lambda: sync(device))
    return 2 * rows * 40 * 80 / per_call


def _case(case: Case, device: str, threads: int) -> dict[str, Any]:
    """Run one case in this process: its row."""
    from bench import timing
    from repro.memory import keep_freed_memory

    keep_freed_memory()  # as every ``python -m repro`` run does
    os.environ["REPRO_KERNEL_ISA"] = case.isa
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if case.kind == "baseline":
        return timing.baseline(case, torch.device(device), threads)
    return timing.TIMERS[case.kind](case, torch.device(device))


def _in_subprocess(case: Case, device: str, threads: int) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_case, (case, device, threads))


BOUNDS = ("ceiling", "floor", "kernel", "parts", "peak")
"""The kinds of measured value, besides ``limit:<experiment>``, a ratio's side may name:
``ceiling:<experiment>`` and ``floor:<experiment>`` (coordinate-steps per second,
:func:`ceiling` and :func:`floor`), ``kernel:<experiment>`` (FLOP/s of the kernel's products in
meta-training, :func:`kernel_flops_per_second`), ``parts:forward`` and ``parts:backward`` (FLOP/s
of its products on cache-resident rows, :mod:`bench.kernel_parts`) and ``peak:fma8`` or
``peak:matmul`` (FLOP/s of :mod:`bench.fma_peak` and of the limit's matmul)."""


def kernel_flops_per_second(row: dict[str, Any], flops: int) -> float | None:
    """FLOP/s of the kernel's products in meta-training ``row`` (``flops`` per
    coordinate-step), from the kernel's share of its split (None without one)."""
    kernel_ms = sum(ms for part, ms in row.get("split_ms_per_step", {}).items()
                    if part.startswith("kernel "))
    if not kernel_ms:
        return None
    return flops * row["coord_steps_per_s"] / row["steps_per_s"] / (kernel_ms / 1e3)


def ceiling(row: dict[str, Any], limit: float) -> float | None:
    """The coordinate-steps per second of meta-training ``row`` if the LSTM's products ran at
    the machine ``limit`` and only the optimizee's own loss and gradient, as timed in the row,
    took time besides: the most a kernel as fast as torch's matmul can reach with today's
    optimizee step (None without the row's split)."""
    optimizee = _optimizee_seconds_per_coordinate(row)
    return None if optimizee is None else 1 / (1 / limit + optimizee)


def _optimizee_seconds_per_coordinate(row: dict[str, Any]) -> float | None:
    """Seconds of meta-training ``row``'s optimizee loss and gradient per coordinate-step, from
    its split (None without one)."""
    optimizee_ms = row.get("split_ms_per_step", {}).get(TimedProblem.key)
    if optimizee_ms is None:
        return None
    return optimizee_ms / 1e3 / (row["coord_steps_per_s"] / row["steps_per_s"])


def floor(row: dict[str, Any], parts: dict | None, fma8: float | None, flops: int,
          layers: int = 2) -> float | None:
    """The coordinate-steps per second of meta-training ``row`` if the LSTM's products ran at
    the multiply-add peak ``fma8``, the kernel's other work took its cache-resident time per row
    (``parts``, :mod:`bench.kernel_parts`: each of ``layers`` layers forward and backward), the
    optimizee's loss and gradient their time in the row, and nothing else took any: the most
    that tiles alone can give (None without the parts, the peak or the row's split)."""
    optimizee = _optimizee_seconds_per_coordinate(row)
    if optimizee is None or parts is None or not fma8:
        return None
    other_s = layers * sum(parts[kind]["other_ns_per_row"] for kind in DIRECTIONS) / 1e9
    return 1 / (flops / fma8 + other_s + optimizee)


def step_floor(row: dict[str, Any], parts: dict | None, fma8: float | None, flops: int,
               layers: int = 2) -> float | None:
    """The seconds of the drop-in optimizer's step in ``row`` if its LSTM forward (``flops``
    per coordinate) ran at the multiply-add peak, the kernel's other forward work took its
    cache-resident time per row for each of ``layers`` layers, and nothing else took any time
    (None without the row, the parts or the peak)."""
    if not row or parts is None or not fma8:
        return None
    coordinates = row["coord_steps_per_s"] * row["seconds_per_step"]
    return coordinates * (flops / fma8 + layers * parts["forward"]["other_ns_per_row"] / 1e9)


def _value(ref: str, rows: dict[str, dict], bounds: dict[str, float]) -> float | None:
    """The value a ratio's side names (:class:`bench.cases.Ratio`), None where its case did not
    run or its bound was not measured."""
    try:
        return float(ref)
    except ValueError:
        pass
    if ref.startswith("limit:"):
        return bounds[ref]  # measured in every run: a name not there is a typo in RATIOS
    if ref.partition(":")[0] in BOUNDS:
        return bounds.get(ref)  # a case's split, or a compiler, that a run may lack
    name, _, field = ref.partition(":")
    value = rows.get(name, {}).get(field or "coord_steps_per_s")
    return None if value is None else float(value)


def ratios(declared: tuple[Ratio, ...], rows: dict[str, dict],
           bounds: dict[str, float]) -> dict[str, float]:
    """Every declared ratio whose two sides were measured; ``bounds`` holds the machine's
    ``limit:<experiment>`` and ``ceiling:<experiment>`` values."""
    out = {}
    for ratio in declared:
        top, bottom = (_value(r, rows, bounds) for r in (ratio.numerator, ratio.denominator))
        if top is not None and bottom:
            out[ratio.name] = top / bottom
    return out


def run_cases(chosen: list[Case], passes: int,
              run: Callable[[Case], dict[str, Any]]) -> dict[str, dict]:
    """Every case's row (``run``), from the fastest of ``passes`` passes over all of them (by
    steps per second): a moment of load on a shared machine then lowers no case alone, and the
    cases a ratio compares were run as close in time as the list puts them. A case that fails
    (a baseline that cannot run here) is reported and left out of that pass."""
    rows: dict[str, dict] = {}
    for number in range(1, passes + 1):
        for case in chosen:
            print(f"running {case.name} (pass {number} of {passes}) ...", flush=True)
            try:
                row = {**run(case), "batch": case.batch}
            except subprocess.SubprocessError as error:
                stderr = getattr(error, "stderr", None) or b""
                text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
                print(f"  {case.name} failed: {error}: {text.strip()[-300:]}", flush=True)
                continue
            if row["steps_per_s"] > rows.get(case.name, {}).get("steps_per_s", -1.0):
                rows[case.name] = row
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write ``bench/results.json``."""
    from repro.host import describe

    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a run of a few minutes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads per case"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", default="", help="run only the cases whose name has this")
    parser.add_argument("--passes", type=int, default=None,
                        help="passes over the cases, each case's fastest kept (default 2; 1 "
                             "with --quick)")
    args = parser.parse_args(argv)
    args.passes = args.passes or (1 if args.quick else 2)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    limit_flops = matmul_flops_per_second(device, seconds=0.5 if args.quick else 2.0)
    chosen = [c for c in cases(args.quick) if args.only in c.name
              and (device.type == "cpu" or not c.cpu_only)]
    rows = run_cases(chosen, args.passes, lambda case: _in_subprocess(case, args.device,
                                                                        args.threads))
    flops = {name: lstm_flops_per_coordinate_step(inputs)
             for name, inputs in (("quadratic", 1), ("mnist", 2))}
    limits = {name: limit_flops / per_step for name, per_step in flops.items()}
    bounds = {f"limit:{name}": limit for name, limit in limits.items()}
    mnist = rows.get("mnist/meta-train/ours", {})
    mnist_ceiling = ceiling(mnist, limits["mnist"])
    ceilings = {} if mnist_ceiling is None else {"mnist": mnist_ceiling}
    fma8 = fma8_flops_per_second(args.threads, 0.5 if args.quick else 2.0)
    parts = kernel_parts(args.threads, 0.1 if args.quick else 0.3)
    floors = {name: value for name in flops if (value := floor(
        rows.get(f"{name}/meta-train/ours", {}), parts, fma8, flops[name])) is not None}
    bounds |= {"ceiling:mnist": mnist_ceiling, "peak:matmul": limit_flops, "peak:fma8": fma8,
               "kernel:mnist": kernel_flops_per_second(mnist, flops["mnist"]),
               **{f"floor:{name}": value for name, value in floors.items()},
               "floor:optimizer-step": step_floor(rows.get(STEP_CASE, {}), parts, fma8,
                                                  lstm_forward_flops(2)),
               **{f"parts:{kind}": parts[kind]["products_gflops"] * 1e9
                  for kind in (DIRECTIONS if parts else ())}}
    summary = {
        "host": {**describe(), "device": str(device), "threads": args.threads,
                 "kernel": kernel_build()},
        "commit": commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "quick": args.quick,
        "passes": args.passes,
        "seconds": time.perf_counter() - began,
        "matmul_gflops": limit_flops / 1e9,
        "fma8_gflops": fma8 / 1e9 if fma8 else None,
        "lstm_flops_per_coordinate_step": flops,
        "limit_coord_steps_per_s": limits,
        "ceiling_coord_steps_per_s": ceilings,
        "floor_coord_steps_per_s": floors,
        "kernel_parts": parts,
        "cases": rows,
        "ratios": ratios(RATIOS, rows, bounds),
    }
    write_json(args.out, summary)
    print(table(summary))
    print(f"written to {args.out}")
    return 0


def table(summary: dict[str, Any]) -> str:
    """The results as text: every case's row, MNIST meta-training's split, the limits and the
    ratios."""
    lines = [
        f"{'case':44} {'steps/s':>10} {'coord-steps/s':>14} {'peak MiB':>9}",
        "-" * 80,
    ]
    for name, row in summary["cases"].items():
        lines.append(f"{name:44} {row['steps_per_s']:10.1f} {row['coord_steps_per_s']:14.3e} "
                     f"{row['peak_rss_mib']:9.0f}")
    lines.append("-" * 80)
    split = summary["cases"].get("mnist/meta-train/ours", {}).get("split_ms_per_step")
    if split:
        total = sum(split.values())
        lines.append(f"{'MNIST meta-training, per step':56} {'ms':>8} {'share':>7}")
        for part, ms in split.items():
            lines.append(f"  {part:54} {ms:8.2f} {ms / total:7.1%}")
        lines.append("-" * 80)
    host = summary["host"]
    lines.append(f"{host['cpu']} ({', '.join(host['vector_extensions']) or 'no vector flags'}), "
                 f"{host['threads']} threads; kernel {host['kernel']['status']}, "
                 f"{host['kernel']['registers']} vector registers")
    for name, limit in summary["limit_coord_steps_per_s"].items():
        lines.append(
            f"{name} machine limit (LSTM matmul work): {limit:.3e} coord-steps/s "
            f"({summary['matmul_gflops']:.0f} GFLOP/s measured, "
            f"{summary['lstm_flops_per_coordinate_step'][name]} FLOP per coordinate-step)"
        )
    if summary.get("fma8_gflops"):
        lines.append(f"8-float multiply-add peak: {summary['fma8_gflops']:.0f} GFLOP/s measured")
    for name, value in summary.get("ceiling_coord_steps_per_s", {}).items():
        lines.append(f"{name} ceiling (LSTM at the limit, the optimizee's loss and gradient "
                     f"besides): {value:.3e} coord-steps/s")
    parts = summary.get("kernel_parts") or {}
    for kind in (kind for kind in DIRECTIONS if kind in parts):
        lines.append(f"kernel {kind}, {parts['rows']} cache-resident rows: products at "
                     f"{parts[kind]['products_gflops']:.0f} GFLOP/s, "
                     f"{parts[kind]['other_ns_per_row']:.1f} ns per row besides")
    for name, value in summary.get("floor_coord_steps_per_s", {}).items():
        lines.append(f"{name} floor (products at the multiply-add peak, the kernel's other work "
                     f"and the optimizee as measured): {value:.3e} coord-steps/s")
    for key, value in summary["ratios"].items():
        lines.append(f"{key}: {value:.3g}")
    return "\n".join(lines)
