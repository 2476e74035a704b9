"""Checks on the NVIDIA driver and the GPUs: a working driver, new enough for TensorFlow's CUDA,
GPUs the build can run (natively or through PTX JIT), free VRAM, CUDA_VISIBLE_DEVICES naming real
GPUs, and MIG."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any

from tfgpu.checks import CheckContext, check
from tfgpu.checks.libraries import tf_cuda
from tfgpu.checks.platform import parse_visible_devices
from tfgpu.fixes import pip, tf_requirement
from tfgpu.matrix import DriverNeed, Matrix, TFRow, cc_support, driver_at_least, parse_cc
from tfgpu.model import Finding, Fix, Severity
from tfgpu.probes.driver import GIB, DriverFailure, DriverInfo, DriverSystem, GpuInfo
from tfgpu.serde import DecodeError, from_jsonable

DRIVER_GUIDE = "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"
DRIVER_DOWNLOAD = "https://www.nvidia.com/Download/index.aspx"
CUDA_COMPAT = "https://docs.nvidia.com/deploy/cuda-compatibility/"
WSL_GUIDE = "https://docs.nvidia.com/cuda/wsl-user-guide/"
CONTAINER_TOOLKIT = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
CUDA_ENV_VARS = "https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#env-vars"

#: The newest driver branch for Kepler GPUs (CC 3.x): NVIDIA ended Kepler support after R470
#: (NVIDIA support plan for Kepler GPUs); R470 is past its end of life (docs/official_facts.md 2.4).
KEPLER_LAST_BRANCH = 470
#: VRAM below this, or below this share of the total, is too little for TensorFlow to start well.
LOW_VRAM_BYTES = 1 * GIB
LOW_VRAM_SHARE = 0.10
#: The largest JIT cache CUDA accepts (CUDA C++ Programming Guide, CUDA_CACHE_MAXSIZE: 4 GiB).
JIT_CACHE_MAX = 4294967296


# --- shared helpers -------------------------------------------------------------------------------


def _python(ctx: CheckContext) -> str | None:
    env = ctx.fact("python_env")
    return getattr(env, "executable", None)


def _os_name(ctx: CheckContext, driver: DriverInfo | None = None) -> str:
    """Which driver column applies: under WSL2 the driver is the Windows one, and NVML reports
    its Windows version number (NVIDIA CUDA on WSL user guide); native Windows likewise."""
    env = ctx.fact("python_env")
    host = ctx.fact("host")
    if getattr(env, "platform", "") == "win32" or getattr(host, "wsl", None) == "wsl2":
        return "windows"
    if driver is not None and driver.system.wsl2:
        return "windows"
    return "linux"


def _distro(ctx: CheckContext) -> str:
    host = ctx.fact("host")
    return (getattr(host, "distro_id", None) or "").lower()


def branch_for(matrix: Matrix | None, need: str | None) -> int | None:
    """The oldest driver branch still supported on the matrix's data date whose drivers reach `need`
    (the newest supported one where `need` is None); None where the matrix lists no such branch."""
    return matrix.branch_for(need) if matrix is not None else None


def gpu_label(gpu: GpuInfo) -> str:
    return f"GPU {gpu.index} ({gpu.name or 'unknown name'})"


def gpu_cc(gpu: GpuInfo, matrix: Matrix | None) -> tuple[tuple[int, int] | None, str]:
    """The GPU's compute capability and where it came from (NVML, or the matrix by name)."""
    if gpu.cc_tuple is not None:
        return gpu.cc_tuple, "nvml"
    row = matrix.gpu_by_name(gpu.name) if matrix is not None and gpu.name else None
    parsed = parse_cc(row.cc) if row is not None else None
    return ((parsed[1], parsed[2]), "matrix") if parsed else (None, "unknown")


def install_driver_fix(ctx: CheckContext, need: str | None, wsl2: bool) -> Fix:
    """How to install or upgrade the driver to at least `need` on this platform."""
    at_least = f" {need} or newer" if need else ""
    if wsl2:
        return Fix(f"Install or update the NVIDIA driver on Windows (to{at_least or ' a current one'}); never install a "
                   "Linux NVIDIA driver inside WSL2, the Windows driver provides libcuda there. Then restart WSL",
                   ("wsl --shutdown",), (DRIVER_DOWNLOAD, WSL_GUIDE))
    branch = branch_for(ctx.matrix, need)
    distro = _distro(ctx)
    # Package names from NVIDIA's driver installation guide (Ubuntu also packages each branch itself).
    # Without a supported branch from the matrix, the packages that follow the newest driver.
    if distro in ("ubuntu", "pop", "linuxmint"):
        cmds: tuple[str, ...] = ((f"sudo apt-get install -y nvidia-driver-{branch}" if branch
                                  else "sudo ubuntu-drivers install"), "sudo reboot")
        how = ""
    elif distro == "debian":
        cmds = (f"sudo apt-get install -y cuda-drivers{f'-{branch}' if branch else ''}", "sudo reboot")
        how = " from NVIDIA's CUDA repository (add it with the cuda-keyring package first)"
    elif distro in ("rhel", "rocky", "almalinux", "centos", "fedora"):
        cmds = (f"sudo dnf module install -y nvidia-driver:{branch or 'latest'}-dkms", "sudo reboot")
        how = " from NVIDIA's CUDA repository"
    else:
        cmds = ()
        how = " with your distribution's packages or NVIDIA's installer"
    what = f"NVIDIA driver branch R{branch}" if branch else "a current NVIDIA driver"
    return Fix(f"Install {what}{' (' + need + ' or newer)' if need else ''}{how}", cmds, (DRIVER_GUIDE,))


def kepler_gpus(driver: DriverInfo, matrix: Matrix | None) -> list[GpuInfo]:
    """GPUs whose newest driver branch is R470: NVIDIA ended Kepler support after the R470 branch
    (NVIDIA support plan for Kepler GPUs), so 'upgrade the driver' is no fix for them."""
    out = []
    for g in driver.gpus:
        cc = gpu_cc(g, matrix)[0]
        if cc is not None and cc[0] == 3:
            out.append(g)
    return out


# --- 1. a driver is present and working -------------------------------------------------------------


def _system(evidence: dict[str, Any]) -> dict[str, Any]:
    value = evidence.get("system")
    return value if isinstance(value, dict) else {}


def driver_system(evidence: dict[str, Any]) -> DriverSystem | None:
    """The `DriverSystem` a driver probe failure recorded (None where it holds none that decodes)."""
    try:
        return from_jsonable(DriverSystem, _system(evidence))
    except DecodeError:
        return None


def driver_missing_text(system: dict[str, Any]) -> str:
    """Summary for 'no driver', built from what was (not) found."""
    found = ["libnvidia-ml.so.1 cannot be loaded"]
    if not system.get("device_nodes"):
        found.append("no /dev/nvidia* device")
    if system.get("kernel_module_loaded") is False:
        found.append("no nvidia kernel module")
    return f"No NVIDIA driver is installed ({', '.join(found)})"


@check("driver-present", "An NVIDIA driver is installed, loaded and answering", "driver")
def driver_present(ctx: CheckContext) -> Iterator[Finding]:
    fail = ctx.failure("driver")
    driver: DriverInfo | None = ctx.fact("driver")
    if fail is not None:
        yield from _driver_failure(ctx, fail.evidence, fail.message)
        return
    if driver is None:
        return
    ev = {"driver_version": driver.driver_version, "cuda_driver_version": driver.cuda_driver_version,
          "source": driver.source, "gpus": [g.name for g in driver.gpus],
          "kernel_module_version": driver.system.kernel_module_version}
    lost = [g for g in driver.gpus if g.health != "ok"]
    for g in lost:
        yield ctx.finding(
            "gpu-lost", Severity.ERROR,
            f"{gpu_label(g)} is {'lost (it fell off the bus)' if g.health == 'lost' else 'in need of a reset'}: "
            f"{g.health_detail or g.health}",
            "NVML cannot reach this GPU; CUDA will not list it. The kernel log names the Xid error "
            "(79 = fell off the bus, 48/63/64 = memory errors).",
            {**ev, "gpu": g.index, "health": g.health}, _gpu_lost_fixes(g.index))
    if not driver.gpus:
        fixes = [Fix("See which NVIDIA devices the PCI bus has, and what the kernel said about them",
                     ("lspci -nn | grep -i nvidia", "sudo dmesg | grep -i -e nvrm -e nvidia"))]
        nvd = driver.system.nvidia_visible_devices
        if nvd is not None and nvd.strip().lower() in ("", "none", "void"):
            # nvidia-container-runtime: "none" mounts the driver but no GPU, "void" neither.
            ev["NVIDIA_VISIBLE_DEVICES"] = nvd
            fixes.insert(0, Fix(f"This container was started with NVIDIA_VISIBLE_DEVICES={nvd!r}: start it with GPUs",
                                ("docker run --gpus all <image> ...",), (CONTAINER_TOOLKIT,)))
        yield ctx.finding(
            "gpu-not-found", Severity.ERROR,
            f"NVIDIA driver {driver.driver_version} is loaded but lists no GPU",
            "The driver sees no NVIDIA GPU: none is installed, it is disabled in firmware, or (in a container or "
            "VM) none was passed through.", ev, fixes)
        return
    if (driver.system.kernel_module_version and driver.driver_version
            and driver.system.kernel_module_version != driver.driver_version):
        yield ctx.finding(
            "driver-library-mismatch", Severity.WARNING,
            f"The NVIDIA kernel module is {driver.system.kernel_module_version} but the driver library reports "
            f"{driver.driver_version}", "A driver upgrade finished without a reboot; CUDA may refuse to start.",
            ev, _mismatch_fixes())
    if driver.source != "nvml":
        yield ctx.finding(
            "driver-present", Severity.INFO,
            f"NVIDIA driver {driver.driver_version} answers nvidia-smi, but NVML could not be used ({driver.nvml_error})",
            "Facts came from nvidia-smi, which reports fewer fields (no CUDA driver version).", ev)
        return
    if not lost:
        names = ", ".join(g.name for g in driver.gpus)
        yield ctx.finding("driver-present", Severity.OK,
                          f"NVIDIA driver {driver.driver_version} (CUDA {driver.cuda_driver_version or '?'}) is loaded "
                          f"with {len(driver.gpus)} GPU{'s' if len(driver.gpus) != 1 else ''}: {names}", evidence=ev)


def _gpu_lost_fixes(index: int | None) -> tuple[Fix, ...]:
    target = f" -i {index}" if index is not None else ""
    return (
        Fix("Read the kernel log for the Xid error that took the GPU away", ("sudo dmesg | grep -i -e xid -e nvrm",)),
        Fix("Reset the GPU (nothing may be using it), or reboot", (f"sudo nvidia-smi --gpu-reset{target}", "sudo reboot")),
    )


def _mismatch_fixes() -> tuple[Fix, ...]:
    return (
        Fix("Reboot, so that the kernel module of the installed driver is loaded", ("sudo reboot",)),
        Fix("Or reload the NVIDIA kernel modules without a reboot (stop everything using the GPU, "
            "including a display server, first)",
            ("sudo systemctl stop nvidia-persistenced",
             "sudo modprobe -r nvidia_uvm nvidia_drm nvidia_modeset nvidia",
             "sudo modprobe nvidia",
             "nvidia-smi")),
    )


def _driver_failure(ctx: CheckContext, evidence: dict[str, Any], message: str) -> Iterator[Finding]:
    cause = evidence.get("cause")
    system = _system(evidence)
    ev = {k: v for k, v in evidence.items() if k != "system"}
    ev.update({k: system.get(k) for k in ("kernel_module_version", "nouveau_loaded", "secure_boot", "container",
                                          "nvidia_visible_devices", "wsl2") if k in system})
    ev["device_nodes"] = [n.get("path") for n in system.get("device_nodes") or () if isinstance(n, dict)]
    wsl2 = bool(system.get("wsl2") or system.get("dxg"))
    kmod = system.get("kernel_module_version")

    if cause == DriverFailure.UNSUPPORTED_OS.value:
        return
    if cause == DriverFailure.LIBRARY_NOT_FOUND.value:
        nvd = system.get("nvidia_visible_devices")
        if wsl2:
            if system.get("wsl_libnvml"):
                yield ctx.finding(
                    "driver-missing", Severity.ERROR,
                    "WSL2: the Windows driver's libnvidia-ml.so.1 is in /usr/lib/wsl/lib but not on the loader path",
                    "WSL2 mounts the Windows NVIDIA driver's Linux libraries (libcuda, libnvidia-ml) in /usr/lib/wsl/lib; "
                    "the dynamic loader must be told about that folder.", ev,
                    (Fix("Add /usr/lib/wsl/lib to the loader's search path",
                         ("echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf", "sudo ldconfig")),
                     Fix("Or, for this shell only", ('export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"',))))
            else:
                yield ctx.finding(
                    "driver-missing", Severity.ERROR,
                    "WSL2 without the NVIDIA driver: /usr/lib/wsl/lib has no libnvidia-ml.so.1",
                    "Under WSL2 the NVIDIA driver is installed on Windows only; it provides libcuda and NVML inside WSL.",
                    ev, (install_driver_fix(ctx, None, True),))
            return
        if system.get("container") and nvd is not None and not ev["device_nodes"]:
            yield ctx.finding(
                "container-no-gpu-passthrough", Severity.ERROR,
                f"This {system.get('container')} container asks for GPUs (NVIDIA_VISIBLE_DEVICES={nvd}) but has no "
                "/dev/nvidia* and no driver library: it was started without GPU access",
                "The NVIDIA Container Toolkit mounts the host driver's libraries and device nodes into a container "
                "only when the container is started with GPU access.", ev,
                (Fix("Start the container with GPU access", ("docker run --gpus all <image> ...",)),
                 Fix("On the host, install and register the NVIDIA Container Toolkit (once)",
                     ("sudo apt-get install -y nvidia-container-toolkit",
                      "sudo nvidia-ctk runtime configure --runtime=docker",
                      "sudo systemctl restart docker"), (CONTAINER_TOOLKIT,))))
            return
        if kmod:
            branch = int(re.findall(r"\d+", kmod)[0])
            yield ctx.finding(
                "driver-missing", Severity.ERROR,
                f"The NVIDIA kernel module {kmod} is loaded, but its library libnvidia-ml.so.1 cannot be loaded",
                "The driver's user-space libraries (libnvidia-ml, libcuda) are missing or not on the loader path; "
                "TensorFlow needs libcuda.so.1 from the same driver.", ev,
                (Fix("Find the library and refresh the loader cache",
                     ("ldconfig -p | grep -e libnvidia-ml -e libcuda", "sudo ldconfig")),
                 Fix(f"Reinstall the driver's user-space libraries (Ubuntu package names for R{branch})",
                     (f"sudo apt-get install --reinstall -y libnvidia-compute-{branch}",), (DRIVER_GUIDE,))))
            return
        fixes = [install_driver_fix(ctx, _need_for_build(ctx), False)]
        if system.get("container"):
            fixes.append(Fix("In a container, the driver comes from the host: start it with GPU access",
                             ("docker run --gpus all <image> ...",), (CONTAINER_TOOLKIT,)))
        yield ctx.finding("driver-missing", Severity.ERROR, driver_missing_text(system),
                          "TensorFlow reaches the GPU through the NVIDIA driver's libcuda.so.1; without a driver it "
                          "runs on the CPU only.", ev, fixes)
        return
    if cause == DriverFailure.DRIVER_NOT_LOADED.value:
        why = []
        if system.get("nouveau_loaded"):
            why.append("the open-source nouveau driver is loaded and holds the GPU")
        if system.get("secure_boot"):
            why.append("Secure Boot is on, so an unsigned nvidia module is rejected")
        summary = "The NVIDIA driver library is installed but its kernel module is not loaded"
        if why:
            summary += f" ({'; '.join(why)})"
        fixes = [Fix("Load the module and read why it fails",
                     ("sudo modprobe nvidia", "sudo dmesg | grep -i -e nvrm -e nvidia -e nouveau | tail -n 20"))]
        if system.get("nouveau_loaded"):
            fixes.append(Fix("Blacklist nouveau, rebuild the initramfs and reboot",
                             (('printf "blacklist nouveau\\noptions nouveau modeset=0\\n" | sudo tee '
                               "/etc/modprobe.d/blacklist-nouveau.conf"),
                              "sudo update-initramfs -u", "sudo reboot")))
        if system.get("secure_boot") is not False:
            fixes.append(Fix("With Secure Boot on, enroll the DKMS signing key (Ubuntu path shown), then reboot and "
                             "confirm the enrollment in the blue MOK screen",
                             ("mokutil --sb-state", "sudo mokutil --import /var/lib/shim-signed/mok/MOK.der",
                              "sudo reboot")))
        fixes.append(Fix("Rebuild the module for the running kernel (after a kernel update)",
                         ("sudo dkms autoinstall", "sudo modprobe nvidia")))
        yield ctx.finding("driver-not-loaded", Severity.ERROR, summary,
                          "NVML reports NVML_ERROR_DRIVER_NOT_LOADED: no /proc/driver/nvidia, so neither NVML nor CUDA "
                          "can reach the GPU.", ev, fixes)
        return
    if cause == DriverFailure.VERSION_MISMATCH.value:
        lib = _library_version(str(evidence.get("library") or ""))
        parts = []
        if kmod:
            parts.append(f"kernel module {kmod}")
        if lib:
            parts.append(f"library {lib}")
        yield ctx.finding(
            "driver-library-mismatch", Severity.ERROR,
            "NVIDIA driver/library version mismatch" + (f": {' vs '.join(parts)}" if parts else "")
            + " (NVML error 18)",
            "The user-space driver library and the loaded kernel module come from different driver versions, "
            "typically after a driver upgrade without a reboot. CUDA fails the same way.", ev, _mismatch_fixes())
        return
    if cause == DriverFailure.PERMISSION_DENIED.value:
        recorded = driver_system(evidence)
        nodes = list(recorded.inaccessible_nodes) if recorded is not None else []
        yield ctx.finding(
            "driver-permission-denied", Severity.ERROR,
            "NVML has no permission to talk to the driver"
            + (f": {', '.join(nodes)} not readable and writable by this user" if nodes else ""),
            "CUDA needs read/write access to /dev/nvidiactl, /dev/nvidia-uvm and /dev/nvidiaN.", ev,
            (Fix("See the device nodes' owners and modes", ("ls -l /dev/nvidia*",)),
             Fix("Join the group that owns them (often 'video'), then log in again",
                 ('sudo usermod -aG video "$USER"',)),
             Fix("In a container, start it with GPU access rather than bind-mounting devices",
                 ("docker run --gpus all <image> ...",), (CONTAINER_TOOLKIT,))))
        return
    if cause == DriverFailure.GPU_LOST.value:
        yield ctx.finding("gpu-lost", Severity.ERROR, f"A GPU is lost or needs a reset: {message}",
                          "The GPU stopped answering the driver (fell off the bus, or a fatal error).", ev,
                          _gpu_lost_fixes(None))
        return
    if cause == DriverFailure.NOT_RESPONDING.value:
        yield ctx.finding("driver-not-responding", Severity.ERROR, f"The NVIDIA driver does not respond: {message}",
                          "An NVML query that normally takes milliseconds hung; CUDA would hang too.", ev,
                          _gpu_lost_fixes(None))
        return
    if cause == DriverFailure.BINDINGS_MISSING.value:
        interp = str(evidence.get("interpreter") or "python")
        yield ctx.finding("driver-probe-failed", Severity.WARNING,
                          f"tfgpu could not query the driver: {message}",
                          "tfgpu asks NVML through the nvidia-ml-py package, which its own interpreter lacks; "
                          "nvidia-smi did not answer either. This is about tfgpu's install, not your driver.", ev,
                          (Fix("Install nvidia-ml-py for tfgpu's interpreter", (pip(interp, "install", "nvidia-ml-py"),)),))
        return
    yield ctx.finding("driver-probe-failed", Severity.ERROR, f"The NVIDIA driver could not be queried: {message}",
                      "NVML failed in a way that CUDA will most likely share.", ev,
                      (Fix("Ask nvidia-smi, and read the kernel log", ("nvidia-smi", "sudo dmesg | grep -i nvrm | tail")),))


def _library_version(path: str) -> str | None:
    """libnvidia-ml.so.535.104.05 → 535.104.05 (the loader resolves .so.1 to the versioned file)."""
    m = re.search(r"libnvidia-ml\.so\.(\d{3,}\.\d+(?:\.\d+)?)", path)
    return m.group(1) if m else None


def _need_for_build(ctx: CheckContext) -> str | None:
    build = ctx.fact("tf_build")
    cuda = tf_cuda(ctx, build) if build is not None else None
    if not cuda or ctx.matrix is None:
        return None
    return ctx.matrix.driver_need(cuda, _os_name(ctx)).toolkit_min


# --- 2. driver new enough for TensorFlow's CUDA -------------------------------------------------------


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


def kepler_no_branch_text(gpus: str, count: int, supported: tuple[int, ...]) -> str:
    """Why no driver upgrade is offered for Kepler GPUs, from the branches still supported."""
    verb = "runs" if count == 1 else "run"
    if KEPLER_LAST_BRANCH in supported:
        return (f"{gpus} {verb} on no driver newer than the R{KEPLER_LAST_BRANCH} branch (NVIDIA ended Kepler "
                "support there), so a newer driver is no fix.")
    now = ", ".join(f"R{b}" for b in supported) or "none in tfgpu's matrix"
    return (f"No supported NVIDIA driver branch runs {gpus}: Kepler's last branch is R{KEPLER_LAST_BRANCH}, past "
            f"its end of life (supported now: {now}), so no driver upgrade is offered.")


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


def recommend_os(ctx: CheckContext, driver: DriverInfo | None = None) -> str:
    """The `tfgpu.recommend.Machine` os for this machine: "windows" (native), "wsl2" or "linux"
    (the driver column follows from it as `_os_name` says: the Windows one under WSL2)."""
    env = ctx.fact("python_env")
    host = ctx.fact("host")
    if getattr(env, "platform", "") == "win32":
        return "windows"
    if getattr(host, "wsl", None) == "wsl2" or (driver is not None and driver.system.wsl2):
        return "wsl2"
    return "linux"


def target_machine(ctx: CheckContext, driver: DriverInfo, ccs: list[tuple[int, int]]) -> Any:
    """A `tfgpu.recommend.Machine` from the facts: the driver, the GPUs' compute capabilities, the
    target Python, the OS (as the driver column logic says), the architecture and the host's glibc."""
    from tfgpu.recommend import Machine

    env = ctx.fact("python_env")
    host = ctx.fact("host")
    arch = getattr(env, "machine", None) or getattr(host, "machine", None) or "x86_64"
    return Machine(driver=driver.driver_version, ccs=tuple(f"{a}.{b}" for a, b in ccs),
                   python=getattr(env, "version", None) or None, os=recommend_os(ctx, driver), machine=arch,
                   glibc=getattr(host, "glibc", None) or None)


def _older_than(row: TFRow, below: str | None) -> bool:
    from packaging.version import InvalidVersion, Version

    if not below:
        return True
    try:
        return Version(row.release) < Version(below)
    except InvalidVersion:
        return True  # the installed version is unreadable: every release is a candidate


def tf_alternatives(matrix: Matrix, machine: Any, below: str | None = None,
                    native_only: bool = False) -> tuple[TFRow | None, list[tuple[str, str]]]:
    """(the newest release older than `below` that `tfgpu.recommend.judge` accepts for `machine`, or
    None; (series, reason) for each release passed over). `native_only`: only a release whose CUDA the
    driver runs natively (its toolkit driver or newer), not through minor-version compatibility."""
    from tfgpu.recommend import judge

    os_key = "windows" if machine.os in ("windows", "wsl2") else "linux"
    passed: list[tuple[str, str]] = []
    for row in matrix.tf_rows_newest_first():
        if not _older_than(row, below):
            continue
        reason, _notes = judge(row, machine, matrix)
        if reason is None and row.cuda and machine.driver:
            fit = driver_fit(machine.driver, matrix.driver_need(row.cuda, os_key))
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
    architecture and glibc where given), by `tfgpu.recommend.judge`: its CUDA at or above the toolkit
    driver, or within minor-version compatibility where every GPU has native SASS (PTX from a newer
    toolkit cannot be JIT-compiled by an older driver). `os_name`: "linux", "wsl2" or "windows"."""
    from tfgpu.recommend import Machine

    m = Machine(driver=driver, ccs=tuple(f"{a}.{b}" for a, b in ccs), python=python, os=os_name,
                machine=machine, glibc=glibc)
    return tf_alternatives(matrix, m, below, native_only)[0]


def tf_row_requirement(row: TFRow) -> str:
    """The pip requirement for a matrix row's release series (its [and-cuda] form where it has one)."""
    if row.package == "tensorflow-gpu":
        return f"tensorflow-gpu=={row.series}.*"
    return tf_requirement(row.release, and_cuda=bool(row.and_cuda))


def system_cuda_text(row: TFRow) -> str:
    """What a release without [and-cuda] (2.13 and older) needs from the system."""
    cudnn = row.cudnn_tested or row.cudnn or "?"
    return (f"it has no [and-cuda] extra, so it needs CUDA {row.cuda} and cuDNN {cudnn} installed on the system "
            "(e.g. from conda-forge) and on LD_LIBRARY_PATH")


def no_alternative_text(machine: Any, native_only: bool) -> str:
    """Why no TensorFlow release is offered instead of a driver upgrade."""
    facts = [f"driver {machine.driver}"]
    if machine.ccs:
        facts.append(f"GPU compute capability {', '.join(machine.ccs)}")
    if machine.python:
        facts.append(f"Python {'.'.join(machine.python.split('.')[:2])}")
    if native_only:
        return (f"No older TensorFlow release in tfgpu's matrix runs natively (without minor-version "
                f"compatibility) on this machine ({', '.join(facts)}); to leave minor-version compatibility, "
                "upgrade the driver.")
    return (f"No older TensorFlow release in tfgpu's matrix fits this machine ({', '.join(facts)}) either, as "
            "`tfgpu recommend` also finds: the driver must be upgraded.")


def _tf_alternative(ctx: CheckContext, driver: DriverInfo, build_version: str, ccs: list[tuple[int, int]],
                    native_only: bool = False) -> tuple[Fix | None, str, str | None]:
    """(the fix 'keep the driver, install TensorFlow X' or None; a note for the detail when none fits;
    the series offered)."""
    if ctx.matrix is None or not driver.driver_version:
        return None, "", None
    machine = target_machine(ctx, driver, ccs)
    row, _passed = tf_alternatives(ctx.matrix, machine, below=build_version, native_only=native_only)
    if row is None:
        return None, " " + no_alternative_text(machine, native_only), None
    py = f", Python {'.'.join(machine.python.split('.')[:2])}" if machine.python else ""
    os_key = "windows" if machine.os in ("windows", "wsl2") else "linux"
    native = driver_fit(driver.driver_version, ctx.matrix.driver_need(row.cuda or "", os_key)) is DriverFit.OK
    how = "natively" if native else "through minor-version compatibility, with native kernels for these GPUs"
    text = (f"Or keep driver {driver.driver_version} and install TensorFlow {row.series} (built for CUDA {row.cuda}, "
            f"which this driver runs {how}), the newest release that fits this machine (driver, GPUs{py})")
    if not row.and_cuda:
        text += "; " + system_cuda_text(row)
    return Fix(text, (pip(_python(ctx), "install", tf_row_requirement(row)),)), "", row.series


def _forward_compat_fix(ctx: CheckContext, driver: DriverInfo, cuda: str) -> Fix | None:
    """Data-center GPUs can run a newer CUDA on an older driver with the cuda-compat package
    (CUDA Compatibility guide, "Forward Compatibility"); GeForce and workstation cards cannot, nor
    GPUs older than the CUDA release supports."""
    if ctx.matrix is None or not driver.gpus or _os_name(ctx, driver) != "linux":
        return None
    rows = [ctx.matrix.gpu_by_name(g.name) for g in driver.gpus]
    if not all(r is not None and r.segment == "datacenter" for r in rows):
        return None
    cuda_row = ctx.matrix.cuda_row(cuda)
    floor = parse_cc(cuda_row.min_cc) if cuda_row is not None and cuda_row.min_cc else None
    for g in driver.gpus:
        cc = gpu_cc(g, ctx.matrix)[0]
        if floor is not None and (cc is None or cc < (floor[1], floor[2])):
            return None
    mm = "-".join(cuda.split(".")[:2])
    dotted = ".".join(cuda.split(".")[:2])
    return Fix(f"Or, on these data-center GPUs, add CUDA {dotted}'s forward-compatibility libraries from NVIDIA's CUDA "
               "repository (no kernel driver change)",
               (f"sudo apt-get install -y cuda-compat-{mm}",
                f'export LD_LIBRARY_PATH="/usr/local/cuda-{dotted}/compat:$LD_LIBRARY_PATH"'),
               (CUDA_COMPAT,))


@check("driver-supports-tf-cuda", "The driver is new enough for the CUDA TensorFlow was built with", "driver",
       needs=("driver",))
def driver_supports_tf_cuda(ctx: CheckContext) -> Iterator[Finding]:
    driver: DriverInfo = ctx.fact("driver")
    build = ctx.fact("tf_build")
    if build is None or not build.is_cuda_build:
        return  # nothing to judge: tf-installed / tf-cuda-build say why
    cuda = tf_cuda(ctx, build)
    unjudged = driver_unjudged_reason(build.version, cuda, driver.driver_version, ctx.matrix is not None)
    if unjudged is not None:
        # A skipped finding, never silence: no READY verdict without a driver check.
        yield ctx.finding("driver-supports-tf-cuda-skipped", Severity.SKIPPED, unjudged,
                          evidence={"driver_version": driver.driver_version, "tf_version": build.version,
                                    "tf_cuda": cuda, "build_info": getattr(build, "build_info_path", None)})
        return
    assert cuda is not None and driver.driver_version is not None and ctx.matrix is not None
    os_name = _os_name(ctx, driver)
    need = ctx.matrix.driver_need(cuda, os_name)
    fit = driver_fit(driver.driver_version, need)
    ccs = [cc for cc in (gpu_cc(g, ctx.matrix)[0] for g in driver.gpus) if cc is not None]
    ev: dict[str, Any] = {"driver_version": driver.driver_version, "driver_cuda": driver.cuda_driver_version,
                          "tf_version": build.version, "tf_cuda": cuda, "os": os_name,
                          "toolkit_driver": need.toolkit_min, "minor_compat_driver": need.minor_compat_min,
                          "fit": fit.value}
    if fit is DriverFit.UNKNOWN:
        yield ctx.finding("driver-supports-tf-cuda-skipped", Severity.SKIPPED,
                          f"The matrix has no driver data for CUDA {cuda}; driver {driver.driver_version} "
                          "not judged", evidence=ev)
        return
    if fit is DriverFit.OK:
        yield ctx.finding("driver-ok", Severity.OK,
                          f"NVIDIA driver {driver.driver_version} is at or above {need.toolkit_min}, the driver of "
                          f"CUDA {cuda} that TensorFlow {build.version} was built with", evidence=ev)
        return
    upgrade_to = need.toolkit_min or need.minor_compat_min
    upgrade: Fix | None = install_driver_fix(ctx, upgrade_to, os_name == "windows" and driver.system.wsl2)
    kepler = kepler_gpus(driver, ctx.matrix)
    note = ""
    if kepler:
        # No driver branch to offer: the newest that runs these GPUs is R470 (see gpu-cc-unsupported).
        supported = ctx.matrix.supported_branches()
        ev["kepler_gpus"] = [g.index for g in kepler]
        ev["supported_branches"] = list(supported)
        upgrade = None
        note = " " + kepler_no_branch_text(", ".join(gpu_label(g) for g in kepler), len(kepler), supported)
    forward = _forward_compat_fix(ctx, driver, cuda)

    def with_alternative(native_only: bool) -> tuple[list[Fix], str]:
        alternative, none_fits, series = _tf_alternative(ctx, driver, build.version, ccs, native_only)
        ev["alternative_tf"] = series
        return [f for f in (upgrade, alternative, forward) if f is not None], none_fits

    if fit is DriverFit.MINOR_COMPAT:
        ptx_gpus = []
        for g in driver.gpus:
            cc = gpu_cc(g, ctx.matrix)[0]
            how = cc_support(cc, build.compute_capabilities) if cc is not None else None
            if how is not None and how[0] == "ptx":
                ptx_gpus.append((g, how[1]))
        if ptx_gpus and need.toolkit_min:
            ptx = ptx_gpus[0][1]
            names = ", ".join(gpu_label(g) for g, _ in ptx_gpus)
            ev["ptx_gpus"] = [g.index for g, _ in ptx_gpus]
            ev["ptx"] = ptx
            fixes, none_fits = with_alternative(False)
            yield ctx.finding(
                "driver-too-old", Severity.ERROR,
                ptx_jit_needs_driver_text(driver.driver_version, ptx, names, len(ptx_gpus), need.toolkit_min,
                                          cuda),
                f"TensorFlow {build.version} has no native (SASS) kernels for these GPUs, only {ptx} PTX, which the "
                f"driver must JIT-compile. Minor-version compatibility lets an older driver run SASS, but PTX from a "
                f"newer toolkit cannot be compiled by an older driver (CUDA Compatibility guide): every kernel fails "
                f"with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.{note}{none_fits}", ev, fixes)
            return
        # A release under the same minor-version compatibility would change nothing: only one whose CUDA
        # this driver runs natively is an alternative.
        fixes, none_fits = with_alternative(True)
        yield ctx.finding(
            "driver-minor-compat", Severity.WARNING,
            driver_minor_compat_text(driver.driver_version, need.minor_compat_min or "?", cuda,
                                     need.toolkit_min or "?"),
            "Every GPU here has native (SASS) kernels in the build, so they run; but anything JIT-compiled from the "
            "newer toolkit's PTX (XLA-generated kernels, libraries' PTX) can fail with "
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION, and features that need a newer driver report "
            "cudaErrorCallRequiresNewerDriver." + note + none_fits, ev, fixes)
        return
    fixes, none_fits = with_alternative(False)
    yield ctx.finding(
        "driver-too-old", Severity.ERROR,
        driver_too_old_text(driver.driver_version, need.minor_compat_min, cuda, need.toolkit_min),
        f"The driver supports CUDA {driver.cuda_driver_version or 'older than this'}; TensorFlow fails at cuInit with "
        "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH or 'CUDA driver version is insufficient for CUDA runtime version' and "
        "falls back to the CPU." + note + none_fits, ev, fixes)


# --- 3. compute capability against the build ----------------------------------------------------------


@check("gpu-compute-capability", "Each GPU's compute capability is in TensorFlow's build", "gpu",
       needs=("driver",))
def gpu_compute_capability(ctx: CheckContext) -> Iterator[Finding]:
    driver: DriverInfo = ctx.fact("driver")
    build = ctx.fact("tf_build")
    if build is None or not build.is_cuda_build:
        return
    built = list(build.compute_capabilities)
    env = ctx.fact("environment")
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
        if how is not None and how[0] == "sass":
            yield ctx.finding("gpu-cc-ok", Severity.OK,
                              f"{gpu_label(g)}, CC {cc_text}, runs TensorFlow {build.version}'s native {how[1]} kernels",
                              evidence={**ev, "uses": how[1]})
            continue
        if how is not None:
            detail = (f"TensorFlow {build.version} has no SASS for CC {cc_text}, so the driver JIT-compiles its {how[1]} "
                      "PTX for this GPU. The first start compiles every kernel and can take many minutes; the result is "
                      f"kept in the CUDA JIT cache (default ~/.nv/ComputeCache) only if the cache is large enough, so "
                      f"raise CUDA_CACHE_MAXSIZE to its maximum ({JIT_CACHE_MAX} bytes) and keep CUDA_CACHE_PATH on "
                      "persistent storage (in containers, mount it).")
            if cache_disabled:
                detail += " CUDA_CACHE_DISABLE=1 is set, so every start compiles again."
            yield ctx.finding(
                "gpu-ptx-jit", Severity.WARNING,
                f"{gpu_label(g)}, CC {cc_text}, runs TensorFlow {build.version} only through PTX JIT of {how[1]} "
                "(slow first start)", detail, {**ev, "uses": how[1], "cuda_cache_disable": cache_disabled},
                (Fix("Keep the JIT cache between runs (add to your shell profile)",
                     (f"export CUDA_CACHE_MAXSIZE={JIT_CACHE_MAX}", 'export CUDA_CACHE_PATH="$HOME/.nv/ComputeCache"')
                     + (("unset CUDA_CACHE_DISABLE",) if cache_disabled else ()),
                     (CUDA_ENV_VARS,)),))
            continue
        last = ctx.matrix.last_tf_for_cc(cc) if ctx.matrix is not None else None
        fixes = []
        if last is not None:
            row, _kind, entry = last
            last_text = f"the last TensorFlow in tfgpu's matrix that supports CC {cc_text} is {row.series} ({entry})"
            fixes.append(Fix(f"Install TensorFlow {row.series} (built for CUDA {row.cuda}), the last release that runs "
                             f"on this GPU",
                             (pip(_python(ctx), "install", tf_requirement(row.release, and_cuda=bool(row.and_cuda))),)))
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


# --- 4. VRAM --------------------------------------------------------------------------------------------


def vram_low_text(label: str, free: int, total: int) -> str:
    return f"{label} has only {free / GIB:.1f} GiB of {total / GIB:.0f} GiB VRAM free"


def vram_in_use_text(label: str, pids: list[int], used: int | None) -> str:
    verb = "holds" if len(pids) == 1 else "hold"
    held = f" {verb} {used / GIB:.1f} GiB" if used else f" {'uses' if len(pids) == 1 else 'use'} it"
    return f"{label}: {len(pids)} other process{'es' if len(pids) != 1 else ''}{held} (pid {', '.join(map(str, pids))})"


@check("gpu-memory", "GPUs have free VRAM and no other processes holding it", "gpu", needs=("driver",))
def gpu_memory(ctx: CheckContext) -> Iterator[Finding]:
    driver: DriverInfo = ctx.fact("driver")
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
                _gpu_lost_fixes(g.index))
        if not problem and total is not None and free is not None:
            yield ctx.finding("vram-ok", Severity.OK,
                              f"{gpu_label(g)}: {free / GIB:.1f} of {total / GIB:.0f} GiB VRAM free"
                              + (f", {g.memory_bandwidth_gb_s:g} GB/s" if g.memory_bandwidth_gb_s else ""),
                              evidence={**ev, "bandwidth_gb_s": g.memory_bandwidth_gb_s})


# --- 5. CUDA_VISIBLE_DEVICES against the GPUs found, and MIG ------------------------------------------


def visible_entry_exists(entry: str, gpus: tuple[GpuInfo, ...]) -> bool:
    """CUDA accepts an index, a GPU UUID or a unique UUID prefix, or a MIG device UUID (CUDA C++
    Programming Guide, CUDA_VISIBLE_DEVICES)."""
    if entry.isdigit():
        return int(entry) < len(gpus)
    if entry.startswith("MIG-"):
        return any(g.mig_mode_current for g in gpus)
    return sum(1 for g in gpus if g.uuid and g.uuid.startswith(entry)) == 1


@check("cuda-visible-devices-gpus", "CUDA_VISIBLE_DEVICES names GPUs that exist", "gpu",
       needs=("driver", "environment"))
def cuda_visible_devices_gpus(ctx: CheckContext) -> Iterator[Finding]:
    driver: DriverInfo | None = ctx.fact("driver")
    env = ctx.fact("environment")
    value = env.get("CUDA_VISIBLE_DEVICES") if env is not None else None
    if driver is None or value is None or not driver.gpus:
        return
    entries = parse_visible_devices(value)
    if not entries:
        return  # empty / -1: the cuda-visible-devices check reports it
    # CUDA stops at the first entry that names no device: only the ones before it are visible.
    bad = next((i for i, e in enumerate(entries) if not visible_entry_exists(e, driver.gpus)), None)
    if bad is None:
        return
    visible, missing = entries[:bad], entries[bad]
    valid = [str(g.index) for g in driver.gpus]
    ev = {"CUDA_VISIBLE_DEVICES": value, "missing": missing, "visible": visible, "gpu_count": len(driver.gpus),
          "gpu_uuids": [g.uuid for g in driver.gpus]}
    fix = Fix(f"Name only GPUs that exist (indices {', '.join(valid)}, or their UUIDs from nvidia-smi -L), or unset it",
              (f"export CUDA_VISIBLE_DEVICES={','.join(e for e in entries if visible_entry_exists(e, driver.gpus)) or '0'}",
               "unset CUDA_VISIBLE_DEVICES", "nvidia-smi -L"))
    if not visible:
        yield ctx.finding(
            "cuda-visible-devices-missing-device", Severity.ERROR,
            f"CUDA_VISIBLE_DEVICES={value}: '{missing}' is not one of the {len(driver.gpus)} GPU"
            f"{'s' if len(driver.gpus) != 1 else ''} here, so CUDA sees no GPU at all",
            "CUDA stops reading the list at the first entry that names no device; TensorFlow then logs "
            "CUDA_ERROR_NO_DEVICE.", ev, (fix,))
    else:
        yield ctx.finding(
            "cuda-visible-devices-missing-device", Severity.WARNING,
            f"CUDA_VISIBLE_DEVICES={value}: '{missing}' is not a GPU here; CUDA uses only {','.join(visible)} and "
            "ignores the rest", "CUDA stops reading the list at the first entry that names no device.", ev, (fix,))


@check("mig-mode", "MIG mode is understood", "gpu", needs=("driver",))
def mig_mode(ctx: CheckContext) -> Iterator[Finding]:
    driver: DriverInfo = ctx.fact("driver")
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
