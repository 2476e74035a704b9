"""NVIDIA driver probe: driver, CUDA driver API and NVML versions, and every GPU with its compute
capability, VRAM, processes, MIG/ECC/persistence state and memory bandwidth, through NVML.

NVML is asked in a child process of tfgpu's own interpreter (`tfgpu.probes._children.nvml`, run
through `ProbeContext.run_child` with a time limit), so a hung driver cannot hang the doctor and a crash in native code
is a finding, not our crash. Where NVML is unavailable, `nvidia-smi --query-gpu` is tried, also
behind a time limit. Files under /proc, /dev and /sys cross-check what NVML says.

Failure modes (a `ProbeFailure` whose evidence["cause"] is a `DriverFailure` value):
- library_not_found: libnvidia-ml.so.1 cannot be loaded: no driver installed, or not on the loader
  path (under WSL2 it lives in /usr/lib/wsl/lib); in a container, the GPU was not passed through.
- driver_not_loaded (NVML error 9): the kernel module is not loaded: nouveau holds the GPU, Secure
  Boot rejected the unsigned module, or the module was never built for this kernel.
- version_mismatch (NVML error 18): the user-space library and the kernel module differ, typically
  after a driver upgrade without a reboot.
- permission_denied (NVML error 4 or 17): /dev/nvidia* not accessible to this user, or blocked by
  cgroups.
- gpu_lost (NVML error 15 or 16): the GPU fell off the bus or needs a reset.
- not_responding: NVML did not answer within the limit (a hung driver or GPU).
- crashed / nvml_error / bindings_missing: the child died, NVML returned another error, or
  tfgpu's interpreter lacks nvidia-ml-py.
"""

from __future__ import annotations

import enum
import glob
import io
import json
import os
import re
import shutil
import sys
from dataclasses import field
from typing import Any

from tfgpu.model import ProbeFailure, ProbeStatus
from tfgpu.probes import ProbeContext, _children, failure, probe
from tfgpu.records import dataclass
from tfgpu.serde import to_jsonable
from tfgpu.versions import cc_pair

#: Where WSL2 mounts the Windows driver's Linux libraries (NVIDIA CUDA on WSL user guide).
WSL_LIB_DIR = "/usr/lib/wsl/lib"
#: EFI variable holding the Secure Boot state: 4 attribute bytes, then 1 = enabled.
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
GIB = 1024**3


class DriverFailure(str, enum.Enum):
    """Why no driver facts could be gathered (the `cause` in a failure's evidence)."""

    LIBRARY_NOT_FOUND = "library_not_found"
    DRIVER_NOT_LOADED = "driver_not_loaded"
    VERSION_MISMATCH = "version_mismatch"
    PERMISSION_DENIED = "permission_denied"
    GPU_LOST = "gpu_lost"
    NOT_RESPONDING = "not_responding"
    CRASHED = "crashed"
    NVML_ERROR = "nvml_error"
    BINDINGS_MISSING = "bindings_missing"
    UNSUPPORTED_OS = "unsupported_os"


# NVML return codes (nvml.h, NVML API reference; docs/knowledge.md, "What the machine says") and what each means here.
NVML_CAUSES: dict[int, DriverFailure] = {
    4: DriverFailure.PERMISSION_DENIED,  # NVML_ERROR_NO_PERMISSION
    9: DriverFailure.DRIVER_NOT_LOADED,  # NVML_ERROR_DRIVER_NOT_LOADED
    12: DriverFailure.LIBRARY_NOT_FOUND,  # NVML_ERROR_LIBRARY_NOT_FOUND
    15: DriverFailure.GPU_LOST,  # NVML_ERROR_GPU_IS_LOST
    16: DriverFailure.GPU_LOST,  # NVML_ERROR_RESET_REQUIRED
    17: DriverFailure.PERMISSION_DENIED,  # NVML_ERROR_OPERATING_SYSTEM (blocked by the OS / cgroups)
    18: DriverFailure.VERSION_MISMATCH,  # NVML_ERROR_LIB_RM_VERSION_MISMATCH
}

_STATUS: dict[DriverFailure, ProbeStatus] = {
    DriverFailure.LIBRARY_NOT_FOUND: ProbeStatus.NOT_FOUND,
    DriverFailure.PERMISSION_DENIED: ProbeStatus.PERMISSION_DENIED,
    DriverFailure.NOT_RESPONDING: ProbeStatus.TIMED_OUT,
    DriverFailure.CRASHED: ProbeStatus.CRASHED,
    DriverFailure.UNSUPPORTED_OS: ProbeStatus.SKIPPED,
}

# What nvidia-smi prints for each failure, as users report it (docs/knowledge.md, "What the machine says").
_SMI_SIGNATURES: tuple[tuple[str, DriverFailure], ...] = (
    ("driver/library version mismatch", DriverFailure.VERSION_MISMATCH),
    ("couldn't communicate with the nvidia driver", DriverFailure.DRIVER_NOT_LOADED),
    ("driver not loaded", DriverFailure.DRIVER_NOT_LOADED),
    ("insufficient permissions", DriverFailure.PERMISSION_DENIED),
    ("gpu is lost", DriverFailure.GPU_LOST),
    ("unable to determine the device handle", DriverFailure.GPU_LOST),
)


@dataclass(frozen=True)
class DeviceNode:
    """One /dev/nvidia* node and whether this user may open it."""

    path: str
    readable: bool
    writable: bool


@dataclass(frozen=True)
class DriverSystem:
    """What the operating system says about the driver, read from files (no NVML)."""

    #: From /proc/driver/nvidia/version: the loaded kernel module's version.
    kernel_module_version: str | None = None
    #: 'nvidia' in /proc/modules (None where /proc/modules is unreadable).
    kernel_module_loaded: bool | None = None
    nouveau_loaded: bool | None = None
    device_nodes: tuple[DeviceNode, ...] = ()
    #: None where the EFI variable is unreadable; False on legacy-BIOS machines.
    secure_boot: bool | None = None
    wsl2: bool = False
    dxg: bool = False
    wsl_libcuda: bool = False
    wsl_libnvml: bool = False
    container: str | None = None
    nvidia_visible_devices: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def inaccessible_nodes(self) -> tuple[str, ...]:
        return tuple(n.path for n in self.device_nodes if not (n.readable and n.writable))


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    name: str | None = None
    used_memory_bytes: int | None = None


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML (or nvidia-smi) reports it. A field that could not be read is None, and
    `unavailable` says why ("Not Supported", FunctionNotFound on an older driver, ...)."""

    index: int
    name: str
    #: "ok", "lost" (fell off the bus), "reset_required" or "error".
    health: str = "ok"
    health_detail: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    compute_capability: str | None = None  # "9.0"
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    mig_mode_current: bool | None = None
    mig_mode_pending: bool | None = None
    persistence_mode: bool | None = None
    ecc_mode_current: bool | None = None
    ecc_mode_pending: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_pending: bool | None = None
    memory_bus_width_bits: int | None = None
    max_memory_clock_mhz: int | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def memory_bandwidth_gb_s(self) -> float | None:
        """Theoretical bandwidth: 2 (double data rate) x max memory clock x bus width / 8, as in the
        CUDA C++ Best Practices Guide, "Theoretical Bandwidth Calculation"."""
        if not self.memory_bus_width_bits or not self.max_memory_clock_mhz:
            return None
        return round(2 * self.max_memory_clock_mhz * 1e6 * self.memory_bus_width_bits / 8 / 1e9, 1)

    @property
    def cc_tuple(self) -> tuple[int, int] | None:
        return cc_pair(self.compute_capability or "")


@dataclass(frozen=True)
class DriverInfo:
    """The NVIDIA driver and its GPUs."""

    #: "nvml" or "nvidia-smi" (the fallback, with fewer fields).
    source: str
    driver_version: str | None
    #: The newest CUDA the driver supports (driver API), "12.2".
    cuda_driver_version: str | None
    nvml_version: str | None
    gpus: tuple[GpuInfo, ...]
    system: DriverSystem = field(default_factory=DriverSystem)
    library: str | None = None
    bindings: str | None = None
    #: Why NVML was not used, where source is "nvidia-smi".
    nvml_error: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)

    def summary(self) -> list[str]:
        """Lines for the terminal report."""
        head = f"Driver   {self.driver_version or 'version unknown'}"
        extra = [x for x in (f"CUDA {self.cuda_driver_version}" if self.cuda_driver_version else None,
                             f"NVML {self.nvml_version}" if self.nvml_version else None,
                             f"via {self.source}" if self.source != "nvml" else None) if x]
        lines = [head + (f" ({', '.join(extra)})" if extra else "")]
        if not self.gpus:
            lines.append("GPU      none found")
        for g in self.gpus:
            parts = [g.name or "unknown GPU"]
            if g.compute_capability:
                parts.append(f"CC {g.compute_capability}")
            if g.memory_total_bytes is not None:
                mem = f"{g.memory_total_bytes / GIB:.0f} GiB"
                if g.memory_free_bytes is not None:
                    mem += f" ({g.memory_free_bytes / GIB:.1f} GiB free)"
                parts.append(mem)
            if g.memory_bandwidth_gb_s:
                parts.append(f"{g.memory_bandwidth_gb_s:g} GB/s")
            if g.mig_mode_current:
                parts.append("MIG on")
            if g.health != "ok":
                parts.append(f"health: {g.health}")
            lines.append(f"GPU {g.index:<4} " + ", ".join(parts))
        return lines


# --- cross-checks from files ---------------------------------------------------------------------


def _read(path: str, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def parse_kernel_module_version(text: str) -> str | None:
    """'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ...' (and the open
    modules' 'NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build ...') → version."""
    m = re.search(r"Kernel Module.*?\s(\d{3,}\.\d+(?:\.\d+)?)(?:\s|$)", text)
    return m.group(1) if m else None


def parse_modules(text: str) -> set[str]:
    """Module names from /proc/modules (the first word of each line)."""
    return {line.split()[0] for line in text.splitlines() if line.strip()}


def read_secure_boot(path: str = SECURE_BOOT_VAR) -> bool | None:
    if not os.path.isdir("/sys/firmware/efi"):
        return False  # legacy BIOS boot: no Secure Boot
    try:
        with open(path, "rb") as fh:
            data = fh.read(8)
    except OSError:
        return None
    return bool(data[4]) if len(data) >= 5 else None


def read_system(environ: dict[str, str], container: str | None, wsl: str | None) -> DriverSystem:
    """Gather the file-based cross-checks. Never raises."""
    notes: list[str] = []
    version_text = _read("/proc/driver/nvidia/version")
    modules_text = _read("/proc/modules")
    modules = parse_modules(modules_text) if modules_text is not None else None
    if modules_text is None:
        notes.append("/proc/modules unreadable")
    nodes = []
    for path in sorted(glob.glob("/dev/nvidia*")):
        if os.path.isdir(path):
            continue
        nodes.append(DeviceNode(path, os.access(path, os.R_OK), os.access(path, os.W_OK)))
    return DriverSystem(
        kernel_module_version=parse_kernel_module_version(version_text) if version_text else None,
        kernel_module_loaded=("nvidia" in modules) if modules is not None else None,
        nouveau_loaded=("nouveau" in modules) if modules is not None else None,
        device_nodes=tuple(nodes),
        secure_boot=read_secure_boot() if sys.platform == "linux" else None,
        wsl2=wsl == "wsl2",
        dxg=os.path.exists("/dev/dxg"),
        wsl_libcuda=os.path.exists(os.path.join(WSL_LIB_DIR, "libcuda.so.1")),
        wsl_libnvml=os.path.exists(os.path.join(WSL_LIB_DIR, "libnvidia-ml.so.1")),
        container=container,
        nvidia_visible_devices=environ.get("NVIDIA_VISIBLE_DEVICES"),
        notes=tuple(notes),
    )


# --- NVML through the child ------------------------------------------------------------------------


def _module_folders() -> list[str]:
    """tfgpu's own module folders for the isolated NVML child (which cannot see PYTHONPATH or the
    user site-packages by itself), so that it imports the pynvml tfgpu would. sys.path[0] is left
    out: it is the working folder or a script's, never where tfgpu's dependencies live."""
    return [p for p in sys.path[1:] if p]


def _gpu_from(data: dict[str, Any]) -> GpuInfo:
    procs = tuple(
        GpuProcess(int(p.get("pid", 0)), p.get("name"), p.get("used_memory_bytes"))
        for p in data.get("processes") or () if isinstance(p, dict)
    )
    known = {f for f in GpuInfo.__dataclass_fields__ if f not in ("processes", "unavailable")}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs["index"] = int(data.get("index", 0))
    kwargs["name"] = str(data.get("name") or "")
    return GpuInfo(**kwargs, processes=procs, unavailable={str(k): str(v) for k, v in (data.get("unavailable") or {}).items()})


def driver_from_nvml(data: dict[str, Any], system: DriverSystem) -> DriverInfo:
    """Build the fact record from the child's successful answer."""
    return DriverInfo(
        source="nvml",
        driver_version=data.get("driver_version"),
        cuda_driver_version=data.get("cuda_driver_version"),
        nvml_version=data.get("nvml_version"),
        gpus=tuple(_gpu_from(g) for g in data.get("gpus") or () if isinstance(g, dict)),
        system=system,
        library=data.get("library"),
        bindings=data.get("bindings"),
        unavailable={str(k): str(v) for k, v in (data.get("unavailable") or {}).items()},
    )


@dataclass(frozen=True)
class _NvmlOutcome:
    data: dict[str, Any] | None
    cause: DriverFailure | None
    message: str
    evidence: dict[str, Any]


def ask_nvml(ctx: ProbeContext, limit: float) -> _NvmlOutcome:
    res = ctx.run_child(_children.NVML, timeout=limit, site=False, args=[json.dumps(_module_folders())],
                        env=dict(ctx.environ))
    ev: dict[str, Any] = {"command": f"{sys.executable} -I -S -c {_children.label(_children.NVML)}",
                          "result": res.describe()}
    if res.timed_out:
        return _NvmlOutcome(None, DriverFailure.NOT_RESPONDING,
                            f"NVML did not answer within {limit:g} s (a hung driver or GPU)", ev)
    line = next((ln for ln in reversed(res.stdout.strip().splitlines()) if ln.startswith("{")), "")
    try:
        data = json.loads(line) if line else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        ev["stderr_tail"] = res.stderr[-2000:]
        how = res.describe()
        return _NvmlOutcome(None, DriverFailure.CRASHED, f"the NVML query process {how} without an answer", ev)
    if data.get("ok"):
        return _NvmlOutcome(data, None, "", ev)
    code = data.get("error_code")
    ev.update({"stage": data.get("stage"), "nvml_error_code": code, "nvml_error": data.get("error_name"),
               "library": data.get("library")})
    if data.get("stage") in ("import", "child"):
        return _NvmlOutcome(None, DriverFailure.BINDINGS_MISSING if data.get("stage") == "import" else DriverFailure.CRASHED,
                            str(data.get("message")), ev)
    cause = NVML_CAUSES.get(code, DriverFailure.NVML_ERROR) if isinstance(code, int) else DriverFailure.NVML_ERROR
    if data.get("stage") == "load":
        cause = DriverFailure.LIBRARY_NOT_FOUND
        return _NvmlOutcome(None, cause, f"libnvidia-ml.so.1 could not be loaded ({data.get('message')})", ev)
    what = {"init": "nvmlInit", "count": "nvmlDeviceGetCount"}.get(str(data.get("stage")), str(data.get("stage")))
    return _NvmlOutcome(None, cause, f"{what} failed: {data.get('message')}", ev)


# --- nvidia-smi fallback -----------------------------------------------------------------------------

SMI_FIELDS = ("index", "name", "uuid", "pci.bus_id", "driver_version", "memory.total", "memory.used",
              "memory.free", "persistence_mode", "mig.mode.current", "ecc.mode.current", "compute_cap")
_SMI_MAP = {"uuid": "uuid", "pci.bus_id": "pci_bus_id", "compute_cap": "compute_capability"}
MIB = 1024**2


def find_nvidia_smi(environ: dict[str, str]) -> str | None:
    found = shutil.which("nvidia-smi", path=environ.get("PATH", os.defpath))
    if found:
        return found
    wsl = os.path.join(WSL_LIB_DIR, "nvidia-smi")
    return wsl if os.path.isfile(wsl) else None


def _smi_value(raw: str) -> tuple[str | None, str | None]:
    value = raw.strip()
    if value.startswith("[") and value.endswith("]"):  # "[N/A]", "[Not Supported]"
        return None, value.strip("[]")
    if value in ("N/A", ""):
        return None, "N/A"
    return value, None


#: More GPUs than any machine has (NVLink domains stop at 72): the rest of a runaway output is dropped.
MAX_SMI_GPUS = 256


def parse_smi_csv(text: str, fields: tuple[str, ...]) -> tuple[str | None, list[GpuInfo]]:
    """Parse `nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits` output."""
    import csv  # here: only a machine without NVML's bindings asks nvidia-smi

    driver: str | None = None
    gpus: list[GpuInfo] = []
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:  # a stray CR or NUL: the tool's output is garbage, not a crash of ours
        return None, []
    for row in rows:
        if len(gpus) >= MAX_SMI_GPUS:
            break
        if len(row) != len(fields):
            continue
        values: dict[str, Any] = {}
        missing: dict[str, str] = {}
        for name, raw in zip(fields, row):
            value, reason = _smi_value(raw)
            if name == "driver_version":
                driver = driver or value
                continue
            key = _SMI_MAP.get(name)
            if name in ("memory.total", "memory.used", "memory.free"):
                key = f"memory_{name.split('.')[1]}_bytes"
                value = int(float(value) * MIB) if value is not None else None  # type: ignore[assignment]
            elif name in ("persistence_mode", "mig.mode.current", "ecc.mode.current"):
                key = {"persistence_mode": "persistence_mode", "mig.mode.current": "mig_mode_current",
                       "ecc.mode.current": "ecc_mode_current"}[name]
                value = (value == "Enabled") if value is not None else None  # type: ignore[assignment]
            elif name in ("index", "name"):
                key = name
            if key is None:
                continue
            if reason is not None:
                missing[key] = f"nvidia-smi: {reason}"
            values[key] = value
        try:
            index = int(values.pop("index"))
        except (TypeError, ValueError, KeyError):
            continue
        gpus.append(GpuInfo(index=index, name=str(values.pop("name") or ""), unavailable=missing, **values))
    return driver, gpus


def ask_nvidia_smi(ctx: ProbeContext, limit: float, system: DriverSystem, nvml_error: str) -> tuple[DriverInfo | None, DriverFailure | None, str]:
    """Fallback query. Returns (facts, failure cause seen in its output, one-line outcome)."""
    exe = find_nvidia_smi(dict(ctx.environ))
    if exe is None:
        return None, None, "nvidia-smi: not found"
    fields: tuple[str, ...] = SMI_FIELDS
    res = ctx.run_command([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                          timeout=limit, env=dict(ctx.environ))
    text = res.stdout + res.stderr
    if res.ok is False and "not a valid field" in text and not res.timed_out:
        # Older drivers reject compute_cap (docs/knowledge.md, "What the machine says"): ask again without it.
        fields = tuple(f for f in fields if f != "compute_cap")
        res = ctx.run_command([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                              timeout=limit, env=dict(ctx.environ))
        text = res.stdout + res.stderr
    outcome = f"nvidia-smi ({exe}): {res.describe()}"
    if not res.ok:
        low = text.lower()
        cause = next((c for sig, c in _SMI_SIGNATURES if sig in low), None)
        first = text.strip().splitlines()[0] if text.strip() else ""
        return None, cause, outcome + (f": {first}" if first else "")
    driver, gpus = parse_smi_csv(res.stdout, fields)
    missing = {"cuda_driver_version": "nvidia-smi --query-gpu has no field for it",
               "nvml_version": "not asked of nvidia-smi"}
    return DriverInfo("nvidia-smi", driver, None, None, tuple(gpus), system, library=None, bindings=None,
                      nvml_error=nvml_error, unavailable=missing), None, outcome


# --- the probe -------------------------------------------------------------------------------------


def limits(timeout: float) -> tuple[float, float]:
    """(NVML child limit, nvidia-smi limit): together well inside the probe's own limit."""
    return max(1.0, min(15.0, timeout * 0.5)), max(1.0, min(8.0, timeout * 0.25))


def _fail(cause: DriverFailure, message: str, system: DriverSystem, **evidence: Any) -> ProbeFailure:
    return failure("driver", _STATUS.get(cause, ProbeStatus.FAILED), message, cause=cause.value,
                   system=to_jsonable(system), interpreter=sys.executable, **evidence)


@probe("driver", "NVIDIA driver and GPUs (NVML)", DriverInfo, needs=("host",))
def probe_driver(ctx: ProbeContext) -> DriverInfo | ProbeFailure:
    host = ctx.fact("host")
    if sys.platform == "darwin":
        return _fail(DriverFailure.UNSUPPORTED_OS, "macOS has no NVIDIA CUDA driver", DriverSystem())
    system = read_system(dict(ctx.environ), getattr(host, "container", None), getattr(host, "wsl", None))
    nvml_limit, smi_limit = limits(ctx.timeout)
    got = ask_nvml(ctx, nvml_limit)
    if got.data is not None:
        return driver_from_nvml(got.data, system)
    assert got.cause is not None
    evidence = dict(got.evidence)
    cause = got.cause
    # Where NVML itself is unavailable, nvidia-smi may still answer (or say why it cannot).
    if cause in (DriverFailure.BINDINGS_MISSING, DriverFailure.LIBRARY_NOT_FOUND, DriverFailure.CRASHED):
        info, smi_cause, outcome = ask_nvidia_smi(ctx, smi_limit, system, got.message)
        evidence["nvidia_smi"] = outcome
        if info is not None:
            return info
        if smi_cause is not None:  # nvidia-smi found a library and said what is wrong beyond it
            cause = smi_cause
    return _fail(cause, got.message, system, **evidence)
