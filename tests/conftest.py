"""Shared test helpers: run the CLI as a subprocess, validate JSON reports, compile stand-ins.

Every test is hermetic (the autouse fixture `hermetic`):
- HOME is a fresh temporary folder per test, XDG_CACHE_HOME a temporary folder of this session,
  so nothing is read from or written to the real ~/.cache/tfgpu (run_tfgpu refuses a HOME
  outside pytest's temporary folder; tests/test_hermetic.py proves where the cache goes);
- the driver state is decided by a stand-in, never by the host: the "no driver" stand-in is a
  folder whose libnvidia-ml.so.1 and libcuda.so.1 are not loadable libraries, on LD_LIBRARY_PATH
  (searched before the loader cache, so the host's real driver never answers), and a stand-in
  nvidia-smi first on PATH that says NVML cannot be loaded. A test that wants a driver puts the
  stand-in NVML (tests/test_driver_standin.py) on LD_LIBRARY_PATH; run_tfgpu keeps the "no
  driver" folder after it, so a stand-in NVML wins and the host's libcuda.so.1 still cannot load;
- the variables that change what CUDA or TensorFlow do (the environment probe's allow-list) are
  removed, so the host's CUDA_VISIBLE_DEVICES, CUDA_HOME, XLA_FLAGS, ... never leak in.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tfgpu.probes.environment import RELEVANT

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "src" / "tfgpu" / "schema" / "report.schema.json"

#: The real cache folder of the user running the tests, read before any test changes HOME.
REAL_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tfgpu"

#: Test configuration that survives the clean-up (see tf_python and scripts/test.sh).
KEEP = ("TFGPU_TEST_TF_PYTHON", "TFGPU_TEST_TF_CUDA_PYTHON", "TFGPU_SKIP_TF_VENVS")
#: Beyond the environment probe's allow-list: other host state tfgpu reads.
HOST_STATE = ("CONDA_DEFAULT_ENV", "KUBERNETES_SERVICE_HOST", "FORCE_COLOR", "PYTHONSAFEPATH", "PYTHONHOME",
              "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "SLURMD_NODENAME", "TFGPU_NODE_NAME")

NO_NVIDIA_SMI = """#!/bin/sh
# Stand-in for an nvidia-smi on a machine whose NVIDIA library cannot be loaded.
echo "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system." >&2
exit 12
"""


@dataclass(frozen=True)
class Hermetic:
    """Where this session's stand-ins live."""

    base: Path  # pytest's temporary root: every HOME a test sees is under it
    cache: Path  # XDG_CACHE_HOME
    no_driver_lib: Path  # libnvidia-ml.so.1 and libcuda.so.1 that cannot be loaded
    no_driver_bin: Path  # nvidia-smi that finds no NVML


_SESSION: list[Hermetic] = []


@pytest.fixture(scope="session")
def hermetic_session(tmp_path_factory) -> Hermetic:
    root = tmp_path_factory.mktemp("no-driver")
    lib, bin_ = root / "lib", root / "bin"
    lib.mkdir()
    bin_.mkdir()
    for name in ("libnvidia-ml.so.1", "libcuda.so.1"):  # too short to be ELF: dlopen() fails here
        (lib / name).write_text("not a library: the tests' no-driver stand-in\n")
    smi = bin_ / "nvidia-smi"
    smi.write_text(NO_NVIDIA_SMI)
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    state = Hermetic(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("xdg-cache"), lib, bin_)
    _SESSION.append(state)
    return state


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path, hermetic_session) -> Hermetic:
    """A temporary HOME and cache, the "no driver" stand-in, and no host CUDA/TensorFlow variables."""
    for key in list(os.environ):
        if key in RELEVANT or key in HOST_STATE or (key.startswith(("TFGPU_", "FAKE_NVML_")) and key not in KEEP):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(hermetic_session.cache))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(hermetic_session.no_driver_lib))
    monkeypatch.setenv("PATH", f"{hermetic_session.no_driver_bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    return hermetic_session


def run_tfgpu(*args: str, env: dict | None = None, timeout: float = 120, input: str | None = None,
              cwd: str | None = None):
    """Run `python -m tfgpu ARGS` in a subprocess, as a user would; return CompletedProcess.

    `env` adds to the hermetic environment; an LD_LIBRARY_PATH in it comes first, the "no driver"
    folder stays last (so only a stand-in decides the driver state)."""
    return subprocess.run(
        [sys.executable, "-m", "tfgpu", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tfgpu_env(env),
        input=input,
        cwd=cwd,
    )


def tfgpu_env(env: dict | None = None) -> dict[str, str]:
    """The hermetic environment a tfgpu subprocess runs in (what run_tfgpu uses), plus `env`."""
    assert _SESSION, "tfgpu_env needs the hermetic fixture"
    state = _SESSION[0]
    full_env = dict(os.environ)
    assert Path(full_env["HOME"]).is_relative_to(state.base), f"HOME is not temporary: {full_env['HOME']}"
    full_env.pop("VIRTUAL_ENV", None)
    full_env.pop("CONDA_PREFIX", None)
    full_env["NO_COLOR"] = "1"
    full_env["COLUMNS"] = "120"
    if env:
        full_env.update(env)
    no_driver = str(state.no_driver_lib)
    ld = [p for p in full_env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != no_driver]
    full_env["LD_LIBRARY_PATH"] = os.pathsep.join([*ld, no_driver])
    return full_env


def validate_report(data: dict) -> None:
    """Every JSON report the tests see must satisfy the shipped schema."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(data, schema)


def json_report(*args: str, expect_codes: tuple[int, ...], env: dict | None = None,
                timeout: float = 120) -> tuple[dict, subprocess.CompletedProcess]:
    """Run the CLI, require one of `expect_codes` (the machine state is a stand-in, so say the one
    code it implies), parse and validate the JSON report."""
    proc = run_tfgpu(*args, env=env, timeout=timeout)
    assert proc.returncode in expect_codes, (proc.returncode, proc.stderr[-3000:], proc.stdout[-3000:])
    data = json.loads(proc.stdout)
    validate_report(data)
    return data, proc


def findings_by_id(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        out.setdefault(f["id"], []).append(f)
    return out


@pytest.fixture(scope="session")
def cc() -> str:
    """A C compiler, or skip (CI installs gcc, so these tests run there)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        if os.environ.get("CI"):
            pytest.fail("CI must have a C compiler for the stand-in library tests")
        pytest.skip("no C compiler")
    return compiler


def compile_shared(cc: str, source: str, out: Path, soname: str | None = None, extra: tuple[str, ...] = ()) -> Path:
    """Compile C `source` into the shared library `out` (tests build their own stand-ins)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(out.suffix + ".c")
    src.write_text(source)
    cmd = [cc, "-shared", "-fPIC", "-o", str(out), str(src), *extra]
    if soname:
        cmd.append(f"-Wl,-soname,{soname}")
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


def tf_python(var: str = "TFGPU_TEST_TF_PYTHON") -> str:
    """The interpreter of a venv holding a real tensorflow wheel, or skip (CI provides one)."""
    path = os.environ.get(var)
    if not path or not Path(path).exists():
        if os.environ.get("CI") and var == "TFGPU_TEST_TF_PYTHON":
            pytest.fail(f"CI must provide {var}")
        pytest.skip(f"{var} not set: no real TensorFlow venv")
    return path
