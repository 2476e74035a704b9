"""Which interpreter the doctor diagnoses, and the reason it says: --python, the active virtualenv or
conda env, the user's python3 when tfgpu runs from its own pipx/uv tool environment, else its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tfgpu.probes import python_env


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_active_virtualenv_is_chosen_and_named(tmp_path: Path):
    py = _exe(tmp_path / "venv" / "bin" / "python")
    target, why = python_env.choose_python({"VIRTUAL_ENV": str(tmp_path / "venv")})
    assert target == str(py) and "active virtualenv" in why


def test_from_a_pipx_tool_env_the_users_python3_on_path_is_chosen(tmp_path: Path, monkeypatch):
    tool = tmp_path / "home" / ".local" / "pipx" / "venvs" / "tfgpu"
    monkeypatch.setattr(sys, "prefix", str(tool))
    user = _exe(tmp_path / "usr" / "bin" / "python3")
    target, why = python_env.choose_python({"PATH": str(user.parent)})
    assert target == str(user) and "pipx/uv tool environment" in why


@pytest.mark.parametrize("tool_dir", [("pipx", "venvs"), ("uv", "tools")])
def test_a_tool_env_without_another_python3_falls_back_to_its_own(tmp_path: Path, monkeypatch, tool_dir):
    tool = tmp_path.joinpath(*tool_dir, "tfgpu")
    monkeypatch.setattr(sys, "prefix", str(tool))
    target, why = python_env.choose_python({"PATH": str(tmp_path / "empty")})
    assert target == sys.executable and "tfgpu's own" in why


def test_outside_a_tool_env_no_env_means_its_own_interpreter():
    target, why = python_env.choose_python({"PATH": os.defpath})
    assert target == sys.executable and "--python chooses another" in why


def test_the_report_header_says_why(tmp_path: Path):
    from conftest import run_tfgpu

    proc = run_tfgpu("doctor", "--fast", "--python", sys.executable)
    assert f"at {sys.executable}: given with --python" in proc.stdout.replace("\n         ", " "), proc.stdout[:600]
