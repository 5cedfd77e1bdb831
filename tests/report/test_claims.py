"""The declarative claims, evaluated on synthetic curves, and the regression gate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from repro import cli
from repro.figures.registry import BY_NAME
from repro.report import model, state, terminal
from repro.report.catalogue import sources
from repro.report.claims import CLAIMS, FAILS, HOLDS, NO_DATA, PREDICATES, Claim, check
from tests.report.helpers import REPO, baselines, decay, grid, panel, write


def _claim(claim_id: str) -> Claim:
    return next(c for c in CLAIMS if c.id == claim_id)


def test_the_claims_list_is_well_formed():
    assert len({c.id for c in CLAIMS}) == len(CLAIMS)
    for claim in CLAIMS:
        assert claim.kind in PREDICATES, claim.id
        assert claim.panel in BY_NAME[claim.figure].panels, claim.id
        assert claim.tag in {"fig", "paper✓", "paper~"}, claim.id


def test_a_claim_that_holds_and_one_that_fails():
    lstm_wins = panel("figure5a", {**baselines(), "LSTM": decay(0.9, 0.1)}, "quick", "mnist")
    lstm_loses = panel("figure5b", {**baselines(), "LSTM": [2.3] * 100}, "quick", "mnist")
    holds = check(_claim("5a-lowest-at-100"), lstm_wins)
    fails = check(_claim("5b-lowest-at-100"), lstm_loses)
    assert (holds.status, holds.mark) == (HOLDS, "✓")
    assert (fails.status, fails.mark) == (FAILS, "✗")
    nag_100 = lstm_loses["curves"]["NAG"]["mean"][99]
    assert fails.detail == f"step 100: LSTM 2.3 ≥ NAG {nag_100:.4g}"


def test_every_step_claim_names_the_steps_it_fails_at():
    lstm = decay(0.8, 0.08)
    lstm[1] = 5.0  # above every baseline at step 2 only
    data = panel("figure4a", {**baselines(), "LSTM": lstm}, "paper", "synthetic")
    outcome = check(_claim("4a-lowest-every-step"), data)
    assert outcome.status == FAILS
    assert outcome.detail.startswith("LSTM not lowest at 1 of steps 1–100: 2;")
    lstm[1] = 0.5
    data = panel("figure4a", {**baselines(), "LSTM": lstm}, "paper", "synthetic")
    assert check(_claim("4a-lowest-every-step"), data).status == HOLDS


def test_relu_failure_claims_and_missing_steps():
    rising = decay(1.0, 0.05)
    rising[60:] = [rising[59] + 0.02 * i for i in range(1, 41)]
    data = panel("figure5c", {**baselines(), "LSTM": rising}, "quick", "mnist")
    assert check(_claim("5c-fails"), data).status == HOLDS
    assert check(_claim("5c-rises"), data).status == HOLDS
    short = panel("figure5c", {**baselines(50), "LSTM": decay(1.0, 0.1, 50)}, "quick", "mnist")
    outcome = check(_claim("5c-fails"), short)
    assert (outcome.status, outcome.detail) == (
        FAILS, "step 100: no value for LSTM, ADAM, RMSprop, SGD, NAG"
    )
    assert check(_claim("5c-rises"), short).status == FAILS
    assert check(_claim("5c-fails"), None).status == NO_DATA


# Missing evidence is never a pass: each case below held on the gate before it was fixed.
LSTM_WINS = decay(0.8, 0.08)


@pytest.mark.parametrize("claim_id", ["4a-lowest-every-step", "4a-lowest-at-100"])
def test_lstm_only_data_fails_every_baseline_claim(claim_id):
    data = panel("figure4a", {"LSTM": LSTM_WINS}, "paper", "synthetic")
    outcome = check(_claim(claim_id), data)
    assert outcome.status == FAILS and "no value for ADAM, RMSprop, SGD, NAG" in outcome.detail


def test_a_missing_baseline_fails_and_is_named():
    curves = {**baselines(), "LSTM": LSTM_WINS}
    del curves["RMSprop"]
    outcome = check(_claim("4a-lowest-at-100"), panel("figure4a", curves, "paper", "synthetic"))
    assert (outcome.status, outcome.detail) == (FAILS, "step 100: no value for RMSprop")


def test_baseline_curves_shorter_than_the_panel_fail_the_every_step_claim():
    curves = {**baselines(60), "LSTM": LSTM_WINS}
    outcome = check(_claim("4a-lowest-every-step"), panel("figure4a", curves, "paper", "synthetic"))
    assert outcome.status == FAILS
    assert outcome.detail == "steps 1–100: step 61: no value for ADAM, RMSprop, SGD, NAG"


def test_an_lstm_curve_shorter_than_the_claims_range_fails():
    curves = {**baselines(200), "LSTM": decay(0.8, 0.08, 150)}
    outcome = check(_claim("4c-keeps-winning"), panel("figure4c", curves, "paper", "mnist"))
    assert outcome.status == FAILS and "step 151: no value for LSTM" in outcome.detail


@pytest.mark.parametrize("who", ["LSTM", "NAG"])
def test_a_nan_curve_fails(who):
    data = panel("figure4a", {**baselines(), "LSTM": LSTM_WINS}, "paper", "synthetic")
    data["curves"][who]["mean"][99] = float("nan")
    data = json.loads(json.dumps(data))  # NaN survives the JSON round trip
    for claim_id in ("4a-lowest-at-100", "4a-lowest-every-step"):
        outcome = check(_claim(claim_id), data)
        assert outcome.status == FAILS and f"NaN for {who}" in outcome.detail, claim_id


def test_a_diverged_baseline_counts_as_beaten_but_a_diverged_lstm_loses():
    data = panel("figure4a", {**baselines(), "LSTM": LSTM_WINS}, "paper", "synthetic")
    data["curves"]["SGD"]["mean"][99] = None  # diverged: the pipeline writes None
    assert check(_claim("4a-lowest-at-100"), data).status == HOLDS
    data["curves"]["LSTM"]["mean"][99] = None
    outcome = check(_claim("4a-lowest-at-100"), data)
    assert outcome.status == FAILS and "LSTM diverged" in outcome.detail


def test_a_grid_without_every_baseline_fails():
    data = grid(lstm_best_at_20=True)
    del data["panels"][0]["curves"]["SGD"]
    outcome = check(_claim("6-best-at-training-net"), data)
    assert (outcome.status, outcome.detail) == (FAILS, "1×20: no value for SGD")


def test_grid_claim_reads_the_training_architecture():
    claim = _claim("6-best-at-training-net")
    assert check(claim, grid(lstm_best_at_20=True)).status == HOLDS
    outcome = check(claim, grid(lstm_best_at_20=False))
    assert outcome.status == FAILS and outcome.detail == "1×20: LSTM 0.9 ≥ ADAM 0.4"


def test_last_step_claims_cover_lstm_sub():
    data = panel(
        "figure7b", {**baselines(30), "LSTM": decay(0.5, 0.2, 30), "LSTM-sub": [3.0] * 30},
        "quick", "cifar",
    )
    assert check(_claim("7b-lowest"), data).status == HOLDS
    sub = check(_claim("7b-sub-lowest"), data)
    assert sub.status == FAILS and sub.detail.startswith("step 30: LSTM-sub 3 ≥")


def _worsen(path):
    data = json.loads(path.read_text())
    data["curves"]["LSTM"]["mean"] = [3.0] * 100
    path.write_text(json.dumps(data))


def test_gate_records_outcomes_and_fails_on_a_regression(figures_root):
    record_file = figures_root / "claims.json"
    text, code = terminal.gate(model.build(figures_root, profile="quick"), record_file)
    assert code == 0 and "REGRESSED" not in text
    key = state.key("quick/fashion_mnist", "5a-lowest-at-100")
    recorded = state.load(record_file)
    assert recorded[key]["status"] == HOLDS and recorded[key]["data_commit"] == "abc1234"
    assert recorded[state.key("quick/fashion_mnist", "5b-lowest-at-100")]["status"] == FAILS
    assert not any(k.startswith("paper:") for k in recorded)  # the quick profile only

    _worsen(figures_root / "quick" / "fashion_mnist" / "data" / "figure5a.json")
    text, code = terminal.gate(model.build(figures_root, profile="quick"), record_file)
    assert code == 1
    assert "quick/fashion_mnist:5a-lowest-at-100" in text and "REGRESSED" in text
    assert state.load(record_file) == recorded  # a regression is not recorded by itself

    _, code = terminal.gate(model.build(figures_root, profile="quick"), record_file, accept=True)
    assert code == 0 and state.load(record_file)[key]["status"] == FAILS
    assert terminal.gate(model.build(figures_root, profile="quick"), record_file)[1] == 0


def _gate(root, **kwargs):
    return terminal.gate(model.build(root, profile=kwargs.pop("profile", None)),
                         root / "claims.json", **kwargs)


def test_deleting_the_data_of_a_claim_that_held_fails_the_gate(figures_root):
    assert _gate(figures_root)[1] == 0
    recorded = state.load(figures_root / "claims.json")
    (figures_root / "quick" / "fashion_mnist" / "data" / "figure5a.json").unlink()
    text, code = _gate(figures_root)
    assert code == 1 and "quick/fashion_mnist:5a-lowest-at-100" in text
    assert "figure5a.json is gone" in text
    assert state.load(figures_root / "claims.json") == recorded
    # another profile's gate does not look at the quick source
    assert _gate(figures_root, profile="paper")[1] == 0
    # accepted, the entry is dropped and the gate passes again
    assert _gate(figures_root, accept=True)[1] == 0
    assert state.key("quick/fashion_mnist", "5a-lowest-at-100") not in state.load(
        figures_root / "claims.json")
    assert _gate(figures_root)[1] == 0


def test_deleting_a_whole_source_folder_fails_the_gate(figures_root):
    assert _gate(figures_root)[1] == 0
    shutil.rmtree(figures_root / "quick")
    text, code = _gate(figures_root)
    assert code == 1
    assert "quick/fashion_mnist:5a-lowest-at-100" in text and "is gone" in text
    assert "quick/fashion_mnist:6-best-at-training-net" in text


def test_a_claim_removed_from_the_list_fails_the_gate(figures_root):
    record = figures_root / "claims.json"
    state.save(record, {"paper:4a-retired": {"status": HOLDS, "detail": "", "data_commit": None,
                                            "data_created": None}})
    text, code = _gate(figures_root)
    assert code == 1 and "4a-retired is no longer in the claims list" in text


def test_every_folder_with_data_is_a_source(figures_root):
    write(figures_root / "quick" / "cifar" / "variant" / "data" / "figure7a.json",
          panel("figure7a", {**baselines(), "LSTM": LSTM_WINS}, "quick", "cifar"))
    ids = [s.id for s in sources(figures_root)]
    assert ids == ["paper", "quick/cifar/variant", "quick/fashion_mnist"]
    assert any(r.source and r.source.id == "quick/cifar/variant"
               for r in model.build(figures_root).claims)
    committed = {p.parent for p in (REPO / "paper_figures").rglob("data") if p.is_dir()}
    assert committed == {s.folder for s in sources(REPO / "paper_figures")}


def test_the_gate_prints_each_claims_data_commit_and_marks_a_dirty_tree(figures_root):
    path = figures_root / "quick" / "fashion_mnist" / "data" / "figure5a.json"
    data = json.loads(path.read_text())
    data["meta"]["commit"] = "def5678+dirty"
    path.write_text(json.dumps(data))
    text, _ = _gate(figures_root)
    row = next(line for line in text.splitlines() if "figure5a" in line)
    assert "def5678!" in row
    assert "abc1234" in next(line for line in text.splitlines() if "figure4a" in line)
    assert "uncommitted changes" in text


@pytest.mark.parametrize("accept", [False, True])
def test_make_claims_command_exit_codes(figures_root, capsys, accept):
    args = ["claims", "--figures-dir", str(figures_root), "--profile", "quick"]
    assert cli.main(args) == 0
    _worsen(figures_root / "quick" / "fashion_mnist" / "data" / "figure5a.json")
    assert cli.main(args + (["--accept"] if accept else [])) == (0 if accept else 1)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" in out
    assert ("ARGS=--accept" in out) != accept
    assert cli.main(["claims", "--figures-dir", str(figures_root), "--bogus"]) == 2


NEW_BASELINE = """
import shutil, sys, tempfile
from pathlib import Path
import repro.optimizers.hand as hand
hand.BASELINES["AdaGrad"] = hand.BASELINES["ADAM"]  # a baseline added to the suite
from repro.report import model, terminal
root = Path(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    record = Path(tmp) / "claims.json"
    shutil.copy(root / "claims.json", record)
    text, code = terminal.gate(model.build(root, profile=None), record)
print(text)
sys.exit(code)
"""


def test_a_new_baseline_leaves_the_verdicts_on_the_committed_data_unchanged():
    done = subprocess.run([sys.executable, "-c", NEW_BASELINE, str(REPO / "paper_figures")],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "REGRESSED" not in done.stdout, done.stdout[-2000:]


def test_a_registered_baseline_the_panel_was_evaluated_with_is_compared(monkeypatch):
    from repro.report import claims

    monkeypatch.setitem(claims.BASELINES, "AdaGrad", object)
    beaten = {**baselines(), "LSTM": LSTM_WINS, "AdaGrad": [0.001] * 100}
    outcome = check(_claim("4a-lowest-at-100"), panel("figure4a", beaten, "paper", "synthetic"))
    assert (outcome.status, outcome.detail) == (FAILS, "step 100: LSTM 0.01027 ≥ AdaGrad 0.001")
    unregistered = {**baselines(), "LSTM": LSTM_WINS, "a reference LSTM": [0.001] * 100}
    data = panel("figure4a", unregistered, "paper", "synthetic")
    assert check(_claim("4a-lowest-at-100"), data).status == HOLDS
