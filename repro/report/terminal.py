"""The claims table in the terminal, and the regression gate behind ``make claims``."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from repro.errors import MissingInputError
from repro.figures.registry import BY_NAME
from repro.report import state
from repro.report.claims import CLAIMS, FAILS, HOLDS, NO_DATA
from repro.report.model import ClaimRow, Report


def table(rows: list[ClaimRow], width: int | None = None) -> str:
    """The claims as fixed-width text: verdict, source, panel, claim, the commit of the data it
    read (``!``: an uncommitted tree) and evidence."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    sources = [r.source.id if r.source else "—" for r in rows]
    commits = [r.data_commit.removesuffix("+dirty") + ("!" if r.dirty else "") for r in rows]
    src_w = max([len("source"), *map(len, sources)])
    data_w = max([len("data"), *map(len, commits)])
    text_w = max(30, (width - src_w - data_w - 26) // 2)
    lines = [
        f"{'':2} {'source':<{src_w}}  {'panel':<9} {'claim':<{text_w}}  {'data':<{data_w}}  "
        "evidence"
    ]
    for row, source, data in zip(rows, sources, commits, strict=True):
        claim = row.outcome.claim
        flag = "  << REGRESSED: held before" if row.regressed else ""
        text = textwrap.wrap(f"{claim.text} [{claim.tag}]", text_w) or [""]
        lines.append(
            f"{row.outcome.mark:2} {source:<{src_w}}  {claim.panel:<9} {text[0]:<{text_w}}  "
            f"{data:<{data_w}}  {row.outcome.detail}{flag}"
        )
        lines += [f"{'':2} {'':<{src_w}}  {'':<9} {more}" for more in text[1:]]
    if any(r.dirty for r in rows):
        lines.append("! data made from a tree with uncommitted changes (commit+dirty)")
    return "\n".join(lines)


def gate(report: Report, record_file: Path, accept: bool = False) -> tuple[str, int]:
    """The claims table and a summary; exit code 1 when a claim that held before now fails.

    Updates ``record_file`` by the ratchet rule of :mod:`repro.report.state`. A one-line
    :class:`~repro.errors.MissingInputError` when no claim has data and none held before.
    """
    record = state.load(record_file)
    checked = [(r.source.id, r) for r in report.claims if r.source is not None]
    meta = {f"{s}:{r.outcome.claim.panel}": r.meta for s, r in checked}
    new = state.updated(record, [(s, r.outcome) for s, r in checked], meta, accept)
    regressed = [f"{s}:{r.outcome.claim.id}" for s, r in checked if r.regressed]
    if not regressed and all(r.outcome.status == NO_DATA for r in report.claims):
        scope = f" for profile {report.profile}" if report.profile else ""
        first = BY_NAME[CLAIMS[0].figure].make_command(report.profile or "paper")
        raise MissingInputError(
            f"none of the {len(report.claims)} claims has data under {report.root}{scope}; "
            f"make a figure first, e.g. '{first}'"
        )
    if new != record:
        state.save(record_file, new)
    held = sum(r.outcome.status == HOLDS for r in report.claims)
    failed = sum(r.outcome.status == FAILS for r in report.claims)
    lines = [
        table(report.claims),
        "",
        f"{held} hold, {failed} fail, {len(report.claims) - held - failed} without data; "
        f"record: {record_file}",
    ]
    if regressed and not accept:
        lines.append(
            f"{len(regressed)} claim(s) held before and fail now or lost their data: "
            + ", ".join(regressed)
            + ". Fix the regression, or record it with 'make claims ARGS=--accept'."
        )
        return "\n".join(lines), 1
    if regressed:
        lines.append(f"accepted {len(regressed)} regression(s) into {record_file}")
    return "\n".join(lines), 0
