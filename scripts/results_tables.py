"""Print, as Markdown, the paper's values beside ours (mean and 95% interval) at the paper's
steps, for every panel of ``paper_figures/reference.yaml`` that has data in a figures folder.

    PYTHONPATH=. .venv/bin/python scripts/results_tables.py paper_figures

The tables of docs/results.md are this script's output (the numbers come from the curves JSON
and the reference file, nothing is typed by hand).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repro.report.reference import Comparison, compare, load

ROOT = Path(__file__).resolve().parents[1]


def table(comparison: Comparison) -> str:
    """One panel's table: a row per optimizer, a column per step, ``ours [95%] / paper``."""
    head = f"| {comparison.panel}: ours [95%] / paper | " + " | ".join(
        f"step {s}" for s in comparison.steps) + " |"
    rule = "|---" * (len(comparison.steps) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(cell.text for cell in cells) + " |"
            for name, cells in comparison.cells.items()]
    return "\n".join([head, rule, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="a figures folder with a data/ folder")
    parser.add_argument("--reference", type=Path, default=ROOT / "paper_figures" / "reference.yaml")
    args = parser.parse_args()
    for panel in load(args.reference):
        path = args.figures / "data" / f"{panel}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            print(table(compare(panel, load(args.reference), data)), end="\n\n")


if __name__ == "__main__":
    main()
