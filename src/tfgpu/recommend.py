"""Which TensorFlow releases will use a given machine's GPU: pure reasoning over the matrix.

Used by `tfgpu recommend` (and by fixes that offer "the newest TensorFlow this driver runs").
"""

from __future__ import annotations

from dataclasses import field

from packaging.version import InvalidVersion, Version

from tfgpu.fixes import tf_requirement
from tfgpu.matrix import Matrix, TFRow, parse_cc
from tfgpu.records import dataclass
from tfgpu.rules import (
    OS,
    CCSupport,
    DriverFit,
    DriverVerdict,
    GapKind,
    cc_support,
    cudnn_gap,
    cudnn_gap_text,
    cudnn_plan,
    driver_column,
    driver_fit,
    driver_floor,
    judge_driver,
    nvidia_platform,
    platform_gpu_refusal,
    python_release,
    python_wheel_refusal,
    toolkit_gap,
    toolkit_gap_text,
    wheel_arch,
)
from tfgpu.versions import driver_at_least, short


@dataclass(frozen=True)
class Machine:
    """What a recommendation needs to know; any field may be unknown (None / empty)."""

    driver: str | None = None
    ccs: tuple[str, ...] = ()
    python: str | None = None  # "3.11" or "3.11.7"
    os: str = "linux"  # linux, wsl2, windows, macos
    machine: str = "x86_64"
    glibc: str | None = None


@dataclass(frozen=True)
class Recommendation:
    tensorflow: str
    install: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exclusion:
    tensorflow: str
    reason: str


@dataclass(frozen=True)
class Advice:
    recommendations: tuple[Recommendation, ...]
    excluded: tuple[Exclusion, ...]
    machine: Machine
    assumptions: tuple[str, ...] = field(default_factory=tuple)


def classify_cc(cc: str, build: tuple[str, ...] | list[str]) -> tuple[str, str | None]:
    """How a GPU of compute capability `cc` ("8.6") runs a build's kernels: ("sass", "sm_80"),
    ("ptx", "compute_90") or ("none", None). The rule itself is `tfgpu.rules.cc_support`."""
    parsed = parse_cc(cc)
    if parsed is None:
        return (CCSupport.NONE.value, None)
    fit = cc_support((parsed[1], parsed[2]), build)
    return (fit.kind.value, fit.entry)


def install_command(row: TFRow, pin: str | None = None, release: str | None = None) -> str:
    """The install line for a release series (the exact `release` where given: the newest patch with a
    wheel for the machine's Python); `pin` is an extra requirement (a cuDNN that serves the GPUs)."""
    extra = f' "{pin}"' if pin else ""
    return f'pip install "{row.gpu_requirement(release)}"{extra}'


def _pairs(machine: Machine) -> list[tuple[int, int]]:
    out = []
    for cc in machine.ccs:
        parsed = parse_cc(cc)
        if parsed is not None:
            out.append((parsed[1], parsed[2]))
    return out


def cudnn_pin(row: TFRow, machine: Machine, matrix: Matrix) -> str | None:
    """The extra requirement that keeps a release's [and-cuda] cuDNN on a series serving this machine's
    GPUs (cuDNN >= 9.11 has no CC < 7.5: 'nvidia-cudnn-cu12<9.11'), or None where none is needed."""
    plan = cudnn_plan(matrix, row.and_cuda, _pairs(machine)) if row.and_cuda else None
    return plan.pin if plan is not None and plan.gaps else None


def _cudnn_refusal(row: TFRow, machine: Machine, matrix: Matrix, notes: list[str]) -> str | None:
    """Why the cuDNN this release brings (its [and-cuda] range, else the one it was built with) serves
    none of this machine's GPUs, or None; a pin that fixes it becomes a note."""
    pairs = _pairs(machine)
    if not pairs:
        return None
    plan = cudnn_plan(matrix, row.and_cuda, pairs) if row.and_cuda else None
    if plan is not None:
        if not plan.gaps:
            return None
        if plan.pin:
            notes.append(f"its [and-cuda] range ({plan.requirement}) installs cuDNN {plan.installs}, and "
                         f"{cudnn_gap_text(plan.gaps[0])}: the install line keeps cuDNN at {plan.serves} "
                         f"({plan.pin})")
            return None
        return f"its [and-cuda] requires {plan.requirement}: {cudnn_gap_text(plan.gaps[0])}"
    built = row.cudnn_tested or row.cudnn
    if not row.and_cuda and built and "." in built:
        for cc in pairs:
            gap = cudnn_gap(matrix, built, cc)
            if gap is not None:
                return f"it was built with cuDNN {built}: {cudnn_gap_text(gap)}"
    return None


def judge(row: TFRow, machine: Machine, matrix: Matrix) -> tuple[str | None, list[str]]:
    """(reason to exclude, or None; caveats) for one release on one machine."""
    notes: list[str] = []
    if machine.os == OS.MACOS.value:
        return "macOS has no CUDA: no TensorFlow release can use an NVIDIA GPU there (tensorflow-metal uses the Apple GPU)", notes
    refusal = platform_gpu_refusal(matrix, nvidia_platform(machine.os, machine.machine), row.series)
    if refusal:
        return refusal, notes
    if not row.cuda:
        return "this build has no CUDA version recorded", notes
    refusal = python_wheel_refusal(row, machine.python, machine.machine)
    if refusal:
        return refusal, notes
    if machine.glibc and row.glibc and not driver_at_least(machine.glibc, row.glibc):
        return f"its wheel needs glibc {row.glibc}, this system has {machine.glibc}", notes
    fits = []
    for cc in machine.ccs:
        parsed = parse_cc(cc)
        fit = cc_support((parsed[1], parsed[2]), row.compute_capabilities) if parsed else None
        if fit is None or fit.kind is CCSupport.NONE:
            return (f"compute capability {cc} is not in its build ({', '.join(row.compute_capabilities)})", notes)
        fits.append((cc, fit))
        gap = toolkit_gap(matrix, row.cuda, (parsed[1], parsed[2])) if parsed else None
        if gap is not None:
            seen = f" (reported: {gap.reports[-1]})" if gap.reports else ""
            return f"{toolkit_gap_text(gap, f'TensorFlow {row.series}')}{seen}", notes
    refusal = _cudnn_refusal(row, machine, matrix, notes)
    if refusal:
        return refusal, notes
    ptx_only = [(cc, fit.entry) for cc, fit in fits if fit.kind is CCSupport.PTX]
    need = matrix.driver_need(row.cuda, driver_column(machine.os))
    if machine.driver:
        judged = judge_driver(machine.driver, row.cuda, matrix, machine.os, fits)
        if judged.verdict is DriverVerdict.TOO_OLD:
            kind = "minor-version compatibility floor" if need.minor_compat_min else "driver"
            return (f"CUDA {row.cuda.split('.')[0]} needs a driver of at least {driver_floor(need)} ({kind} for CUDA "
                    f"{row.cuda}); this driver is {machine.driver}", notes)
        if judged.verdict is DriverVerdict.PTX_JIT_TOO_OLD:
            ccs = ", ".join(f"{cc} (only {entry})" for cc, entry in judged.ptx)
            return (f"GPU {ccs} needs PTX JIT, which needs the CUDA {row.cuda} driver {need.toolkit_min} or newer; "
                    f"this driver is {machine.driver}", notes)
        if judged.verdict is DriverVerdict.MINOR_COMPAT:
            notes.append(f"runs under CUDA minor-version compatibility (driver {machine.driver} < {need.toolkit_min}, "
                         f"the CUDA {row.cuda} toolkit driver): SASS kernels run, PTX JIT does not")
        if judged.verdict is DriverVerdict.UNKNOWN:
            notes.append(f"the matrix has no driver data for CUDA {row.cuda}: the driver was not checked")
    elif need.toolkit_min:
        notes.append(f"needs an NVIDIA driver of at least {driver_floor(need)} "
                     f"({need.toolkit_min} for full CUDA {row.cuda} support)")
    for cc, entry in ptx_only:
        notes.append(f"no SASS for compute capability {cc}: kernels are JIT-compiled from {entry} PTX on first start "
                     "(minutes; keep the cache with CUDA_CACHE_MAXSIZE=4294967296)")
    if not row.and_cuda:
        cudnn = row.cudnn_tested or row.cudnn or "?"
        where = "PATH" if machine.os == OS.WINDOWS.value else "LD_LIBRARY_PATH"
        notes.append(f"no [and-cuda] extra: install CUDA {row.cuda} and cuDNN {cudnn} yourself "
                     f"(e.g. from conda-forge) and put their libraries on {where}")
    if machine.os == OS.WSL2.value:
        notes.append("WSL2: install the NVIDIA driver on Windows only, never inside the Linux distribution")
    return None, notes


def _platform_wide_refusal(matrix: Matrix, machine: Machine) -> Advice | None:
    """Where the platform's tensorflow_platforms row gives no release an NVIDIA GPU (linux-aarch64: the
    PyPI aarch64 wheels are not CUDA builds), say so once, with the wheel the release has for this
    Python on this architecture (CPU-only), instead of one identical exclusion per release."""
    if machine.os == OS.MACOS.value:
        return None
    platform = nvidia_platform(machine.os, machine.machine)
    prow = matrix.platform_row(platform)
    rows = matrix.tf_rows_newest_first()
    if prow is None or not rows or any(platform_gpu_refusal(matrix, platform, r.series) is None for r in rows):
        return None
    arch = wheel_arch(machine.machine)
    span = f"{rows[-1].series}-{rows[0].series}"
    reason = f"no TensorFlow release on PyPI uses an NVIDIA GPU on {platform}" + (f": {prow.note}" if prow.note else "")
    notes: list[str] = []
    py = short(machine.python)
    if py:
        cpu = next(((r, rel) for r in rows if (rel := python_release(r, py, arch)) is not None), None)
        if cpu is not None:
            notes.append(f"tensorflow {cpu[1]} is the newest release with a Linux {arch} wheel for Python {py}; it "
                         "is not a CUDA build, so it runs on the CPU only (an [and-cuda] extra, where the wheel "
                         "declares one, installs NVIDIA libraries this TensorFlow does not use)")
        elif rows[0].pythons(arch):
            notes.append(f"no TensorFlow release has a Linux {arch} wheel for Python {py}")
    return Advice((), (Exclusion(f"all ({span})", reason),), machine, tuple(notes))


def recommend(matrix: Matrix, machine: Machine) -> Advice:
    whole = _platform_wide_refusal(matrix, machine)
    if whole is not None:
        return whole
    recs: list[Recommendation] = []
    excluded: list[Exclusion] = []
    assumptions = []
    if not machine.driver:
        assumptions.append("no driver version known: driver limits are listed as notes, not applied")
    if not machine.ccs:
        assumptions.append("no GPU compute capability known: architecture limits are not applied")
    for row in matrix.tf_rows_newest_first():
        reason, notes = judge(row, machine, matrix)
        if reason is None:
            release = python_release(row, machine.python, machine.machine)
            if release is not None and release != row.release:
                notes.append(f"{release} is the newest {row.series} release with a Linux wheel for Python "
                             f"{short(machine.python)}")
            recs.append(Recommendation(row.series, install_command(row, cudnn_pin(row, machine, matrix), release),
                                       tuple(notes)))
        elif not recs:
            # Only the releases newer than the best recommendation need a reason.
            excluded.append(Exclusion(row.series, reason))
    if not recs:
        assumptions.extend(_beyond_pypi(matrix, machine))
    return Advice(tuple(recs), tuple(excluded), machine, tuple(assumptions))


def _beyond_pypi(matrix: Matrix, machine: Machine) -> list[str]:
    """Where no release fits because the GPU is newer than every release's CUDA: say so plainly, and
    name what is reported to work (the matrix's cuda rows, `older_builds.alternatives`)."""
    rows = matrix.tf_rows_newest_first()
    newest = next((r for r in rows if r.cuda), None)
    out = []
    for cc in _pairs(machine):
        gap = toolkit_gap(matrix, newest.cuda, cc) if newest is not None and newest.cuda else None
        if gap is None or gap.kind is not GapKind.NEWER:
            continue
        text = (f"no TensorFlow wheel on PyPI in tfgpu's matrix (newest: {newest.series if newest else '?'}, CUDA "
                f"{gap.cuda}) serves {gap.label}: {gap.failure}")
        if gap.alternatives:
            ways = "; ".join(a.summary + (f": {' && '.join(a.commands)}" if a.commands else "") for a in gap.alternatives)
            text += f". Reported to work instead: {ways}"
        else:
            text += ". tfgpu knows no verified alternative for this GPU"
        out.append(text)
    return out


# --- the newest release that fits, instead of changing the machine ------------------------------------


def _older_than(row: TFRow, below: str | None) -> bool:
    if not below:
        return True
    try:
        return Version(row.release) < Version(below)
    except InvalidVersion:
        return True  # the installed version is unreadable: every release is a candidate


def tf_alternatives(matrix: Matrix, machine: Machine, below: str | None = None,
                    native_only: bool = False) -> tuple[TFRow | None, list[tuple[str, str]]]:
    """(the newest release older than `below` that `judge` accepts for `machine`, or None; (series,
    reason) for each release passed over). `native_only`: only a release whose CUDA the driver runs
    natively (its toolkit driver or newer), not through minor-version compatibility."""
    passed: list[tuple[str, str]] = []
    for row in matrix.tf_rows_newest_first():
        if not _older_than(row, below):
            continue
        reason, _notes = judge(row, machine, matrix)
        if reason is None and row.cuda and machine.driver:
            fit = driver_fit(machine.driver, matrix.driver_need(row.cuda, driver_column(machine.os)))
            if fit is DriverFit.UNKNOWN:
                reason = f"the matrix has no driver data for CUDA {row.cuda}"
            elif native_only and fit is not DriverFit.OK:
                reason = (f"CUDA {row.cuda} runs on driver {machine.driver} only through minor-version "
                          "compatibility too")
        if reason is None:
            return row, passed
        passed.append((row.series, reason))
    return None, passed


def newest_tf_for_driver(matrix: Matrix, driver: str, ccs: list[tuple[int, int]], os_name: str,
                         below: str | None = None, *, python: str | None = None, machine: str = "x86_64",
                         glibc: str | None = None, native_only: bool = False) -> TFRow | None:
    """The newest TensorFlow in the matrix that this driver runs on these GPUs (with this Python,
    architecture and glibc where given), by `judge`: its CUDA at or above the toolkit driver, or within
    minor-version compatibility where every GPU has native SASS (PTX from a newer toolkit cannot be
    JIT-compiled by an older driver). `os_name`: "linux", "wsl2" or "windows"."""
    m = Machine(driver=driver, ccs=tuple(f"{a}.{b}" for a, b in ccs), python=python, os=os_name,
                machine=machine, glibc=glibc)
    return tf_alternatives(matrix, m, below, native_only)[0]


def tf_row_requirement(row: TFRow, release: str | None = None) -> str:
    """The pip requirement for a matrix row's release series (its [and-cuda] form where it has one); the
    exact `release` where given (the newest patch with a wheel for the target's Python)."""
    if release is not None:
        return row.gpu_requirement(release)
    if row.package == "tensorflow-gpu":
        return f"tensorflow-gpu=={row.series}.*"
    return tf_requirement(row.release, and_cuda=bool(row.and_cuda))


def system_cuda_text(row: TFRow) -> str:
    """What a release without [and-cuda] (2.13 and older) needs from the system."""
    cudnn = row.cudnn_tested or row.cudnn or "?"
    return (f"it has no [and-cuda] extra, so it needs CUDA {row.cuda} and cuDNN {cudnn} installed on the system "
            "(e.g. from conda-forge) and on LD_LIBRARY_PATH")


def no_alternative_text(machine: Machine, native_only: bool) -> str:
    """Why no TensorFlow release is offered instead of a driver upgrade."""
    facts = [f"driver {machine.driver}"]
    if machine.ccs:
        facts.append(f"GPU compute capability {', '.join(machine.ccs)}")
    if machine.python:
        facts.append(f"Python {short(machine.python) or machine.python}")
    if native_only:
        return (f"No older TensorFlow release in tfgpu's matrix runs natively (without minor-version "
                f"compatibility) on this machine ({', '.join(facts)}); to leave minor-version compatibility, "
                "upgrade the driver.")
    return (f"No older TensorFlow release in tfgpu's matrix fits this machine ({', '.join(facts)}) either, as "
            "`tfgpu recommend` also finds: the driver must be upgraded.")
