"""Shared test helpers: run the CLI as a subprocess, validate JSON reports, compile stand-ins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "src" / "tfgpu" / "schema" / "report.schema.json"


def run_tfgpu(*args: str, env: dict | None = None, timeout: float = 120, input: str | None = None,
              cwd: str | None = None):
    """Run `python -m tfgpu ARGS` in a subprocess, as a user would; return CompletedProcess."""
    full_env = dict(os.environ)
    full_env.pop("VIRTUAL_ENV", None)
    full_env.pop("CONDA_PREFIX", None)
    full_env["NO_COLOR"] = "1"
    full_env["COLUMNS"] = "120"
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tfgpu", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        input=input,
        cwd=cwd,
    )


def validate_report(data: dict) -> None:
    """Every JSON report the tests see must satisfy the shipped schema."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(data, schema)


def json_report(*args: str, env: dict | None = None, timeout: float = 120, expect_codes=(0, 1)) -> tuple[dict, subprocess.CompletedProcess]:
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
