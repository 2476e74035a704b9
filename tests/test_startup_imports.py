"""What `tfgpu doctor --fast` imports, and the `fleet` sub-app built on first use (issue #10: --fast
loads nothing it does not need; bench/bench_doctor.py measures the time).

The doctor runs in a subprocess, as a user runs it, and writes the names in sys.modules at exit.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import run_tfgpu, tfgpu_env

#: Runs `python -m tfgpu ARGS` and, at exit, writes sorted(sys.modules) as JSON to the file argv[1].
_RECORD = """
import atexit, json, runpy, sys
out = sys.argv[1]
def dump():
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)
atexit.register(dump)
sys.argv = ["tfgpu", *sys.argv[2:]]
runpy.run_module("tfgpu", run_name="__main__", alter_sys=True)
"""

#: Never needed by `doctor --fast --json` once the matrix is cached: the fleet commands, YAML (the
#: matrix is read from its cache; explain's knowledge is for the live import's log), Rich (no
#: spinner, no table), NVML's bindings (the NVML child imports them, never tfgpu), Typer and the
#: command-line declarations (tfgpu.launch reads a plain doctor command line itself), tempfile and
#: the `random` it imports (the children's empty working folders come from tfgpu.proc.empty_folder),
#: packaging's requirement and marker parsers with the tags, logging and platform they import
#: (tfgpu.pep508 reads Requires-Dist lines), platform (os.uname answers on POSIX), hashlib (the
#: cache's BLAKE2b comes from _blake2, without OpenSSL).
NOT_FOR_FAST = ("tfgpu.fleet", "yaml", "rich", "pynvml", "tfgpu.explain", "typer", "click", "tfgpu.cli",
                "tempfile", "random", "packaging.requirements", "packaging.markers", "packaging.utils",
                "packaging.tags", "logging", "platform", "sysconfig", "hashlib")


def _modules_after(tmp_path, *args: str) -> tuple[int, list[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", _RECORD, str(out), *args], capture_output=True, text=True,
                          env=tfgpu_env(), timeout=120, check=False)
    return proc.returncode, json.loads(out.read_text())


def test_doctor_fast_json_imports_nothing_it_does_not_use(tmp_path):
    args = ("doctor", "--fast", "--json", "--python", sys.executable)
    first, modules = _modules_after(tmp_path, *args)  # parses the bundled matrix once, into the cache
    assert first == 1
    code, modules = _modules_after(tmp_path, *args)
    assert code == 1  # the hermetic "no driver" stand-in: an error finding
    assert "tfgpu.checks" in modules and "tfgpu.runner" in modules  # it did run the checks
    loaded = [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_FAST)]
    assert loaded == []


def test_fleet_is_listed_and_runs_though_built_on_first_use(tmp_path):
    code, modules = _modules_after(tmp_path, "--help")
    assert code == 0 and "tfgpu.fleet.cli" in modules  # listed, so built
    top = run_tfgpu("--help")
    assert top.returncode == 0
    assert any(line.split()[:2] == ["│", "fleet"] or line.split()[:1] == ["fleet"] for line in top.stdout.splitlines())
    sub = run_tfgpu("fleet", "--help")
    assert sub.returncode == 0
    for command in ("report", "slurm", "healthcheck", "k8s-manifest"):
        assert command in sub.stdout
    typo = run_tfgpu("flet")
    assert typo.returncode == 2 and "fleet" in typo.stderr  # "did you mean" still weighs it
