"""``make -j2 figures`` is safe (no two recipes write the same outputs or share a run folder), and
the Makefile's figure targets are the registered figures'."""

import re
import shlex
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from repro.figures.registry import FIGURES, VARIANT_TARGETS

ROOT = Path(__file__).resolve().parents[1]


def writers(*variables: str) -> list[tuple]:
    """What each recipe of ``make figures`` writes: (command, experiment, folder) or a file."""
    listing = subprocess.run(
        ["make", "-n", "-B", "figures", *variables], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout
    out = []
    for line in listing.splitlines():
        words = shlex.split(line) if "-m repro" in line or line.startswith("cp ") else []
        if words[:1] == ["cp"]:
            out.append(("file", words[-1]))
        elif words:
            args = words[words.index("repro") + 1:]
            option = dict(zip(args[1::2], args[2::2], strict=False))
            if args[0] == "figure":
                out.append(("figure", args[1], option.get("--figures-dir")))
            else:
                experiment = Path(option["--config"]).stem
                out.append((args[0], experiment, option["--runs-dir"], option["--figures-dir"]))
    return out


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("variables", [
    ("PROFILE=quick",), ("PROFILE=paper",), ("PROFILE=quick", "DATASET=fashion_mnist"),
])
def test_no_two_recipes_write_the_same_outputs(variables):
    found = writers(*variables)
    assert len(found) >= 10 and any(w[0] == "fit" for w in found)
    twice = [w for w, n in Counter(found).items() if n > 1]
    assert not twice
    # Each fit/tune/evaluate owns the folder runs/<experiment>/<command> of its runs-dir.
    folders = [(w[2], w[1], w[0]) for w in found if w[0] in ("fit", "tune", "evaluate")]
    assert len(folders) == len(set(folders))
    assert all(re.fullmatch(r"figure\d+[a-z]?", w[1]) for w in found if w[0] == "figure")


def make_rules() -> dict[str, list[str]]:
    """Every explicit target of the Makefile (variables expanded) and its prerequisites."""
    database = subprocess.run(
        ["make", "-pRrq", ":"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    rules = {}
    for line in database.splitlines():
        target, colon, rest = line.partition(":")
        if colon and re.fullmatch(r"[\w.-]+", target) and not rest.startswith("="):
            rules[target] = rest.split("|")[0].split()
    return rules


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_makefile_matches_the_figure_registry():
    rules = make_rules()
    targets = {f.target for f in FIGURES}
    assert all(rules.get(t) for t in targets), [t for t in targets if not rules.get(t)]
    assert set(VARIANT_TARGETS.values()) <= set(rules)
    figure_targets = {t for t in rules if re.fullmatch(r"figure\d+", t)}
    assert figure_targets == targets, figure_targets ^ targets
    # A target that draws one panel alone (make figure4a) names a registered panel.
    panels = {p for f in FIGURES for p in f.panels}
    assert {t for t in rules if re.fullmatch(r"figure\d+[a-z]", t)} <= panels
    assert set(rules["figures"]) == targets
