"""Static typing: mypy over src/tfgpu with the project's configuration (pyproject.toml [tool.mypy]:
every function typed in the rules, the checks and the model) reports no error."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_mypy_is_clean():
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have mypy (the test extras install it)")
        pytest.skip("mypy not installed")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir",
                           str(REPO / ".mypy_cache")], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
