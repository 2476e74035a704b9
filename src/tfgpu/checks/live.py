"""Checks on the live import: did TensorFlow import, list GPUs and run work on them; what its
own log says; and whether that contradicts the static prediction."""

from __future__ import annotations

import signal as _signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tfgpu.checks import CheckContext, check
from tfgpu.fixes import pip, tf_requirement
from tfgpu.invocation import doctor_command
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.probes.tf_live import LiveOutcome, TFLive, short_device

LOG_TAIL = 15


def _signame(sig: int | None) -> str:
    if sig is None:
        return "?"
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _tail(live: TFLive, n: int = LOG_TAIL) -> list[str]:
    return [line for line in live.log[-n:]]


def classify(lines: Iterable[str], matrix: Any, knowledge: Any) -> list[Finding]:
    """TensorFlow's log lines through explain's classifier (imported here, not at the top: `--fast` runs
    no live probe and should not pay for loading explain)."""
    from tfgpu.explain.classify import classify as explain_classify

    return explain_classify(lines, matrix, knowledge)


def _log_findings(ctx: CheckContext, live: TFLive) -> tuple[list[Finding], list[Finding]]:
    """(root causes and unrecognised lines, noise) from TensorFlow's own log, re-homed to this check."""
    causes, noise = [], []
    for f in classify(live.log, ctx.matrix, ctx.knowledge):
        if f.evidence.get("source") == "matrix":
            continue  # explain's matrix cross-checks repeat the doctor's own static checks
        rehomed = Finding(f.id, ctx.check_id, f.severity, f.summary, f.detail, f.evidence, f.fixes, ctx.area)
        if f.id.startswith("noise-"):
            noise.append(rehomed)
        elif f.severity.rank >= Severity.WARNING.rank:
            causes.append(rehomed)
    return causes, noise


def _crashed(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    name = _signame(live.signal)
    detail = "TensorFlow's process died; the doctor kept going."
    fixes: list[Fix] = []
    if live.signal == 4:  # SIGILL: the wheel uses AVX (TensorFlow pip page: binaries use AVX)
        detail = "Illegal instruction: this CPU lacks an instruction set the wheel was built for (AVX)."
        fixes.append(Fix("Use a TensorFlow build for this CPU (build from source, or a conda-forge build)",
                         ("grep -o -w avx /proc/cpuinfo | head -1",)))
    yield ctx.finding("tf-import-crashed", Severity.ERROR,
                      f"TensorFlow crashed with signal {live.signal} ({name}) during stage '{live.stage}'",
                      detail, {**ev, "signal": live.signal}, fixes)


def _timed_out(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    yield ctx.finding("tf-import-hung", Severity.ERROR,
                      f"TensorFlow did not finish within {live.seconds:.0f} s (stuck after stage '{live.stage}')",
                      "A hung driver, a GPU that needs a reset, or a first-start PTX JIT compile can do this; "
                      "so can a limit shorter than TensorFlow's import takes on this machine.",
                      ev, (Fix("If TensorFlow is only slow here, give it longer",
                               (doctor_command(ctx.options, {"--live-timeout": str(max(300, int(live.seconds * 4)))},
                                               drop=("--fast", "--from-facts")),)),
                           Fix("See whether the driver answers, and what holds the GPU",
                               ("nvidia-smi", "sudo fuser -v /dev/nvidia*"))))


def _import_error(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    first = (live.error or "").splitlines()[0] if live.error else "unknown error"
    build = ctx.tf_build
    version = live.version or (build.version if build is not None else None)
    yield ctx.finding("tf-import-failed", Severity.ERROR, f"import tensorflow failed: {first}",
                      live.error or "", ev,
                      (Fix("Reinstall the same TensorFlow release in the target environment",
                           (pip(live.python, "install", "--force-reinstall", "--no-deps",
                                tf_requirement(version, and_cuda=False)),)),))


def _failed(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    yield ctx.finding("tf-live-failed", Severity.ERROR,
                      f"The live TensorFlow probe failed: {live.error or 'no answer'}", "", ev)


def _no_gpu(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    ids = [f.id for f in causes if f.severity is Severity.ERROR] or [f.id for f in causes]
    why = f"its log shows: {', '.join(dict.fromkeys(ids))}" if ids else "its log names no cause"
    fixes = list(causes[0].fixes[:2]) if causes else []
    yield ctx.finding("tf-live-no-gpu", Severity.ERROR,
                      f"TensorFlow {live.version} imported but listed no GPU ({why})",
                      "tf.config.list_physical_devices('GPU') returned an empty list.", ev, fixes)


def _gpus_listed(ctx: CheckContext, live: TFLive, ev: dict[str, Any], causes: list[Finding]) -> Iterator[Finding]:
    for i, gpu in enumerate(live.gpus):
        device = f"/GPU:{i}"
        for r in gpu.smoke:
            rev = {"gpu": gpu.name, "op": r.op, "device": r.device, "seconds": r.seconds}
            if r.ok and "GPU" in r.device.upper():
                yield ctx.finding("gpu-smoke-ok", Severity.OK,
                                  f"{r.op} ran on {short_device(r.device)} in {r.seconds * 1000:.0f} ms", "", rev)
            elif r.ok:
                yield ctx.finding("gpu-smoke-on-cpu", Severity.WARNING,
                                  f"{r.op} asked for {device} but ran on {r.device or 'an unknown device'}", "", rev)
            else:
                sub = [f for f in classify((r.error or "").splitlines(), ctx.matrix, ctx.knowledge)
                       if f.severity is Severity.ERROR]
                cause = sub[0] if sub else None
                yield ctx.finding(cause.id if cause else "gpu-smoke-failed", Severity.ERROR,
                                  f"{r.op} failed on {device} ({gpu.name}): "
                                  f"{cause.summary if cause else (r.error or '').splitlines()[0][:200]}",
                                  r.error or "", {**rev, "error": r.error}, cause.fixes if cause else ())
        if not live.smoke_ran:
            yield ctx.finding("gpu-listed", Severity.OK, f"TensorFlow lists {device}: {gpu.name}",
                              "", {"details": gpu.details})


Outcome = Callable[[CheckContext, TFLive, dict[str, Any], list[Finding]], Iterator[Finding]]

#: One handler per way the live import ended; an import that finished goes to `_no_gpu` / `_gpus_listed`.
OUTCOME_HANDLERS: dict[LiveOutcome, Outcome] = {
    LiveOutcome.CRASHED: _crashed,
    LiveOutcome.TIMED_OUT: _timed_out,
    LiveOutcome.IMPORT_ERROR: _import_error,
    LiveOutcome.FAILED: _failed,
}


def _outcome(live: TFLive) -> LiveOutcome | None:
    try:
        return LiveOutcome(live.outcome)
    except ValueError:
        return None


@check("tf-live", "TensorFlow imports, lists the GPU and runs work on it (live)", Area.LIVE, needs=("tf_live",),
       uses=("libraries", "python_env", "tf_build"),
       emits=("gpu-listed", "gpu-smoke-ok", "gpu-smoke-on-cpu", "library-resolution-differs", "log-noise",
              "tf-import-crashed", "tf-import-failed", "tf-import-hung", "tf-live-failed", "tf-live-imported",
              "tf-live-no-gpu", "gpu-smoke-failed", "prediction-contradicted", "driver-too-old", "driver-minor-compat",
              "gpu-ptx-jit", "gpu-cc-unsupported", "cudnn-version-mismatch", "windows-native-gpu-unsupported",
              "unrecognized-error"), log_classes=True)
def tf_live(ctx: CheckContext) -> Iterator[Finding]:
    """Imports TensorFlow in the target interpreter (skipped under --fast), lists its GPUs and runs a small op on each;
    classifies TensorFlow's own log with explain's signatures, and compares the libraries it loaded, and its
    outcome, with the static prediction."""
    live = ctx.tf_live
    if live is None:
        return
    outcome = _outcome(live)
    ev = {"outcome": live.outcome, "stage": live.stage, "version": live.version, "seconds": live.seconds,
          "log_lines": live.log_lines_total, "log_tail": _tail(live)}
    env = ctx.python_env
    if (outcome is LiveOutcome.IMPORT_ERROR and env is not None and not env.tensorflow_distributions
            and not env.tensorflow_dirs):
        # Nothing to import: tf-installed already says so, with the install command.
        return
    causes, noise = _log_findings(ctx, live)
    handler = OUTCOME_HANDLERS.get(outcome) if outcome is not None else None
    if handler is None:
        handler = _gpus_listed if live.gpus else _no_gpu
    yield from handler(ctx, live, ev, causes)
    seen = set()
    for f in causes:
        if f.id not in seen:
            seen.add(f.id)
            yield f
    if noise:
        ids = sorted({f.id for f in noise})
        lines = sorted((ln for f in noise for ln in f.evidence.get("lines", [])), key=lambda ln: ln.get("line", 0))
        yield ctx.finding("log-noise", Severity.INFO,
                          f"{len(lines) or len(noise)} log line(s) are harmless noise ({', '.join(ids)})",
                          " ".join(f.summary for f in noise), {"noise": ids, "lines": lines})
    yield from _mapped_vs_static(ctx, live)
    if outcome is LiveOutcome.OK:
        gpus = len(live.gpus)
        yield ctx.finding("tf-live-imported", Severity.INFO,
                          f"TensorFlow {live.version} imported in {live.import_seconds or 0:.1f} s and listed {gpus} GPU"
                          f"{'s' if gpus != 1 else ''}", "", {"mapped_libraries": list(live.mapped_libraries)})


def _mapped_vs_static(ctx: CheckContext, live: TFLive) -> Iterable[Finding]:
    """The libraries TensorFlow really mapped, against the copies the static resolution chose."""
    static = ctx.libraries
    if static is None or not live.mapped_libraries:
        return
    import os

    mapped = {os.path.basename(p): p for p in live.mapped_libraries}
    for lib in static.libraries:
        winner = lib.winner
        got = mapped.get(lib.soname) or next((p for b, p in mapped.items() if b.startswith(lib.soname)), None)
        if got is None or winner is None:
            continue
        # /proc/self/maps shows resolved paths, and the probe recorded the winner's realpath.
        if got not in (winner.realpath, winner.path):
            yield ctx.finding("library-resolution-differs", Severity.WARNING,
                              f"TensorFlow loaded {lib.soname} from {got}, but the static resolution chose {winner.path}",
                              "tfgpu's model of the loader's search missed something here (LD_PRELOAD, a library "
                              "already loaded by another package, or glibc-hwcaps folders).",
                              {"soname": lib.soname, "mapped": got, "predicted": winner.path})


def contradiction(facts: dict, findings: list[Finding], options: Any = None) -> list[Finding]:
    """When the static checks predicted success but the live import found no GPU, the knowledge
    has a gap: say so, with both pieces of evidence."""
    live = facts.get("tf_live")
    if not isinstance(live, TFLive) or live.outcome != "ok" or live.gpus:
        return []
    static_errors = [f for f in findings if f.severity is Severity.ERROR and f.check != "tf-live"]
    if static_errors:
        return []
    save = doctor_command(options, {"--json": None}, redirect="tfgpu-report.json")
    return [Finding(
        "prediction-contradicted", "tf-live", Severity.WARNING,
        "The static checks found nothing wrong, yet the live import found no GPU: tfgpu's knowledge has a gap here",
        f"Please report this with the JSON report attached ({save}).",
        {"static_findings": [f"{f.id}: {f.severity.value}" for f in findings if f.check != "tf-live"][:30],
         "live_log_tail": list(live.log[-LOG_TAIL:])},
        (Fix("Save the full report to attach to a bug report",
             (save,)),),
    )]
