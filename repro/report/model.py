"""What the reports show, built once from the figures folder and read by every renderer.

The HTML page, the terminal's claims table and the W&B report all render one :class:`Report`:
its sections (one per figure present in a source), the claims' outcomes, and the figures still
missing with the command that makes each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro import config_loading
from repro.config import PROFILES
from repro.errors import MissingInputError
from repro.figures.registry import BY_NAME, FIGURES, Figure
from repro.io import is_dirty
from repro.report import reference, state
from repro.report.catalogue import Source, source_of, sources
from repro.report.claims import CLAIMS, FAILS, HOLDS, NO_DATA, Claim, Outcome, check
from repro.settings import ConfigError, settings_of

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Panel:
    """One panel of a figure in one source: its data and the paper beside it."""

    name: str
    data: dict[str, Any] | None
    comparison: reference.Comparison | None

    @property
    def meta(self) -> dict[str, Any]:
        """The data file's provenance block (empty without data)."""
        return (self.data or {}).get("meta") or {}


@dataclass(frozen=True)
class Section:
    """One figure present in one source."""

    figure: Figure
    source: Source
    images: list[Path]
    panels: list[Panel]

    @property
    def heading(self) -> str:
        """The section's title, the same in every renderer."""
        return f"{self.figure.title} ({self.source.label})"

    @property
    def anchor(self) -> str:
        """An id for links: ``paper-figure4``, ``quick-fashion_mnist-figure5``."""
        return f"{self.source.id.replace('/', '-')}-{self.figure.name}"

    @property
    def missing_panels(self) -> list[str]:
        """Panels of the figure with no data in this source."""
        return [p.name for p in self.panels if p.data is None]

    @property
    def with_data(self) -> list[Panel]:
        """Panels of the figure with data in this source."""
        return [p for p in self.panels if p.data is not None]


@dataclass(frozen=True)
class ClaimRow:
    """One claim on one source (``source`` None: no source has the panel's data)."""

    source: Source | None
    outcome: Outcome
    held_before: bool
    regressed: bool
    meta: dict[str, Any] = field(default_factory=dict)
    """The provenance block of the data the claim read (empty without data)."""

    @property
    def data_commit(self) -> str:
        """The commit recorded by the data the claim read (``—`` when there is none)."""
        return str(self.meta.get("commit") or "—")

    @property
    def dirty(self) -> bool:
        """Whether that data was made from a tree with uncommitted changes."""
        return is_dirty(self.data_commit)


@dataclass(frozen=True)
class Report:
    """Everything the reports show."""

    root: Path
    sections: list[Section]
    claims: list[ClaimRow]
    missing: list[Figure]
    """The paper's figures that no source of the profile (paper by default) has an image of."""
    profile: str | None
    """The profile whose sources the report covers; None: every profile."""

    def section_claims(self, section: Section) -> list[ClaimRow]:
        """The claims about ``section``'s panels on its source, panel by panel."""
        return [
            row for panel in section.panels if panel.data for row in self.claims
            if row.source and row.source.id == section.source.id
            and row.outcome.claim.panel == panel.name
        ]


def _panel(source: Source, name: str, refs: dict[str, Any]) -> Panel:
    data = source.data(name)
    return Panel(name, data, reference.compare(name, refs, data) if name in refs and data else None)


def _vanished(
    root: Path, record: dict[str, dict[str, Any]], found: set[str], profile: str | None
) -> list[ClaimRow]:
    """Claims recorded as holding on a source whose folder is no longer there (or whose claim
    is no longer in :data:`CLAIMS`): each a regression."""
    by_id = {claim.id: claim for claim in CLAIMS}
    rows = []
    for k, entry in record.items():
        source_id, claim_id = k.rsplit(":", 1)
        source = source_of(root, source_id)
        if entry.get("status") != HOLDS or (profile and source.profile != profile):
            continue
        claim = by_id.get(claim_id)
        if claim is None:
            claim = Claim(claim_id, "", "", "(no longer a claim)", "removed")
            detail = f"held before; {claim_id} is no longer in the claims list"
        elif source_id in found:
            continue
        else:
            detail = f"held before; the folder {source.folder} is gone"
        rows.append(ClaimRow(source, Outcome(claim, NO_DATA, detail), True, True))
    return rows


def build(root: Path, profile: str | None = None) -> Report:
    """The report of the figures under ``root`` (only ``profile``'s sources if given); a
    one-line error when ``root`` is not a folder or ``profile`` is not a profile."""
    root = Path(root)
    if profile is not None and profile not in PROFILES:
        raise ConfigError(
            f"profile {profile!r} is not allowed; choose one of {', '.join(PROFILES)}"
        )
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise MissingInputError(
            f"figures folder {root} {what}; give --figures-dir a folder of figures "
            "(default paper_figures)"
        )
    refs = reference.load(root / "reference.yaml")
    record = state.load(root / "claims.json")
    found = [s for s in sources(root) if profile is None or s.profile == profile]
    sections = [
        Section(figure, source, source.images(figure),
                [_panel(source, p, refs) for p in figure.panels])
        for source in found
        for figure in source.present()
    ]
    rows: list[ClaimRow] = []
    for source in found:
        for claim in CLAIMS:
            data = source.data(claim.panel)
            before = record.get(state.key(source.id, claim.id), {}).get("status") == HOLDS
            if data is not None:
                outcome = check(claim, data)
                rows.append(ClaimRow(source, outcome, before, before and outcome.status == FAILS,
                                     data.get("meta") or {}))
            elif before:
                gone = f"held before; {source.folder / 'data' / f'{claim.panel}.json'} is gone"
                rows.append(ClaimRow(source, Outcome(claim, NO_DATA, gone), True, True))
    rows += _vanished(root, record, {s.id for s in found}, profile)
    checked = {row.outcome.claim.id for row in rows}
    rows += [
        ClaimRow(None, Outcome(c, NO_DATA, f"no {c.panel}.json yet: "
                               f"{BY_NAME[c.figure].make_command()}"), False, False)
        for c in CLAIMS if c.id not in checked
    ]
    made = {s.figure.name for s in sections if s.source.profile == (profile or "paper")}
    return Report(root, sections, rows, [f for f in FIGURES if f.name not in made], profile)


def wall_time(meta: dict[str, Any]) -> str:
    """``fit 4 min 3 s · tune 12 s · evaluate 20 s`` from ``meta.wall_seconds``."""
    wall = meta.get("wall_seconds")
    if not wall:
        return "not recorded"
    if not isinstance(wall, dict):
        wall = {"total": wall}
    return " · ".join(
        f"{k} {'not recorded' if v is None else _duration(v)}" for k, v in wall.items()
    )


def _duration(seconds: float) -> str:
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _dataset_of(meta: dict[str, Any], source: Source) -> str:
    """Where older data files did not record it: what the family of the experiment they name
    draws from when it reads no dataset (its ``synthetic`` label), else the source's dataset."""
    try:
        problem = config_loading.read(ROOT / str(meta.get("config"))).get("problem") or {}
        kind = settings_of(problem.get("family") if isinstance(problem, dict) else None)
    except (ConfigError, OSError):
        return source.dataset.partition("/")[0]
    return kind.synthetic if kind.datasets == ("none",) else source.dataset.partition("/")[0]


def _selected(selected: dict[str, Any] | None) -> str:
    """``seed 2, truncation 1700, validation loss 0.5246`` for the φ a panel evaluated."""
    selected = selected or {}
    parts = [f"{k} {selected[k]}" for k in ("seed", "truncation") if selected.get(k) is not None]
    if selected.get("val_loss") is not None:
        parts.append(f"validation loss {float(selected['val_loss']):.4g}")
    return ", ".join(parts) or "—"


def provenance(panel: Panel, source: Source) -> dict[str, str]:
    """The facts behind a panel's data, as label → text."""
    meta = panel.meta
    data = panel.data or {}
    return {
        "profile": str(data.get("profile", meta.get("profile", source.profile))),
        "dataset": str(meta.get("dataset") or _dataset_of(meta, source)),
        "encoder": str(meta.get("encoder") or "—"),
        "seed": str(meta.get("seed", "—")),
        "selected φ": _selected(meta.get("selected")),
        "commit": str(meta.get("commit", "—"))
        + (" (uncommitted tree)" if is_dirty(str(meta.get("commit", ""))) else ""),
        "wall time": wall_time(meta),
        "test problems": str(meta.get("problems", "—")),
        "config": str(meta.get("config", "—")),
        "created": str(meta.get("created", "—")),
    }

