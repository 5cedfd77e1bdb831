"""The claims' recorded outcomes (``paper_figures/claims.json``): the regression gate's memory,
a ratchet kept by the rule :data:`RULE` it records (``accept=True`` accepts a regression; accepted
missing data drops the entry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro.io import write_json
from repro.report.claims import FAILS, HOLDS, NO_DATA, Outcome

RULE = (
    "A claim held before on a source when this file records it as holding there; "
    "'make claims' fails when such a claim now fails on that source's data or its data is gone. "
    "New outcomes and newly holding claims are recorded; a regression only with "
    "'make claims ARGS=--accept'."
)


def key(source_id: str, claim_id: str) -> str:
    """The record's key of one claim on one source, e.g. ``paper:4a-lowest-at-100``."""
    return f"{source_id}:{claim_id}"


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The recorded outcomes by key; empty when there is no record yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get("claims", {})


def updated(
    record: dict[str, dict[str, Any]],
    results: list[tuple[str, Outcome]],
    data_meta: dict[str, dict[str, Any]],
    accept: bool = False,
) -> dict[str, dict[str, Any]]:
    """The record after this check (see the module's rule); ``data_meta`` by source:panel."""
    new = dict(record)
    for source_id, outcome in results:
        k = key(source_id, outcome.claim.id)
        before = record.get(k, {}).get("status")
        if outcome.status == NO_DATA:
            if accept and before == HOLDS:
                del new[k]  # the user accepts that the claim's data is gone
            continue
        if before == HOLDS and outcome.status == FAILS and not accept:
            continue
        meta = data_meta.get(f"{source_id}:{outcome.claim.panel}", {})
        entry = {
            "status": outcome.status,
            "detail": outcome.detail,
            "data_commit": meta.get("commit"),
            "data_created": meta.get("created"),
        }
        if record.get(k) != entry and (before != outcome.status or accept):
            new[k] = entry
    return new


def save(path: Path, record: dict[str, dict[str, Any]]) -> Path:
    """Write the record with its rule, keys sorted."""
    return write_json(path, {"rule": RULE, "claims": dict(sorted(record.items()))})
