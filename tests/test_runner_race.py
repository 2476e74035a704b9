"""The runner stores each probe's outcome once: a probe that overran its limit and then returned
must not replace the "timed out" its dependents already judged on."""

from __future__ import annotations

import sys
import threading
import time

from tfgpu.model import ProbeFailure, ProbeStatus
from tfgpu.probes import Probe, ProbeContext
from tfgpu.probes.environment import EnvVars
from tfgpu.runner import run_probes


def _ctx() -> ProbeContext:
    return ProbeContext(python=sys.executable, environ={}, timeout=5.0)


def _join_probe_thread(name: str) -> None:
    """Wait until the runner's worker thread for probe `name` has ended (it names them probe-<name>)."""
    for t in threading.enumerate():
        if t.name == f"probe-{name}":
            t.join(10)
            assert not t.is_alive()


def test_a_late_result_never_replaces_the_timeout_its_dependents_saw():
    release = threading.Event()
    saw: dict = {}

    def overrunning(ctx):
        # Runs past its limit, then returns a real fact once the dependent has judged (and a clear
        # while after the limit, so that the seconds it really took cannot round to the limit's).
        release.wait(10)
        time.sleep(0.05)
        return EnvVars({"late": "yes"})

    def dependent(ctx):
        saw["value"] = ctx.results.get("slow")
        release.set()
        # Deterministically let the abandoned probe finish while the run is still going.
        _join_probe_thread("slow")
        return EnvVars({"saw_timeout": str(isinstance(ctx.results.get("slow"), ProbeFailure))})

    probes = [
        Probe("slow", "slow", EnvVars, overrunning, timeout=0.05),
        Probe("after", "after", EnvVars, dependent, needs=("slow",)),
    ]
    t0 = time.monotonic()
    results, timings = run_probes(probes, _ctx())
    assert time.monotonic() - t0 < 10
    # The dependent judged on "timed out" ...
    assert isinstance(saw["value"], ProbeFailure) and saw["value"].status is ProbeStatus.TIMED_OUT
    assert results["after"].values == {"saw_timeout": "True"}
    # ... and the report shows that same outcome, not the result that came later.
    assert results["slow"] is saw["value"]
    assert results["slow"].message == "timed out after 0.05 s"
    # The late result is counted, with the seconds it really took.
    assert timings["late"] == 1
    assert timings["late.slow"] >= 0.05
    assert timings["slow"] < timings["late.slow"]


def test_a_late_result_after_the_run_is_dropped_silently():
    release = threading.Event()

    def overrunning(ctx):
        release.wait(10)
        return EnvVars({"late": "yes"})

    ctx = _ctx()
    results, timings = run_probes([Probe("slow", "slow", EnvVars, overrunning, timeout=0.05)], ctx)
    release.set()
    _join_probe_thread("slow")
    assert results["slow"].status is ProbeStatus.TIMED_OUT
    assert "late" not in timings  # the run had ended: nothing to count
    assert ctx.results["slow"] is results["slow"]  # and nothing overwritten, not even the probes' view


def test_a_probe_on_time_is_not_late():
    results, timings = run_probes([Probe("fine", "fine", EnvVars, lambda ctx: EnvVars({"A": "1"}))], _ctx())
    assert results["fine"].values == {"A": "1"}
    assert "late" not in timings and set(timings) == {"fine", "probes_total"}
