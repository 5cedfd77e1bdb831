"""The path conventions (repro/paths.py) that the commands, the report and the sweep share."""

from pathlib import Path

from repro.paths import FIGURES_ROOT, RUNS_ROOT, Paths, errors_folder, figures_folder
from repro.report.catalogue import source_of


def test_each_profile_and_dataset_has_its_figures_folder():
    assert figures_folder(FIGURES_ROOT, "paper") == Path("paper_figures")
    assert figures_folder(FIGURES_ROOT, "quick") == Path("paper_figures/quick")
    assert figures_folder(FIGURES_ROOT, "paper", "fashion_mnist") == Path(
        "paper_figures/fashion_mnist")


def test_a_profiles_default_paths_are_the_folders_the_report_reads():
    for profile in ("paper", "quick"):
        paths = Paths.default(profile)
        assert paths.runs == RUNS_ROOT / profile
        assert paths.figures == source_of(FIGURES_ROOT, profile).folder
    assert Paths.default("quick").data == Path("paper_figures/quick/data")


def test_a_crash_log_goes_under_the_runs_folder_given():
    assert errors_folder(None) == Path("runs/errors")
    assert errors_folder("elsewhere") == Path("elsewhere/errors")
