"""The offline HTML report: one self-contained page (images linked beside it, no network)."""

from __future__ import annotations

import datetime as _dt
import os
from html import escape
from pathlib import Path

from repro.io import atomic_write, commit
from repro.report.claims import FAILS, HOLDS
from repro.report.model import ClaimRow, Report, Section, provenance
from repro.report.reference import Cell, Comparison

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 24px;
       color: #222; }
h1 { font-size: 26px; margin-top: 28px; } h2 { border-bottom: 2px solid #ddd; padding-top: 18px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.holds { color: #1a7f37; font-weight: bold; } .fails { color: #c62828; font-weight: bold; }
.nodata { color: #888; } .regressed { background: #ffe3e3; }
img.figure { max-width: 100%; border: 1px solid #eee; margin: 6px 0; display: block; }
img.panel { max-width: 600px; display: inline-block; margin-right: 8px; }
td.verdict { white-space: nowrap; }
.meta td:first-child { color: #555; } .note { color: #666; font-size: 12.5px; }
code { background: #f5f5f5; padding: 1px 4px; border-radius: 3px; }
nav li { margin: 2px 0; }
"""


def claims_table(rows: list[ClaimRow], table_id: str = "") -> str:
    """Every claim on every source: verdict, the numbers behind it, and whether it held before."""
    head = (
        "<tr><th>verdict</th><th>source</th><th>panel</th><th>claim (paper's tag)</th>"
        "<th>data</th><th>evidence</th><th>held before</th></tr>"
    )
    body = []
    for row in rows:
        claim, status = row.outcome.claim, row.outcome.status
        verdict = {HOLDS: "holds", FAILS: "fails"}.get(status, "nodata")
        css = ' class="regressed"' if row.regressed else ""
        before = "yes" if row.held_before else ""
        before = "yes — now fails (regression)" if row.regressed else before
        dirty = (' <span class="fails" title="made from a tree with uncommitted changes">'
                 "uncommitted tree</span>") if row.dirty else ""
        body.append(
            f'<tr{css}><td class="verdict {verdict}">{row.outcome.mark} {escape(status)}</td>'
            f"<td>{escape(row.source.id if row.source else '—')}</td>"
            f"<td>{escape(claim.panel)}</td><td>{escape(claim.text)} <span class=note>"
            f"[{escape(claim.tag)}]</span></td><td><code>{escape(row.data_commit)}</code>{dirty}"
            f"</td><td>{escape(row.outcome.detail)}</td><td>{escape(before)}</td></tr>"
        )
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f'<table class="claims"{ident}>{head}{"".join(body)}</table>'


def _cell(cell: Cell) -> str:
    note = f' title="{escape(cell.note)}"' if cell.note else ""
    mark = "*" if cell.note else ""
    return f"<td class=num{note}>{cell.text}{mark}</td>"


def comparison_table(comparison: Comparison, dataset: str) -> str:
    """Ours / the paper's mean loss per optimizer at the paper's key steps."""
    steps = "".join(f"<th>step {s}</th>" for s in comparison.steps)
    rows = "".join(
        f"<tr><th>{escape(name)}</th>{''.join(_cell(c) for c in cells)}</tr>"
        for name, cells in comparison.cells.items()
    )
    notes = [
        f"{escape(name)} at step {s}: {escape(c.note)}"
        for name, cells in comparison.cells.items()
        for c, s in zip(cells, comparison.steps, strict=True) if c.note
    ]
    caveat = (
        f" The paper's values are for MNIST; ours are on {escape(dataset)}."
        if dataset not in ("mnist", "synthetic") else ""
    )
    return (
        f'<table class="comparison"><tr><th>{escape(comparison.panel)}: ours / paper</th>'
        f"{steps}</tr>{rows}</table><p class=note>Mean loss, ours with its 95% interval; "
        f"paper values [{escape(comparison.tag)}] read off its plots (±10%).{caveat}"
        + (f" * {'; '.join(notes)}." if notes else "") + "</p>"
    )


def _provenance_table(section: Section) -> str:
    facts = [provenance(p, section.source) for p in section.with_data]
    labels = list(facts[0]) if facts else []
    head = "".join(f"<th>{escape(p.name)}</th>" for p in section.with_data)
    rows = "".join(
        f"<tr><td>{escape(label)}</td>{''.join(f'<td>{escape(f[label])}</td>' for f in facts)}</tr>"
        for label in labels
    )
    return f'<table class="meta"><tr><th>run</th>{head}</tr>{rows}</table>'


def section_html(section: Section, report: Report, out_dir: Path) -> str:
    """One figure of one source: image(s), paper vs ours, claims, provenance."""
    parts = [f'<section id="{escape(section.anchor)}"><h2>{escape(section.heading)}</h2>']
    whole = [image.stem for image in section.images] == [section.figure.name]
    css = "figure" if whole else "figure panel"
    for image in section.images:
        src = Path(os.path.relpath(image, out_dir)).as_posix()
        parts.append(
            f'<img class="{css}" src="{escape(src)}" alt="{escape(section.figure.name)}: '
            f'{escape(image.name)}">'
        )
    if section.missing_panels:
        command = section.figure.make_command(section.source.profile, section.source.dataset)
        needs = f" (needs {escape(section.figure.needs)})" if section.figure.needs else ""
        parts.append(
            f"<p class=note>No data here yet for {escape(', '.join(section.missing_panels))}: "
            f"<code>{escape(command)}</code>{needs}.</p>"
        )
    for panel in section.panels:
        if panel.comparison is not None:
            dataset = provenance(panel, section.source)["dataset"]
            parts.append(comparison_table(panel.comparison, dataset))
    rows = report.section_claims(section)
    if rows:
        parts.append("<h3>Claims</h3>" + claims_table(rows))
    else:
        parts.append("<p class=note>No quantitative claim of the paper is about this figure.</p>")
    if section.with_data:
        parts.append("<h3>Runs behind it</h3>" + _provenance_table(section))
    parts.append("</section>")
    return "\n".join(parts)


def missing_html(report: Report) -> str:
    """The paper's figures with no paper-profile image, and how to make each."""
    if not report.missing:
        return "<p>Every figure of the paper has been made in the paper profile.</p>"
    rows = "".join(
        f"<tr><td>{escape(f.title)}</td><td><code>{escape(f.make_command())}</code></td>"
        f"<td>{escape(f.needs or '—')}</td></tr>"
        for f in report.missing
    )
    return (
        '<table id="missing-table"><tr><th>figure</th><th>make it with</th><th>needs</th></tr>'
        f"{rows}</table><p class=note>Add <code>PROFILE=quick</code> for a minutes-long CPU "
        "version; quick-profile figures that exist are shown below.</p>"
    )


def render(report: Report, out: Path) -> str:
    """The whole page for ``report``, with image links relative to ``out``'s folder."""
    out_dir = Path(out).parent
    held = sum(r.outcome.status == HOLDS for r in report.claims)
    failed = sum(r.outcome.status == FAILS for r in report.claims)
    regressed = sum(r.regressed for r in report.claims)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    toc = "".join(
        f'<li><a href="#{escape(s.anchor)}">{escape(s.heading)}</a></li>' for s in report.sections
    )
    body = "\n".join(section_html(s, report, out_dir) for s in report.sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>l2l-repro: reproduction report</title><style>{STYLE}</style></head>
<body>
<h1>Learning to learn by gradient descent by gradient descent: reproduction report</h1>
<p>Made by <code>make report</code> at commit <code>{escape(commit())}</code> on {escape(created)}
from the curves JSON under <code>{escape(str(report.root))}/</code>. Claims: {held} hold, {failed}
fail, {regressed} regressed since the record (<code>claims.json</code>); the rest have no data.
</p>
<nav><ul><li><a href="#claims">Claims</a></li><li><a href="#missing">Figures not made yet</a></li>
{toc}</ul></nav>
<h2 id="claims">Claims</h2>
{claims_table(report.claims, "claims-table")}
<h2 id="missing">Figures not made yet</h2>
{missing_html(report)}
{body}
</body></html>
"""


def write(report: Report, out: Path) -> Path:
    """Write the page to ``out`` atomically."""
    text = render(report, out)
    return atomic_write(Path(out), lambda tmp: tmp.write_text(text, encoding="utf-8"))
