"""Helpers the checks share: links, the target's OS and Python as the checks see them, GPU labels,
and the driver install fix. Pure: everything comes from the `CheckContext`."""

from __future__ import annotations

from tfgpu.checks import CheckContext
from tfgpu.matrix import Matrix
from tfgpu.model import Fix
from tfgpu.probes.driver import DriverInfo, GpuInfo
from tfgpu.probes.tf_build import TFBuild
from tfgpu.rules import OS, machine_os, tf_cuda
from tfgpu.versions import cc_pair

DRIVER_GUIDE = "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"
DRIVER_DOWNLOAD = "https://www.nvidia.com/Download/index.aspx"
CUDA_COMPAT = "https://docs.nvidia.com/deploy/cuda-compatibility/"
WSL_GUIDE = "https://docs.nvidia.com/cuda/wsl-user-guide/"
CONTAINER_TOOLKIT = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"
CUDA_ENV_VARS = "https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#env-vars"

#: The facts `target_os` reads: checks that call it declare them.
OS_FACTS = ("python_env", "host")


def python_of(ctx: CheckContext) -> str | None:
    """The target interpreter's path (None where it is unknown)."""
    env = ctx.python_env
    return env.executable if env is not None else None


def target_os(ctx: CheckContext, driver: DriverInfo | None = None) -> OS:
    """The target's OS: native Windows, WSL2 (from the host, or the driver probe's WSL2 signs) or Linux."""
    env = ctx.python_env
    host = ctx.host
    return machine_os(env.platform if env is not None else None, host.wsl if host is not None else None,
                      bool(driver is not None and driver.system.wsl2))


def build_cuda(ctx: CheckContext, build: TFBuild) -> str | None:
    """The CUDA the installed build was made with (build_info, else the matrix row)."""
    return tf_cuda(ctx.matrix, build.version, build.cuda_version)


def distro(ctx: CheckContext) -> str:
    host = ctx.host
    return (host.distro_id or "").lower() if host is not None else ""


def branch_for(matrix: Matrix | None, need: str | None) -> int | None:
    """The oldest driver branch still supported on the matrix's data date whose drivers reach `need`
    (the oldest supported one where `need` is None); None where the matrix lists no such branch."""
    return matrix.branch_for(need) if matrix is not None else None


def gpu_label(gpu: GpuInfo) -> str:
    return f"GPU {gpu.index} ({gpu.name or 'unknown name'})"


def gpu_cc(gpu: GpuInfo, matrix: Matrix | None) -> tuple[tuple[int, int] | None, str]:
    """The GPU's compute capability and where it came from (NVML, or the matrix by name)."""
    if gpu.cc_tuple is not None:
        return gpu.cc_tuple, "nvml"
    row = matrix.gpu_by_name(gpu.name) if matrix is not None and gpu.name else None
    cc = cc_pair(row.cc) if row is not None else None
    return (cc, "matrix") if cc else (None, "unknown")


def install_driver_fix(ctx: CheckContext, need: str | None, wsl2: bool) -> Fix:
    """How to install or upgrade the driver to at least `need` on this platform."""
    at_least = f" {need} or newer" if need else ""
    if wsl2:
        return Fix(f"Install or update the NVIDIA driver on Windows (to{at_least or ' a current one'}); never install a "
                   "Linux NVIDIA driver inside WSL2, the Windows driver provides libcuda there. Then restart WSL",
                   ("wsl --shutdown",), (DRIVER_DOWNLOAD, WSL_GUIDE))
    branch = branch_for(ctx.matrix, need)
    distro_id = distro(ctx)
    # Package names from NVIDIA's driver installation guide (Ubuntu also packages each branch itself).
    # Without a supported branch from the matrix, the packages that follow the newest driver.
    if distro_id in ("ubuntu", "pop", "linuxmint"):
        cmds: tuple[str, ...] = ((f"sudo apt-get install -y nvidia-driver-{branch}" if branch
                                  else "sudo ubuntu-drivers install"), "sudo reboot")
        how = ""
    elif distro_id == "debian":
        cmds = (f"sudo apt-get install -y cuda-drivers{f'-{branch}' if branch else ''}", "sudo reboot")
        how = " from NVIDIA's CUDA repository (add it with the cuda-keyring package first)"
    elif distro_id in ("rhel", "rocky", "almalinux", "centos", "fedora"):
        cmds = (f"sudo dnf module install -y nvidia-driver:{branch or 'latest'}-dkms", "sudo reboot")
        how = " from NVIDIA's CUDA repository"
    else:
        cmds = ()
        how = " with your distribution's packages or NVIDIA's installer"
    what = f"NVIDIA driver branch R{branch}" if branch else "a current NVIDIA driver"
    return Fix(f"Install {what}{' (' + need + ' or newer)' if need else ''}{how}", cmds, (DRIVER_GUIDE,))


def gpu_lost_fixes(index: int | None) -> tuple[Fix, ...]:
    target = f" -i {index}" if index is not None else ""
    return (
        Fix("Read the kernel log for the Xid error that took the GPU away", ("sudo dmesg | grep -i -e xid -e nvrm",)),
        Fix("Reset the GPU (nothing may be using it), or reboot", (f"sudo nvidia-smi --gpu-reset{target}", "sudo reboot")),
    )
