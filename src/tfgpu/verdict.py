"""The one-sentence answer: will TensorFlow use a GPU here? Derived from findings and facts only."""

from __future__ import annotations

from typing import Any, Sequence

from tfgpu.model import Finding, ProbeFailure, RunOptions, Severity, Verdict, VerdictStatus

#: Which area's error explains the verdict first: the earliest blocker in the chain.
AREA_ORDER = ("platform", "tensorflow", "environment", "driver", "gpu", "libraries", "toolkit", "live")


def _tf_label(facts: dict[str, Any]) -> str:
    build = facts.get("tf_build")
    if build is not None and not isinstance(build, ProbeFailure):
        return f"TensorFlow {build.version}"
    return "TensorFlow"


def _area_rank(finding: Finding) -> int:
    area = finding.area
    return AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER)


def decide(facts: dict[str, Any], findings: Sequence[Finding], options: RunOptions) -> Verdict:
    """The verdict. `options` is the run's (nothing in it changes the verdict today; --strict acts on
    the exit code, not on what is true of the machine)."""
    live_fact = facts.get("tf_live")
    # Proven only by a live import that completed; a crash or a hang proves nothing either way.
    predicted = getattr(live_fact, "outcome", None) != "ok"
    errors = sorted((f for f in findings if f.severity is Severity.ERROR), key=_area_rank)
    label = _tf_label(facts)
    if errors:
        first = errors[0]
        return Verdict(VerdictStatus.NOT_READY, f"{label} will not use a GPU: {first.summary}", predicted)
    live = None if predicted else live_fact
    if live is not None and getattr(live, "gpus", None):
        return Verdict(VerdictStatus.READY, live.headline, False)
    driver = facts.get("driver")
    gpus = getattr(driver, "gpus", None) if driver is not None and not isinstance(driver, ProbeFailure) else None
    build_ok = any(f.id == "tf-cuda-build" and f.severity is Severity.OK for f in findings)
    # No READY without a judgement of the driver against TensorFlow's CUDA.
    driver_judged = any(f.check == "driver-supports-tf-cuda" and f.severity is not Severity.SKIPPED for f in findings)
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    if gpus and build_ok and driver_judged:
        tail = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
        names = ", ".join(sorted({g.name for g in gpus}))
        return Verdict(VerdictStatus.READY, f"{label} should use {names}{tail} (predicted, not yet proven by a live import)"
                       if predicted else f"{label} uses {names}{tail}", predicted)
    missing = [name for name in ("driver", "tf_build") if name not in facts]
    if missing:
        why = f"not probed: {', '.join(missing)}"
    elif gpus and build_ok and not driver_judged:
        why = "the driver could not be judged against TensorFlow's CUDA"
    else:
        why = "not every fact needed could be gathered"
    return Verdict(VerdictStatus.UNKNOWN, f"Could not decide whether {label} will use a GPU ({why})", predicted)
