"""Linux on Arm: the TensorFlow wheels on PyPI for aarch64 are CPU builds (the matrix's
tensorflow_platforms row for linux-aarch64), so no fix may tell a user there to `pip install
tensorflow...`: it would install a TensorFlow that never uses the GPU. GPU TensorFlow on Arm comes
from NVIDIA (the NGC container, JetPack wheels), which is what every install fix says there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import json_report, run_tfgpu

from tfgpu.fixes import FixContext, command_problems, fitted_fixes, install_tf, tfgpu_platform
from tfgpu.matrix import load
from tfgpu.model import Fix

MATRIX = load()


@pytest.mark.parametrize("command", [
    "python -m pip install 'tensorflow[and-cuda]'",
    "pip install tensorflow==2.21.0",
    "pip install -U 'tensorflow[and-cuda]==2.16.*'",
    "pip install tensorflow-gpu==2.10.0",
])
def test_no_pip_tensorflow_is_a_fix_on_linux_aarch64(command):
    assert command_problems(command, MATRIX, platform="linux-aarch64")
    assert "aarch64" in command_problems(command, MATRIX, platform="linux-aarch64")[0]


@pytest.mark.parametrize("command", ["python -m pip install 'tensorflow[and-cuda]'", "pip install tensorflow==2.21.0"])
def test_the_same_commands_stand_on_linux_x86_64(command):
    assert command_problems(command, MATRIX, platform="linux-x86_64") == []
    assert command_problems(command, MATRIX) == []


def test_other_pip_installs_are_not_judged_by_the_platform():
    assert command_problems("pip install nvidia-cudnn-cu12==9.3.0.75", MATRIX, platform="linux-aarch64") == []


@pytest.mark.parametrize("platform,machine,name", [
    ("linux", "aarch64", "linux-aarch64"), ("linux", "arm64", "linux-aarch64"), ("linux", "x86_64", "linux-x86_64"),
    ("linux", "AMD64", "linux-x86_64"), ("linux", "ppc64le", None), ("win32", "AMD64", None), ("darwin", "arm64", None),
    ("linux", None, None), (None, "aarch64", None),
])
def test_the_matrix_platform_of_a_target(platform, machine, name):
    assert tfgpu_platform(platform, machine) == name


def test_install_tf_on_arm_points_at_nvidias_builds():
    arm = install_tf("/venv/bin/python", "linux", "2.21.0", machine="aarch64")
    assert not any("pip" in c for c in arm.commands)
    assert any("nvcr.io/nvidia/tensorflow" in c for c in arm.commands)
    x86 = install_tf("/venv/bin/python", "linux", "2.21.0", machine="x86_64")
    assert any("pip install" in c and "tensorflow" in c for c in x86.commands)


def test_fitting_drops_a_pypi_tensorflow_command_on_arm_and_keeps_it_on_x86():
    fix = Fix("Install a TensorFlow that fits", ("python -m pip install 'tensorflow[and-cuda]==2.16.2'",))
    arm = FixContext(platform="linux", machine="aarch64")
    assert fitted_fixes([fix], arm, MATRIX) == ()  # its only command cannot work: the fix goes
    x86 = FixContext(platform="linux", machine="x86_64")
    assert [f.commands for f in fitted_fixes([fix], x86, MATRIX)] == [fix.commands]


def _as_aarch64(report: dict) -> dict:
    for probe in ("host", "python_env"):
        data = report["facts"][probe]["data"]
        data["machine"] = "aarch64"
    return report


def test_a_doctor_run_on_arm_never_offers_pip_tensorflow(tmp_path: Path):
    # This test venv has no TensorFlow: tf-not-installed, as on a fresh Jetson or Grace machine.
    saved, _ = json_report("doctor", "--fast", "--json", "--python", sys.executable, expect_codes=(1,))
    assert "tf-not-installed" in {f["id"] for f in saved["findings"]}
    path = tmp_path / "arm.json"
    path.write_text(json.dumps(_as_aarch64(saved)))
    report, _ = json_report("doctor", "--json", "--from-facts", str(path), expect_codes=(1,))
    by_id = {f["id"]: f for f in report["findings"]}
    assert "linux-aarch64-no-cuda" in by_id
    commands = [c for f in report["findings"] for fix in f.get("fixes", []) for c in fix["commands"]]
    assert not [c for c in commands if "pip" in c and "tensorflow" in c], commands
    tf_fix = by_id["tf-not-installed"]["fixes"][0]
    assert any("nvcr.io/nvidia/tensorflow" in c for c in tf_fix["commands"])
    text = run_tfgpu("doctor", "--from-facts", str(path))
    assert text.returncode == 1 and "pip install" not in text.stdout
