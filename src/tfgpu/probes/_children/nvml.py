"""The NVML child: it asks NVML (through `pynvml`) about the driver and every GPU and prints one
JSON object on stdout.

It runs in a child process of tfgpu's own interpreter (`python -I -S -c <this source> FOLDERS`,
started by `tfgpu.probes.driver` through `ProbeContext.run_child` with a time limit), so a hung or
crashing driver can never hang or crash the doctor. FOLDERS is a JSON list of tfgpu's own module
folders, appended to sys.path so that the isolated child imports the pynvml tfgpu would. It imports
nothing from tfgpu and nothing outside the standard library but `pynvml`.

Output, always one JSON object:
- `{"ok": true, "driver_version": ..., "gpus": [...], "unavailable": {field: reason}, ...}`
- `{"ok": false, "stage": "import" | "load" | "init" | "count", "error_code": N, "error_name": ..., "message": ...}`

Every per-field failure ("Not Supported" on this GPU, `FunctionNotFound` from an older driver, no
permission) is kept, with its reason, in the `unavailable` map of the GPU or of the driver; it never
sinks the other fields.
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # for annotations only: importing typing and collections costs ~10 ms of this child's start
    from collections.abc import Callable
    from typing import Any

# NVML return codes (nvml.h; also pynvml's NVML_ERROR_* constants, nvidia-ml-py 13.615.71).
NOT_SUPPORTED = 3
NO_PERMISSION = 4
INSUFFICIENT_SIZE = 7
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
RESET_REQUIRED = 16
ARGUMENT_VERSION_MISMATCH = 25

#: nvmlMemory_v2 struct version (pynvml: `nvmlMemory_v2 = 0x02000028`).
MEMORY_V2 = 0x02000028
#: NVML_CLOCK_MEM, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, NVML_AGGREGATE_ECC.
CLOCK_MEM = 2
ECC_UNCORRECTED = 1
ECC_VOLATILE = 0
ECC_AGGREGATE = 1


class _Unavailable(Exception):
    """A field that could not be read, with the reason to report."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _reason(exc: BaseException) -> tuple[str, int | None]:
    """Word an exception from a pynvml call as a reason a user can act on."""
    code = getattr(exc, "value", None)
    if not isinstance(code, int):
        return f"{type(exc).__name__}: {exc}", None
    if code == NOT_SUPPORTED:
        return "Not Supported (the driver reports this field as not supported on this GPU)", code
    if code == FUNCTION_NOT_FOUND:
        return "FunctionNotFound (this driver's NVML is too old to have the call)", code
    if code == NO_PERMISSION:
        return "No Permission (NVML refused this query for the current user)", code
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ itself calls into NVML
        text = f"NVML error {code}"
    return f"{type(exc).__name__} (NVML error {code}): {text}", code


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # every NVML failure becomes the field's reason
        reason, code = _reason(exc)
        raise _Unavailable(reason, code) from None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _loaded_library() -> str | None:
    """The path of the libnvidia-ml this process actually mapped (Linux), as evidence."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "libnvidia-ml" in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return None


def _cuda_version_text(value: int) -> str:
    # NVML encodes CUDA versions as 1000*major + 10*minor (NVML_CUDA_DRIVER_VERSION_MAJOR/MINOR macros).
    return f"{value // 1000}.{(value % 1000) // 10}"


def _processes(nvml: Any, handle: Any) -> list[dict[str, Any]]:
    last: _Unavailable | None = None
    for name in ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"):
        fn = getattr(nvml, name, None)
        if fn is None:
            continue
        try:
            procs = _call(fn, handle)
        except _Unavailable as exc:
            last = exc
            if exc.code == FUNCTION_NOT_FOUND:
                continue  # an older driver: try the older call
            raise
        out = []
        for p in procs:
            pid = int(getattr(p, "pid", 0))
            used = getattr(p, "usedGpuMemory", None)
            try:
                pname: str | None = _text(nvml.nvmlSystemGetProcessName(pid))
            except Exception:  # another namespace's pid, or no permission: keep the pid
                pname = None
            out.append({"pid": pid, "name": pname, "used_memory_bytes": int(used) if used is not None else None})
        return out
    raise last or _Unavailable("FunctionNotFound (this pynvml has no process query)")


def _gpu(nvml: Any, index: int) -> dict[str, Any]:
    gpu: dict[str, Any] = {"index": index, "name": "", "health": "ok", "unavailable": {}}
    missing: dict[str, str] = gpu["unavailable"]
    try:
        handle = _call(nvml.nvmlDeviceGetHandleByIndex, index)
    except _Unavailable as exc:
        gpu["health"] = {GPU_IS_LOST: "lost", RESET_REQUIRED: "reset_required"}.get(exc.code or 0, "error")
        gpu["health_detail"] = exc.reason
        return gpu

    def field(key: str, fn: Callable[[], Any]) -> None:
        try:
            gpu[key] = fn()
        except _Unavailable as exc:
            missing[key] = exc.reason
            if exc.code in (GPU_IS_LOST, RESET_REQUIRED) and gpu["health"] == "ok":
                gpu["health"] = "lost" if exc.code == GPU_IS_LOST else "reset_required"
                gpu["health_detail"] = exc.reason

    field("name", lambda: _text(_call(nvml.nvmlDeviceGetName, handle)))
    field("uuid", lambda: _text(_call(nvml.nvmlDeviceGetUUID, handle)))
    field("pci_bus_id", lambda: _text(_call(nvml.nvmlDeviceGetPciInfo_v3, handle).busId))
    field("compute_capability", lambda: "{}.{}".format(*_call(nvml.nvmlDeviceGetCudaComputeCapability, handle)))

    def memory() -> dict[str, Any]:
        try:
            mem = _call(nvml.nvmlDeviceGetMemoryInfo, handle, MEMORY_V2)
            return {"total": mem.total, "used": mem.used, "free": mem.free, "reserved": mem.reserved}
        except _Unavailable as exc:
            if exc.code not in (FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH, NOT_SUPPORTED):
                raise
        mem = _call(nvml.nvmlDeviceGetMemoryInfo, handle)
        return {"total": mem.total, "used": mem.used, "free": mem.free}

    try:
        mem = memory()
        gpu["memory_total_bytes"] = int(mem["total"])
        gpu["memory_used_bytes"] = int(mem["used"])
        gpu["memory_free_bytes"] = int(mem["free"])
        if "reserved" in mem:
            gpu["memory_reserved_bytes"] = int(mem["reserved"])
        else:
            missing["memory_reserved_bytes"] = "only nvmlDeviceGetMemoryInfo v1 is available (no reserved figure)"
    except _Unavailable as exc:
        for key in ("memory_total_bytes", "memory_used_bytes", "memory_free_bytes", "memory_reserved_bytes"):
            missing[key] = exc.reason
    field("processes", lambda: _processes(nvml, handle))

    def pair(fn: Callable[..., Any]) -> list[bool]:
        current, pending = _call(fn, handle)
        return [bool(current), bool(pending)]

    try:
        gpu["mig_mode_current"], gpu["mig_mode_pending"] = pair(nvml.nvmlDeviceGetMigMode)
    except _Unavailable as exc:
        missing["mig_mode_current"] = missing["mig_mode_pending"] = exc.reason
    field("persistence_mode", lambda: bool(_call(nvml.nvmlDeviceGetPersistenceMode, handle)))
    try:
        gpu["ecc_mode_current"], gpu["ecc_mode_pending"] = pair(nvml.nvmlDeviceGetEccMode)
    except _Unavailable as exc:
        missing["ecc_mode_current"] = missing["ecc_mode_pending"] = exc.reason
    field("ecc_uncorrected_volatile",
          lambda: int(_call(nvml.nvmlDeviceGetTotalEccErrors, handle, ECC_UNCORRECTED, ECC_VOLATILE)))
    field("ecc_uncorrected_aggregate",
          lambda: int(_call(nvml.nvmlDeviceGetTotalEccErrors, handle, ECC_UNCORRECTED, ECC_AGGREGATE)))
    field("retired_pages_pending", lambda: bool(_call(nvml.nvmlDeviceGetRetiredPagesPendingStatus, handle)))
    field("memory_bus_width_bits", lambda: int(_call(nvml.nvmlDeviceGetMemoryBusWidth, handle)))
    field("max_memory_clock_mhz", lambda: int(_call(nvml.nvmlDeviceGetMaxClockInfo, handle, CLOCK_MEM)))
    return gpu


def _error(stage: str, exc: BaseException, **extra: Any) -> dict[str, Any]:
    reason, code = _reason(exc)
    out = {"ok": False, "stage": stage, "error_code": code, "error_name": type(exc).__name__, "message": reason}
    out.update(extra)
    return out


def _bindings_version(module_file: str | None) -> str | None:
    """nvidia-ml-py's version from the dist-info folder beside pynvml.py (importlib.metadata
    costs ~25 ms of imports, a quarter of this child's run)."""
    import os

    if not module_file:
        return None
    folder = os.path.dirname(module_file)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:
        if name.startswith(("nvidia_ml_py-", "nvidia-ml-py-")) and name.endswith(".dist-info"):
            return name[len("nvidia_ml_py-"):-len(".dist-info")]
    return None


def _library_missing() -> dict[str, Any] | None:
    """Where pynvml is installed but libnvidia-ml.so.1 cannot be loaded (no driver: the common case
    on a CPU-only machine or in CI), the answer pynvml's nvmlInit would give, without importing
    pynvml (~45 ms, over half of this child's time). None: import pynvml and ask it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # noqa: TID251 - this runs in the NVML child process, never in tfgpu
    import importlib.util

    try:
        spec = importlib.util.find_spec("pynvml")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None  # the import below reports the missing bindings
    try:
        ctypes.CDLL("libnvidia-ml.so.1")  # exactly pynvml's _LoadNvmlLibrary on Linux
    except OSError:
        return {"ok": False, "stage": "load", "error_code": LIBRARY_NOT_FOUND, "error_name": "NVMLError_LibraryNotFound",
                "message": f"NVMLError_LibraryNotFound (NVML error {LIBRARY_NOT_FOUND}): NVML Shared Library Not Found",
                "library": None, "bindings": _bindings_version(spec.origin)}
    return None


def probe() -> dict[str, Any]:
    """Everything NVML will say; never raises."""
    no_library = _library_missing()
    if no_library is not None:
        return no_library
    try:
        import pynvml as nvml
    except Exception as exc:  # tfgpu's interpreter lacks nvidia-ml-py
        return {"ok": False, "stage": "import", "error_code": None, "error_name": type(exc).__name__,
                "message": f"cannot import pynvml (the nvidia-ml-py package): {exc}"}
    bindings = _bindings_version(getattr(nvml, "__file__", None))
    try:
        nvml.nvmlInit()
    except Exception as exc:
        stage = "load" if getattr(exc, "value", None) == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", 12) else "init"
        return _error(stage, exc, library=_loaded_library(), bindings=bindings)
    out: dict[str, Any] = {"ok": True, "library": _loaded_library(), "bindings": bindings, "unavailable": {}}
    missing: dict[str, str] = out["unavailable"]
    try:
        for key, getter in (
            ("driver_version", lambda: _text(_call(nvml.nvmlSystemGetDriverVersion))),
            ("nvml_version", lambda: _text(_call(nvml.nvmlSystemGetNVMLVersion))),
        ):
            try:
                out[key] = getter()
            except _Unavailable as exc:
                missing[key] = exc.reason
        # _v2 asks libcuda itself (cuDriverGetVersion); v1 falls back to a known supported version.
        for name in ("nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"):
            try:
                out["cuda_driver_version"] = _cuda_version_text(int(_call(getattr(nvml, name))))
                missing.pop("cuda_driver_version", None)
                break
            except (_Unavailable, AttributeError) as exc:
                missing["cuda_driver_version"] = f"{name}: {getattr(exc, 'reason', exc)}"
        try:
            count = int(_call(nvml.nvmlDeviceGetCount))
        except _Unavailable as exc:
            return _error("count", exc, library=out["library"], driver_version=out.get("driver_version"))
        out["gpus"] = [_gpu(nvml, i) for i in range(count)]
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # the answer is already complete; a failed shutdown changes nothing
            pass
    return out


def _add_folders(argv: list[str]) -> None:
    """Append the module folders the parent handed over (argv[1], a JSON list) to sys.path."""
    try:
        folders = json.loads(argv[1]) if len(argv) > 1 else []
    except ValueError:
        return
    for folder in folders if isinstance(folders, list) else ():
        if isinstance(folder, str) and folder not in sys.path:
            sys.path.append(folder)


def main() -> None:
    _add_folders(sys.argv)
    try:
        result = probe()
    except Exception as exc:  # a bug here must still answer in JSON
        result = {"ok": False, "stage": "child", "error_code": None, "error_name": type(exc).__name__,
                  "message": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
