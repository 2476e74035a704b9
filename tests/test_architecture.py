"""The architecture's rules, enforced: one command seam, and checks/renderers that do no I/O."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tfgpu"
PURE = sorted([*SRC.glob("checks/*.py"), *SRC.glob("render/*.py"), SRC / "verdict.py", SRC / "recommend.py",
               SRC / "explain" / "scan.py", SRC / "explain" / "report.py"])
#: Calls that touch the machine. Checks get their facts from probes, their data from the runner.
IO_CALLS = {"open", "os.listdir", "os.scandir", "os.stat", "os.walk", "os.access", "os.path.exists", "os.path.isfile",
            "os.path.isdir", "os.path.realpath", "os.path.getsize", "os.path.islink", "glob.glob", "shutil.which",
            "subprocess.run", "subprocess.Popen", "os.system", "os.popen", "ctypes.CDLL"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_do_no_io(path):
    tree = ast.parse(path.read_text(), str(path))
    calls = [(n.lineno, _dotted(n.func)) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    bad = [(line, name) for line, name in calls if name in IO_CALLS or name.endswith((".read_text", ".read_bytes"))]
    assert not bad, f"{path.name} does I/O: {bad}"


def test_only_the_command_seam_runs_commands():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    proc = subprocess.run([ruff, "check", "--select", "TID251", "--no-cache", str(SRC)], capture_output=True, text=True,
                          cwd=SRC.parent.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_undefined_or_unused_names():
    """pyflakes-level errors (ruff F): undefined names, unused imports and variables."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    root = SRC.parent.parent
    proc = subprocess.run([ruff, "check", "--select", "F", "--no-cache", "src", "tests", "tools", "bench"],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
