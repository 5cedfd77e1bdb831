"""The claims gate and the report fail closed: a missing figures folder, an unknown profile or a
folder without any claim's data ends with one ``error:`` line and exit code 2, writing nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from repro import cli
from repro.report.claims import CLAIMS


def _error_line(capsys) -> str:
    """The one line the command printed to stderr (nothing on stdout)."""
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    return line


def _missing(root: Path) -> str:
    """The error line of a figures folder ``root`` that is not there."""
    return (f"error: figures folder {root} does not exist; give --figures-dir a folder of figures "
            "(default paper_figures)")


def test_claims_on_a_missing_figures_folder_is_an_error_and_makes_nothing(tmp_path, capsys):
    root = tmp_path / "paper_figures"
    assert cli.main(["claims", "--figures-dir", str(root)]) == 2
    assert _error_line(capsys) == _missing(root)
    assert not root.exists()


def test_report_makes_no_figures_folder_but_writes_into_an_existing_one(tmp_path, capsys):
    root = tmp_path / "paper_figures"
    assert cli.main(["report", "--figures-dir", str(root)]) == 2
    assert _error_line(capsys) == _missing(root)
    assert not root.exists()
    root.mkdir()
    assert cli.main(["report", "--figures-dir", str(root)]) == 0
    assert capsys.readouterr().out == f"report written to {root / 'index.html'}\n"
    assert (root / "index.html").is_file()


def test_a_figures_dir_that_is_a_file_is_an_error(tmp_path, capsys):
    root = tmp_path / "paper_figures"
    root.write_text("not a folder")
    assert cli.main(["claims", "--figures-dir", str(root)]) == 2
    assert _error_line(capsys) == (
        f"error: figures folder {root} is not a folder; give --figures-dir a folder of figures "
        "(default paper_figures)"
    )
    assert root.read_text() == "not a folder"


def test_an_unknown_profile_is_an_error(figures_root, capsys):
    assert cli.main(["claims", "--figures-dir", str(figures_root), "--profile", "nonexistent"]) == 2
    assert _error_line(capsys) == (
        "error: profile 'nonexistent' is not allowed; choose one of paper, quick"
    )
    assert not (figures_root / "claims.json").exists()


def test_claims_without_any_data_is_an_error_and_records_nothing(tmp_path, capsys):
    root = tmp_path / "paper_figures"
    root.mkdir()
    assert cli.main(["claims", "--figures-dir", str(root)]) == 2
    assert _error_line(capsys) == (
        f"error: none of the {len(CLAIMS)} claims has data under {root}; make a figure first, "
        "e.g. 'make figure4'"
    )
    assert list(root.iterdir()) == []


def test_a_profile_without_data_is_an_error_until_a_claim_held_there(figures_root, tmp_path,
                                                                     capsys):
    """No quick data and no record: the error. Once quick claims held, losing their data is the
    gate's regression (exit 1) instead."""
    args = ["claims", "--figures-dir", str(figures_root), "--profile", "quick"]
    quick, away = figures_root / "quick", tmp_path / "quick"
    quick.rename(away)
    assert cli.main(args) == 2
    assert _error_line(capsys) == (
        f"error: none of the {len(CLAIMS)} claims has data under {figures_root} for profile quick; "
        "make a figure first, e.g. 'make figure4 PROFILE=quick'"
    )
    assert not (figures_root / "claims.json").exists()
    away.rename(quick)
    assert cli.main(args) == 0
    shutil.rmtree(quick)
    capsys.readouterr()
    assert cli.main(args) == 1
    assert "lost their data" in capsys.readouterr().out
