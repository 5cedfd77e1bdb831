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

from repro.report.reference import compare, load
from repro.report.wandb_report import comparison_markdown

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="a figures folder with a data/ folder")
    parser.add_argument("--reference", type=Path, default=ROOT / "paper_figures" / "reference.yaml")
    args = parser.parse_args()
    reference = load(args.reference)
    for panel in reference:
        path = args.figures / "data" / f"{panel}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            print(comparison_markdown(compare(panel, reference, data)), end="\n\n")


if __name__ == "__main__":
    main()
