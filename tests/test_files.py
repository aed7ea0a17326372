"""Atomic writes: the old file or the new one, never a mixture; permissions as a plain write; outputs checked early."""

import os
import stat

import pytest

from blindspot_gui.core.files import OutputError, atomic_file, atomic_write_json, check_writable, check_writable_folder


def test_a_new_file_gets_the_permissions_a_plain_write_would(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_json(tmp_path / "atomic.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "atomic.json").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    atomic_write_json(path, {"b": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and '"b": 2' in path.read_text()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as stream:
            stream.write(b"half of the new")
            raise RuntimeError("disk full, say")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["weights.bin"]


def test_outputs_that_could_not_be_written_are_refused_before_any_work(tmp_path):
    (tmp_path / "file.txt").write_text("")
    for path, reason in ((tmp_path / "missing" / "out.json", "does not exist"),
                         (tmp_path / "file.txt" / "out.json", "does not exist"),
                         (tmp_path, "is a folder")):
        with pytest.raises(OutputError, match=reason):
            check_writable(path, "--json")
    with pytest.raises(OutputError, match="is a file"):
        check_writable_folder(tmp_path / "file.txt")
    assert check_writable(tmp_path / "fine.json") == tmp_path / "fine.json"
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]
