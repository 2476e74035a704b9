"""Live TensorFlow probe: imports the target's TensorFlow in a child of the target interpreter,
lists its GPUs, runs a small matmul / conv2d / XLA function on each, and captures TensorFlow's
whole C++ log (verbose enough to name each library it fails to load).

Failure modes, each kept as a fact with the last log lines as evidence: ImportError (broken or
CPU-incompatible install), a crash by signal (a library that segfaults or aborts on load), a hang
(driver stuck, a GPU in a bad state: killed at the time limit), endless output (capped).
Started first, so it runs in parallel with every other probe. Skipped by --fast.
"""

from __future__ import annotations

import json
import shutil
import threading
import time

from tfgpu import proc
from tfgpu.model import ProbeStatus, RunOptions
from tfgpu.probes import FactEnum, ProbeContext, _children, failure, probe
from tfgpu.records import dataclass

MARK = "@@TFGPU-LIVE@@"
#: Default time limit (the run options' one): TensorFlow's import alone can take tens of seconds on a cold disk.
DEFAULT_LIMIT = RunOptions.live_timeout
#: Log lines kept in the fact (head and tail); the whole log can be millions of lines.
KEEP_LINES = 300


class LiveOutcome(FactEnum):
    """How the live import ended."""

    OK = "ok"  # imported, listed the GPUs (and ran the smoke test)
    IMPORT_ERROR = "import_error"  # `import tensorflow` raised
    CRASHED = "crashed"  # killed by a signal
    TIMED_OUT = "timed_out"
    FAILED = "failed"  # ended without finishing for another reason (the stage says where)


@dataclass(frozen=True)
class SmokeResult:
    op: str
    ok: bool
    device: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class LiveGPU:
    name: str
    details: dict[str, str]
    smoke: tuple[SmokeResult, ...] = ()


@dataclass(frozen=True)
class TFLive:
    outcome: LiveOutcome
    python: str
    version: str | None
    import_seconds: float | None
    build_info: dict[str, str]
    gpus: tuple[LiveGPU, ...]
    mapped_libraries: tuple[str, ...]
    stage: str  # the last stage the child reached
    error: str | None
    signal: int | None
    seconds: float
    log: tuple[str, ...]  # head and tail of TensorFlow's log (stderr), in order
    log_lines_total: int
    smoke_ran: bool

    @property
    def headline(self) -> str:
        label = f"TensorFlow {self.version}" if self.version else "TensorFlow"
        if not self.gpus:
            return f"{label} listed no GPU"
        ran = [(g, r) for g in self.gpus for r in g.smoke if r.ok and "GPU" in r.device.upper()]
        conv = [(g, r) for g, r in ran if r.op == "conv2d"]
        n = len(self.gpus)
        if conv:
            where = ", ".join(sorted({short_device(r.device) for _, r in conv}))
            return f"{label} listed {n} GPU{'s' if n != 1 else ''} and ran conv2d on {where}"
        return f"{label} listed {n} GPU{'s' if n != 1 else ''}"


def short_device(device: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:0' → '/GPU:0'."""
    tail = device.rsplit("device:", 1)[-1]
    return "/" + tail if not tail.startswith("/") else tail


def child_source() -> str:
    """The live child's source (`tfgpu.probes._children.live`), as the target runs it."""
    return _children.source(_children.LIVE)


def child_env(environ: dict[str, str], smoke: bool) -> dict[str, str]:
    env = dict(environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    # dso_loader names each library it fails to dlopen (VLOG 1 since TF 2.12); cuda_diagnostics
    # says why the kernel driver is unusable. Per-module, so the log stays small.
    env["TF_CPP_VMODULE"] = "dso_loader=1,cuda_diagnostics=1"
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # never grab a whole GPU's memory
    env["TFGPU_LIVE_SMOKE"] = "1" if smoke else "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_stages(stdout: str) -> list[dict]:
    stages = []
    for line in stdout.splitlines():
        if line.startswith(MARK):
            try:
                rec = json.loads(line[len(MARK):])
            except ValueError:
                continue
            if isinstance(rec, dict):
                stages.append(rec)
    return stages


def keep_log(stderr: str) -> tuple[tuple[str, ...], int]:
    lines = stderr.splitlines()
    total = len(lines)
    if total <= KEEP_LINES:
        return tuple(lines), total
    half = KEEP_LINES // 2
    return tuple(lines[:half] + [f"[... {total - KEEP_LINES} lines not kept ...]"] + lines[-half:]), total


def build_fact(python: str, result, stages: list[dict], smoke: bool) -> TFLive:
    by = {s.get("stage"): s for s in stages}
    last = stages[-1]["stage"] if stages else "none"
    gpus_rec = by.get("gpus", {})
    smokes = [s for s in stages if s.get("stage") == "smoke"]
    gpus = []
    for i, g in enumerate(gpus_rec.get("gpus", []) or []):
        device = f"/GPU:{i}"
        results: list[dict] = next((s.get("results", []) for s in smokes if s.get("device") == device), [])
        gpus.append(
            LiveGPU(
                name=str(g.get("name", "")),
                details={str(k): str(v) for k, v in (g.get("details") or {}).items()},
                smoke=tuple(SmokeResult(str(r.get("op")), bool(r.get("ok")), str(r.get("device", "")),
                                        float(r.get("seconds", 0.0)), r.get("error")) for r in results),
            )
        )
    mapped = (by.get("mapped") or gpus_rec or {}).get("mapped", []) or []
    log, total = keep_log(result.stderr)
    if result.timed_out:
        outcome = LiveOutcome.TIMED_OUT
    elif result.signal is not None:
        outcome = LiveOutcome.CRASHED
    elif "import_error" in by:
        outcome = LiveOutcome.IMPORT_ERROR
    elif "done" in by:
        outcome = LiveOutcome.OK
    else:
        outcome = LiveOutcome.FAILED
    error = (by.get("import_error", {}).get("error") or by.get("list_error", {}).get("error")
             or by.get("unsupported_python", {}).get("error"))
    if outcome is LiveOutcome.FAILED and not error:
        error = f"the child {result.describe()} after stage '{last}'"
    imported = by.get("imported", {})
    return TFLive(
        outcome=outcome,
        python=python,
        version=imported.get("version"),
        import_seconds=imported.get("seconds"),
        build_info={str(k): str(v) for k, v in (by.get("build_info", {}).get("build_info") or {}).items()},
        gpus=tuple(gpus),
        mapped_libraries=tuple(str(m) for m in mapped),
        stage=last,
        error=error,
        signal=result.signal,
        seconds=round(result.seconds, 3),
        log=log,
        log_lines_total=total,
        smoke_ran=smoke,
    )


class LiveProgress:
    """What the live child is doing now, read from its stage records as they arrive on its stdout
    (each record says a stage ended, so the next one has begun): for the spinner on a terminal.
    The records themselves still reach the fact only through the finished command's stdout."""

    def __init__(self, limit: float, smoke: bool) -> None:
        self.limit = limit
        self.smoke = smoke
        self.started = time.monotonic()
        self.stage = "starting Python"
        #: Every stage entered, in order, with the seconds since the start at which it began.
        self.history: list[tuple[str, float]] = [(self.stage, 0.0)]
        self._gpus = 0
        self._partial = b""
        self._lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        """Take a piece of the child's stdout (any split), advancing the stage at each record."""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()[-65536:]  # an unfinished line; a line without end is not a record
        for line in lines:
            if line.startswith(MARK.encode()):
                for rec in parse_stages(line.decode("utf-8", "replace")):
                    self._advance(rec)

    def _advance(self, rec: dict) -> None:
        ended = rec.get("stage")
        if ended == "gpus":
            self._gpus = len(rec.get("gpus") or ())
        if ended == "smoke":
            device = str(rec.get("device", ""))
            index = int(device.rsplit(":", 1)[-1]) + 1 if device.rsplit(":", 1)[-1].isdigit() else self._gpus
            stage = f"smoke test on GPU {index}" if index < self._gpus else "listing the CUDA libraries loaded"
        elif ended == "gpus" and self.smoke and self._gpus:
            stage = "smoke test on GPU 0"
        else:
            stage = _NEXT_STAGE.get(str(ended), self.stage)
        with self._lock:
            if stage != self.stage:
                self.stage = stage
                self.history.append((stage, round(time.monotonic() - self.started, 3)))

    def snapshot(self) -> tuple[str, float, float]:
        """(the stage now, seconds since the child started, the limit in seconds)."""
        with self._lock:
            return self.stage, time.monotonic() - self.started, self.limit


#: The stage that begins when the child reports the end of a stage (smoke stages: see `_advance`).
_NEXT_STAGE = {
    "start": "importing TensorFlow",
    "imported": "reading TensorFlow's build info",
    "build_info": "listing GPUs",
    "gpus": "finishing",
    "mapped": "finishing",
    # The answer is complete; Python's exit with TensorFlow loaded still takes seconds.
    "done": "waiting for TensorFlow to exit",
    "import_error": "waiting for the child to exit",
    "unsupported_python": "waiting for the child to exit",
}

_PROGRESS: list[LiveProgress] = []


def progress() -> LiveProgress | None:
    """The live probe's progress in this process: the one running, else the last one run."""
    return _PROGRESS[-1] if _PROGRESS else None


@probe("tf_live", "TensorFlow, imported live", TFLive, slow=True, timeout=None)
def probe_tf_live(ctx: ProbeContext):
    limit = float(ctx.option("live_timeout") or DEFAULT_LIMIT)
    smoke = bool(ctx.option("smoke", True))
    watch = LiveProgress(limit, smoke)
    _PROGRESS[:] = [watch]
    # An empty working directory: `python -c` puts it first on sys.path, and a stray
    # ./tensorflow folder (a source checkout) would otherwise shadow the installed package.
    cwd = proc.empty_folder("tfgpu-live-")
    try:
        # Not isolated: the import must see PYTHONPATH and the user's site-packages as their program does.
        env = child_env(dict(ctx.environ), smoke)
        if ctx.run_command is proc.run:  # the real runner: its stdout is watched as it arrives
            argv = proc.python_command(ctx.python, child_source(), isolated=False)
            result = proc.run(argv, timeout=limit, env=env, cwd=cwd, on_stdout=watch.feed)
        else:
            result = ctx.run_child(_children.LIVE, python=ctx.python, isolated=False, timeout=limit, env=env, cwd=cwd)
            watch.feed(result.stdout.encode("utf-8", "replace") + b"\n")
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    if result.start_error:
        status = ProbeStatus.NOT_FOUND if result.start_error == "not found" else ProbeStatus.FAILED
        return failure("tf_live", status, f"{ctx.python}: {result.start_error}")
    return build_fact(ctx.python, result, parse_stages(result.stdout), smoke)
