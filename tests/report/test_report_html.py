"""The offline HTML report on a synthetic figures folder and on the committed figures."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from repro import cli
from repro.figures.registry import FIGURES
from repro.report import html, model
from repro.report.catalogue import sources
from tests.report.helpers import REPO


class _Page(HTMLParser):
    """The h2 headings, image sources and table ids of a page."""

    def __init__(self):
        super().__init__()
        self.h2, self.images, self.tables, self._in_h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table" and "id" in attrs:
            self.tables.append(attrs["id"])

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def parse(text: str) -> _Page:
    """The page's headings, images and tables."""
    page = _Page()
    page.feed(text)
    return page


def test_sources_and_sections_follow_the_folders(figures_root):
    assert [s.id for s in sources(figures_root)] == ["paper", "quick/fashion_mnist"]
    report = model.build(figures_root)
    assert [(s.source.id, s.figure.name) for s in report.sections] == [
        ("paper", "figure4"),
        ("quick/fashion_mnist", "figure5"),
        ("quick/fashion_mnist", "figure6"),
    ]
    figure4 = report.sections[0]
    assert [i.name for i in figure4.images] == ["figure4a.png"]
    assert figure4.missing_panels == ["figure4b", "figure4c"]
    assert [f.name for f in report.missing] == [
        f.name for f in FIGURES if f.name != "figure4"
    ]


def test_page_shows_figures_paper_values_claims_and_provenance(figures_root):
    out = html.write(model.build(figures_root), figures_root / "index.html")
    text = out.read_text()
    page = parse(text)
    assert page.h2[:2] == ["Claims", "Figures not made yet"]
    assert "claims-table" in page.tables and "missing-table" in page.tables
    for src in page.images:  # relative links to files beside the page
        assert not src.startswith(("/", "http")) and (out.parent / src).is_file()
    assert len(page.images) == 3
    # ours beside the paper's value, read from the JSON and reference.yaml
    data = json.loads((figures_root / "data" / "figure4a.json").read_text())
    lstm = data["curves"]["LSTM"]
    band = f"[{lstm['lo'][99]:.3g}–{lstm['hi'][99]:.3g}]"  # our 95% interval
    assert f"{lstm['mean'][99]:.3g} {band} / 0.04*" in text
    assert "The paper's values are for MNIST; ours are on fashion_mnist." in text
    # verdicts computed from the curves
    assert re.search(r'class="verdict holds">✓ holds</td><td>quick/fashion_mnist</td>'
                     r"<td>figure5a</td>", text)
    assert re.search(r'class="verdict fails">✗ fails</td><td>quick/fashion_mnist</td>'
                     r"<td>figure5b</td>", text)
    # what is missing says how to make it
    assert "<code>make figure7</code>" in text
    assert "No data here yet for figure4b, figure4c: <code>make figure4</code>" in text
    assert "fit 2 min 5 s · tune 9 s · evaluate 3 s" in text
    assert model.wall_time({"wall_seconds": {"fit": 7500, "tune": None}}) == (
        "fit 2 h 5 min · tune not recorded"
    )
    assert "abc1234" in text and "seed" in text


def test_report_marks_a_regression(figures_root):
    cli.main(["claims", "--figures-dir", str(figures_root), "--profile", "quick"])
    path = figures_root / "quick" / "fashion_mnist" / "data" / "figure5a.json"
    data = json.loads(path.read_text())
    data["curves"]["LSTM"]["mean"] = [3.0] * 100
    path.write_text(json.dumps(data))
    assert cli.main(["report", "--figures-dir", str(figures_root)]) == 0
    text = (figures_root / "index.html").read_text()
    assert text.count('class="regressed"') == 2  # the summary table and Figure 5's
    assert "1 regressed since the record" in text


def test_report_on_the_committed_figures(tmp_path):
    root = REPO / "paper_figures"
    report = model.build(root)
    out = html.write(report, tmp_path / "index.html")
    page = parse(out.read_text())
    assert page.h2 == ["Claims", "Figures not made yet", *(s.heading for s in report.sections)]
    for source in sources(root):
        for figure in source.present():
            assert any(s.figure == figure and s.source == source for s in report.sections)
    for src in page.images:
        assert (out.parent / src).resolve().is_file(), src
    assert all(Path(i).suffix == ".png" for i in page.images)
