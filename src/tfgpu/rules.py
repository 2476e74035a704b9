"""The compatibility rules: pure judgements over versions and the matrix, shared by every layer.

`tfgpu.checks` (the doctor), `tfgpu.explain` (a pasted log) and `tfgpu.recommend` (which release to
install) all decide with these functions and hold no copy of them. Nothing here reads the machine
or knows about facts, findings or fixes: arguments are versions, compute capabilities and the
matrix; results are enums and small frozen records.

Dependency direction: checks → recommend → rules → matrix; explain → rules.
"""

from __future__ import annotations

import enum
import re
from typing import Iterable

from packaging.version import InvalidVersion, Version

from tfgpu.matrix import CudnnRow, DriverNeed, Matrix, TFRow, Workaround, parse_arch
from tfgpu.pep508 import InvalidRequirement, Requirement
from tfgpu.records import dataclass
from tfgpu.versions import cc_pair, driver_at_least, major_minor, major_of, numeric_key, short

# --- operating system and the driver column -------------------------------------------------------


class OS(str, enum.Enum):
    """Where TensorFlow runs, as the rules distinguish it."""

    LINUX = "linux"
    WSL2 = "wsl2"
    WINDOWS = "windows"
    MACOS = "macos"


def machine_os(platform: str | None, wsl: str | None = None, driver_wsl2: bool = False) -> OS:
    """The OS from the target's `sys.platform`, the host's WSL flavour and the driver probe's WSL2 sign."""
    if platform == "win32":
        return OS.WINDOWS
    if platform == "darwin":
        return OS.MACOS
    if wsl == "wsl2" or driver_wsl2:
        return OS.WSL2
    return OS.LINUX


def driver_column(os_name: str) -> str:
    """Which driver column of the matrix applies: under WSL2 the driver is the Windows one, and it
    reports its Windows version number (NVIDIA CUDA on WSL user guide); native Windows likewise."""
    return "windows" if os_name in (OS.WINDOWS.value, OS.WSL2.value) else "linux"


def nvidia_platform(os_name: str, machine: str = "x86_64") -> str:
    """The matrix's tensorflow_platforms key for an OS and CPU architecture."""
    if os_name == OS.WINDOWS.value:
        return "windows-native"
    if os_name == OS.WSL2.value:
        return "wsl2"
    if machine.lower() in ("aarch64", "arm64"):
        return "linux-aarch64"
    return "linux-x86_64"


def windows_gpu_last(matrix: Matrix | None) -> str:
    """The last release series with GPU support on native Windows, from the matrix's
    tensorflow_platforms row (TensorFlow's Windows build table: 2.10)."""
    row = matrix.platform_row("windows-native") if matrix is not None else None
    return row.last if row is not None and row.last else "2.10"


def platform_gpu_refusal(matrix: Matrix, platform: str, series: str) -> str | None:
    """Why `series` cannot use an NVIDIA GPU on `platform`, or None where it can (or the matrix has no row)."""
    if matrix.nvidia_gpu_on(platform, series) is not False:
        return None
    prow = matrix.platform_row(platform)
    span = (f" (GPU support there: {prow.first or 'all'} to {prow.last or 'now'})"
            if prow and prow.gpu == "nvidia-cuda" else "")
    return f"no NVIDIA GPU support on {platform} for this release{span}" + (f": {prow.note}" if prow and prow.note else "")


# --- compute capability ----------------------------------------------------------------------------


class CCSupport(str, enum.Enum):
    SASS = "sass"  # native machine code for this GPU
    PTX = "ptx"  # only through the driver's JIT of PTX
    NONE = "none"  # cannot run


@dataclass(frozen=True)
class CCFit:
    kind: CCSupport
    entry: str | None = None  # the build entry used: "sm_80", "compute_90"

    @property
    def runs(self) -> bool:
        return self.kind is not CCSupport.NONE


def cc_support(cc: tuple[int, int], build_ccs: Iterable[str]) -> CCFit:
    """How a GPU of compute capability `cc` runs a build compiled for `build_ccs`.

    SASS for sm_XY runs on the same major with an equal or higher minor (CUDA C++ Programming Guide,
    "Binary Compatibility"; TensorFlow's .bazelrc says the same); arch-specific 'a' targets run only on
    exactly that CC. PTX for an equal or lower CC runs through the driver's JIT ("Application
    Compatibility"). Bare numbers ('3.5', as builds before 2.3 list them) were compiled to SASS and PTX
    (TF 2.3 release notes).
    """
    best_ptx: tuple[tuple[int, int], str] | None = None
    sass: tuple[tuple[int, int], str] | None = None
    for entry in build_ccs:
        arch = parse_arch(entry)
        if arch is None:
            continue
        kind, major, minor, suffix = arch
        if suffix == "a" and (major, minor) != cc:
            continue
        bare = not entry.strip().startswith(("sm_", "compute_"))
        if kind == "sm" and major == cc[0] and minor <= cc[1] and (sass is None or (major, minor) > sass[0]):
            sass = ((major, minor), entry)
        if (kind == "compute" or bare) and (major, minor) <= cc and (best_ptx is None or (major, minor) > best_ptx[0]):
            best_ptx = ((major, minor), entry)
    if sass is not None:
        return CCFit(CCSupport.SASS, sass[1])
    if best_ptx is not None:
        return CCFit(CCSupport.PTX, best_ptx[1])
    return CCFit(CCSupport.NONE)


def last_tf_for_cc(matrix: Matrix, cc: tuple[int, int]) -> tuple[TFRow, CCFit] | None:
    """The newest TensorFlow row whose build runs on compute capability `cc`, and how: its SASS or PTX
    covers the GPU and its CUDA toolkit can target the GPU's architecture (`toolkit_gap`)."""
    for row in matrix.tf_rows_newest_first():
        fit = cc_support(cc, row.compute_capabilities)
        if fit.runs and not (row.cuda and toolkit_gap(matrix, row.cuda, cc)):
            return row, fit
    return None


# --- the build's CUDA toolkit and cuDNN against the GPU's architecture --------------------------------
#
# A build's SASS/PTX list is not the whole story: only TensorFlow's own kernels are JIT-compiled from its
# PTX. Its CUDA toolkit's libraries (cuBLAS, cuDNN, ...), its XLA/LLVM code generator and the ptxas it
# ships know only the architectures that toolkit targets (the matrix's `cuda` rows: adds_cc, dropped),
# and each cuDNN release serves its own compute-capability range (the `cudnn` rows: min_cc, max_cc).


def cc_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def sm_name(cc: tuple[int, int], kind: str = "sm") -> str:
    return f"{kind}_{cc[0]}{cc[1]}"


def _covers(targets: Iterable[str], cc: tuple[int, int]) -> bool:
    """Some target of the same major, equal or lower minor (binary compatibility within a major)."""
    for t in targets:
        pair = cc_pair(t)
        if pair is not None and pair[0] == cc[0] and pair[1] <= cc[1]:
            return True
    return False


class GapKind(str, enum.Enum):
    NEWER = "newer"  # the GPU's architecture is newer than the toolkit (or cuDNN) knows
    OLDER = "older"  # the toolkit (or cuDNN) dropped it


@dataclass(frozen=True)
class ToolkitGap:
    """A GPU that a build's CUDA toolkit cannot target: why, and what is reported to work instead."""

    cc: tuple[int, int]
    cuda: str  # the build's CUDA
    kind: GapKind
    first_cuda: str | None  # NEWER: the first toolkit that targets the GPU (None: none in the matrix)
    last_cuda: str | None  # OLDER: the last toolkit that targeted it
    arch: str | None  # "Blackwell", from the gpus rows
    failure: str  # the cause, filled in for this build and GPU
    reports: tuple[str, ...]  # public reports of the failure
    alternatives: tuple[Workaround, ...]  # ways reported to work (summaries filled in)

    @property
    def label(self) -> str:
        return f"compute capability {cc_text(self.cc)}" + (f" ({self.arch}, {sm_name(self.cc)})" if self.arch
                                                           else f" ({sm_name(self.cc)})")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def toolkit_gap(matrix: Matrix, cuda: str, cc: tuple[int, int]) -> ToolkitGap | None:
    """Why CUDA `cuda`'s toolkit cannot serve a GPU of compute capability `cc`, or None where it can (or
    the matrix does not know the toolkit's targets). Newer: the GPU's architecture came with a later
    toolkit (Blackwell sm_120 with CUDA 12.8; Ampere with CUDA 11.0), so the build's PTX does not help
    its libraries and code generator. Older: the toolkit no longer targets it (Kepler after CUDA 11.8)."""
    targets = matrix.cuda_targets(cuda)
    if targets is None or _covers(targets, cc):
        return None
    rows = sorted(matrix.cuda, key=lambda r: major_minor(r.version) or (0, 0))
    first = next((r for r in rows if (t := matrix.cuda_targets(r.version)) is not None and _covers(t, cc)), None)
    build = major_minor(cuda) or (0, 0)
    first_key = major_minor(first.version) if first is not None else None
    if first_key is not None and first_key < build:
        kind = GapKind.OLDER
        last = None
        for r in rows:
            t = matrix.cuda_targets(r.version)
            if (major_minor(r.version) or (0, 0)) < build and t is not None and _covers(t, cc):
                last = r.version
        first_cuda, last_cuda = None, last
    else:
        known = [p for p in (cc_pair(t) for t in targets) if p is not None]
        if first is None and known and cc < min(known):
            return None  # an architecture older than anything the matrix records: not judged
        exact = matrix.cuda_adding(cc_text(cc))  # the toolkit that names this very target, where one does
        kind, last_cuda = GapKind.NEWER, None
        first_cuda = exact.version if exact is not None else (first.version if first is not None else None)
    row = matrix.cuda_row(cuda)
    values = {"cuda": cuda, "ptx_isa": (row.ptx_isa if row is not None and row.ptx_isa else "?"),
              "sm": sm_name(cc), "compute": sm_name(cc, "compute"), "cc": cc_text(cc)}
    adding = None
    if first is not None:
        adding = next((r for r in rows if (major_minor(r.version) or (0, 0)) <= (major_minor(first.version) or (0, 0))
                       and any((p := cc_pair(a)) is not None and p[0] == cc[0] and p[1] <= cc[1] for a in r.adds_cc)
                       and r.older_builds is not None), None)
    older = adding.older_builds if adding is not None and kind is GapKind.NEWER else None
    if older is not None:
        failure = _fill(older.failure, values)
        reports = older.reports
        alts = tuple(Workaround(_fill(a.summary, values), tuple(_fill(c, values) for c in a.commands), a.links,
                                a.ccs, a.source)
                     for a in older.alternatives if not a.ccs or cc_text(cc) in a.ccs)
    elif kind is GapKind.NEWER:
        failure = (f"CUDA {cuda}'s compiler and libraries (cuBLAS, cuDNN, XLA's code generator) have no code for "
                   f"{sm_name(cc)}; only TensorFlow's own kernels could be JIT-compiled from its PTX")
        reports, alts = (), ()
    else:
        failure = f"CUDA {cuda} no longer targets {sm_name(cc)}: its libraries carry no code for this GPU"
        reports, alts = (), ()
    return ToolkitGap(cc, cuda, kind, first_cuda, last_cuda, matrix.arch_of(cc), failure, reports, alts)


def toolkit_gap_text(gap: ToolkitGap, tf_label: str) -> str:
    """One line: which GPU, which toolkit, since when."""
    if gap.kind is GapKind.NEWER:
        since = (f"CUDA's first toolkit for {sm_name(gap.cc)} is {gap.first_cuda}" if gap.first_cuda
                 else f"no CUDA toolkit in tfgpu's matrix targets {sm_name(gap.cc)}")
        return f"{gap.label} is newer than {tf_label}'s CUDA {gap.cuda} can target ({since})"
    last = f" (last toolkit for it: CUDA {gap.last_cuda})" if gap.last_cuda else ""
    return f"{gap.label} is no longer targeted by {tf_label}'s CUDA {gap.cuda}{last}"


@dataclass(frozen=True)
class CudnnGap:
    """A GPU outside the compute-capability range of a cuDNN release."""

    cc: tuple[int, int]
    cudnn: str  # the version judged ("9.28.0")
    row: CudnnRow  # its series in the matrix
    kind: GapKind
    first_without: str | None  # OLDER: the first cuDNN of that major without this GPU ("9.11.0")
    last_with: str | None  # OLDER: the newest cuDNN series of that major that still serves it ("9.10.2")


def cudnn_gap(matrix: Matrix, cudnn: str, cc: tuple[int, int]) -> CudnnGap | None:
    """Why cuDNN `cudnn` cannot serve compute capability `cc`, or None where it can (or the matrix does
    not know its range): below the series' min_cc (cuDNN 9.11+ and CC < 7.5), or of a newer major than
    its max_cc."""
    row = matrix.cudnn_row_for(cudnn)
    if row is None:
        return None
    low, high = cc_pair(row.min_cc or ""), cc_pair(row.max_cc or "")
    if low is not None and cc < low:
        same = sorted((r for r in matrix.cudnn if major_of(r.version) == major_of(row.version)),
                      key=lambda r: Version(r.version))
        first = next((r.version for r in same if (p := cc_pair(r.min_cc or "")) is not None and cc < p), None)
        below = [r for r in same if first is None or Version(r.version) < Version(first)]
        last = next((r.version for r in reversed(below) if (p := cc_pair(r.min_cc or "")) is not None and p <= cc), None)
        return CudnnGap(cc, cudnn, row, GapKind.OLDER, first, last)
    if high is not None and cc[0] > high[0]:
        return CudnnGap(cc, cudnn, row, GapKind.NEWER, None, None)
    return None


def cudnn_gap_text(gap: CudnnGap) -> str:
    if gap.kind is GapKind.OLDER:
        since = f"cuDNN >= {short(gap.first_without)}" if gap.first_without else f"cuDNN {gap.row.version}"
        return (f"cuDNN {gap.cudnn} has no kernels for compute capability {cc_text(gap.cc)} ({since} supports "
                f"compute capability {gap.row.min_cc} and newer only)")
    return (f"cuDNN {gap.cudnn} has no kernels for compute capability {cc_text(gap.cc)} (its newest is "
            f"{gap.row.max_cc})")


@dataclass(frozen=True)
class CudnnPlan:
    """What `pip install` of a release's [and-cuda] brings as cuDNN, judged against the GPUs."""

    requirement: str  # "nvidia-cudnn-cu12<10.0,>=9.3.0.75"
    package: str  # "nvidia-cudnn-cu12"
    installs: str | None  # the cuDNN series pip takes by default (newest in range)
    gaps: tuple[CudnnGap, ...]  # GPUs that cuDNN does not serve
    pin: str | None  # an extra requirement that serves every GPU ("nvidia-cudnn-cu12<9.11"), or None
    serves: str | None  # the cuDNN series the pin installs
    pin_with_floor: str | None = None  # the pin with the release's own lower bound ("...>=9.3.0.75,<9.11")


def _and_cuda_cudnn(lines: Iterable[str]) -> Requirement | None:
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower().replace("_", "-").startswith("nvidia-cudnn-cu"):
            return req
    return None


def _in_range(req: Requirement, version: str) -> bool:
    """Whether the cuDNN series `version` ("9.3.0") has a release inside `req`'s range ("==9.3.0.75")."""
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    if req.specifier.contains(v, prereleases=True):
        return True
    series = (v.major, v.minor)
    for spec in req.specifier:
        if spec.operator in ("==", ">=", "~=", "===") and major_minor(spec.version) == series:
            upper_ok = all(s.contains(Version(f"{series[0]}.{series[1]}.999"), prereleases=True)
                           for s in req.specifier if s.operator in ("<", "<="))
            return upper_ok
    return False


def cudnn_plan(matrix: Matrix, and_cuda: Iterable[str], ccs: Iterable[tuple[int, int]]) -> CudnnPlan | None:
    """The cuDNN a release's [and-cuda] installs (the newest series of the matrix inside its pin), the GPUs
    it does not serve, and where an older series inside the pin serves them all, the extra pin."""
    req = _and_cuda_cudnn(and_cuda)
    if req is None:
        return None
    m = re.search(r"-cu(\d+)$", req.name)
    cuda_major = m.group(1) if m else None
    rows = sorted((r for r in matrix.cudnn if _in_range(req, r.version) and (cuda_major is None or cuda_major in r.cuda)),
                  key=lambda r: Version(r.version))
    if not rows:
        return None
    ccs = list(ccs)
    newest = rows[-1]
    gaps = tuple(g for g in (cudnn_gap(matrix, newest.version, cc) for cc in ccs) if g is not None)
    pin = serves = None
    if gaps:
        for row in reversed(rows[:-1]):
            if all(cudnn_gap(matrix, row.version, cc) is None for cc in ccs):
                later = [r for r in rows if Version(r.version) > Version(row.version)]
                bound = short(later[0].version) if later else None
                if bound:
                    pin, serves = f"{req.name}<{bound}", row.version
                break
    floor = None
    if pin is not None:
        lows = sorted(str(s) for s in req.specifier if s.operator in (">=", ">"))
        floor = f"{req.name}{','.join([*lows, pin[len(req.name):]])}"
    return CudnnPlan(str(req.name) + str(req.specifier), req.name, newest.version, gaps, pin, serves, floor)


# --- the driver against TensorFlow's CUDA -----------------------------------------------------------


class DriverFit(str, enum.Enum):
    OK = "ok"  # at or above the toolkit's own driver
    MINOR_COMPAT = "minor_compat"  # only through CUDA minor-version compatibility
    TOO_OLD = "too_old"
    UNKNOWN = "unknown"


def driver_fit(driver: str, need: DriverNeed) -> DriverFit:
    """Place a driver against what a CUDA version needs (CUDA Compatibility guide: from CUDA 11 on, a
    driver at or above the major family's minimum runs any toolkit of that family, with limits)."""
    if need.toolkit_min is None and need.minor_compat_min is None:
        return DriverFit.UNKNOWN
    if need.toolkit_min is not None and driver_at_least(driver, need.toolkit_min):
        return DriverFit.OK
    if need.minor_compat_min is not None and driver_at_least(driver, need.minor_compat_min):
        return DriverFit.MINOR_COMPAT
    return DriverFit.TOO_OLD


class DriverVerdict(str, enum.Enum):
    OK = "ok"
    MINOR_COMPAT = "minor_compat"  # runs, SASS only: a warning
    PTX_JIT_TOO_OLD = "ptx_jit_too_old"  # minor-compat driver, but a GPU needs PTX JIT: an error
    TOO_OLD = "too_old"
    UNKNOWN = "unknown"  # the matrix has no driver data for this CUDA


@dataclass(frozen=True)
class DriverJudgement:
    verdict: DriverVerdict
    fit: DriverFit
    need: DriverNeed
    column: str  # "linux" or "windows"
    #: (GPU label, PTX entry) for each GPU that runs only through PTX JIT.
    ptx: tuple[tuple[str, str], ...] = ()


def judge_driver(driver: str, cuda: str, matrix: Matrix, os_name: str,
                 gpus: Iterable[tuple[str, CCFit]] = ()) -> DriverJudgement:
    """The driver `driver` against TensorFlow's CUDA `cuda` on `os_name`, for GPUs (label, how the build
    runs on it). Minor-version compatibility runs SASS but cannot JIT PTX from a newer toolkit."""
    column = driver_column(os_name)
    need = matrix.driver_need(cuda, column)
    fit = driver_fit(driver, need)
    ptx = tuple((label, how.entry or "") for label, how in gpus if how.kind is CCSupport.PTX)
    verdict = {DriverFit.OK: DriverVerdict.OK, DriverFit.TOO_OLD: DriverVerdict.TOO_OLD,
               DriverFit.UNKNOWN: DriverVerdict.UNKNOWN}.get(fit, DriverVerdict.MINOR_COMPAT)
    if fit is DriverFit.MINOR_COMPAT and ptx and need.toolkit_min:
        verdict = DriverVerdict.PTX_JIT_TOO_OLD
    return DriverJudgement(verdict, fit, need, column, ptx)


def judge_runtime(driver: str, build_cuda: str, runtime: str | None, matrix: Matrix,
                  os_name: str) -> DriverJudgement | None:
    """The driver against the CUDA runtime actually installed (the libcudart TensorFlow loads), where it
    is newer than the build's CUDA: [and-cuda] ranges (2.20+) let pip install a newer cu12 runtime
    (12.9) than the build's 12.5.1, and that runtime asks its own toolkit driver. None where the
    runtime is unknown or not newer (major.minor)."""
    have, built = major_minor(runtime), major_minor(build_cuda)
    if have is None or built is None or have <= built:
        return None
    return judge_driver(driver, f"{have[0]}.{have[1]}", matrix, os_name)


def driver_floor(need: DriverNeed) -> str | None:
    """The lowest driver that runs this CUDA at all (minor-version compatibility where it exists)."""
    return need.minor_compat_min or need.toolkit_min


def driver_unjudged_reason(tf_version: str, cuda: str | None, driver: str | None, have_matrix: bool) -> str | None:
    """Why the driver cannot be judged against TensorFlow's CUDA, or None where it can."""
    if not cuda:
        return (f"TensorFlow {tf_version}'s build record names no CUDA version (TensorFlow's build_info.py dropped "
                "it in 2.22.0rc0) and tfgpu's matrix has no row for this release, so the driver it needs is unknown; "
                "driver not judged")
    if not driver:
        return f"The NVIDIA driver's version could not be read, so it is not judged against CUDA {cuda}"
    if not have_matrix:
        return f"No compatibility matrix is loaded, so driver {driver} is not judged against CUDA {cuda}"
    return None


def ptx_jit_needs_driver_text(found: str, ptx: str, gpus: str, count: int, need: str, cuda: str) -> str:
    return (f"NVIDIA driver {found} is too old to JIT-compile TensorFlow's {ptx} PTX, which {gpus} "
            f"need{'s' if count == 1 else ''}: "
            f"PTX JIT for {ptx} needs a driver of at least {need} (the CUDA {cuda} toolkit driver, a conservative "
            "floor)")


def ptx_isa_first_driver(matrix: Matrix, cuda: str, column: str = "linux") -> tuple[str, str, str] | None:
    """(the PTX ISA CUDA `cuda` writes at most, the first CUDA release with that ISA, that release's GA
    driver on `column`), from the matrix's cuda rows (PTX ISA 'Release History'); None where unknown.
    A driver JIT-compiles PTX up to the ISA of its own CUDA release, so this is the lowest driver that
    could read the build's PTX if the wheel's PTX is of the toolkit's own ISA."""
    row = matrix.cuda_row(cuda)
    if row is None or not row.ptx_isa:
        return None
    same = sorted((r for r in matrix.cuda if r.ptx_isa == row.ptx_isa and r.releases),
                  key=lambda r: numeric_key(r.version))
    if not same:
        return None
    first = same[0]
    driver = first.releases[0].windows if column == "windows" else first.releases[0].linux
    return (row.ptx_isa, first.version, driver) if driver else None


def ptx_jit_floor_note(matrix: Matrix, cuda: str, column: str = "linux") -> str:
    """Why the PTX-JIT floor (the build's own toolkit driver) is conservative, and what the PTX ISA table
    says instead; "" where the matrix lacks the PTX ISA of `cuda`."""
    found = ptx_isa_first_driver(matrix, cuda, column)
    if found is None:
        return ""
    isa, first, driver = found
    return (f"That floor is conservative: it is the driver of the build's own CUDA {cuda}. A driver JIT-compiles PTX "
            f"up to the PTX ISA version of its CUDA release (PTX ISA, 'Release History'); CUDA {cuda} writes PTX ISA "
            f"{isa} at most, which came with CUDA {first}, whose first driver is {driver}. tfgpu's matrix does not "
            "record the .version of the PTX inside each wheel, so it keeps the toolkit driver.")


def driver_too_old_text(found: str, floor: str | None, cuda: str, toolkit: str | None) -> str:
    major = cuda.split(".")[0]
    if floor:
        return (f"NVIDIA driver {found} is too old for TensorFlow's CUDA {cuda}: CUDA {major}.x needs at least "
                f"{floor}" + (f" (CUDA {cuda}'s own driver is {toolkit})" if toolkit else ""))
    return f"NVIDIA driver {found} is too old for TensorFlow's CUDA {cuda}, which needs at least {toolkit}"


def driver_minor_compat_text(found: str, floor: str, cuda: str, toolkit: str) -> str:
    return (f"NVIDIA driver {found} runs TensorFlow's CUDA {cuda} only through minor-version compatibility "
            f"(CUDA {cuda.split('.')[0]}.x minimum {floor}; CUDA {cuda}'s own driver is {toolkit})")


# --- what a TensorFlow build was made with -----------------------------------------------------------

CUDNN_FROM_HEADERS = "matrix: cudnn_version.h shipped in the wheel"
CUDNN_FROM_PIN = "matrix: the [and-cuda] nvidia-cudnn pin (major.minor)"
CUDNN_FROM_TABLE = "matrix: TensorFlow's tested-build table (major.minor)"
CUDNN_FROM_BUILD_INFO = "build_info.py: major only, so only the major is compared"


def tf_cuda(matrix: Matrix | None, tf_version: str | None, build_cuda: str | None) -> str | None:
    """The CUDA a build was made with: its build_info's, else the matrix row's (TF 2.22.0rc0's
    build_info.py names none)."""
    if build_cuda:
        return build_cuda
    row = matrix.tf_row(tf_version) if matrix is not None and tf_version else None
    return row.cuda if row is not None else None


def built_cudnn(matrix: Matrix | None, tf_version: str | None, build_cudnn: str | None) -> tuple[str | None, str]:
    """(the cuDNN a build was compiled with, where that came from): the matrix row's shipped header,
    else its major.minor (TFRow.cudnn_tested), else build_info's major alone."""
    row = matrix.tf_row(tf_version) if matrix is not None and tf_version else None
    if row is not None and row.cudnn_headers:
        return row.cudnn_headers, CUDNN_FROM_HEADERS
    if row is not None and row.cudnn_tested:
        return row.cudnn_tested, (CUDNN_FROM_TABLE if row.cudnn_tested_from == "tested build table" else CUDNN_FROM_PIN)
    major = major_of(build_cudnn)
    return (str(major) if major is not None else None), CUDNN_FROM_BUILD_INFO


def cudnn_problem(loaded: str, built: str | None) -> str | None:
    """TensorFlow's own rule (xla/stream_executor/cuda/cuda_dnn.cc, IsSourceCompatibleWithCudnnLibrary):
    same major, and a minor at least the one it was compiled with. None where the loaded one fits."""
    have, want = major_minor(loaded), major_minor(built)
    if have is None:
        return None
    if want is None:
        wmaj = major_of(built)
        return f"it is cuDNN {loaded}, not {wmaj}.x" if wmaj is not None and have[0] != wmaj else None
    if have[0] != want[0]:
        return f"it is cuDNN {loaded}, not {want[0]}.x"
    if have[1] < want[1]:
        return f"it is cuDNN {loaded}, older than the {built} TensorFlow was built with"
    return None


# --- Python ------------------------------------------------------------------------------------------


def wheel_arch(machine: str | None) -> str:
    """The wheel architecture the matrix records for a CPU: "aarch64" for Arm, else "x86_64"."""
    return "aarch64" if (machine or "").lower() in ("aarch64", "arm64") else "x86_64"


def python_release(row: TFRow, python: str | None, machine: str | None = None) -> str | None:
    """The newest release of the series with a Linux wheel for `python` on this CPU (per patch release: an
    older patch may have a wheel the newest lacks, e.g. cp36 in 2.6.2 but not 2.6.5); None where none has
    or `python` is unknown."""
    return row.newest_release_for_python(python, wheel_arch(machine)) if python else None


def python_wheel_refusal(row: TFRow, python: str | None, machine: str | None = None) -> str | None:
    """Why no release of a series has a Linux wheel for `python` ("3.11" or "3.11.7"), or None where one
    has (or either side is unknown)."""
    py = short(python)
    if not py:
        return None
    arch = wheel_arch(machine)
    if row.python_by_release:
        if python_release(row, py, machine) is not None:
            return None
        have = row.pythons(arch)
        if not have:
            return None  # the matrix records no wheels for this architecture
        return f"no Linux wheel for Python {py} in any {row.series} release (they have {', '.join(have)})"
    if row.python and py not in row.python:
        return f"no Linux wheel for Python {py} (it has {', '.join(row.python)})"
    return None
