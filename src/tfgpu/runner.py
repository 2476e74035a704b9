"""The orchestrator: runs probes concurrently under time limits, then the checks, into a Report.

It owns failure and time. A probe that raises becomes a "probe failed" record, one that overruns
becomes "timed out after N s" and is abandoned (its thread is a daemon), and a check that raises
is recorded as a crashed check (exit code 3), never confused with a finding about the machine.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterable

from tfgpu.model import Finding, ProbeFailure, ProbeStatus, Report, RunOptions
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
    findings, failed = run_checks(results, matrix, check_ids, options)
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
