"""The W&B report of the reproduction: the HTML page's sections, built with ``wandb-workspaces``.

:func:`build_spec` makes the report object without touching the network. :func:`publish`
syncs the offline runs and saves the report when W&B credentials are on this machine; without
them it says what to run once online and returns at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from repro import tracking
from repro.report.claims import HOLDS
from repro.report.model import ClaimRow, Report, Section, provenance
from repro.report.reference import Comparison

TITLE = "l2l-repro: Learning to learn by gradient descent by gradient descent, reproduced"
CLAIMS_HEADING = "Claims"
MISSING_HEADING = "Figures not made yet"


def _claim_items(rows: list[ClaimRow]) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    return [
        wr.CheckedListItem(
            f"{row.outcome.mark} {row.source.id if row.source else '—'} · "
            f"{row.outcome.claim.text} [{row.outcome.claim.tag}]: {row.outcome.detail}"
            + (" (REGRESSED: held before)" if row.regressed else ""),
            checked=row.outcome.status == HOLDS,
        )
        for row in rows
    ]


def comparison_markdown(comparison: Comparison) -> str:
    """Ours / the paper's values as a markdown table."""
    head = f"| {comparison.panel}: ours / paper | " + " | ".join(
        f"step {s}" for s in comparison.steps
    ) + " |"
    rule = "|---" * (len(comparison.steps) + 1) + "|"
    rows = [
        f"| {name} | " + " | ".join(c.text for c in cells) + " |"
        for name, cells in comparison.cells.items()
    ]
    note = (f"\n\nMean loss, ours with its 95% interval; the paper's values [{comparison.tag}] "
            "read off its plots (±10%).")
    return "\n".join([head, rule, *rows]) + note


def _section_blocks(section: Section, report: Report, entity: str, project: str) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    blocks: list[Any] = [wr.H2(section.heading)]
    facts = [
        f"- **{p.name}**: "
        + " · ".join(f"{k} {v}" for k, v in provenance(p, section.source).items())
        for p in section.with_data
    ]
    if section.missing_panels:
        command = section.figure.make_command(section.source.profile, section.source.dataset)
        facts.append(f"- no data yet for {', '.join(section.missing_panels)}: `{command}`")
    blocks.append(wr.MarkdownBlock("\n".join(facts)))
    blocks += [wr.MarkdownBlock(comparison_markdown(p.comparison))
               for p in section.panels if p.comparison is not None]
    rows = report.section_claims(section)
    if rows:
        blocks.append(wr.CheckedList(items=_claim_items(rows)))
    names = sorted({n for p in section.panels for n in ((p.data or {}).get("curves") or {})})
    configs = {str(p.meta.get("config", "")) for p in section.with_data}
    runsets = [
        wr.Runset(entity=entity, project=project, name=f"{section.source.id} {e}", query=e)
        for e in sorted(Path(c).stem for c in configs if c)
    ] or [wr.Runset(entity=entity, project=project)]
    panels: list[Any] = [
        wr.MediaBrowser(
            title=section.figure.name,
            media_keys=[f"figures/{n}" for n in (section.figure.name, *section.figure.panels)],
        )
    ]
    if names:
        y = [f"evaluate/{n}" for n in names]
        panels.append(wr.LinePlot(title="evaluation curves", x="Step", y=y, log_y=True))
    blocks.append(wr.PanelGrid(runsets=runsets, panels=panels))
    return blocks


def build_spec(report: Report, entity: str, project: str = tracking.DEFAULT_PROJECT) -> Any:
    """The W&B report (a ``wandb_workspaces`` Report, not saved): no network is used."""
    import wandb_workspaces.reports.v2 as wr

    missing = "\n".join(
        ["| figure | make it with | needs |", "|---|---|---|"]
        + [f"| {f.title} | `{f.make_command()}` | {f.needs or '—'} |" for f in report.missing]
    ) if report.missing else "Every figure of the paper has been made in the paper profile."
    blocks: list[Any] = [
        wr.TableOfContents(),
        wr.H2(CLAIMS_HEADING),
        wr.CheckedList(items=_claim_items(report.claims)),
        wr.H2(MISSING_HEADING),
        wr.MarkdownBlock(missing),
    ]
    for section in report.sections:
        blocks += _section_blocks(section, report, entity, project)
    return wr.Report(
        project=project, entity=entity, title=TITLE,
        description="Every figure beside the paper's values, the claims checked on the curves "
        "JSON, and the runs behind them (made by make wandb-report).",
        blocks=blocks,
    )


def instructions(runs: list[Path]) -> str:
    """What to run once online: log in, then ``make wandb-report`` (or the syncs by hand)."""
    lines = [
        "W&B: no credentials on this machine (WANDB_API_KEY, a netrc entry or wandb's settings), "
        "or WANDB_MODE is not online: nothing was sent.",
        "Once online, run:",
        "  wandb login",
        "  make wandb-report",
        f"which syncs the {len(runs)} offline run(s) and creates the report. By hand:",
    ]
    lines += [f"  wandb sync {run}" for run in runs] or ["  (no offline runs under runs/ yet)"]
    return "\n".join(lines)


def publish(report: Report, runs_root: Path, entity: str | None = None) -> int:
    """Sync offline runs and save the report when online; otherwise print what to run. Exit code."""
    runs = sorted(p for p in Path(runs_root).glob("**/wandb/offline-run-*") if p.is_dir())
    if tracking.wandb_mode() != "online":
        print(instructions(runs))
        print("Sections the report will have:")
        for heading in [CLAIMS_HEADING, MISSING_HEADING, *(s.heading for s in report.sections)]:
            print(f"  - {heading}")
        return 0
    if runs:
        script = Path(sys.executable).parent / "wandb"
        cli = str(script) if script.exists() else "wandb"
        done = subprocess.run([cli, "sync", *map(str, runs)], check=False)
        if done.returncode != 0:
            print(f"error: wandb sync exited with {done.returncode}", file=sys.stderr)
            return done.returncode
    import wandb

    entity = entity or os.environ.get("WANDB_ENTITY") or wandb.Api().default_entity
    spec = build_spec(report, entity)
    spec.save()
    print(f"W&B report: {spec.url}")
    return 0
