"""tfgpu.proc.empty_folder: the children's empty working folder, made as tempfile.mkdtemp would
make it (same candidates, private mode), without importing tempfile."""

from __future__ import annotations

import os
import stat

import pytest

from tfgpu import proc


@pytest.fixture
def no_temp_vars(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_new_private_empty_folder_under_tmpdir(tmp_path, no_temp_vars):
    no_temp_vars.setenv("TMPDIR", str(tmp_path))
    first, second = proc.empty_folder("tfgpu-x-"), proc.empty_folder("tfgpu-x-")
    try:
        assert first != second
        for path in (first, second):
            assert os.path.dirname(path) == str(tmp_path)
            assert os.path.basename(path).startswith("tfgpu-x-")
            assert os.listdir(path) == []
            if os.name == "posix":
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    finally:
        os.rmdir(first)
        os.rmdir(second)


def test_a_candidate_that_cannot_hold_a_folder_is_passed_over(tmp_path, no_temp_vars):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    good = tmp_path / "good"
    good.mkdir()
    no_temp_vars.setenv("TMPDIR", str(not_a_folder))
    no_temp_vars.setenv("TEMP", str(tmp_path / "missing"))
    no_temp_vars.setenv("TMP", str(good))
    path = proc.empty_folder("tfgpu-y-")
    try:
        assert os.path.dirname(path) == str(good)
    finally:
        os.rmdir(path)


def test_where_no_candidate_takes_a_folder_tempfile_decides(tmp_path, no_temp_vars):
    no_temp_vars.setattr(proc.os, "mkdir", _refuse)
    import tempfile

    made: list[str] = []
    no_temp_vars.setattr(tempfile, "mkdtemp", lambda prefix: made.append(prefix) or str(tmp_path))
    assert proc.empty_folder("tfgpu-z-") == str(tmp_path)
    assert made == ["tfgpu-z-"]


def _refuse(path: str, mode: int = 0o777) -> None:
    raise PermissionError(13, "Permission denied", path)


def test_on_windows_tempfile_decides(tmp_path, no_temp_vars):
    """A mode does not make a folder private on Windows: tempfile.mkdtemp (which does, from Python
    3.12.4) makes it there."""
    import tempfile

    made: list[str] = []
    no_temp_vars.setattr(proc.os, "name", "nt")
    no_temp_vars.setattr(tempfile, "mkdtemp", lambda prefix: made.append(prefix) or str(tmp_path))
    assert proc.empty_folder("tfgpu-w-") == str(tmp_path)
    assert made == ["tfgpu-w-"]
