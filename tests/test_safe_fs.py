"""Host-side file access below untrusted folders never follows links."""

from __future__ import annotations

import os

import pytest

from tasks_app.core import safe_fs


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    (tmp_path / "secret").write_text("host secret")
    (tmp_path / "outside").mkdir()
    return r


def test_plain_files_read_and_write(root):
    safe_fs.write_text(root, "a/b/c.txt", "hello")
    assert safe_fs.read_text(root, "a/b/c.txt") == "hello"
    assert safe_fs.list_files(root, "a/b") == ["c.txt"]
    assert safe_fs.is_regular_file(root, "a/b/c.txt")


def test_a_symlinked_file_is_neither_read_nor_written_through(root, tmp_path):
    os.symlink(tmp_path / "secret", root / "results.json")
    with pytest.raises(safe_fs.UnsafePath):
        safe_fs.read_text(root, "results.json")
    with pytest.raises(safe_fs.UnsafePath):
        safe_fs.write_text(root, "results.json", "overwritten")
    assert (tmp_path / "secret").read_text() == "host secret"
    assert safe_fs.list_files(root) == []
    assert not safe_fs.is_regular_file(root, "results.json")


def test_a_symlinked_directory_on_the_way_is_refused(root, tmp_path):
    os.symlink(tmp_path / "outside", root / "out")
    with pytest.raises(safe_fs.UnsafePath):
        safe_fs.write_text(root, "out/test_0.py", "x")
    with pytest.raises(safe_fs.UnsafePath):
        safe_fs.list_files(root, "out")
    assert not any((tmp_path / "outside").iterdir())


def test_paths_that_leave_the_root_are_refused(root):
    for bad in ("../secret", "/etc/passwd", "a/../../secret"):
        with pytest.raises(safe_fs.UnsafePath):
            safe_fs.read_text(root, bad)


def test_special_files_are_refused(root):
    os.mkfifo(root / "fifo")
    with pytest.raises(safe_fs.UnsafePath):
        safe_fs.read_text(root, "fifo")
