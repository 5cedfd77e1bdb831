"""The W&B report's specification, built without a network, and the offline path."""

from __future__ import annotations

import socket
import subprocess

import pytest
import wandb_workspaces.reports.v2 as wr

from repro.report import html, model, wandb_report
from repro.report.claims import HOLDS
from tests.report.test_report_html import parse


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_spec_has_the_html_reports_sections(figures_root, no_network):
    report = model.build(figures_root)
    spec = wandb_report.build_spec(report, entity="someone", project="l2l-repro")
    page = parse(html.render(report, figures_root / "index.html"))
    assert [block.text for block in spec.blocks if isinstance(block, wr.H2)] == page.h2
    assert (spec.entity, spec.project) == ("someone", "l2l-repro")

    checked = next(b for b in spec.blocks if isinstance(b, wr.CheckedList))
    assert [i.checked for i in checked.items] == [r.outcome.status == HOLDS for r in report.claims]
    assert sum(i.checked for i in checked.items) == 6  # 4a twice, 5a, 5c twice, 6: see conftest
    grids = [b for b in spec.blocks if isinstance(b, wr.PanelGrid)]
    assert len(grids) == len(report.sections)
    figure5 = grids[1]
    assert figure5.runsets[0].query == "figure5a"  # the experiment named in the data's meta
    media = next(p for p in figure5.panels if isinstance(p, wr.MediaBrowser))
    assert media.media_keys == ["figures/figure5", *(f"figures/figure5{c}" for c in "abc")]
    tables = [b.text for b in spec.blocks if isinstance(b, wr.MarkdownBlock)]
    assert any(t.startswith("| figure5b: ours / paper | step 20 | step 100 |") for t in tables)


def test_offline_prints_what_to_run_and_sends_nothing(figures_root, tmp_path, capsys, monkeypatch,
                                                      no_network):
    run = tmp_path / "runs" / "quick" / "quadratic" / "fit" / "wandb" / "offline-run-1-abc"
    run.mkdir(parents=True)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("nothing may run"))
    code = wandb_report.publish(model.build(figures_root), tmp_path / "runs")
    out = capsys.readouterr().out
    assert code == 0
    assert "wandb login\n  make wandb-report" in out
    assert f"wandb sync {run}" in out
    assert "  - Figure 5: MNIST variants" in out


def test_online_syncs_the_offline_runs_first(figures_root, tmp_path, monkeypatch, no_network):
    run = tmp_path / "runs" / "paper" / "mnist" / "evaluate" / "wandb" / "offline-run-2-def"
    run.mkdir(parents=True)
    monkeypatch.setattr(wandb_report.tracking, "wandb_mode", lambda: "online")
    calls = []

    def sync(command, check):
        calls.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(subprocess, "run", sync)
    assert wandb_report.publish(model.build(figures_root), tmp_path / "runs", "someone") == 3
    assert len(calls) == 1 and calls[0][1:] == ["sync", str(run)]
