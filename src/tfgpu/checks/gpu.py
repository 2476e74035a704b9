"""Checks on the GPUs themselves: each one's compute capability against TensorFlow's build (native,
PTX JIT, or none), free VRAM and ECC health, and MIG."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tfgpu.checks import CheckContext, check
from tfgpu.checks.common import CUDA_ENV_VARS, build_cuda, gpu_cc, gpu_label, gpu_lost_fixes, python_of, vram_free_text
from tfgpu.fixes import pip, tf_requirement
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.probes.driver import GIB
from tfgpu.rules import CCSupport, GapKind, ToolkitGap, cc_support, last_tf_for_cc, toolkit_gap, toolkit_gap_text

#: VRAM below this, or below this share of the total, is too little for TensorFlow to start well.
LOW_VRAM_BYTES = 1 * GIB

LOW_VRAM_SHARE = 0.10

#: The largest JIT cache CUDA accepts (CUDA C++ Programming Guide, CUDA_CACHE_MAXSIZE: 4 GiB).
JIT_CACHE_MAX = 4294967296


@check("gpu-compute-capability", "Each GPU's compute capability is in TensorFlow's build", Area.GPU,
       needs=("driver",), uses=("environment", "python_env", "tf_build"),
       emits=("gpu-cc-ok", "gpu-cc-unsupported", "gpu-ptx-jit"))
def gpu_compute_capability(ctx: CheckContext) -> Iterator[Finding]:
    """Each GPU's compute capability against the architectures the installed TensorFlow was built for: native code, PTX
    the driver compiles at start-up, or none at all."""
    driver = ctx.driver
    if driver is None:
        return
    build = ctx.tf_build
    if build is None or not build.is_cuda_build:
        return
    built = list(build.compute_capabilities)
    env = ctx.environment
    cache_disabled = getattr(env, "get", lambda _n: None)("CUDA_CACHE_DISABLE") == "1"
    for g in driver.gpus:
        if g.health != "ok":
            continue
        cc, source = gpu_cc(g, ctx.matrix)
        ev: dict[str, Any] = {"gpu": g.index, "name": g.name, "compute_capability": g.compute_capability,
                              "cc_source": source, "tf_version": build.version, "built_for": built}
        if cc is None:
            yield ctx.finding("gpu-compute-capability-skipped", Severity.SKIPPED,
                              f"{gpu_label(g)}: compute capability unknown "
                              f"({g.unavailable.get('compute_capability', 'not reported')})", evidence=ev)
            continue
        cc_text = f"{cc[0]}.{cc[1]}"
        ev["compute_capability"] = cc_text
        if not built:
            yield ctx.finding("gpu-compute-capability-skipped", Severity.SKIPPED,
                              f"TensorFlow {build.version}'s build record lists no compute capabilities; "
                              f"{gpu_label(g)} (CC {cc_text}) not judged", evidence=ev)
            continue
        how = cc_support(cc, built)
        cuda = build_cuda(ctx, build)
        gap = toolkit_gap(ctx.matrix, cuda, cc) if how.runs and cuda and ctx.matrix is not None else None
        if gap is not None:
            yield _toolkit_gap_finding(ctx, g, gap, build.version, how.entry or "", ev)
            continue
        if how.kind is CCSupport.SASS:
            yield ctx.finding("gpu-cc-ok", Severity.OK,
                              f"{gpu_label(g)}, CC {cc_text}, runs TensorFlow {build.version}'s native {how.entry} kernels",
                              evidence={**ev, "uses": how.entry})
            continue
        if how.kind is CCSupport.PTX:
            detail = (f"TensorFlow {build.version} has no SASS for CC {cc_text}, so the driver JIT-compiles its {how.entry} "
                      "PTX for this GPU. The first start compiles every kernel and can take many minutes; the result is "
                      f"kept in the CUDA JIT cache (default ~/.nv/ComputeCache) only if the cache is large enough, so "
                      f"raise CUDA_CACHE_MAXSIZE to its maximum ({JIT_CACHE_MAX} bytes) and keep CUDA_CACHE_PATH on "
                      "persistent storage (in containers, mount it).")
            if cache_disabled:
                detail += " CUDA_CACHE_DISABLE=1 is set, so every start compiles again."
            yield ctx.finding(
                "gpu-ptx-jit", Severity.WARNING,
                f"{gpu_label(g)}, CC {cc_text}, runs TensorFlow {build.version} only through PTX JIT of {how.entry} "
                "(slow first start)", detail, {**ev, "uses": how.entry, "cuda_cache_disable": cache_disabled},
                (Fix("Keep the JIT cache between runs (add to your shell profile)",
                     (f"export CUDA_CACHE_MAXSIZE={JIT_CACHE_MAX}", 'export CUDA_CACHE_PATH="$HOME/.nv/ComputeCache"')
                     + (("unset CUDA_CACHE_DISABLE",) if cache_disabled else ()),
                     (CUDA_ENV_VARS,)),))
            continue
        last = last_tf_for_cc(ctx.matrix, cc) if ctx.matrix is not None else None
        fixes = []
        if last is not None:
            row, last_fit = last
            entry = last_fit.entry
            last_text = f"the last TensorFlow in tfgpu's matrix that supports CC {cc_text} is {row.series} ({entry})"
            fixes.append(Fix(f"Install TensorFlow {row.series} (built for CUDA {row.cuda}), the last release that runs "
                             f"on this GPU",
                             (pip(python_of(ctx), "install", tf_requirement(row.release, and_cuda=bool(row.and_cuda))),)))
            ev["last_supporting_tf"] = row.release
        else:
            last_text = f"no TensorFlow in tfgpu's matrix supports CC {cc_text}"
        yield ctx.finding(
            "gpu-cc-unsupported", Severity.ERROR,
            f"{gpu_label(g)} has compute capability {cc_text}, which is not in TensorFlow {build.version}'s build "
            f"({', '.join(built)}); {last_text}",
            "There is neither native code for this GPU (SASS of the same major, equal or lower minor) nor PTX for "
            "an equal or lower compute capability; TensorFlow ignores the GPU ('Ignoring visible gpu device ... "
            "compute capability ... The minimum required Cuda capability is ...').", ev, fixes)

def _toolkit_gap_finding(ctx: CheckContext, g: Any, gap: ToolkitGap, tf_version: str, entry: str,
                         ev: dict[str, Any]) -> Finding:
    """The build has code for this GPU on paper (SASS or PTX), but its CUDA toolkit cannot target the
    GPU's architecture (tfgpu.rules.toolkit_gap): an error, with the cause and only what works."""
    tf_label = f"TensorFlow {tf_version}"
    fixes = [Fix(a.summary, a.commands, a.links) for a in gap.alternatives]
    row_fit = last_tf_for_cc(ctx.matrix, gap.cc) if ctx.matrix is not None else None
    newest_series = ctx.matrix.tf_rows_newest_first()[0].series if ctx.matrix is not None and ctx.matrix.tensorflow else None
    if row_fit is not None and newest_series is not None:
        row, _fit = row_fit
        fixes.insert(0, Fix(f"Install TensorFlow {row.series} (built for CUDA {row.cuda}), the newest release in "
                            "tfgpu's matrix whose CUDA serves this GPU",
                            (pip(python_of(ctx), "install", tf_requirement(row.release, and_cuda=bool(row.and_cuda))),)))
        ev["serving_tf"] = row.release
    elif gap.kind is GapKind.NEWER:
        ev["serving_tf"] = None
    reports = f" Reported in {', '.join(gap.reports)}." if gap.reports else ""
    none_left = ""
    if row_fit is None and gap.kind is GapKind.NEWER:
        none_left = (f" No TensorFlow release on PyPI in tfgpu's matrix (newest: {newest_series}) is built with a CUDA "
                     f"that targets this GPU{'' if fixes else ', and tfgpu knows no verified alternative for it'}.")
    how = f"its {entry} code" if entry else "its code"
    detail = (f"On paper {how} reaches compute capability {gap.cc[0]}.{gap.cc[1]}, but {gap.failure}.{reports}"
              f"{none_left}")
    return ctx.finding(
        "gpu-cc-unsupported", Severity.ERROR, f"{gpu_label(g)}: {toolkit_gap_text(gap, tf_label)}", detail,
        {**ev, "cause": f"toolkit_{gap.kind.value}", "tf_cuda": gap.cuda, "first_cuda": gap.first_cuda,
         "last_cuda": gap.last_cuda, "arch": gap.arch, "reports": list(gap.reports)}, fixes)


def vram_low_text(label: str, free: int, total: int) -> str:
    return f"{label} has only {vram_free_text(free, total)}"

def vram_in_use_text(label: str, pids: list[int], used: int | None) -> str:
    verb = "holds" if len(pids) == 1 else "hold"
    held = f" {verb} {used / GIB:.1f} GiB" if used else f" {'uses' if len(pids) == 1 else 'use'} it"
    return f"{label}: {len(pids)} other process{'es' if len(pids) != 1 else ''}{held} (pid {', '.join(map(str, pids))})"

@check("gpu-memory", "GPUs have free VRAM and no other processes holding it", Area.GPU, needs=("driver",),
       emits=("gpu-ecc-errors", "vram-in-use", "vram-low", "vram-ok"))
def gpu_memory(ctx: CheckContext) -> Iterator[Finding]:
    """Each GPU's free memory, the processes already holding it, and uncorrected ECC errors."""
    driver = ctx.driver
    if driver is None:
        return
    for g in driver.gpus:
        if g.health != "ok":
            continue
        ev: dict[str, Any] = {"gpu": g.index, "name": g.name, "total_bytes": g.memory_total_bytes,
                              "free_bytes": g.memory_free_bytes, "used_bytes": g.memory_used_bytes}
        problem = False
        if g.processes:
            pids = [p.pid for p in g.processes]
            used = sum(p.used_memory_bytes or 0 for p in g.processes) or None
            ev["processes"] = [{"pid": p.pid, "name": p.name, "used_bytes": p.used_memory_bytes} for p in g.processes]
            problem = True
            yield ctx.finding(
                "vram-in-use", Severity.WARNING, vram_in_use_text(gpu_label(g), pids, used),
                "TensorFlow maps nearly all free GPU memory at start; memory other processes hold is not available "
                "to it, and a second TensorFlow process on the same GPU runs out of memory.", ev,
                (Fix("See what they are, and stop them if they are yours",
                     ("nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv",
                      f"kill {' '.join(map(str, pids))}")),
                 Fix("Or let TensorFlow allocate only what it needs, so processes can share the GPU",
                     ("export TF_FORCE_GPU_ALLOW_GROWTH=true",))))
        total, free = g.memory_total_bytes, g.memory_free_bytes
        if total and free is not None and (free < LOW_VRAM_BYTES or free < LOW_VRAM_SHARE * total):
            problem = True
            yield ctx.finding(
                "vram-low", Severity.WARNING, vram_low_text(gpu_label(g), free, total),
                "TensorFlow will start, but models that need more memory fail with ResourceExhaustedError (OOM).", ev,
                (Fix("Free the GPU (see which processes use it)", ("nvidia-smi",)),
                 Fix("Or allocate on demand instead of up front", ("export TF_FORCE_GPU_ALLOW_GROWTH=true",))))
        ecc_errors = g.ecc_uncorrected_volatile or 0
        if ecc_errors > 0 or g.retired_pages_pending:
            yield ctx.finding(
                "gpu-ecc-errors", Severity.WARNING,
                f"{gpu_label(g)} reports {ecc_errors} uncorrected ECC error{'s' if ecc_errors != 1 else ''} since the "
                f"driver loaded" + ("; retired pages are pending" if g.retired_pages_pending else ""),
                "Uncorrected memory errors kill the CUDA contexts that touch them; pending page retirements take "
                "effect at the next GPU reset.", {**ev, "ecc_uncorrected_volatile": ecc_errors,
                                                    "retired_pages_pending": g.retired_pages_pending},
                gpu_lost_fixes(g.index))
        if not problem and total is not None and free is not None:
            yield ctx.finding("vram-ok", Severity.OK,
                              f"{gpu_label(g)}: {vram_free_text(free, total)}"
                              + (f", {g.memory_bandwidth_gb_s:g} GB/s" if g.memory_bandwidth_gb_s else ""),
                              evidence={**ev, "bandwidth_gb_s": g.memory_bandwidth_gb_s})

@check("mig-mode", "MIG mode is understood", Area.GPU, needs=("driver",),
       emits=("mig-enabled",))
def mig_mode(ctx: CheckContext) -> Iterator[Finding]:
    """Whether a GPU has MIG enabled (CUDA then sees its MIG instances, not the whole GPU) or pending until the next
    reset."""
    driver = ctx.driver
    if driver is None:
        return
    for g in driver.gpus:
        if not g.mig_mode_current and not g.mig_mode_pending:
            continue
        ev = {"gpu": g.index, "name": g.name, "mig_current": g.mig_mode_current, "mig_pending": g.mig_mode_pending}
        if g.mig_mode_current:
            yield ctx.finding(
                "mig-enabled", Severity.WARNING,
                f"MIG is enabled on {gpu_label(g)}: CUDA sees its MIG instances, not the whole GPU",
                "A CUDA process uses one MIG instance; with no instance created CUDA sees no device on this GPU. "
                "Select the instance by its MIG UUID.", ev,
                (Fix("List the MIG devices and pick one", ("nvidia-smi -L", "export CUDA_VISIBLE_DEVICES=MIG-<uuid>")),
                 Fix("Or turn MIG off for the whole GPU (needs a GPU reset)",
                     (f"sudo nvidia-smi -i {g.index} -mig 0", f"sudo nvidia-smi -i {g.index} --gpu-reset"))))
        else:
            yield ctx.finding("mig-enabled", Severity.INFO,
                              f"MIG is pending on {gpu_label(g)}; it takes effect at the next GPU reset", evidence=ev)
