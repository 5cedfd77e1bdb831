"""One timing function per kind of benchmark case (:class:`bench.cases.Case`), each returning
its row: throughput, memory and, for our meta-training, where the time of a step goes.

Every function takes the clock it reads (``time.perf_counter`` unless a test passes another).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from bench.cases import Case

Clock = Callable[[], float]
ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
STAND_IN_EXAMPLES = 10_000
"""Random examples that stand in for a data-driven family's dataset (throughput does not depend
on pixel values)."""


def fastest(call: Callable[[], Any], seconds: float, repeats: int, warmup: int = 3,
            sync: Callable[[], None] = lambda: None) -> float:
    """Seconds per call of ``call`` in its fastest round of ``repeats`` calls (each round ended
    by ``sync``), rounds run for ``seconds`` after ``warmup`` calls: a moment of load on a
    shared machine then lowers no measurement."""
    for _ in range(warmup):
        call()
    sync()
    best, began = float("inf"), time.perf_counter()
    while time.perf_counter() - began < seconds:
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        sync()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stand_in_data(family: Any) -> Any:
    """Random examples of the family's input shape and classes, or None for a family that
    draws no data (quadratics, Neural Art)."""
    from repro.optimizees import Dataset

    gen = torch.Generator().manual_seed(0)
    if hasattr(family, "image"):  # images, as the data module stores them: uint8
        images = torch.randint(0, 256, (2_000, *family.image), generator=gen, dtype=torch.uint8)
    elif hasattr(family, "inputs"):
        images = torch.rand(STAND_IN_EXAMPLES, family.inputs, generator=gen)
    else:
        return None
    return Dataset.one(images, torch.randint(0, family.classes, (len(images),), generator=gen))


def build(case: Case, device: torch.device):
    """The case's problem batch and a fresh learned optimizer, as its experiment's config sets
    them up (``case.batch`` problems; the layer ``case.layer``)."""
    from repro.config_loading import load
    from repro.meta.learned import make_learned
    from repro.optimizers import make_lstm

    overrides = [f"problem.batch={case.batch}",
                 f"optimizer.kernel={'auto' if case.layer == 'kernel' else 'torch'}",
                 f"optimizer.compile={str(case.layer == 'compiled').lower()}"]
    config = load(EXPERIMENTS / f"{case.experiment}.yaml", case.profile, overrides)
    family = config.problem.build(config)
    data = _stand_in_data(family)
    if data is not None:
        family = replace(family, data=data)
    rule = (make_lstm(config.optimizer, fused=False) if case.layer == "plain"
            else make_learned(config)).to(device)
    return family.sample("train", 0, case.batch, device), rule


class TimedProblem:
    """``problem`` with the time of its ``loss_and_grad`` calls added to ``spent[key]``."""

    key = "optimizee loss and gradient (forward, minibatch)"

    def __init__(self, problem: Any, spent: dict[str, float], clock: Clock) -> None:
        self.problem, self.spent, self.clock = problem, spent, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.problem, name)

    def loss_and_grad(self, *args: Any, **kwargs: Any) -> Any:
        began = self.clock()
        out = self.problem.loss_and_grad(*args, **kwargs)
        self.spent[self.key] = self.spent.get(self.key, 0.0) + self.clock() - began
        return out


def _truncations(one: Callable[[], None], case: Case, device: torch.device,
                 clock: Clock) -> dict[str, Any]:
    """Times ``case.truncations`` calls of ``one`` after ``case.warmup``: the throughput row."""
    for _ in range(case.warmup):
        one()
    sync(device)
    rss = []
    began = clock()
    for _ in range(case.truncations):
        one()
        if device.type == "cpu":
            rss.append(_rss_mib())
    sync(device)
    seconds = clock() - began
    return {
        "seconds_per_truncation": seconds / case.truncations,
        "steps_per_s": case.truncations * case.unroll / seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_after_5_mib": rss[4] if len(rss) > 4 else None,
        "rss_last_mib": rss[-1] if rss else None,
    }


def meta_train(case: Case, device: torch.device, clock: Clock = time.perf_counter) -> dict:
    """Our truncations: the row, and where a step's time goes (``split_ms_per_step``: the
    kernel's calls by kind and layer width, the optimizee's loss and gradient, ADAM on phi, and
    everything else: preprocessing, autograd's bookkeeping and the rest of the unroll)."""
    from repro.meta.unroll import meta_loss, start, truncate, unroll
    from repro.optimizers import native

    problem, rule = build(case, device)
    coordinates = problem.initial_params().numel()
    spent: dict[str, float] = {}
    problem = TimedProblem(problem, spent, clock)
    meta = torch.optim.Adam(rule.parameters(), 1e-3)
    carry = start(problem, rule)

    def one() -> None:
        nonlocal carry
        losses, new = unroll(problem, rule, carry, case.unroll)
        carry = truncate(new)
        loss = meta_loss(losses)
        meta.zero_grad()
        loss.backward()
        began = clock()
        meta.step()
        spent["ADAM on phi"] = spent.get("ADAM on phi", 0.0) + clock() - began

    with native.timing(clock) as kernel:
        for _ in range(case.warmup):
            one()
        spent.clear()
        kernel.clear()
        row = _truncations(one, replace(case, warmup=0), device, clock)
    steps = case.truncations * case.unroll
    total = steps / row["steps_per_s"]
    split = {**dict(sorted(kernel.items())), **spent}
    split["everything else (LSTM glue, autograd, unroll)"] = total - sum(split.values())
    return {**row, "coord_steps_per_s": coordinates * row["steps_per_s"],
            "split_ms_per_step": {part: 1e3 * s / steps for part, s in split.items()}}


def reference(case: Case, device: torch.device, clock: Clock = time.perf_counter) -> dict:
    """The common reimplementation's truncations (:mod:`bench.reference`) on the same problem
    and LSTM."""
    from bench.reference import ReferenceLSTM, reference_parameters, reference_truncation

    problem, rule = build(case, device)
    coordinates = problem.initial_params().numel()
    lstm = ReferenceLSTM(rule).to(device)
    meta = torch.optim.Adam(lstm.parameters(), 1e-3)
    params, state, done = reference_parameters(problem, problem.initial_params()), None, 0

    def one() -> None:
        nonlocal params, state, done
        loss, params, state = reference_truncation(lstm, problem, params, state, done, case.unroll)
        params = {name: p.detach() for name, p in params.items()}
        done += case.unroll
        state = [[(h.detach(), c.detach()) for h, c in layers] for layers in state]
        meta.zero_grad()
        loss.backward()
        meta.step()

    row = _truncations(one, case, device, clock)
    return {**row, "coord_steps_per_s": coordinates * row["steps_per_s"]}


def evaluate(case: Case, device: torch.device, clock: Clock = time.perf_counter) -> dict:
    """A rollout of ``case.steps`` steps without meta-gradients."""
    from repro.meta.unroll import rollout

    problem, rule = build(case, device)
    coordinates = problem.initial_params().numel()
    rollout(problem, rule, 5)
    sync(device)
    began = clock()
    rollout(problem, rule, case.steps)
    sync(device)
    seconds = clock() - began
    return {"steps_per_s": case.steps / seconds,
            "coord_steps_per_s": coordinates * case.steps / seconds,
            "peak_rss_mib": _peak_rss_mib()}


def optimizer_step(case: Case, device: torch.device, clock: Clock = time.perf_counter) -> dict:
    """One ``step()`` of :class:`repro.optim.LearnedOptimizer` (its default phi) and of
    ``torch.optim.Adam`` on the same nn.Module MNIST MLP (784-20-10 sigmoid) and gradients.

    The two alternate over ``case.rounds`` rounds of ``case.steps`` steps (Adam
    ``case.adam_repeats`` times as many), after ``case.warmup`` steps each; each keeps its
    fastest round, so that a moment of load on a shared machine does not land on one alone.
    ``kernel_seconds_per_step``: the fused kernel's calls within the learned optimizer's
    fastest round (0 where the kernel does not run).
    """
    from torch import nn

    from repro.optim import LearnedOptimizer
    from repro.optimizers import native

    model = nn.Sequential(nn.Linear(784, 20), nn.Sigmoid(), nn.Linear(20, 10)).to(device)
    x = torch.rand(128, 784, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    nn.functional.cross_entropy(model(x), y).backward()
    coordinates = sum(p.numel() for p in model.parameters())
    optimizers = {
        "learned": (LearnedOptimizer(model.parameters()), case.steps),
        "adam": (torch.optim.Adam(model.parameters(), 1e-3), case.steps * case.adam_repeats),
    }
    for optimizer, _ in optimizers.values():
        for _ in range(case.warmup):
            optimizer.step()
    seconds, kernel_seconds = dict.fromkeys(optimizers, float("inf")), 0.0
    for _ in range(case.rounds):
        for name, (optimizer, steps) in optimizers.items():
            sync(device)
            with native.timing(clock) as kernel:
                began = clock()
                for _ in range(steps):
                    optimizer.step()
                sync(device)
                took = (clock() - began) / steps
            if took < seconds[name] and name == "learned":
                kernel_seconds = sum(kernel.values()) / steps
            seconds[name] = min(seconds[name], took)
    return {
        "seconds_per_step": seconds["learned"],
        "kernel_seconds_per_step": kernel_seconds,
        "adam_seconds_per_step": seconds["adam"],
        "steps_per_s": 1 / seconds["learned"],
        "coord_steps_per_s": coordinates / seconds["learned"],
        "adam_steps_per_s": 1 / seconds["adam"],
        "peak_rss_mib": _peak_rss_mib(),
    }


BASELINE_SCRIPT = (
    "import json, sys\n"
    "from bench.run import _case\n"
    "print(json.dumps(_case(json.loads(sys.argv[1]))))\n"
)


def baseline(case: Case, device: torch.device, threads: int, root: Path = ROOT) -> dict:
    """The meta-train case as the code at ``case.commit`` runs it: that commit checked out in a
    temporary worktree of the repository at ``root``, its own benchmark (``bench.run._case``
    with its spec dict) run in a subprocess, its kernel built into a cache of its own (with
    ``-mno-avx512f`` appended to the compiler's flags for ``isa`` avx2)."""
    spec = {"device": str(device), "threads": threads, "unroll": case.unroll,
            "batch": case.batch, "warmup": case.warmup, "truncations": case.truncations,
            "experiment": case.experiment, "kind": "ours"}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), case.commit],
                       cwd=root, check=True, capture_output=True, timeout=120)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree), "REPRO_KERNEL_CACHE": tmp}
            if case.isa == "avx2":
                compiler = Path(tmp) / "cxx"
                cxx = os.environ.get("CXX", "g++")
                compiler.write_text(f'#!/bin/sh\nexec {shlex.quote(cxx)} "$@" -mno-avx512f\n')
                compiler.chmod(0o755)
                env["CXX"] = str(compiler)
            done = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, json.dumps(spec)],
                                  cwd=tree, env=env, check=True, capture_output=True, text=True,
                                  timeout=1800)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root,
                           check=False, capture_output=True, timeout=120)
            subprocess.run(["git", "worktree", "prune"], cwd=root, check=False,
                           capture_output=True, timeout=120)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "commit": case.commit}


TIMERS = {"meta-train": meta_train, "reference": reference, "evaluate": evaluate,
          "optimizer-step": optimizer_step}
