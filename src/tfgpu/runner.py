"""The orchestrator: runs probes concurrently under time limits, then the checks, into a Report.

It owns failure and time. A probe that raises becomes a "probe failed" record, one that overruns
becomes "timed out after N s" and is abandoned (its thread is a daemon). Checks run one at a time on
a worker thread, each under the run's --timeout: a check that raises, overruns, or (a plugin's)
returns anything but well-formed findings is recorded as a failed check (exit code 3; the rest of the
report stands), never confused with a finding about the machine. A Python thread cannot be killed:
a check past its limit is abandoned and may run on until tfgpu exits. What a check prints is kept
off stdout (sys.stdout captured, fd 1 pointed at stderr while checks run) and said on stderr.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

from tfgpu.model import Finding, Fix, ProbeFailure, ProbeStatus, Report, RunOptions, Severity
from tfgpu.probes import Probe, ProbeContext


class _Outcomes:
    """Each probe's outcome, stored exactly once, under a lock.

    The first outcome to arrive for a probe (its result, or the runner's "timed out") is the one
    its dependents see and the report shows. A result that arrives after its probe was judged
    timed out is dropped and only counted as late: it must never replace what dependents saw.
    """

    def __init__(self, names: Iterable[str], shared: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._done = {name: threading.Event() for name in names}
        self._results: dict[str, Any] = {}
        self._seconds: dict[str, float] = {}
        self._late: dict[str, float] = {}
        self._shared = shared  # the probes' view (ProbeContext.results), written under the same lock
        self._sealed = False

    def settle(self, name: str, result: Any, seconds: float) -> bool:
        """Store `name`'s outcome if it has none yet; return whether this one was stored."""
        with self._lock:
            if name in self._results:
                if not self._sealed:
                    self._late[name] = round(seconds, 4)
                return False
            self._results[name] = result
            self._seconds[name] = seconds
            self._shared[name] = result
        self._done[name].set()
        return True

    def has(self, name: str) -> bool:
        with self._lock:
            return name in self._results

    def wait(self, name: str) -> Any:
        """Block until `name` has an outcome (the runner always settles one), then return it."""
        self._done[name].wait()
        with self._lock:
            return self._results[name]

    def seal(self) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
        """Stop counting late arrivals; return (results, seconds, late seconds) as they stand."""
        with self._lock:
            self._sealed = True
            return dict(self._results), dict(self._seconds), dict(self._late)


def _live_limit(options: Any) -> float:
    """The live probe's own limit, from RunOptions (or a plain mapping, as tests and older callers pass)."""
    value = options.get("live_timeout") if isinstance(options, dict) else getattr(options, "live_timeout", None)
    return float(value or RunOptions.live_timeout)


def run_probes(
    probes: Iterable[Probe],
    ctx: ProbeContext,
    on_done: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run `probes` at once, each after the probes it needs, each under its own limit.

    Returns (results by probe name, seconds by probe name). Always returns: the total wait is
    bounded by the longest chain of limits. A probe that overran and then finished while others
    still ran is counted in the timings: "late" (how many) and "late.<probe>" (its real seconds).
    """
    by_name = {p.name: p for p in probes}
    outcomes = _Outcomes(by_name, ctx.results)
    start = time.monotonic()

    def limit_of(p: Probe) -> float:
        if p.slow:
            # Slow probes bound their own child process; the thread waits a little longer.
            return _live_limit(ctx.options) + 10.0
        return p.timeout if p.timeout is not None else ctx.timeout

    def body(p: Probe) -> None:
        t0 = time.monotonic()
        try:
            result = p.func(ctx)
            if result is None:
                result = ProbeFailure(p.name, ProbeStatus.FAILED, "probe returned nothing")
        except Exception as exc:  # a probe must never sink the run
            result = ProbeFailure(
                p.name,
                ProbeStatus.FAILED,
                f"probe failed: {type(exc).__name__}: {exc}",
                {"exception": type(exc).__name__},
            )
        outcomes.settle(p.name, result, time.monotonic() - t0)

    def launch(p: Probe) -> None:
        for need in p.needs:
            if need in by_name:
                outcomes.wait(need)  # its outcome is in ctx.results from then on
        worker = threading.Thread(target=body, args=(p,), daemon=True, name=f"probe-{p.name}")
        t0 = time.monotonic()
        worker.start()
        limit = limit_of(p)
        worker.join(limit)
        if worker.is_alive():
            # Abandoned (a daemon thread); if it finishes later, `settle` drops its result.
            failure = ProbeFailure(p.name, ProbeStatus.TIMED_OUT, f"timed out after {limit:g} s", {"limit_s": limit})
            outcomes.settle(p.name, failure, time.monotonic() - t0)
        elif not outcomes.has(p.name):  # the thread ended without storing (a BaseException)
            outcomes.settle(p.name, ProbeFailure(p.name, ProbeStatus.FAILED, "probe ended without a result"),
                            time.monotonic() - t0)
        if on_done is not None:
            on_done(p.name)

    # Slow probes first, so that the longest work overlaps everything else.
    ordered = sorted(by_name.values(), key=lambda p: not p.slow)
    launchers = [threading.Thread(target=launch, args=(p,), daemon=True) for p in ordered]
    for t in launchers:
        t.start()
    for t in launchers:
        t.join()
    results, seconds, late = outcomes.seal()
    timings = {name: round(seconds[name], 4) for name in by_name}
    if late:
        timings["late"] = len(late)
        timings.update({f"late.{name}": secs for name, secs in sorted(late.items())})
    timings["probes_total"] = round(time.monotonic() - start, 4)
    return results, timings


def _fold_live_duplicates(findings: list) -> list:
    """One finding per root cause: where TensorFlow's own log (the live check) names a cause a
    static check already reported, the log lines join that finding as evidence."""
    static_ids = {f.id: i for i, f in enumerate(findings) if f.check != "tf-live"}
    out = list(findings)
    drop = set()
    for i, f in enumerate(findings):
        j = static_ids.get(f.id)
        if f.check == "tf-live" and j is not None:
            lines = f.evidence.get("lines") if isinstance(f.evidence, dict) else None
            if lines:
                out[j] = replace(out[j], evidence={**out[j].evidence, "live_log_lines": lines})
            drop.add(i)
    return [f for i, f in enumerate(out) if i not in drop]


def _with_areas(findings: list[Finding], registry: Any) -> list[Finding]:
    """Every finding names its area: one its check left without (a plugin that builds `Finding`
    itself, a finding made before checks set it) takes its check's area; one from no registered
    check (a plugin that failed to load) is about the plugins."""
    out = []
    for f in findings:
        if not f.area:
            chk = registry.get(f.check)
            f = replace(f, area=getattr(chk, "area", "") or "plugins")
        out.append(f)
    return out


# --- checks under guard: a time limit, validated results, stdout kept off the report -----------------

#: The most findings one check may return (a plugin returning millions would swamp the report).
MAX_FINDINGS = 1000
#: Characters kept of what one check printed.
PRINTED_CAP = 4000


class CheckFailed(Exception):
    """A check broke its contract: it ran past its limit, raised, or returned something other than
    findings. Raised by the guard inside the registry's loop, which records the check as failed."""


_LANE = threading.local()  # .sink: the list a check's printed text goes to, on the thread running it


class _CapturedStdout:
    """sys.stdout while checks run: what a check's thread writes goes to that check's record (it
    must never reach, nor corrupt, the report or --json); every other thread writes through."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        sink = getattr(_LANE, "sink", None)
        if sink is None:
            return self._stream.write(text)
        if sum(len(t) for t in sink) < PRINTED_CAP:
            sink.append(str(text))
        return len(text)

    def flush(self) -> None:
        if getattr(_LANE, "sink", None) is None:
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Lane:
    """One daemon thread that runs checks one at a time (a handoff costs ~50 us; a thread per check
    ~400 us). A check past its limit keeps the lane: it is abandoned, and the next check gets a new one."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, daemon=True, name="checks").start()

    def _serve(self) -> None:
        while True:
            func, ctx, box, done = self.jobs.get()
            _LANE.sink = box["printed"]
            out = box["out"]  # filled one by one: a check that raises, or overruns, keeps what it said
            try:
                result = func(ctx)
                if result is not None and not hasattr(result, "__iter__"):
                    out.append(result)  # judged by the guard: a single non-finding
                else:
                    for item in result or ():
                        out.append(item)
                        if len(out) > MAX_FINDINGS:
                            break
            except BaseException as exc:  # SystemExit from a plugin ends nothing but its check
                box["exc"] = exc
            finally:
                _LANE.sink = None
                done.set()


class _Guard:
    """Runs each check of a registry on a lane with a deadline, and validates what it returns.
    Python cannot stop a thread: a check past its limit is reported as timed out and abandoned (its
    thread runs on until tfgpu exits, its later printing still kept off stdout). The findings a
    failed check made before it failed are kept, as when it runs unguarded."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.lane: _Lane | None = None
        self.abandoned = 0
        #: Why a check failed and what it printed, by check id, for the report's wording.
        self.failures: dict[str, tuple[str, str]] = {}
        self.printed: dict[str, str] = {}

    def wrap(self, chk: Any) -> Callable[[Any], Iterator[Finding]]:
        def guarded(ctx: Any) -> Iterator[Finding]:
            return self.call(chk, ctx)

        return guarded

    def call(self, chk: Any, ctx: Any) -> Iterator[Finding]:
        """Run the check now; return its findings to replay (then its failure, raised, if it failed)."""
        if self.lane is None:
            self.lane = _Lane()
        box: dict[str, Any] = {"printed": [], "out": []}
        done = threading.Event()
        self.lane.jobs.put((chk.func, ctx, box, done))
        finished = done.wait(self.limit)
        printed = "".join(box["printed"])[:PRINTED_CAP]
        made = list(box["out"])  # a copy: an abandoned check may still be adding
        why = ""
        if not finished:
            self.lane = None
            self.abandoned += 1
            why = (f"did not finish within {self.limit:g} s and was abandoned (a Python thread cannot be killed: it "
                   "may run on until tfgpu exits)")
        elif box.get("exc") is not None:
            exc = box["exc"]
            why = f"raised {type(exc).__name__}: {exc}"
        # A plugin's results are checked here; the built-in checks' by the test suite (every report it
        # makes is validated against the schema), which keeps this cost off every run.
        good, problem = _valid_prefix(made) if _plugin_origin(chk.origin) else (len(made), "")
        if problem:
            why = why or f"returned {problem}"
            made = made[:good]
        if why:
            self.failures[chk.id] = (why, printed)
        elif printed.strip():
            self.printed[chk.id] = printed
        return _replay(made, why)


def _replay(made: list[Finding], why: str) -> Iterator[Finding]:
    yield from made
    if why:
        raise CheckFailed(why)


def _valid_prefix(results: list) -> tuple[int, str]:
    """How many of a check's results, from the first, are findings the report can carry, and what is
    wrong with the next one ("" when all are)."""
    for i, f in enumerate(results):
        problem = _invalid(f) if i < MAX_FINDINGS else f"more than {MAX_FINDINGS} results"
        if problem:
            return i, problem
    return len(results), ""


def _invalid(f: Any) -> str:
    """What is wrong with one result of a check, "" when it is a finding the report can carry."""
    if not isinstance(f, Finding):
        return f"a {type(f).__name__} where a Finding belongs"
    if not isinstance(f.severity, Severity):
        return f"a finding whose severity is a {type(f.severity).__name__}, not a tfgpu Severity"
    for name in ("id", "check", "summary", "detail", "area", "root_cause", "ignored"):
        if not isinstance(getattr(f, name), str):
            return f"a finding whose {name} is a {type(getattr(f, name)).__name__}, not text"
    if not f.id:
        return "a finding without an id"
    if not isinstance(f.evidence, dict):
        return f"a finding whose evidence is a {type(f.evidence).__name__}, not a mapping"
    if not isinstance(f.fixes, (tuple, list)) or not all(
            isinstance(x, Fix) and isinstance(x.summary, str) and all(isinstance(c, str) for c in x.commands)
            for x in f.fixes):
        return "a finding whose fixes are not tfgpu Fix records of text"
    try:
        json.dumps(f.evidence, default=str, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"a finding whose evidence cannot be written as JSON ({exc})"
    return ""


def _one_line(text: str, limit: int = 300) -> str:
    """Printed text as one visible line: control characters shown as '?', runs of space folded."""
    flat = " ".join("".join(c if c.isprintable() or c.isspace() else "?" for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _plugin_origin(origin: str) -> bool:
    return not origin.startswith("tfgpu.")


def run_guarded(registry: Any, facts: dict[str, Any], matrix: Any, only: list[str] | None,
                options: Any, run: Callable[..., Any] | None = None) -> tuple[list[Finding], list[str]]:
    """Run the registry's checks, each under the guard (limit: the run's --timeout), with Python's
    stdout captured and fd 1 sent to stderr meanwhile (for code that writes to the descriptor
    itself); a failed plugin check is worded as the plugin's failure, not tfgpu's. `run` is the
    registry runner (tfgpu.checks.run_checks), called with the guarded registry."""
    from tfgpu.console import swap_stdout

    guard = _Guard(float(getattr(options, "timeout", None) or RunOptions.timeout))
    guarded = replace(registry, checks={cid: replace(chk, func=guard.wrap(chk)) for cid, chk in registry.checks.items()})
    original = swap_stdout(lambda current: _CapturedStdout(current) if current is not None else None)
    saved_fd = _fd1_to_stderr(original)
    try:
        findings, failed = (run or _registry_run)(facts, matrix, only, options, registry=guarded)
    finally:
        if guard.abandoned == 0:  # an abandoned check may still print: then its writes stay captured
            swap_stdout(lambda _captured: original)
        _fd1_back(saved_fd)
    for check_id, printed in guard.printed.items():
        _warn(f"the check '{check_id}' printed to standard output (kept out of the report): {_one_line(printed)}")
    return _worded(findings, registry, guard), failed


def _registry_run(facts: Any, matrix: Any, only: Any, options: Any, registry: Any) -> Any:
    return registry.run(facts, matrix, only, options)


def _fd1_to_stderr(stream: Any) -> int | None:
    """Point fd 1 at stderr while checks run; return the saved fd 1 (None where that is not possible)."""
    import os

    try:
        if stream is not None:
            stream.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _fd1_back(saved: int | None) -> None:
    import os

    if saved is None:
        return
    try:
        os.dup2(saved, 1)
    except OSError:
        pass
    os.close(saved)


def _warn(message: str) -> None:
    import sys

    try:
        sys.stderr.write(f"tfgpu: {message}\n")
    except (OSError, ValueError, AttributeError):
        pass


def _worded(findings: list[Finding], registry: Any, guard: _Guard) -> list[Finding]:
    """A check that failed under the guard: a plugin's failure is the plugin's (its package named),
    a built-in's is tfgpu's bug; what it printed joins the evidence."""
    out = []
    for f in findings:
        failure = guard.failures.get(f.check) if f.id == "check-crashed" else None
        if failure is not None:
            why, printed = failure
            chk = registry.get(f.check)
            origin = getattr(chk, "origin", "")
            evidence = {**f.evidence, "failure": why}
            if printed.strip():
                evidence["printed"] = printed
            if _plugin_origin(origin):
                summary = (f"The plugin check '{f.check}' ({origin}) failed: it {why}; a problem of the plugin, not "
                           "of your machine (the rest of the report stands)")
            else:
                summary = f"The check '{f.check}' itself failed ({why}); this is a tfgpu bug, not a problem with your machine"
            f = replace(f, summary=summary, evidence=evidence)
        out.append(f)
    return out


def build_report(
    results: dict[str, Any],
    timings: dict[str, float],
    matrix: Any,
    check_ids: list[str] | None,
    options: RunOptions,
) -> Report:
    """Run the checks over the facts and assemble the Report."""
    from tfgpu import __version__
    from tfgpu.checks import load_all, run_checks
    from tfgpu.verdict import decide, link_root_causes

    t0 = time.monotonic()
    if "tf_live" in results and options.knowledge is None:
        from tfgpu.explain.classify import load_knowledge

        options = replace(options, knowledge=load_knowledge())  # checks stay pure: data is handed in
    findings, failed = run_guarded(load_all(), results, matrix, check_ids, options, run=run_checks)
    findings = _fold_live_duplicates(findings)
    if not check_ids:  # a contradiction needs every static check's say
        from tfgpu.checks.live import contradiction

        findings.extend(contradiction(results, findings, options))
    findings = link_root_causes(results, _with_areas(findings, load_all()))
    timings = dict(timings)
    timings["checks"] = round(time.monotonic() - t0, 4)
    verdict = decide(results, findings, options)
    return Report(
        verdict=verdict,
        facts=results,
        findings=tuple(findings),
        timings=timings,
        tool_version=__version__,
        matrix_version=getattr(matrix, "describe", lambda: "")(),
        failed_checks=tuple(failed),
    )
