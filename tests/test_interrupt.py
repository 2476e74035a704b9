"""Ctrl-C (or SIGTERM/SIGHUP) during the live step: the run ends with 128 + the signal and one line, and no
process it started survives (its children run in sessions of their own, so the terminal's SIGINT does not reach them:
tfgpu kills their process groups on the way out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGHUP, 129, "hung up")])
def test_a_signal_during_the_live_import_leaves_no_child(tmp_path: Path, sig, code, said):
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
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err[-2000:]
    assert said in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "a process of the run survived the interrupt"


def test_explain_on_a_terminal_says_how_to_paste_and_end(tmp_path: Path):
    """Reading a terminal would wait in silence: explain says how to paste and end the input (Ctrl-D)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tfgpu", "explain"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tfgpu_env())
    os.close(slave)
    try:
        time.sleep(1.0)
        os.write(master, b"Could not load dynamic library 'libcudnn.so.8'; dlerror: libcudnn.so.8: not found\n")
        os.write(master, b"\x04")  # Ctrl-D on a line of its own ends the input
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert "paste the log" in err and "Ctrl-D" in err, err
    assert proc.returncode == 1, err[-2000:]  # the pasted line is a real problem
