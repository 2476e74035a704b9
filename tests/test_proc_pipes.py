"""Every pipe of every child is closed (issue #14 item 11): no ResourceWarning under
`-W error::ResourceWarning`, no file descriptor left open after a command, however it ended; and what a
child leaves running in its process group is killed when it ends, its pipes not waited for."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from conftest import tfgpu_env
from test_live import fake_tf, standin_env

from tfgpu import proc


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _every_ending() -> list[proc.CommandResult]:
    py = sys.executable
    return [
        proc.run(["true"], 5),
        proc.run([py, "-c", "import sys; sys.stdout.write(sys.stdin.read())"], 5, stdin_data=b"x" * 300_000),
        proc.run([py, "-c", "import sys; sys.stdout.write('y' * 9_000_000)"], 10),
        proc.run(["sleep", "30"], 0.3),
        proc.run(["sh", "-c", "kill -SEGV $$"], 5),
        proc.run(["/nonexistent/tool"], 5),
        proc.run(["sh", "-c", "sleep 30 & echo started"], 5),
        proc.run([py, "-c", "import sys; sys.stdin.close(); print('closed')"], 5, stdin_data=b"z" * 300_000),
    ]


def test_no_pipe_or_descriptor_outlives_a_command():
    before = _fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = _every_ending()
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks
    assert _fds() == before
    assert results[1].stdout == "x" * 300_000
    assert results[2].truncated and len(results[2].stdout) < proc.OUTPUT_CAP + 100
    assert results[3].timed_out and results[4].signal == 11 and results[5].start_error == "not found"
    assert results[7].stdout.strip() == "closed"


def test_a_background_grandchild_is_killed_and_not_waited_for():
    t0 = time.monotonic()
    result = proc.run(["sh", "-c", "sleep 60 & echo $!"], 10)
    assert time.monotonic() - t0 < 5, "reading waited for the grandchild's end of the pipe"
    pid = int(result.stdout.strip())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}").exists() else "Z"
        if state == "Z":
            break
        time.sleep(0.05)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z", "the grandchild survived"


def test_stdout_is_seen_as_it_arrives():
    seen: list[tuple[float, bytes]] = []
    t0 = time.monotonic()
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)\n"
    result = proc.run([sys.executable, "-c", code], 10, on_stdout=lambda b: seen.append((time.monotonic() - t0, b)))
    assert result.stdout == "0\n1\n2\n"
    assert b"".join(b for _t, b in seen) == b"0\n1\n2\n"
    assert seen[0][0] < seen[-1][0] - 0.4, seen  # the first line came long before the last


def _doctor(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-m", "tfgpu", *args],
                          capture_output=True, text=True, env=tfgpu_env(env), timeout=180)


def test_doctor_fast_leaves_no_resource_warning():
    p = _doctor(["doctor", "--fast", "--json"])
    assert p.returncode in (0, 1), p.stderr[-2000:]
    assert "ResourceWarning" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr[-3000:]


def test_the_live_probe_leaves_no_resource_warning(tmp_path: Path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())"))
    p = _doctor(["doctor", "--json", "--python", python])
    assert p.returncode in (0, 1), p.stderr[-2000:]
    assert '"tf_live"' in p.stdout
    assert "ResourceWarning" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr[-3000:]
