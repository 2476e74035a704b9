"""The suite is hermetic: a temporary HOME and cache, and a stand-in decides the driver state."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import REAL_CACHE, REPO, run_tfgpu


def test_home_and_cache_are_temporary(hermetic, tmp_path):
    assert Path(os.environ["HOME"]) == Path.home() == tmp_path / "home"
    assert Path(os.environ["XDG_CACHE_HOME"]) == hermetic.cache
    assert hermetic.cache.is_relative_to(hermetic.base) and not REAL_CACHE.is_relative_to(hermetic.base)


def test_the_cli_caches_the_matrix_in_the_temporary_cache_only(hermetic, tmp_path):
    """A matrix at a path no other run uses has a cache key of its own: the file holding it must
    appear in the temporary cache and never in the real one."""
    matrix = tmp_path / "own" / "compat_matrix.yaml"
    matrix.parent.mkdir()
    shutil.copyfile(REPO / "compat_matrix.yaml", matrix)
    before = set((hermetic.cache / "tfgpu").glob("matrix-*.json"))
    proc = run_tfgpu("matrix", "--json", "--matrix", str(matrix))
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout)
    (new,) = set((hermetic.cache / "tfgpu").glob("matrix-*.json")) - before
    assert not (REAL_CACHE / new.name).exists()


def test_run_tfgpu_refuses_a_real_home(monkeypatch):
    monkeypatch.setenv("HOME", str(REAL_CACHE.parent.parent))
    try:
        run_tfgpu("--version")
    except AssertionError as exc:
        assert "HOME is not temporary" in str(exc)
    else:
        raise AssertionError("run_tfgpu ran with a HOME outside the temporary folder")


def test_host_cuda_variables_do_not_leak():
    for key in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_HOME", "XLA_FLAGS", "VIRTUAL_ENV", "TFGPU_NO_CACHE"):
        assert key not in os.environ, key


def test_no_driver_is_the_default_state(hermetic):
    """Without a stand-in NVML the driver library cannot be loaded and nvidia-smi cannot use it,
    whatever driver the host has."""
    proc = run_tfgpu("doctor", "--json", "--fast", "driver-present")
    assert proc.returncode == 1, proc.stderr[-2000:]
    drv = json.loads(proc.stdout)["facts"]["driver"]
    assert drv["status"] == "not_found", drv
    assert drv["evidence"]["cause"] == "library_not_found"
    assert str(hermetic.no_driver_bin / "nvidia-smi") in drv["evidence"]["nvidia_smi"]
