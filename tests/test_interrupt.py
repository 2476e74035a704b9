"""Ctrl-C during the live step: the run ends with exit 130 and one line, and no process it started
survives (its children run in sessions of their own, so the terminal's SIGINT does not reach them:
tfgpu kills their process groups on the way out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_live import standin_env

from conftest import tfgpu_env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (new) parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_sigint_during_the_live_import_leaves_no_child(tmp_path: Path):
    marker = tmp_path / "live-child.pid"
    # A "tensorflow" whose import records its pid, starts a grandchild, then hangs.
    python = standin_env(tmp_path, f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(marker)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(600)
    """)
    env = tfgpu_env()
    proc = subprocess.Popen([sys.executable, "-m", "tfgpu", "doctor", "--python", python, "tf-live"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the live child never started"
    time.sleep(0.2)
    pids = [int(p) for p in marker.read_text().split()]
    assert all(_alive(p) for p in pids)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "a process of the run survived the interrupt"
