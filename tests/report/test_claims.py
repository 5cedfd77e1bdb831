"""The declarative claims, evaluated on synthetic curves, and the regression gate."""

from __future__ import annotations

import json

import pytest

from repro import cli
from repro.report import model, state, terminal
from repro.report.catalogue import BY_NAME
from repro.report.claims import CLAIMS, FAILS, HOLDS, NO_DATA, PREDICATES, Claim, check
from tests.report.helpers import baselines, decay, grid, panel


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
    assert (outcome.status, outcome.detail) == (NO_DATA, "step 100 is not in the data")
    assert check(_claim("5c-fails"), None).status == NO_DATA


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
