"""The one-sentence answer: will TensorFlow use a GPU here? Derived from findings and facts only."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from tfgpu.model import Finding, ProbeFailure, RunOptions, Severity, Verdict, VerdictStatus

#: Which area's error explains the verdict first: the earliest blocker in the chain.
AREA_ORDER = ("platform", "tensorflow", "environment", "driver", "gpu", "libraries", "toolkit", "live", "policy")


def _tf_label(facts: dict[str, Any]) -> str:
    build = facts.get("tf_build")
    if build is not None and not isinstance(build, ProbeFailure):
        return f"TensorFlow {build.version}"
    return "TensorFlow"


def _area_rank(finding: Finding) -> int:
    area = finding.area
    return AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER)


def decide(facts: dict[str, Any], findings: Sequence[Finding], options: RunOptions) -> Verdict:
    """The verdict. `options` is the run's (nothing in it changes the verdict today; --fail-on acts on
    the exit code, not on what is true of the machine). A policy finding (area "policy") that fails
    makes it NOT_READY after the machine's own errors, which name the headline first."""
    live_fact = facts.get("tf_live")
    # Proven only by a live import that completed; a crash or a hang proves nothing either way.
    predicted = getattr(live_fact, "outcome", None) != "ok"
    errors = sorted((f for f in findings if f.severity is Severity.ERROR and f.area != "policy"), key=_area_rank)
    label = _tf_label(facts)
    if errors:
        first = errors[0]
        return Verdict(VerdictStatus.NOT_READY, f"{label} will not use a GPU: {first.summary}", predicted)
    # The run's policy (tfgpu.policy) says what "ready" means for this pipeline: a requirement not met
    # is not ready, though TensorFlow may well use a GPU. (An ignore changes the exit code, never this.)
    unmet = [f for f in findings if f.severity is Severity.ERROR and f.area == "policy"]
    if unmet:
        return Verdict(VerdictStatus.NOT_READY, f"{label} does not meet this pipeline's requirements: "
                       f"{unmet[0].summary}", predicted)
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


#: The area whose findings report a failed probe's fact (a check skipped for want of it is a
#: consequence of that area's own error).
FACT_AREAS = {"driver": "driver", "tf_build": "tensorflow", "tf_package": "tensorflow", "python_env": "environment",
              "libraries": "libraries", "toolkit": "toolkit", "host": "platform"}
#: Where two findings give the same fix, the one that names the cause (not the symptom).
CAUSE_FIRST = ("and-cuda-missing", "tf-not-installed", "driver-missing")
#: Commands too generic to say that two findings share a cause.
_GENERIC = frozenset({"sudo reboot", "reboot", "nvidia-smi", "nvidia-smi -L", "sudo modprobe nvidia"})
#: The live check's findings that, when the import listed no GPU, only restate a static cause.
_LIVE_OWN = frozenset({"tf-live-imported", "prediction-contradicted", "tf-import-crashed", "tf-import-hung",
                       "tf-import-failed", "tf-live-failed", "log-noise"})


def _skip_facts(detail: str) -> list[str]:
    """The facts a skipped check lacked, from its detail ("driver: ...; libraries: not probed")."""
    names = []
    for part in detail.split("; "):
        name, sep, why = part.partition(": ")
        if sep and name.isidentifier() and why != "not probed":
            names.append(name)
    return names


def _primary_commands(f: Finding) -> frozenset[str]:
    return frozenset(f.fixes[0].commands) if f.fixes else frozenset()


#: Causes read from TensorFlow's log -> the static findings that are the same cause, most specific first.
LIVE_STATIC_CAUSES: dict[str, tuple[str, ...]] = {
    "cuda-runtime-missing": ("and-cuda-missing", "cuda-lib-missing"),
    "cuda-lib-missing": ("and-cuda-missing", "cuda-lib-missing"),
    "cudnn-missing": ("and-cuda-missing", "cuda-lib-missing"),
    "driver-missing": ("container-no-gpu-passthrough", "driver-missing"),
    "cuinit-failed": ("container-no-gpu-passthrough", "driver-missing", "driver-not-loaded",
                      "driver-library-mismatch"),
}


def link_root_causes(facts: dict[str, Any], findings: Sequence[Finding]) -> list[Finding]:
    """One cause, said once: findings that are only consequences of another finding get
    `root_cause` set to its id (every fact and fix they carry is kept).

    - a check skipped because a probe failed -> the error that reports that probe's failure
      (no driver: the driver, GPU and library checks that needed it);
    - when the live import listed no GPU and a static check already has an error: the live
      findings that restate it (tf-live-no-gpu, and the causes read from TensorFlow's log) ->
      the error the verdict names;
    - two problems whose first fix is the same commands -> the one that names the cause
      (a missing [and-cuda] extra, not the missing libraries it leaves).
    """
    out = list(findings)
    problems = [f for f in out if f.severity.rank >= Severity.WARNING.rank]
    by_area: dict[str, Finding] = {}
    for f in sorted(problems, key=lambda f: -f.severity.rank):
        by_area.setdefault(f.area, f)
    statics = sorted((f for f in problems if f.severity is Severity.ERROR and f.area != "live"), key=_area_rank)
    primary = statics[0] if statics else None
    no_gpu = any(f.id == "tf-live-no-gpu" for f in out)
    links: dict[int, str] = {}
    for i, f in enumerate(out):
        if f.severity is Severity.SKIPPED:
            for name in _skip_facts(f.detail):
                cause = by_area.get(FACT_AREAS.get(name, ""))
                if cause is not None and isinstance(facts.get(name), ProbeFailure):
                    links[i] = cause.id
                    break
        elif (primary is not None and no_gpu and f.area == "live" and f.id not in _LIVE_OWN
              and f.severity.rank >= Severity.WARNING.rank and f.id != primary.id):
            # A log line whose own static cause is reported points at that cause (the CUDA runtime that
            # did not load -> the missing [and-cuda] wheels), else at the error the verdict names.
            static = next((g for sid in LIVE_STATIC_CAUSES.get(f.id, ()) for g in statics if g.id == sid), None)
            links[i] = (static or primary).id
    # The same first fix: the preferred cause (CAUSE_FIRST, then the chain's order) keeps it.
    causes = [f for i, f in enumerate(out) if i not in links and f.severity.rank >= Severity.WARNING.rank]
    causes.sort(key=lambda f: (CAUSE_FIRST.index(f.id) if f.id in CAUSE_FIRST else len(CAUSE_FIRST), _area_rank(f)))
    kept: list[Finding] = []
    for f in causes:
        cmds = _primary_commands(f)
        same = next((k for k in kept if cmds and not cmds <= _GENERIC and _primary_commands(k) == cmds
                     and k.id != f.id), None)
        if same is not None:
            links[next(i for i, g in enumerate(out) if g is f)] = same.id
        else:
            kept.append(f)
    return [replace(f, root_cause=links[i]) if i in links else f for i, f in enumerate(out)]
