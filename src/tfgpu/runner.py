"""The orchestrator: runs probes concurrently under time limits, then the checks, into a Report.

It owns failure and time. A probe that raises becomes a "probe failed" record, one that overruns
becomes "timed out after N s" and is abandoned (its thread is a daemon), and a check that raises
is recorded as a crashed check (exit code 3), never confused with a finding about the machine.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from tfgpu.model import ProbeFailure, ProbeStatus, Report
from tfgpu.probes import Probe, ProbeContext


@dataclass
class _Slot:
    probe: Probe
    done: threading.Event
    result: Any = None
    seconds: float = 0.0


def run_probes(
    probes: Iterable[Probe],
    ctx: ProbeContext,
    on_done: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run `probes` at once, each after the probes it needs, each under its own limit.

    Returns (results by probe name, seconds by probe name). Always returns: the total wait is
    bounded by the longest chain of limits.
    """
    slots = {p.name: _Slot(p, threading.Event()) for p in probes}
    start = time.monotonic()

    def limit_of(p: Probe) -> float:
        if p.slow:
            # Slow probes bound their own child process; the thread waits a little longer.
            return float(ctx.options.get("live_timeout") or 120.0) + 10.0
        return p.timeout if p.timeout is not None else ctx.timeout

    def body(slot: _Slot) -> None:
        p = slot.probe
        t0 = time.monotonic()
        try:
            slot.result = p.func(ctx)
            if slot.result is None:
                slot.result = ProbeFailure(p.name, ProbeStatus.FAILED, "probe returned nothing")
        except Exception as exc:  # a probe must never sink the run
            slot.result = ProbeFailure(
                p.name,
                ProbeStatus.FAILED,
                f"probe failed: {type(exc).__name__}: {exc}",
                {"exception": type(exc).__name__},
            )
        slot.seconds = time.monotonic() - t0
        slot.done.set()

    def wait_needs(slot: _Slot) -> None:
        for need in slot.probe.needs:
            dep = slots.get(need)
            if dep is not None:
                dep.done.wait()
                ctx.results[need] = dep.result

    def launch(slot: _Slot) -> None:
        wait_needs(slot)
        worker = threading.Thread(target=body, args=(slot,), daemon=True, name=f"probe-{slot.probe.name}")
        t0 = time.monotonic()
        worker.start()
        worker.join(limit_of(slot.probe))
        if not slot.done.is_set():
            limit = limit_of(slot.probe)
            slot.result = ProbeFailure(
                slot.probe.name,
                ProbeStatus.TIMED_OUT,
                f"timed out after {limit:g} s",
                {"limit_s": limit},
            )
            slot.seconds = time.monotonic() - t0
            slot.done.set()
        ctx.results[slot.probe.name] = slot.result
        if on_done is not None:
            on_done(slot.probe.name)

    # Slow probes first, so that the longest work overlaps everything else.
    ordered = sorted(slots.values(), key=lambda s: not s.probe.slow)
    launchers = [threading.Thread(target=launch, args=(s,), daemon=True) for s in ordered]
    for t in launchers:
        t.start()
    for t in launchers:
        t.join()
    results = {name: slot.result for name, slot in slots.items()}
    timings = {name: round(slot.seconds, 4) for name, slot in slots.items()}
    timings["probes_total"] = round(time.monotonic() - start, 4)
    return results, timings


def _fold_live_duplicates(findings: list) -> list:
    """One finding per root cause: where TensorFlow's own log (the live check) names a cause a
    static check already reported, the log lines join that finding as evidence."""
    from dataclasses import replace

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


def build_report(
    results: dict[str, Any],
    timings: dict[str, float],
    matrix: Any,
    check_ids: list[str] | None,
    options: dict[str, Any],
) -> Report:
    """Run the checks over the facts and assemble the Report."""
    from tfgpu import __version__
    from tfgpu.checks import run_checks
    from tfgpu.verdict import decide

    t0 = time.monotonic()
    if "tf_live" in results and "knowledge" not in options:
        from tfgpu.logclass import load_knowledge

        options = {**options, "knowledge": load_knowledge()}  # checks stay pure: data is handed in
    findings, failed = run_checks(results, matrix, check_ids, options)
    findings = _fold_live_duplicates(findings)
    if not check_ids:  # a contradiction needs every static check's say
        from tfgpu.checks.live import contradiction

        findings.extend(contradiction(results, findings))
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
