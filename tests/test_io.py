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
