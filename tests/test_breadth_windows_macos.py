"""Named machines for the doctor's platform check on native Windows and macOS (issue 12, classes 1
and 2): what the installed distributions and the interpreter's architecture show, and the fix."""

from __future__ import annotations

import pytest

from tfgpu.checks import load_all, run_checks
from tfgpu.matrix import load as load_matrix
from tfgpu.model import Severity
from tfgpu.probes.environment import EnvVars
from tfgpu.probes.host import HostInfo
from tfgpu.probes.python_env import Distribution, PythonEnv


def _env(platform: str, machine: str, dists: tuple[Distribution, ...], version: str = "3.11.7") -> PythonEnv:
    return PythonEnv("/venv/bin/python", version, "CPython", platform, machine, "/venv", True, False,
                     dists, tuple("/venv/lib/tensorflow" for _ in dists[:1]))


def _run(host: HostInfo, env: PythonEnv) -> dict:
    load_all()
    findings, crashed = run_checks({"host": host, "python_env": env, "environment": EnvVars({})},
                                   load_matrix(), ["platform-gpu-support"])
    assert not crashed
    return {f.id: f for f in findings}


TF = Distribution("tensorflow", "2.16.2", "/venv/lib")
METAL = Distribution("tensorflow-metal", "1.1.0", "/venv/lib")
TF_MACOS = Distribution("tensorflow-macos", "2.12.0", "/venv/lib")
MAC_ARM = HostInfo("Darwin", "arm64", "23")
MAC_X86 = HostInfo("Darwin", "x86_64", "21")

MACHINES = {
    # Apple silicon, tensorflow + tensorflow-metal: the Apple GPU path is there (no CUDA on macOS).
    "macbook_m2_tf216_metal": (MAC_ARM, _env("darwin", "arm64", (TF, METAL)),
                               {"macos-no-cuda": Severity.ERROR, "macos-metal": Severity.INFO}),
    # Apple silicon without the plugin: CPU only, the fix installs tensorflow-metal.
    "macbook_m1_tf216_no_metal": (MAC_ARM, _env("darwin", "arm64", (TF,)),
                                  {"macos-no-cuda": Severity.ERROR, "macos-metal-missing": Severity.WARNING}),
    # An x86_64 Python on macOS: an Intel Mac, or Rosetta on Apple silicon.
    "imac_intel_or_rosetta_python": (MAC_X86, _env("darwin", "x86_64", (TF, METAL)),
                                     {"macos-no-cuda": Severity.ERROR, "macos-x86-python": Severity.WARNING}),
    # tensorflow-macos left beside tensorflow 2.16 (Apple: tensorflow from 2.13 on).
    "macbook_m1_tf216_and_tensorflow_macos": (MAC_ARM, _env("darwin", "arm64", (TF, TF_MACOS, METAL)),
                                              {"macos-tensorflow-macos-obsolete": Severity.WARNING}),
    # Native Windows after 2.10: no GPU at all.
    "windows_native_tf216": (HostInfo("Windows", "AMD64", "10"), _env("win32", "AMD64", (TF,)),
                             {"windows-native-gpu-unsupported": Severity.ERROR}),
    # Native Windows with 2.10: the last GPU release (CUDA 11.2 / cuDNN 8.1), a warning only.
    "windows_native_tf210": (HostInfo("Windows", "AMD64", "10"),
                             _env("win32", "AMD64", (Distribution("tensorflow", "2.10.1", "/venv/lib"),), "3.10.11"),
                             {"windows-native-gpu": Severity.WARNING}),
}


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_named_machine(name: str) -> None:
    host, env, expected = MACHINES[name]
    found = _run(host, env)
    for fid, sev in expected.items():
        assert fid in found, (name, sorted(found))
        assert found[fid].severity is sev, (name, fid)
        if sev in (Severity.ERROR, Severity.WARNING):
            assert found[fid].fixes and all(fix.commands for fix in found[fid].fixes), fid


def test_metal_missing_fix_uses_the_target_interpreter() -> None:
    found = _run(MAC_ARM, _env("darwin", "arm64", (TF,)))
    assert found["macos-metal-missing"].fixes[0].commands == ("/venv/bin/python -m pip install tensorflow-metal",)


def test_metal_present_is_not_called_missing() -> None:
    found = _run(MAC_ARM, _env("darwin", "arm64", (TF, METAL)))
    assert "macos-metal-missing" not in found and "macos-x86-python" not in found
    assert "1.1.0" in found["macos-metal"].summary


def test_x86_python_names_the_last_macos_x86_release() -> None:
    found = _run(MAC_X86, _env("darwin", "x86_64", (TF,)))
    assert "2.16" in found["macos-x86-python"].summary  # matrix tensorflow_platforms macos-x86_64 row
    assert "macos-metal-missing" not in found


def test_windows_fix_is_wsl2_or_the_last_gpu_release() -> None:
    found = _run(HostInfo("Windows", "AMD64", "10"), _env("win32", "AMD64", (TF,)))
    cmds = [c for fix in found["windows-native-gpu-unsupported"].fixes for c in fix.commands]
    assert "wsl --install" in cmds
    assert any("tensorflow<2.11" in c for c in cmds)
