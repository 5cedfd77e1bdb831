"""The staging of a download: all or nothing, a short reason, the socket timeout restored."""

import socket

import pytest

from repro.data.download import DOWNLOAD_TIMEOUT_S, DownloadFailed, staged


def test_success_keeps_what_was_moved_out_and_removes_the_staging_folder(tmp_path):
    root, before = tmp_path / "a" / "b", socket.getdefaulttimeout()
    with staged(root, ".x-") as staging:
        assert staging.parent == root and socket.getdefaulttimeout() == DOWNLOAD_TIMEOUT_S
        (staging / "file").write_text("data")
        (staging / "file").rename(root / "file")
    assert [p.name for p in root.iterdir()] == ["file"]
    assert socket.getdefaulttimeout() == before


def test_failure_leaves_nothing_and_gives_one_short_reason(tmp_path):
    root, before = tmp_path / "a" / "b", socket.getdefaulttimeout()
    with (
        pytest.raises(DownloadFailed, match=r"^OSError: no route$"),
        staged(root, ".x-") as staging,
    ):
        (staging / "partial").write_text("half")
        raise OSError("no route\n")
    assert list(tmp_path.iterdir()) == []
    assert socket.getdefaulttimeout() == before


def test_an_uncreatable_root_is_a_download_failure(tmp_path):
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(DownloadFailed, match="cannot create the folder"),
        staged(tmp_path / "file" / "sub", ".x-"),
    ):
        pass
