"""One stdout writer: every command's output goes through the CLI's writer, so each one treats a
reader that went away (`| head`) as a quiet end and a stdout that cannot take the output (a full
disk, a closed descriptor) as exit 3 with one line on stderr, never a traceback."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_tfgpu

SRC = Path(__file__).resolve().parent.parent / "src" / "tfgpu"
LOGS = Path(__file__).parent / "data" / "logs"
NOISE_LOG = LOGS / "microwakeword8_noise_only_tf217.txt"
LIB_LOG = LOGS / "behaviormetrics385_cusolver_cudnn_missing.txt"
#: A machine given in full, so `recommend` asks this one nothing but its host facts.
MACHINE = ("--driver", "535.104.05", "--cc", "8.6", "--python-version", "3.11", "--os", "linux")


def _commands(tmp_path: Path) -> dict[str, tuple[tuple[str, ...], int]]:
    """name: (arguments, the exit code the command has when its output is read)."""
    no_facts = tmp_path / "no-facts.json"
    no_facts.write_text(json.dumps({"facts": {}}))
    return {
        "doctor": (("doctor", "--from-facts", str(no_facts)), 0),
        "doctor-json": (("doctor", "--json", "--from-facts", str(no_facts)), 0),
        "list": (("doctor", "--list"), 0),
        "list-json": (("doctor", "--list", "--json"), 0),
        "explain": (("explain", str(LIB_LOG)), 1),
        "explain-json": (("explain", "--json", str(NOISE_LOG)), 0),
        "matrix": (("matrix",), 0),
        "matrix-json": (("matrix", "--json"), 0),
        "matrix-tf": (("matrix", "--tf", "2.16"), 0),
        "matrix-cuda-json": (("matrix", "--cuda", "12.4", "--json"), 0),
        "recommend": (("recommend", *MACHINE), 0),
        "recommend-json": (("recommend", "--json", *MACHINE), 0),
    }


NAMES = ["doctor", "doctor-json", "list", "list-json", "explain", "explain-json", "matrix", "matrix-json",
         "matrix-tf", "matrix-cuda-json", "recommend", "recommend-json"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="120", HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("VIRTUAL_ENV", None)
    env.pop("CONDA_PREFIX", None)
    return env


def _run_to(stdout: int, args: tuple[str, ...], tmp_path: Path) -> tuple[int, str]:
    err = tmp_path / "stderr.txt"
    with open(err, "w") as err_file:
        proc = subprocess.run([sys.executable, "-m", "tfgpu", *args], stdout=stdout, stderr=err_file,
                              stdin=subprocess.DEVNULL, env=_env(tmp_path), timeout=120)
    return proc.returncode, err.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_output_is_written_in_full(name, tmp_path):
    args, code = _commands(tmp_path)[name]
    proc = run_tfgpu(*args, env={"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == code, proc.stderr[-2000:]
    assert proc.stdout.strip() and "Traceback" not in proc.stderr
    if "--json" in args:
        json.loads(proc.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_a_reader_that_went_away_is_a_quiet_end(name, tmp_path):
    args, code = _commands(tmp_path)[name]
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command starts: its first write meets a broken pipe
    try:
        returncode, err = _run_to(write_end, args, tmp_path)
    finally:
        os.close(write_end)
    assert err == "" and returncode == code


@pytest.mark.parametrize("name", NAMES)
def test_a_full_disk_is_exit_3_with_one_line(name, tmp_path):
    args, _code = _commands(tmp_path)[name]
    with open("/dev/full", "w") as full:
        returncode, err = _run_to(full.fileno(), args, tmp_path)
    lines = err.splitlines()
    assert returncode == 3 and len(lines) == 1, err
    assert lines[0].startswith("tfgpu: cannot write the report to standard output:") and "Traceback" not in err


def test_a_closed_stdout_is_exit_3_with_one_line(tmp_path):
    code = "import os, sys; os.close(1); sys.argv = ['tfgpu', 'matrix', '--json']; from tfgpu.launch import main; main()"
    err = tmp_path / "stderr.txt"
    with open(err, "w") as err_file:
        proc = subprocess.run([sys.executable, "-c", code], stderr=err_file, stdout=subprocess.DEVNULL,
                              env=_env(tmp_path), timeout=120)
    lines = err.read_text().splitlines()
    assert proc.returncode == 3 and len(lines) == 1, lines
    assert lines[0].startswith("tfgpu: cannot write the report to standard output:")


def _writes_stdout(path: Path) -> list[int]:
    """Lines where a module prints or touches sys.stdout."""
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            lines.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr in ("stdout", "__stdout__") and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            lines.append(node.lineno)
    return lines


def test_only_the_cli_writes_to_stdout():
    # tfgpu.console is the command modules' one writer (tfgpu.cli, tfgpu.doctor and tfgpu.fleet call
    # it); tfgpu.launch owns the process's streams (closed ones, the last flush).
    # Child-process scripts talk to their parent over their own stdout: they are not the CLI's output.
    children = {p for p in SRC.rglob("*.py") if "_children" in p.parts or p.name.endswith("_child.py")}
    offenders = {str(p.relative_to(SRC)): lines for p in sorted(SRC.rglob("*.py"))
                 if p.name not in ("cli.py", "console.py", "launch.py") and p not in children and (lines := _writes_stdout(p))}
    assert offenders == {}
