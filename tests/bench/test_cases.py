"""The declared cases and ratios are consistent: names unique, every ratio names a case."""

import pytest

from bench.cases import BASELINE, RATIOS, Case, cases


@pytest.mark.parametrize("quick", [False, True])
def test_case_names_are_unique(quick):
    names = [case.name for case in cases(quick)]
    assert len(names) == len(set(names))


def test_every_ratio_names_cases_of_a_full_run():
    names = {case.name for case in cases(quick=False)}
    for ratio in RATIOS:
        for side in (ratio.numerator, ratio.denominator):
            kind, _, name = side.partition(":")
            if kind in ("limit", "ceiling", "kernel"):
                assert name in ("quadratic", "mnist"), (ratio.name, side)
                continue
            if kind in ("peak", "parts", "floor"):
                allowed = {"peak": ("fma8", "matmul"), "parts": ("forward", "backward"),
                           "floor": ("quadratic", "mnist", "optimizer-step")}
                assert name in allowed[kind], (ratio.name, side)
                continue
            if side.replace(".", "").isdigit():
                continue
            assert side.partition(":")[0] in names, (ratio.name, side)


def test_a_quick_run_keeps_every_case_but_the_cold_compile():
    full = {case.name for case in cases(quick=False)}
    quick = {case.name for case in cases(quick=True)}
    assert full - quick == {"quadratic/meta-train/ours-compiled"} and quick < full


def test_the_baseline_runs_the_meta_training_case_it_is_compared_with():
    listed = {case.name: case for case in cases(quick=False)}
    for name, case in listed.items():
        if case.kind == "baseline":
            assert case.commit == BASELINE
            ours = listed[name.split("/baseline")[0] + "/ours"]
            assert (case.experiment, case.batch, case.unroll, case.truncations) == (
                ours.experiment, ours.batch, ours.unroll, ours.truncations)


def test_an_unknown_kind_or_layer_is_refused():
    with pytest.raises(ValueError, match="kind 'train' or layer"):
        Case("x", "train", "mnist")
    with pytest.raises(ValueError, match="layer 'fast'"):
        Case("x", "meta-train", "mnist", layer="fast")
