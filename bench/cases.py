"""The benchmark's cases and the ratios reported between them, declared as data."""

from __future__ import annotations

from dataclasses import dataclass, replace

BASELINE = "33bc30f"
"""The commit whose code the ``baseline`` cases run (checked out beside), the one
``bench/results.json`` was last measured at before the kernel's tiles were sized from the vector
registers. Its own benchmark runs them as it did then (the MNIST LSTM built by hand, with the
Sonnet head, on that commit's optimizee code), so a ratio to it measures every change since."""

KINDS = ("meta-train", "reference", "evaluate", "optimizer-step", "baseline")
LAYERS = ("kernel", "torch", "plain", "compiled")


@dataclass(frozen=True)
class Case:
    """One timed configuration, built from ``experiments/<experiment>.yaml`` in ``profile``.

    ``kind``: ``meta-train`` (our truncations: unroll, meta-gradient, ADAM on phi),
    ``reference`` (the common reimplementation's, :mod:`bench.reference`), ``evaluate`` (a
    rollout of ``steps`` steps without meta-gradients), ``optimizer-step``
    (``LearnedOptimizer.step`` against ``torch.optim.Adam.step`` on the MNIST MLP module:
    ``rounds`` rounds of ``steps`` steps, Adam ``adam_repeats`` times as many), ``baseline``
    (the meta-train case run by the code at ``commit``). ``batch`` problems of the family per
    truncation; ``layer`` the LSTM layer: the fused kernel where it applies, the hand-written
    PyTorch layer, plain autograd ops, or torch.compile; ``isa`` the kernel's build
    (``$REPRO_KERNEL_ISA``: native, or avx2 for AVX-512 switched off).
    """

    name: str
    kind: str
    experiment: str
    profile: str = "paper"
    batch: int = 1
    unroll: int = 20
    warmup: int = 2
    truncations: int = 30
    steps: int = 100
    layer: str = "kernel"
    isa: str = "native"
    commit: str = ""
    adam_repeats: int = 20
    rounds: int = 5

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.layer not in LAYERS:
            raise ValueError(f"{self.name}: kind {self.kind!r} or layer {self.layer!r} unknown")

    @property
    def cpu_only(self) -> bool:
        """Whether the case times a build of the CPU kernel (its AVX2 build, or an older
        commit's code on the CPU)."""
        return self.kind == "baseline" or self.isa != "native"


def cases(quick: bool) -> list[Case]:
    """Every case of a full run, or of a ``--quick`` one (fewer truncations and steps)."""
    def n(full: int, fast: int) -> int:
        return fast if quick else full

    quad = Case("quadratic/meta-train/ours", "meta-train", "quadratic", batch=n(1024, 512),
                truncations=n(100, 10))
    short = n(20, 5)
    mnist = Case("mnist/meta-train/ours", "meta-train", "mnist", truncations=n(30, 5))
    cifar = Case("cifar10/meta-train/ours", "meta-train", "cifar10", warmup=1,
                 truncations=n(3, 1))
    # Neural Art in the quick profile (encoder width 0.25): the full-width random VGG costs
    # ~12 s per truncation here.
    art = replace(cifar, name="neural_art-quick/meta-train/ours", experiment="neural_art",
                  profile="quick")
    listed = [
        quad,
        replace(quad, name="quadratic/meta-train/reference", kind="reference", truncations=short),
        replace(quad, name="quadratic/meta-train/ours-torch-layer", layer="torch",
                truncations=short),
        replace(quad, name="quadratic/meta-train/ours-unfused", layer="plain",
                truncations=short),
        replace(quad, name="quadratic/meta-train/ours-avx2", isa="avx2"),
        replace(quad, name=f"quadratic/meta-train/baseline-{BASELINE}", kind="baseline",
                commit=BASELINE),
        replace(quad, name=f"quadratic/meta-train/baseline-{BASELINE}-avx2", kind="baseline",
                commit=BASELINE, isa="avx2"),
        replace(quad, name="quadratic/evaluate/ours", kind="evaluate"),
        mnist,
        replace(mnist, name="mnist/meta-train/reference", kind="reference",
                truncations=n(10, 3)),
        replace(mnist, name="mnist/meta-train/ours-torch-layer", layer="torch",
                truncations=n(10, 3)),
        replace(mnist, name="mnist/meta-train/ours-avx2", isa="avx2"),
        replace(mnist, name=f"mnist/meta-train/baseline-{BASELINE}", kind="baseline",
                commit=BASELINE),
        replace(mnist, name=f"mnist/meta-train/baseline-{BASELINE}-avx2", kind="baseline",
                commit=BASELINE, isa="avx2"),
        replace(mnist, name="mnist/evaluate/ours", kind="evaluate", steps=n(100, 20)),
        replace(mnist, name="mnist/optimizer-step/learned-vs-adam", kind="optimizer-step",
                steps=20, rounds=n(5, 2), warmup=5),
        cifar,
        replace(cifar, name="cifar10/evaluate/ours", kind="evaluate", steps=20),
        art,
        replace(art, name="neural_art-quick/evaluate/ours", kind="evaluate", steps=20),
    ]
    if not quick:  # a cold torch.compile costs tens of seconds
        listed.insert(4, replace(quad, name="quadratic/meta-train/ours-compiled",
                                 layer="compiled", warmup=3, truncations=short))
    return listed


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator``; each a case name (its coordinate-steps per second), a
    ``case:field``, ``limit:<experiment>`` (the machine's limit in coordinate-steps per second),
    another measured value (:data:`bench.run.BOUNDS`: ``ceiling:``, ``floor:``, ``kernel:``,
    ``parts:``, ``peak:``) or a number."""

    name: str
    numerator: str
    denominator: str


RATIOS = (
    Ratio("quadratic_vs_reference", "quadratic/meta-train/ours", "quadratic/meta-train/reference"),
    Ratio("quadratic_fraction_of_limit", "quadratic/meta-train/ours", "limit:quadratic"),
    Ratio("quadratic_vs_baseline", "quadratic/meta-train/ours",
        f"quadratic/meta-train/baseline-{BASELINE}"),
    Ratio("quadratic_avx2_vs_baseline_avx2", "quadratic/meta-train/ours-avx2",
          f"quadratic/meta-train/baseline-{BASELINE}-avx2"),
    Ratio("quadratic_vs_torch_layer", "quadratic/meta-train/ours",
        "quadratic/meta-train/ours-torch-layer"),
    Ratio("mnist_vs_reference", "mnist/meta-train/ours", "mnist/meta-train/reference"),
    Ratio("mnist_fraction_of_limit", "mnist/meta-train/ours", "limit:mnist"),
    Ratio("mnist_vs_baseline", "mnist/meta-train/ours", f"mnist/meta-train/baseline-{BASELINE}"),
    Ratio("mnist_ceiling_fraction_of_limit", "ceiling:mnist", "limit:mnist"),
    Ratio("mnist_ceiling_vs_baseline", "ceiling:mnist", f"mnist/meta-train/baseline-{BASELINE}"),
    Ratio("mnist_kernel_fraction_of_fma8_peak", "kernel:mnist", "peak:fma8"),
    Ratio("matmul_fraction_of_fma8_peak", "peak:matmul", "peak:fma8"),
    Ratio("kernel_forward_products_fraction_of_fma8_peak", "parts:forward", "peak:fma8"),
    Ratio("kernel_backward_products_fraction_of_fma8_peak", "parts:backward", "peak:fma8"),
    Ratio("mnist_floor_fraction_of_limit", "floor:mnist", "limit:mnist"),
    Ratio("quadratic_floor_fraction_of_limit", "floor:quadratic", "limit:quadratic"),
    Ratio("mnist_floor_vs_baseline", "floor:mnist", f"mnist/meta-train/baseline-{BASELINE}"),
    Ratio("mnist_avx2_vs_baseline_avx2", "mnist/meta-train/ours-avx2",
        f"mnist/meta-train/baseline-{BASELINE}-avx2"),
    Ratio("mnist_avx2_vs_native", "mnist/meta-train/ours-avx2", "mnist/meta-train/ours"),
    Ratio("mnist_vs_torch_layer", "mnist/meta-train/ours", "mnist/meta-train/ours-torch-layer"),
    Ratio("mnist_seconds_per_100_step_episode", "100", "mnist/meta-train/ours:steps_per_s"),
    Ratio("optimizer_step_vs_adam", "mnist/optimizer-step/learned-vs-adam:seconds_per_step",
          "mnist/optimizer-step/learned-vs-adam:adam_seconds_per_step"),
    Ratio("optimizer_step_kernel_vs_adam",
          "mnist/optimizer-step/learned-vs-adam:kernel_seconds_per_step",
          "mnist/optimizer-step/learned-vs-adam:adam_seconds_per_step"),
    Ratio("optimizer_step_floor_vs_adam", "floor:optimizer-step",
          "mnist/optimizer-step/learned-vs-adam:adam_seconds_per_step"),
    Ratio("cifar10_fraction_of_limit", "cifar10/meta-train/ours", "limit:mnist"),
    Ratio("neural_art_quick_fraction_of_limit", "neural_art-quick/meta-train/ours", "limit:mnist"),
    Ratio("quadratic_rss_growth", "quadratic/meta-train/ours:rss_last_mib",
          "quadratic/meta-train/ours:rss_after_5_mib"),
    Ratio("mnist_rss_growth", "mnist/meta-train/ours:rss_last_mib",
          "mnist/meta-train/ours:rss_after_5_mib"),
)
