"""The one seam through which tfgpu runs external commands.

Always an argv list (never a shell), always a time limit, and every way a command can end is a
value: finished with a code, killed by a signal, timed out, or not startable at all. Output is
capped so that a program printing without end cannot exhaust memory.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

#: Bytes kept from each of stdout and stderr; the tail is what matters for diagnosis.
OUTPUT_CAP = 4 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    """What one command did. Exactly one of `returncode`/`signal`/`timed_out`/`start_error` tells how it ended."""

    argv: tuple[str, ...]
    returncode: int | None = None
    signal: int | None = None
    timed_out: bool = False
    start_error: str | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    truncated: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line saying how the command ended, for evidence and messages."""
        if self.start_error is not None:
            return f"could not start: {self.start_error}"
        if self.timed_out:
            return f"timed out after {self.seconds:.1f} s"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"crashed with signal {self.signal} ({name})"
        return f"exited with code {self.returncode}"


def _drain(stream, sink: list[bytes], cap: int, flags: list[bool]) -> None:
    """Read a pipe to its end, keeping the first and last `cap/2` bytes."""
    head = bytearray()
    tail = bytearray()
    half = cap // 2
    try:
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            if len(head) < half:
                take = half - len(head)
                head += chunk[:take]
                chunk = chunk[take:]
            if chunk:
                tail += chunk
                if len(tail) > half:
                    flags[0] = True
                    del tail[: len(tail) - half]
    except (OSError, ValueError):
        pass
    sink.append(bytes(head))
    if flags[0]:
        sink.append(b"\n[... output truncated ...]\n")
    sink.append(bytes(tail))


def run(
    argv: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin_data: bytes | None = None,
    cwd: str | None = None,
    cap: int = OUTPUT_CAP,
) -> CommandResult:
    """Run `argv` with a hard time limit; never raises for anything the command does.

    The child gets its own process group so that a timeout kills it and everything it started.
    """
    argv = tuple(str(a) for a in argv)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        return CommandResult(argv, start_error="not found")
    except PermissionError:
        return CommandResult(argv, start_error="permission denied")
    except OSError as exc:
        return CommandResult(argv, start_error=f"{type(exc).__name__}: {exc}")
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        return _finish(proc, argv, start, timeout, stdin_data, cap)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


def _finish(proc: subprocess.Popen, argv: tuple[str, ...], start: float, timeout: float,
            stdin_data: bytes | None, cap: int) -> CommandResult:
    out: list[bytes] = []
    err: list[bytes] = []
    out_flag = [False]
    err_flag = [False]
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out, cap, out_flag), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err, cap, err_flag), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stdin_data is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin_data)
            proc.stdin.close()
        except OSError:
            pass

    # A blocking wait in a thread, not Popen.wait(timeout): that one polls with sleeps of up to
    # 50 ms, which adds tens of milliseconds to every short command.
    exited = threading.Event()

    def reap() -> None:
        try:
            proc.wait()
        finally:
            exited.set()

    threading.Thread(target=reap, daemon=True).start()
    timed_out = False
    if not exited.wait(max(timeout, 0.01)):
        timed_out = True
        _kill_group(proc)
        exited.wait(5.0)
    for reader in readers:
        reader.join(timeout=2.0)
    seconds = time.monotonic() - start
    code = proc.returncode
    sig = -code if code is not None and code < 0 else None
    return CommandResult(
        argv,
        returncode=None if (timed_out or sig is not None) else code,
        signal=None if timed_out else sig,
        timed_out=timed_out,
        stdout=b"".join(out).decode("utf-8", "replace"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        seconds=seconds,
        truncated=out_flag[0] or err_flag[0],
    )


def python_command(python: str, source: str, args: Sequence[str] = (), *, isolated: bool = True,
                   site: bool = True) -> list[str]:
    """The one command line for a Python child: `python [-I] [-S] -c SOURCE ARGS...`.

    `isolated` (-I): no PYTHON* variables, no user site-packages, no script or working folder on
    sys.path; for tfgpu's own children. A child that must import as the user's program would (the
    live TensorFlow import) passes False. `site=False` (-S) skips site-packages and their .pth
    files, for children that need only the standard library (or are handed their folders).
    """
    flags = (["-I"] if isolated else []) + ([] if site else ["-S"])
    return [python, *flags, "-c", source, *args]


#: The children still running. Each is in a session of its own (so a time-out kills all it started),
#: which also keeps the terminal's Ctrl-C from reaching them: at exit, whatever the reason (an
#: interrupt included), every group still running is killed, so no TensorFlow child outlives the run.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def kill_running() -> int:
    """Kill the process group of every child still running; return how many there were."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        if proc.poll() is None:
            _kill_group(proc)
    return len(running)


atexit.register(kill_running)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError, AttributeError):
        try:
            proc.kill()
        except OSError:
            pass
