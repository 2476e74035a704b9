"""Which TensorFlow releases will use a given machine's GPU: pure reasoning over the matrix.

Used by `tfgpu recommend` (and by fixes that offer "the newest TensorFlow this driver runs").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tfgpu.checks.driver import DriverFit, driver_fit
from tfgpu.matrix import Matrix, TFRow, cc_support, driver_at_least, parse_cc

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
    ("ptx", "compute_90") or ("none", None). The rule itself is `tfgpu.matrix.cc_support`."""
    parsed = parse_cc(cc)
    if parsed is None:
        return ("none", None)
    how = cc_support((parsed[1], parsed[2]), build)
    return (how[0], how[1]) if how else ("none", None)


def install_command(row: TFRow) -> str:
    series = row.series
    if row.package == "tensorflow-gpu":
        return f'pip install "tensorflow-gpu=={series}.*"'
    if row.and_cuda:
        return f'pip install "tensorflow[and-cuda]=={series}.*"'
    return f'pip install "tensorflow=={series}.*"'


def _py_mm(version: str | None) -> str | None:
    if not version:
        return None
    m = re.match(r"^(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def judge(row: TFRow, machine: Machine, matrix: Matrix) -> tuple[str | None, list[str]]:
    """(reason to exclude, or None; caveats) for one release on one machine."""
    notes: list[str] = []
    label = row.series
    if machine.os == "macos":
        return "macOS has no CUDA: no TensorFlow release can use an NVIDIA GPU there (tensorflow-metal uses the Apple GPU)", notes
    platform = {"windows": "windows-native", "wsl2": "wsl2"}.get(machine.os, "linux-x86_64")
    if machine.os == "linux" and machine.machine.lower() in ("aarch64", "arm64"):
        platform = "linux-aarch64"
    if matrix.nvidia_gpu_on(platform, label) is False:
        prow = matrix.platform_row(platform)
        span = f" (GPU support there: {prow.first or 'all'} to {prow.last or 'now'})" if prow and prow.gpu == "nvidia-cuda" else ""
        return f"no NVIDIA GPU support on {platform} for this release{span}" + (f": {prow.note}" if prow and prow.note else ""), notes
    if not row.cuda:
        return "this build has no CUDA version recorded", notes
    py = _py_mm(machine.python)
    if py and row.python and py not in row.python:
        return f"no Linux wheel for Python {py} (it has {', '.join(row.python)})", notes
    if machine.glibc and row.glibc and not driver_at_least(machine.glibc, row.glibc):
        return f"its wheel needs glibc {row.glibc}, this system has {machine.glibc}", notes
    ptx_only = []
    for cc in machine.ccs:
        kind, entry = classify_cc(cc, row.compute_capabilities)
        if kind == "none":
            return (f"compute capability {cc} is not in its build ({', '.join(row.compute_capabilities)})", notes)
        if kind == "ptx":
            ptx_only.append((cc, entry))
    # Under WSL2 the driver is the Windows one and reports its Windows version (as the driver
    # check does): the Windows column applies there too.
    os_key = "windows" if machine.os in ("windows", "wsl2") else "linux"
    need = matrix.driver_need(row.cuda, os_key)
    fit = driver_fit(machine.driver, need) if machine.driver else None
    if fit is DriverFit.TOO_OLD:
        floor = need.minor_compat_min or need.toolkit_min
        kind = "minor-version compatibility floor" if need.minor_compat_min else "driver"
        return (f"CUDA {row.cuda.split('.')[0]} needs a driver of at least {floor} ({kind} for CUDA {row.cuda}); "
                f"this driver is {machine.driver}", notes)
    if fit is DriverFit.MINOR_COMPAT:
        if ptx_only:
            ccs = ", ".join(f"{cc} (only {entry})" for cc, entry in ptx_only)
            return (f"GPU {ccs} needs PTX JIT, which needs the CUDA {row.cuda} driver {need.toolkit_min} or newer; "
                    f"this driver is {machine.driver}", notes)
        notes.append(f"runs under CUDA minor-version compatibility (driver {machine.driver} < {need.toolkit_min}, "
                     f"the CUDA {row.cuda} toolkit driver): SASS kernels run, PTX JIT does not")
    if fit is DriverFit.UNKNOWN:
        notes.append(f"the matrix has no driver data for CUDA {row.cuda}: the driver was not checked")
    if not machine.driver and need.toolkit_min:
        notes.append(f"needs an NVIDIA driver of at least {need.minor_compat_min or need.toolkit_min} "
                     f"({need.toolkit_min} for full CUDA {row.cuda} support)")
    for cc, entry in ptx_only:
        notes.append(f"no SASS for compute capability {cc}: kernels are JIT-compiled from {entry} PTX on first start "
                     "(minutes; keep the cache with CUDA_CACHE_MAXSIZE=4294967296)")
    if not row.and_cuda:
        cudnn = row.cudnn_tested or row.cudnn or "?"
        where = "PATH" if machine.os == "windows" else "LD_LIBRARY_PATH"
        notes.append(f"no [and-cuda] extra: install CUDA {row.cuda} and cuDNN {cudnn} yourself "
                     f"(e.g. from conda-forge) and put their libraries on {where}")
    if machine.os == "wsl2":
        notes.append("WSL2: install the NVIDIA driver on Windows only, never inside the Linux distribution")
    return None, notes


def recommend(matrix: Matrix, machine: Machine) -> Advice:
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
            recs.append(Recommendation(row.series, install_command(row), tuple(notes)))
        elif not recs:
            # Only the releases newer than the best recommendation need a reason.
            excluded.append(Exclusion(row.series, reason))
    return Advice(tuple(recs), tuple(excluded), machine, tuple(assumptions))
