import json

import pytest

from repro.io import OutputError, atomic_write, write_json


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "out.json"

    def explode(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_whole_file_and_rejects_nan(tmp_path):
    target = write_json(tmp_path / "a" / "b.json", {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    with pytest.raises(ValueError):
        write_json(target, {"x": float("nan")})
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_unwritable_folder_is_one_line_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        write_json(blocker / "x.json", {})


def test_commit_is_dirty_for_code_changes_but_not_for_figure_data_or_run_records(tmp_path):
    import subprocess

    from repro.io import commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "paper_figures").mkdir()
    (tmp_path / "paper_figures" / "figure.json").write_text("{}")
    (tmp_path / "runs" / "fit").mkdir(parents=True)
    (tmp_path / "runs" / "fit" / "metrics.csv").write_text("step\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "baselines.yaml").write_text("cases: {}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = commit(tmp_path)
    assert clean != "unknown" and not clean.endswith("+dirty")
    (tmp_path / "paper_figures" / "figure.json").write_text('{"new": 1}')
    assert commit(tmp_path) == clean
    (tmp_path / "runs" / "fit" / "metrics.csv").write_text("step\n1\n")  # a resumed fit appends
    (tmp_path / "tests" / "baselines.yaml").write_text("cases: {a: 1}\n")  # make calibrate
    assert commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert commit(tmp_path) == f"{clean}+dirty"


def test_written_files_take_the_umask_mode(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # mkstemp's 0o600 before
