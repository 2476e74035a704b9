"""The one seam through which tfgpu runs external commands.

Always an argv list (never a shell), always a time limit, and every way a command can end is a
value: finished with a code, killed by a signal, timed out, or not startable at all. Output is
capped so that a program printing without end cannot exhaust memory.
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import field
from typing import Callable, Mapping, Sequence

from tfgpu.records import dataclass

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


class _Sink:
    """One pipe's output, keeping the first and last `cap/2` bytes (the tail matters for diagnosis)."""

    def __init__(self, cap: int, on_data: Callable[[bytes], None] | None = None) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.half = cap // 2
        self.truncated = False
        self.on_data = on_data

    def add(self, chunk: bytes) -> None:
        if self.on_data is not None:
            try:
                self.on_data(chunk)
            except Exception:  # an observer's bug must never lose the command's output
                self.on_data = None
        if len(self.head) < self.half:
            take = self.half - len(self.head)
            self.head += chunk[:take]
            chunk = chunk[take:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                self.truncated = True
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        marker = b"\n[... output truncated ...]\n" if self.truncated else b""
        return (bytes(self.head) + marker + bytes(self.tail)).decode("utf-8", "replace")


def run(
    argv: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin_data: bytes | None = None,
    cwd: str | None = None,
    cap: int = OUTPUT_CAP,
    on_stdout: Callable[[bytes], None] | None = None,
) -> CommandResult:
    """Run `argv` with a hard time limit; never raises for anything the command does.

    The child gets its own process group so that a timeout kills it and everything it started; when
    it ends, whatever it left running in its group is killed too. `on_stdout` (optional) sees each
    piece of stdout as it arrives (a live child's progress), on the calling thread. Every pipe is
    closed before returning.
    """
    global _STARTING
    argv = tuple(str(a) for a in argv)
    start = time.monotonic()
    with _RUNNING_LOCK:
        if _ENDING:
            return CommandResult(argv, start_error="not started: tfgpu is ending")
        _STARTING += 1
    proc: subprocess.Popen | None = None
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
    finally:
        with _SETTLED:
            _STARTING -= 1
            if proc is not None:
                _RUNNING.add(proc)
            _SETTLED.notify_all()
    try:
        return _finish(proc, argv, start, timeout, stdin_data, cap, on_stdout)
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


#: After the child ended, how long output is still read from pipes something else holds open (a
#: descendant that left the child's process group): reading stops at the child's exit, not at EOF.
EXIT_GRACE = 1.0


def _reap(proc: subprocess.Popen, wake: int) -> None:
    """Wait for the child's exit; kill what it left in its process group while its pid is still held
    (waitid with WNOWAIT: no other process can have taken the pid yet), then reap it."""
    try:
        if hasattr(os, "waitid"):
            try:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                pass
            _kill_group(proc, leader=False)
        proc.wait()
    except Exception:  # the reaper must always wake the waiting thread
        pass
    finally:
        try:
            os.write(wake, b"x")
        except OSError:
            pass


def _finish(proc: subprocess.Popen, argv: tuple[str, ...], start: float, timeout: float,
            stdin_data: bytes | None, cap: int, on_stdout: Callable[[bytes], None] | None) -> CommandResult:
    assert proc.stdout is not None and proc.stderr is not None
    sinks = {proc.stdout.fileno(): _Sink(cap, on_stdout), proc.stderr.fileno(): _Sink(cap)}
    out_sink, err_sink = sinks.values()
    # The exit is noticed through a pipe the reaper thread writes to, so one select() waits for output,
    # input space and the exit at once (no polling: a short command costs no added sleep).
    wake_r, wake_w = os.pipe()
    reaper = threading.Thread(target=_reap, args=(proc, wake_w), daemon=True)
    sel = selectors.DefaultSelector()
    pending = memoryview(stdin_data or b"")
    timed_out = False
    exited = False
    stop_at: float | None = None
    try:
        reaper.start()
        sel.register(wake_r, selectors.EVENT_READ)
        for fd in sinks:
            sel.register(fd, selectors.EVENT_READ)
        stdin_fd = proc.stdin.fileno() if proc.stdin is not None else None
        if stdin_fd is not None:
            os.set_blocking(stdin_fd, False)
            sel.register(stdin_fd, selectors.EVENT_WRITE)
        deadline = start + max(timeout, 0.01)
        while len(sel.get_map()) > (0 if exited else 1):
            now = time.monotonic()
            if not exited and not timed_out and now >= deadline:
                timed_out = True
                _kill_group(proc)
                stop_at = now + 5.0 + EXIT_GRACE
            if exited and stop_at is None:
                stop_at = now + EXIT_GRACE
            wait = (stop_at if stop_at is not None else deadline) - now
            if stop_at is not None and wait <= 0:
                break
            for key, _events in sel.select(max(wait, 0.0)):
                fd = key.fd
                if fd == wake_r:
                    sel.unregister(wake_r)
                    exited = True
                elif fd == stdin_fd:
                    try:
                        pending = pending[os.write(fd, pending[:65536]):]
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:  # the child closed its stdin: it does not want the rest
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()  # type: ignore[union-attr]
                else:
                    try:
                        chunk = os.read(fd, 65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        chunk = b""
                    if chunk:
                        sinks[fd].add(chunk)
                    else:
                        sel.unregister(fd)
        if not exited:
            # Output ended before the exit was noticed: wait for the exit (bounded by the limit).
            if not _wait_exit(reaper, deadline):
                timed_out = True
                _kill_group(proc)
                reaper.join(5.0)
    finally:
        sel.close()
        os.close(wake_r)
        reaper.join(1.0 if exited else 0.0)  # it has written its byte; let it return
        if not reaper.is_alive():
            os.close(wake_w)
        # else: the reaper still waits on a child that could not be killed and keeps wake_w (one fd)
    seconds = time.monotonic() - start
    code = proc.returncode
    sig = -code if code is not None and code < 0 else None
    return CommandResult(
        argv,
        returncode=None if (timed_out or sig is not None) else code,
        signal=None if timed_out else sig,
        timed_out=timed_out,
        stdout=out_sink.text(),
        stderr=err_sink.text(),
        seconds=seconds,
        truncated=out_sink.truncated or err_sink.truncated,
    )


def _wait_exit(reaper: threading.Thread, deadline: float) -> bool:
    reaper.join(max(deadline - time.monotonic(), 0.0))
    return not reaper.is_alive()


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
#: Reentrant: kill_running also runs from a signal handler, on a thread that may hold it.
_RUNNING_LOCK = threading.RLock()
_SETTLED = threading.Condition(_RUNNING_LOCK)  # notified when a start in progress is registered
#: Children being started (between the fork and their registration in _RUNNING), and whether the
#: process is ending (kill_running was called: no child starts after that).
_STARTING = 0
_ENDING = False
#: How long kill_running waits for the starts in progress to register.
START_GRACE = 2.0


def kill_running() -> int:
    """At the end of the process (atexit, a signal, tfgpu.launch): start no more children, wait for
    the ones being started to register (a child forked just before os._exit would otherwise outlive
    tfgpu, in a session of its own), then kill the process group of every child still running.
    Returns how many there were."""
    global _ENDING
    with _SETTLED:
        _ENDING = True
        _SETTLED.wait_for(lambda: _STARTING == 0, timeout=START_GRACE)
        running = list(_RUNNING)
    for proc in running:
        if proc.poll() is None:
            _kill_group(proc)
    return len(running)


atexit.register(kill_running)


def _kill_group(proc: subprocess.Popen, leader: bool = True) -> None:
    """SIGKILL the child's process group (its pid: each child leads a session of its own); with
    `leader` False (the child has exited, unreaped), only what it left behind there matters."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError, AttributeError):
        if leader:
            try:
                proc.kill()
            except OSError:
                pass


def empty_folder(prefix: str) -> str:
    """A new, empty folder only this user can enter (0700), to start a child in: `python -c` puts
    its working folder first on sys.path, and nothing may be importable from there. What
    `tempfile.mkdtemp(prefix=...)` makes, in the first of tempfile's own POSIX candidates (TMPDIR,
    TEMP, TMP, /tmp, /var/tmp, /usr/tmp) where a folder can be made, without importing tempfile on
    every run (its `random` import is ~15 ms of a `--fast` run's critical path). On Windows, where
    a mode does not make a folder private, and where none of them takes a new folder, tempfile
    itself decides. The caller removes the folder."""
    if os.name == "posix":
        for base in filter(None, [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
                           + ["/tmp", "/var/tmp", "/usr/tmp"]):
            for _attempt in range(10):
                path = os.path.join(os.path.abspath(base), f"{prefix}{os.urandom(6).hex()}")
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    continue
                except OSError:
                    break
                return path
    import tempfile

    return tempfile.mkdtemp(prefix=prefix)
