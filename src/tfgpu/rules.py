"""The compatibility rules: pure judgements over versions and the matrix, shared by every layer.

`tfgpu.checks` (the doctor), `tfgpu.explain` (a pasted log) and `tfgpu.recommend` (which release to
install) all decide with these functions and hold no copy of them. Nothing here reads the machine
or knows about facts, findings or fixes: arguments are versions, compute capabilities and the
matrix; results are enums and small frozen records.

Dependency direction: checks → recommend → rules → matrix; explain → rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from tfgpu.matrix import DriverNeed, Matrix, TFRow, parse_arch
from tfgpu.versions import driver_at_least, major_minor, major_of, short

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
    """The newest TensorFlow row whose build runs on compute capability `cc`, and how."""
    for row in matrix.tf_rows_newest_first():
        fit = cc_support(cc, row.compute_capabilities)
        if fit.runs:
            return row, fit
    return None


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
            f"PTX JIT for {ptx} needs a driver of at least {need} (the CUDA {cuda} toolkit driver)")


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
        return row.cudnn_tested, CUDNN_FROM_PIN
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


def python_wheel_refusal(row: TFRow, python: str | None) -> str | None:
    """Why a release has no Linux wheel for `python` ("3.11" or "3.11.7"), or None where it has one
    (or either side is unknown)."""
    py = short(python)
    if py and row.python and py not in row.python:
        return f"no Linux wheel for Python {py} (it has {', '.join(row.python)})"
    return None
