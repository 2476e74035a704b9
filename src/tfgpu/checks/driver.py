"""Checks on the NVIDIA driver: one is installed, loaded and answering (and, where it is not, why: one
handler per cause the probe found), and it is new enough for the CUDA TensorFlow was built with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tfgpu.checks import CheckContext, check
from tfgpu.checks.common import (
    CONTAINER_TOOLKIT,
    CUDA_COMPAT,
    DRIVER_GUIDE,
    build_cuda,
    distro,
    gpu_cc,
    gpu_label,
    gpu_lost_fixes,
    install_driver_fix,
    python_of,
    target_os,
)
from tfgpu.fixes import pip
from tfgpu.matrix import Matrix
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.probes.driver import DriverFailure, DriverInfo, DriverSystem, GpuInfo
from tfgpu.recommend import (
    Machine,
    cudnn_pin,
    newest_tf_for_driver,
    no_alternative_text,
    system_cuda_text,
    tf_alternatives,
    tf_row_requirement,
)
from tfgpu.records import dataclass
from tfgpu.rules import (
    DriverFit,
    DriverVerdict,
    cc_support,
    driver_column,
    driver_fit,
    driver_minor_compat_text,
    driver_too_old_text,
    driver_unjudged_reason,
    judge_driver,
    judge_runtime,
    ptx_jit_floor_note,
    ptx_jit_needs_driver_text,
    python_release,
)
from tfgpu.serde import DecodeError, from_jsonable
from tfgpu.versions import cc_pair, major_minor, major_of, nvml_library_version, short

#: The newest driver branch for Kepler GPUs (CC 3.x): NVIDIA ended Kepler support after R470
#: (NVIDIA support plan for Kepler GPUs); R470 is past its end of life (NVIDIA's driver lifecycle page).
KEPLER_LAST_BRANCH = 470

#: Re-exported for callers that ask the checks for the newest release a driver runs.
__all__ = ["KEPLER_LAST_BRANCH", "newest_tf_for_driver", "target_machine"]


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


@check("driver-present", "An NVIDIA driver is installed, loaded and answering", Area.DRIVER, uses=("driver", "host", "python_env", "tf_build"),
       emits=("container-no-gpu-passthrough", "driver-library-mismatch", "driver-missing", "driver-not-loaded",
              "driver-not-responding", "driver-permission-denied", "driver-present", "driver-probe-failed", "gpu-lost",
              "gpu-not-found", "wsl2-linux-driver"))
def driver_present(ctx: CheckContext) -> Iterator[Finding]:
    """Whether an NVIDIA driver is there and answers NVML: none installed, installed but not loaded, its user-space
    library and kernel module of different versions, no permission on /dev/nvidia*, a lost GPU, or a container or
    WSL2 without GPU access."""
    fail = ctx.failure("driver")
    driver = ctx.driver
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
            {**ev, "gpu": g.index, "health": g.health}, gpu_lost_fixes(g.index))
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
            ev, tuple(on_host(f, container_kind(ctx, driver.system)) for f in _mismatch_fixes()))
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


def container_kind(ctx: CheckContext, system: dict[str, Any] | DriverSystem | None = None) -> str | None:
    """The container this runs in ('docker', 'podman', ...), from the driver probe's record or the host probe."""
    kind = system.get("container") if isinstance(system, dict) else getattr(system, "container", None)
    host = ctx.host
    return str(kind) if kind else (host.container if host is not None else None)


def on_host(fix: Fix, container: str | None) -> Fix:
    """A driver fix said for the host: in a container the driver, its kernel module and a reboot belong to
    the host, never to the container."""
    if not container:
        return fix
    return Fix(f"On the host, not in this {container} container (it uses the host's driver): "
               f"{fix.summary[:1].lower()}{fix.summary[1:]}", fix.commands, fix.links)


#: Linux NVIDIA driver packages that must not be installed inside WSL2 (the Windows driver provides
#: libcuda and NVML there; NVIDIA CUDA on WSL user guide).
WSL_LINUX_DRIVER_LIST = "dpkg -l | grep -i -E 'nvidia-(driver|utils|dkms)|libnvidia-compute'"


@dataclass(frozen=True)
class _Failure:
    """A failed driver probe, decoded once for the handlers: what it recorded, and the evidence shown."""

    evidence: dict[str, Any]
    message: str
    system: dict[str, Any]
    shown: dict[str, Any]

    @property
    def wsl2(self) -> bool:
        return bool(self.system.get("wsl2") or self.system.get("dxg"))

    @property
    def kernel_module(self) -> str | None:
        value = self.system.get("kernel_module_version")
        return str(value) if value else None


def _decode_failure(evidence: dict[str, Any], message: str) -> _Failure:
    system = _system(evidence)
    shown = {k: v for k, v in evidence.items() if k != "system"}
    shown.update({k: system.get(k) for k in ("kernel_module_version", "nouveau_loaded", "secure_boot", "container",
                                             "nvidia_visible_devices", "wsl2") if k in system})
    shown["device_nodes"] = [n.get("path") for n in system.get("device_nodes") or () if isinstance(n, dict)]
    return _Failure(evidence, message, system, shown)


Handler = Callable[[CheckContext, _Failure], Iterator[Finding]]


def _no_finding(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    """macOS and other systems without an NVIDIA driver: platform-gpu-support says why."""
    return iter(())


def _wsl2_library_missing(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    if f.system.get("wsl_libnvml"):
        yield ctx.finding(
            "driver-missing", Severity.ERROR,
            "WSL2: the Windows driver's libnvidia-ml.so.1 is in /usr/lib/wsl/lib but not on the loader path",
            "WSL2 mounts the Windows NVIDIA driver's Linux libraries (libcuda, libnvidia-ml) in /usr/lib/wsl/lib; "
            "the dynamic loader must be told about that folder.", f.shown,
            (Fix("Add /usr/lib/wsl/lib to the loader's search path",
                 ("echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf", "sudo ldconfig")),
             Fix("Or, for this shell only", ('export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"',))))
        return
    yield ctx.finding(
        "driver-missing", Severity.ERROR,
        "WSL2 without the NVIDIA driver: /usr/lib/wsl/lib has no libnvidia-ml.so.1",
        "Under WSL2 the NVIDIA driver is installed on Windows only; it provides libcuda and NVML inside WSL.",
        f.shown, (install_driver_fix(ctx, None, True),))


def _container_without_gpus(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    kind = container_kind(ctx, f.system)
    nvd = f.system.get("nvidia_visible_devices")
    asks = f"asks for GPUs (NVIDIA_VISIBLE_DEVICES={nvd}) but " if nvd is not None else ""
    yield ctx.finding(
        "container-no-gpu-passthrough", Severity.ERROR,
        f"This {kind} container {asks}has no /dev/nvidia* and no driver library: it was started without GPU "
        "access",
        "The NVIDIA Container Toolkit mounts the host driver's libraries and device nodes into a container "
        "only when the container is started with GPU access.", f.shown,
        (Fix("Start the container with GPU access", ("docker run --gpus all <image> ...",)),
         Fix("On the host, install and register the NVIDIA Container Toolkit (once)",
             ("sudo apt-get install -y nvidia-container-toolkit",
              "sudo nvidia-ctk runtime configure --runtime=docker",
              "sudo systemctl restart docker"), (CONTAINER_TOOLKIT,))))


def _kernel_module_without_library(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    kmod = f.kernel_module or ""
    branch = major_of(kmod)
    yield ctx.finding(
        "driver-missing", Severity.ERROR,
        f"The NVIDIA kernel module {kmod} is loaded, but its library libnvidia-ml.so.1 cannot be loaded",
        "The driver's user-space libraries (libnvidia-ml, libcuda) are missing or not on the loader path; "
        "TensorFlow needs libcuda.so.1 from the same driver.", f.shown,
        (Fix("Find the library and refresh the loader cache",
             ("ldconfig -p | grep -e libnvidia-ml -e libcuda", "sudo ldconfig")),
         Fix(f"Reinstall the driver's user-space libraries (Ubuntu package names for R{branch})",
             (f"sudo apt-get install --reinstall -y libnvidia-compute-{branch}",), (DRIVER_GUIDE,))))


def _library_not_found(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    host = ctx.host
    if host is not None and host.wsl == "wsl1":
        return  # WSL 1 has no GPU at all: wsl1-no-gpu (platform-gpu-support) says so; no Linux driver helps
    if f.wsl2:
        yield from _wsl2_library_missing(ctx, f)
        return
    kind = container_kind(ctx, f.system)
    if kind and not f.shown["device_nodes"]:
        yield from _container_without_gpus(ctx, f)
        return
    if f.kernel_module and not kind:
        yield from _kernel_module_without_library(ctx, f)
        return
    if kind:
        # Device nodes but no driver library: the toolkit mounted devices without the host's libraries.
        fixes = [Fix("Start the container with GPU access so the NVIDIA Container Toolkit mounts the host driver's "
                     "libraries (a driver installed inside the image does not match the host's kernel module)",
                     ("docker run --gpus all <image> ...",), (CONTAINER_TOOLKIT,)),
                 on_host(Fix("Check the NVIDIA Container Toolkit's view of the driver", ("nvidia-container-cli info",),
                             (CONTAINER_TOOLKIT,)), kind)]
    else:
        fixes = [install_driver_fix(ctx, _need_for_build(ctx), False)]
    yield ctx.finding("driver-missing", Severity.ERROR, driver_missing_text(f.system),
                      "TensorFlow reaches the GPU through the NVIDIA driver's libcuda.so.1; without a driver it "
                      "runs on the CPU only.", f.shown, fixes)


def _wsl2_linux_driver(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    lib = str(f.evidence.get("library") or "")
    where = f" ({lib})" if lib else ""
    yield ctx.finding(
        "wsl2-linux-driver", Severity.ERROR,
        f"WSL2: a Linux NVIDIA driver library{where} answered instead of the Windows driver's "
        f"(NVML: {f.message})",
        "WSL2 has no NVIDIA kernel module: the Windows driver reaches the GPU through /dev/dxg and mounts its own "
        "libcuda and libnvidia-ml in /usr/lib/wsl/lib. A Linux NVIDIA driver installed inside WSL2 puts another "
        "libnvidia-ml and libcuda on the loader path, which look for a kernel module that is not there. Module, "
        "nouveau and Secure Boot advice does not apply here.", {**f.shown, "library": lib or None},
        (Fix("List the Linux NVIDIA driver packages installed inside WSL2 (there must be none; the CUDA toolkit "
             "may stay)", (WSL_LINUX_DRIVER_LIST,)),
         Fix("Remove each one listed, refresh the loader cache, then restart WSL from Windows",
             ("sudo apt-get remove --purge <package>", "sudo ldconfig", "wsl.exe --shutdown")),
         install_driver_fix(ctx, None, True)))


def _driver_not_loaded(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    if f.wsl2:
        yield from _wsl2_linux_driver(ctx, f)
        return
    kind = container_kind(ctx, f.system)
    if kind:
        yield ctx.finding(
            "driver-not-loaded", Severity.ERROR,
            f"The host's NVIDIA kernel module is not loaded (seen from this {kind} container)",
            "NVML reports NVML_ERROR_DRIVER_NOT_LOADED. A container shares the host's kernel: the module can only be "
            "loaded, rebuilt or signed on the host, and a driver installed inside the image cannot help.", f.shown,
            tuple(on_host(fx, kind) for fx in (
                Fix("Load the module and read why it fails",
                    ("sudo modprobe nvidia", "sudo dmesg | grep -i -e nvrm -e nvidia -e nouveau | tail -n 20")),
                Fix("Rebuild it for the running kernel (after a kernel update)",
                    ("sudo dkms autoinstall", "sudo modprobe nvidia")))))
        return
    why = []
    if f.system.get("nouveau_loaded"):
        why.append("the open-source nouveau driver is loaded and holds the GPU")
    if f.system.get("secure_boot"):
        why.append("Secure Boot is on, so an unsigned nvidia module is rejected")
    summary = "The NVIDIA driver library is installed but its kernel module is not loaded"
    if why:
        summary += f" ({'; '.join(why)})"
    fixes = [Fix("Load the module and read why it fails",
                 ("sudo modprobe nvidia", "sudo dmesg | grep -i -e nvrm -e nvidia -e nouveau | tail -n 20"))]
    if f.system.get("nouveau_loaded"):
        fixes.append(Fix("Blacklist nouveau, rebuild the initramfs and reboot",
                         (('printf "blacklist nouveau\\noptions nouveau modeset=0\\n" | sudo tee '
                           "/etc/modprobe.d/blacklist-nouveau.conf"),
                          "sudo update-initramfs -u", "sudo reboot")))
    if f.system.get("secure_boot") is not False:
        fixes.append(Fix("With Secure Boot on, enroll the DKMS signing key (Ubuntu path shown), then reboot and "
                         "confirm the enrollment in the blue MOK screen",
                         ("mokutil --sb-state", "sudo mokutil --import /var/lib/shim-signed/mok/MOK.der",
                          "sudo reboot")))
    fixes.append(Fix("Rebuild the module for the running kernel (after a kernel update)",
                     ("sudo dkms autoinstall", "sudo modprobe nvidia")))
    yield ctx.finding("driver-not-loaded", Severity.ERROR, summary,
                      "NVML reports NVML_ERROR_DRIVER_NOT_LOADED: no /proc/driver/nvidia, so neither NVML nor CUDA "
                      "can reach the GPU.", f.shown, fixes)


def _version_mismatch(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    if f.wsl2:
        yield from _wsl2_linux_driver(ctx, f)
        return
    lib = nvml_library_version(str(f.evidence.get("library") or ""))
    parts = []
    if f.kernel_module:
        parts.append(f"kernel module {f.kernel_module}")
    if lib:
        parts.append(f"library {lib}")
    yield ctx.finding(
        "driver-library-mismatch", Severity.ERROR,
        "NVIDIA driver/library version mismatch" + (f": {' vs '.join(parts)}" if parts else "") + " (NVML error 18)",
        "The user-space driver library and the loaded kernel module come from different driver versions, "
        "typically after a driver upgrade without a reboot. CUDA fails the same way.", f.shown,
        tuple(on_host(fx, container_kind(ctx, f.system)) for fx in _mismatch_fixes()))


def _permission_denied(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    recorded = driver_system(f.evidence)
    nodes = list(recorded.inaccessible_nodes) if recorded is not None else []
    yield ctx.finding(
        "driver-permission-denied", Severity.ERROR,
        "NVML has no permission to talk to the driver"
        + (f": {', '.join(nodes)} not readable and writable by this user" if nodes else ""),
        "CUDA needs read/write access to /dev/nvidiactl, /dev/nvidia-uvm and /dev/nvidiaN.", f.shown,
        (Fix("See the device nodes' owners and modes", ("ls -l /dev/nvidia*",)),
         Fix("Join the group that owns them (often 'video'), then log in again",
             ('sudo usermod -aG video "$USER"',)),
         Fix("In a container, start it with GPU access rather than bind-mounting devices",
             ("docker run --gpus all <image> ...",), (CONTAINER_TOOLKIT,))))


def _gpu_lost(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    yield ctx.finding("gpu-lost", Severity.ERROR, f"A GPU is lost or needs a reset: {f.message}",
                      "The GPU stopped answering the driver (fell off the bus, or a fatal error).", f.shown,
                      gpu_lost_fixes(None))


def _not_responding(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    yield ctx.finding("driver-not-responding", Severity.ERROR, f"The NVIDIA driver does not respond: {f.message}",
                      "An NVML query that normally takes milliseconds hung; CUDA would hang too.", f.shown,
                      gpu_lost_fixes(None))


def _bindings_missing(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    interp = str(f.evidence.get("interpreter") or "python")
    yield ctx.finding("driver-probe-failed", Severity.WARNING,
                      f"tfgpu could not query the driver: {f.message}",
                      "tfgpu asks NVML through the nvidia-ml-py package, which its own interpreter lacks; "
                      "nvidia-smi did not answer either. This is about tfgpu's install, not your driver.", f.shown,
                      (Fix("Install nvidia-ml-py for tfgpu's interpreter", (pip(interp, "install", "nvidia-ml-py"),)),))


def _other_failure(ctx: CheckContext, f: _Failure) -> Iterator[Finding]:
    yield ctx.finding("driver-probe-failed", Severity.ERROR, f"The NVIDIA driver could not be queried: {f.message}",
                      "NVML failed in a way that CUDA will most likely share.", f.shown,
                      (Fix("Ask nvidia-smi, and read the kernel log", ("nvidia-smi", "sudo dmesg | grep -i nvrm | tail")),))


#: One handler per cause the driver probe reports (`DriverFailure`); any other cause: `_other_failure`.
FAILURE_HANDLERS: dict[DriverFailure, Handler] = {
    DriverFailure.UNSUPPORTED_OS: _no_finding,
    DriverFailure.LIBRARY_NOT_FOUND: _library_not_found,
    DriverFailure.DRIVER_NOT_LOADED: _driver_not_loaded,
    DriverFailure.VERSION_MISMATCH: _version_mismatch,
    DriverFailure.PERMISSION_DENIED: _permission_denied,
    DriverFailure.GPU_LOST: _gpu_lost,
    DriverFailure.NOT_RESPONDING: _not_responding,
    DriverFailure.BINDINGS_MISSING: _bindings_missing,
}


def _driver_failure(ctx: CheckContext, evidence: dict[str, Any], message: str) -> Iterator[Finding]:
    try:
        cause: DriverFailure | None = DriverFailure(evidence.get("cause"))
    except ValueError:
        cause = None
    handler = FAILURE_HANDLERS.get(cause, _other_failure) if cause is not None else _other_failure
    yield from handler(ctx, _decode_failure(evidence, message))


def _need_for_build(ctx: CheckContext) -> str | None:
    build = ctx.tf_build
    cuda = build_cuda(ctx, build) if build is not None else None
    if not cuda or ctx.matrix is None:
        return None
    return ctx.matrix.driver_need(cuda, driver_column(target_os(ctx))).toolkit_min


# --- 2. driver new enough for TensorFlow's CUDA -------------------------------------------------------


def kepler_no_branch_text(gpus: str, count: int, supported: tuple[int, ...]) -> str:
    """Why no driver upgrade is offered for Kepler GPUs, from the branches still supported."""
    verb = "runs" if count == 1 else "run"
    if KEPLER_LAST_BRANCH in supported:
        return (f"{gpus} {verb} on no driver newer than the R{KEPLER_LAST_BRANCH} branch (NVIDIA ended Kepler "
                "support there), so a newer driver is no fix.")
    now = ", ".join(f"R{b}" for b in supported) or "none in tfgpu's matrix"
    return (f"No supported NVIDIA driver branch runs {gpus}: Kepler's last branch is R{KEPLER_LAST_BRANCH}, past "
            f"its end of life (supported now: {now}), so no driver upgrade is offered.")

def target_machine(ctx: CheckContext, driver: DriverInfo, ccs: list[tuple[int, int]]) -> Machine:
    """A `tfgpu.recommend.Machine` from the facts: the driver, the GPUs' compute capabilities, the
    target Python, the OS (as the driver column logic says), the architecture and the host's glibc."""
    env = ctx.python_env
    host = ctx.host
    arch = (env.machine if env is not None else None) or (host.machine if host is not None else None) or "x86_64"
    return Machine(driver=driver.driver_version, ccs=tuple(f"{a}.{b}" for a, b in ccs),
                   python=(env.version if env is not None else None) or None, os=target_os(ctx, driver).value,
                   machine=arch, glibc=(host.glibc if host is not None else None) or None)


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
    py = f", Python {short(machine.python) or machine.python}" if machine.python else ""
    need = ctx.matrix.driver_need(row.cuda or "", driver_column(machine.os))
    native = driver_fit(driver.driver_version, need) is DriverFit.OK
    how = "natively" if native else "through minor-version compatibility, with native kernels for these GPUs"
    text = (f"Or keep driver {driver.driver_version} and install TensorFlow {row.series} (built for CUDA {row.cuda}, "
            f"which this driver runs {how}), the newest release that fits this machine (driver, GPUs{py})")
    if not row.and_cuda:
        text += "; " + system_cuda_text(row)
    pin = cudnn_pin(row, machine, ctx.matrix)
    if pin:
        text += f"; with {pin}, a cuDNN that has kernels for these GPUs"
    release = python_release(row, machine.python, machine.machine)
    requirement = tf_row_requirement(row, release)
    return Fix(text, (pip(python_of(ctx), "install", requirement, *([pin] if pin else [])),)), "", row.series


def _forward_compat_fix(ctx: CheckContext, driver: DriverInfo, cuda: str) -> Fix | None:
    """CUDA's forward-compatibility package (cuda-compat-<major>-<minor>) runs a newer CUDA on an older
    kernel driver, but only where NVIDIA supports it (CUDA Compatibility guide, "Forward Compatibility"):
    on data-center GPUs (NGC Server Ready RTX SKUs cannot be told from a name, Jetson is packaged
    apart: neither is offered), on a base driver branch the package's row marks compatible and that is
    still supported on the matrix's date (end-of-life and New Feature Branches are no targets), and for
    GPUs the CUDA release supports. The package is named after the newest CUDA it must serve: the
    build's, or the newer runtime pip installed beside it."""
    if ctx.matrix is None or not driver.gpus or not driver.driver_version:
        return None
    if driver_column(target_os(ctx, driver)) != "linux":
        return None
    rows = [ctx.matrix.gpu_by_name(g.name) for g in driver.gpus]
    if not all(r is not None and r.segment == "datacenter" for r in rows):
        return None
    wanted = major_minor(cuda)
    runtime = major_minor(_installed_runtime(ctx)[0])
    if wanted is None:
        return None
    if runtime is not None and runtime > wanted:
        wanted = runtime
    dotted = f"{wanted[0]}.{wanted[1]}"
    base = major_of(driver.driver_version)
    if base is None or base not in ctx.matrix.forward_compat_branches(dotted):
        return None
    cuda_row = ctx.matrix.cuda_row(dotted)
    floor = cc_pair(cuda_row.min_cc) if cuda_row is not None and cuda_row.min_cc else None
    for g in driver.gpus:
        cc = gpu_cc(g, ctx.matrix)[0]
        if floor is not None and (cc is None or cc < floor):
            return None
    package = f"cuda-compat-{wanted[0]}-{wanted[1]}"
    # The package managers NVIDIA's guide names per distribution; elsewhere the text alone.
    tool = next((t for ids, t in _COMPAT_INSTALLERS if distro(ctx) in ids), None)
    cmds = (f"sudo {tool} install -y {package}",
            f'export LD_LIBRARY_PATH="/usr/local/cuda-{dotted}/compat:$LD_LIBRARY_PATH"') if tool else ()
    return Fix(f"Or, on these data-center GPUs, keep the R{base} kernel driver (a base branch NVIDIA supports "
               f"{package} on) and add CUDA {dotted}'s forward-compatibility libraries ({package}) from NVIDIA's "
               "CUDA repository", cmds, (CUDA_COMPAT,))


_COMPAT_INSTALLERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ubuntu", "pop", "linuxmint", "debian"), "apt-get"),
    (("rhel", "rocky", "almalinux", "centos", "fedora", "ol", "amzn", "kylin"), "dnf"),
    (("sles", "opensuse-leap", "opensuse-tumbleweed"), "zypper"),
    (("azurelinux", "mariner"), "tdnf"),
)


def _installed_runtime(ctx: CheckContext) -> tuple[str | None, str | None]:
    """(the CUDA runtime TensorFlow loads, major.minor; where it is from): libcudart's loaded version, or
    under --fast the version read from disk (its pip wheel)."""
    libs = ctx.libraries
    lib = libs.get("cudart") if libs is not None else None
    if lib is None or lib.winner is None or not lib.load.version:
        return None, None
    return short(lib.load.version), (lib.load.version_source or "loaded")


def _runtime_findings(ctx: CheckContext, driver: DriverInfo, cuda: str, build_version: str,
                      ev: dict[str, Any]) -> Iterator[Finding]:
    """The driver against the installed CUDA runtime where it is newer than the build's CUDA ([and-cuda]
    ranges, 2.20 on, let pip install e.g. cu12 12.9 for a 12.5.1 build): say which one needs the newer driver."""
    assert driver.driver_version is not None and ctx.matrix is not None
    runtime, source = _installed_runtime(ctx)
    judged = judge_runtime(driver.driver_version, cuda, runtime, ctx.matrix, target_os(ctx, driver).value)
    if judged is None or judged.verdict in (DriverVerdict.OK, DriverVerdict.UNKNOWN):
        return
    need = judged.need
    rev = {**ev, "runtime_cuda": runtime, "runtime_source": source, "runtime_toolkit_driver": need.toolkit_min,
           "runtime_minor_compat_driver": need.minor_compat_min, "runtime_fit": judged.fit.value}
    upgrade = on_host(install_driver_fix(ctx, need.toolkit_min, judged.column == "windows" and driver.system.wsl2),
                      container_kind(ctx, driver.system))
    which = (f"The installed CUDA runtime {runtime} (libcudart TensorFlow loads, {source}) is newer than the CUDA "
             f"{cuda} TensorFlow {build_version} was built with, and it is the one that needs the newer driver: "
             f"{need.toolkit_min} (CUDA {runtime}'s own driver)")
    if judged.verdict is DriverVerdict.TOO_OLD:
        yield ctx.finding(
            "driver-too-old", Severity.ERROR,
            driver_too_old_text(driver.driver_version, need.minor_compat_min, runtime or "?", need.toolkit_min),
            which + ". The CUDA libraries pip installed fail to initialise on this driver.", rev, (upgrade,))
        return
    yield ctx.finding(
        "driver-runtime-minor-compat", Severity.WARNING,
        f"NVIDIA driver {driver.driver_version} runs the installed CUDA runtime {runtime} only through minor-version "
        f"compatibility (CUDA {runtime}'s own driver is {need.toolkit_min}); TensorFlow's own CUDA {cuda} fits it",
        which + ". Its libraries' native kernels run; anything they JIT-compile from PTX of the newer toolkit fails "
        "with CUDA_ERROR_UNSUPPORTED_PTX_VERSION, and features that need the newer driver report "
        "cudaErrorCallRequiresNewerDriver.", rev, (upgrade,))


@check("driver-supports-tf-cuda", "The driver is new enough for the CUDA TensorFlow was built with", Area.DRIVER,
       needs=("driver",), uses=("host", "python_env", "tf_build", "libraries"),
       emits=("driver-minor-compat", "driver-ok", "driver-runtime-minor-compat", "driver-too-old"))
def driver_supports_tf_cuda(ctx: CheckContext) -> Iterator[Finding]:
    """The driver's version against the one the CUDA release of the installed TensorFlow needs (from the matrix): new
    enough, enough only through CUDA minor-version compatibility, or too old."""
    driver = ctx.driver
    if driver is None:
        return
    build = ctx.tf_build
    if build is None or not build.is_cuda_build:
        return  # nothing to judge: tf-installed / tf-cuda-build say why
    cuda = build_cuda(ctx, build)
    unjudged = driver_unjudged_reason(build.version, cuda, driver.driver_version, ctx.matrix is not None)
    if unjudged is not None:
        # A skipped finding, never silence: no READY verdict without a driver check.
        yield ctx.finding("driver-supports-tf-cuda-skipped", Severity.SKIPPED, unjudged,
                          evidence={"driver_version": driver.driver_version, "tf_version": build.version,
                                    "tf_cuda": cuda, "build_info": build.build_info_path})
        return
    assert cuda is not None and driver.driver_version is not None and ctx.matrix is not None
    os_now = target_os(ctx, driver)
    gpus_by_index = {str(g.index): g for g in driver.gpus}
    fits = []
    for g in driver.gpus:
        cc = gpu_cc(g, ctx.matrix)[0]
        if cc is not None:
            fits.append((str(g.index), cc_support(cc, build.compute_capabilities)))
    judged = judge_driver(driver.driver_version, cuda, ctx.matrix, os_now.value, fits)
    need, fit = judged.need, judged.fit
    ccs = [cc for cc in (gpu_cc(g, ctx.matrix)[0] for g in driver.gpus) if cc is not None]
    ev: dict[str, Any] = {"driver_version": driver.driver_version, "driver_cuda": driver.cuda_driver_version,
                          "tf_version": build.version, "tf_cuda": cuda, "os": judged.column,
                          "toolkit_driver": need.toolkit_min, "minor_compat_driver": need.minor_compat_min,
                          "fit": fit.value}
    if judged.verdict is DriverVerdict.UNKNOWN:
        yield ctx.finding("driver-supports-tf-cuda-skipped", Severity.SKIPPED,
                          f"The matrix has no driver data for CUDA {cuda}; driver {driver.driver_version} "
                          "not judged", evidence=ev)
        return
    if judged.verdict is DriverVerdict.OK:
        yield ctx.finding("driver-ok", Severity.OK,
                          f"NVIDIA driver {driver.driver_version} is at or above {need.toolkit_min}, the driver of "
                          f"CUDA {cuda} that TensorFlow {build.version} was built with", evidence=ev)
        yield from _runtime_findings(ctx, driver, cuda, build.version, ev)
        return
    upgrade_to = need.toolkit_min or need.minor_compat_min
    upgrade: Fix | None = on_host(install_driver_fix(ctx, upgrade_to, judged.column == "windows" and driver.system.wsl2),
                                  container_kind(ctx, driver.system))
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

    if judged.verdict is DriverVerdict.PTX_JIT_TOO_OLD:
        ptx_gpus = [(gpus_by_index[label], entry) for label, entry in judged.ptx]
        ptx = ptx_gpus[0][1]
        names = ", ".join(gpu_label(g) for g, _ in ptx_gpus)
        ev["ptx_gpus"] = [g.index for g, _ in ptx_gpus]
        ev["ptx"] = ptx
        fixes, none_fits = with_alternative(False)
        floor_note = ptx_jit_floor_note(ctx.matrix, cuda, judged.column)
        floor_note = f" {floor_note}" if floor_note else ""
        yield ctx.finding(
            "driver-too-old", Severity.ERROR,
            ptx_jit_needs_driver_text(driver.driver_version, ptx, names, len(ptx_gpus), need.toolkit_min or "?",
                                      cuda),
            f"TensorFlow {build.version} has no native (SASS) kernels for these GPUs, only {ptx} PTX, which the "
            f"driver must JIT-compile. Minor-version compatibility lets an older driver run SASS, but PTX from a "
            f"newer toolkit cannot be compiled by an older driver (CUDA Compatibility guide): every kernel fails "
            f"with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.{floor_note}{note}{none_fits}", ev, fixes)
        return
    if judged.verdict is DriverVerdict.MINOR_COMPAT:
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
