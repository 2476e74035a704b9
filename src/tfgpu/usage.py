"""Arguments several commands take, checked one way: a bad one is one line on stderr and
SystemExit(2) (a usage error), never a traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from tfgpu.console import EXIT_USAGE
from tfgpu.console import err as _err


def load_matrix(path: Optional[Path]):
    from tfgpu.matrix import MatrixError, load

    try:
        return load(str(path) if path else None)
    except MatrixError as exc:
        _err(f"bad matrix: {exc}")
        raise SystemExit(EXIT_USAGE)


def python_path(path: str) -> str:
    """`--python` as given, or the interpreter inside it where it names a virtualenv or conda env
    directory (bin/python); refused with exit 2, never run, where it cannot be an interpreter."""
    from tfgpu.probes.python_env import interpreter_problem

    if path and os.path.isdir(path):
        for name in ("bin/python", "bin/python3", "python.exe"):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                path = candidate
                break
    problem = interpreter_problem(path)
    if problem:
        _err(f"--python {path}: {problem}")
        raise SystemExit(EXIT_USAGE)
    try:
        # Absolute (not resolved: a venv's python is a symlink whose location matters).
        return os.path.abspath(path)
    except OSError:
        _err(f"--python {path}: is relative, and the working folder it is relative to no longer exists")
        raise SystemExit(EXIT_USAGE)
