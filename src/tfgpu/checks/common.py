"""Helpers the checks share: links, the target's OS and Python as the checks see them, GPU labels,
and the driver install fix. Pure: everything comes from the `CheckContext`."""

from __future__ import annotations

from typing import Sequence

from tfgpu.checks import CheckContext
from tfgpu.fixes import windows_driver_fix
from tfgpu.matrix import Matrix
from tfgpu.model import Fix
from tfgpu.probes.driver import DriverInfo, GpuInfo
from tfgpu.probes.tf_build import TFBuild
from tfgpu.rules import OS, machine_os, tf_cuda
from tfgpu.versions import cc_pair, major_of

DRIVER_GUIDE = "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"
CUDA_COMPAT = "https://docs.nvidia.com/deploy/cuda-compatibility/"
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


#: NVIDIA's CUDA repositories (NVIDIA Driver Installation Guide, "Network Repository Installation"):
#: the cuda-keyring package enrolls the signing key and the apt source; dnf and zypper take a .repo file.
CUDA_REPOS = "https://developer.download.nvidia.com/compute/cuda/repos"
CUDA_KEYRING = "cuda-keyring_1.1-1_all.deb"
#: Releases whose repository the index of CUDA_REPOS lists (debian10-12, rhel6-10, sles15, ...).
_DEBIAN_REPOS = ("11", "12")
#: rhel8, rhel9 and rhel10 (x86_64 and sbsa) are in the index; RHEL 8, 9 and 10 (and Rocky, Alma, Oracle)
#: run DNF 4, whose config-manager takes --add-repo (the guide's "Version locking" page lists RHEL 8/9/10 under
#: DNF 4: https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/version-locking.html).
_RHEL_REPOS = ("8", "9", "10")
#: RHEL 8/9 ship the driver as DNF module streams; RHEL 10 has none (plain packages).
_RHEL_MODULE_STREAMS = ("8", "9")
#: Fedora releases whose x86_64 repository in the index holds the driver packages (fedora40 with cuda-drivers
#: 565, fedora41 570, fedora43 595, fedora44 cuda-drivers 610: the index pages under CUDA_REPOS). The Fedora
#: sbsa repositories hold libraries and tools but no driver, so Arm Fedora gets no command.
_FEDORA_REPOS = ("40", "41", "42", "43", "44")
#: Fedora 41 switched to DNF 5 (https://fedoraproject.org/wiki/Changes/SwitchToDnf5): its config-manager adds a
#: .repo file with `addrepo --from-repofile=URL` (dnf5-config-manager(8),
#: https://github.com/rpm-software-management/dnf5/blob/main/doc/dnf5_plugins/config-manager.8.rst) and has
#: no `module` command; Fedora ships no modules from Fedora 39 on
#: (https://fedoraproject.org/wiki/Changes/RetireModularity).
_FEDORA_DNF5 = 41
_UBUNTU_LIKE = ("ubuntu", "pop", "linuxmint")
_RHEL_LIKE = ("rhel", "rocky", "almalinux", "centos", "ol")
#: The driver install commands of NVIDIA's driver installation guide, "Kernel Modules", table "Open GPU kernel
#: module installation" (https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/kernel-modules.html):
#: RHEL 8/9 family `dnf module enable nvidia-driver:open-dkms` (a branch: `nvidia-driver:<branch>-open`) then
#: `dnf install nvidia-open`; RHEL 10 family and Fedora `dnf install nvidia-open`, a branch held with dnf
#: versionlock. The open modules run on Turing and newer GPUs only (same page).
_OPEN_DRIVER = "sudo dnf install -y nvidia-open"
_TURING_NOTE = ("; these are NVIDIA's open kernel modules, for Turing and newer GPUs (older GPUs need the "
                "proprietary modules the guide describes)")


def _repo_arch(machine: str | None) -> str | None:
    """The architecture folder of NVIDIA's CUDA repositories: x86_64, or sbsa for 64-bit Arm servers."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "sbsa", "arm64": "sbsa"}.get((machine or "").lower())


def cuda_repo_commands(distro_id: str, version: str | None, machine: str | None) -> tuple[str, ...]:
    """The commands that add NVIDIA's CUDA repository on this distribution release (the keyring step of
    NVIDIA's driver installation guide as commands); () where the release or architecture has none known."""
    major = (version or "").split(".")[0]
    arch = _repo_arch(machine)
    if not major or arch is None:
        return ()
    if distro_id == "debian" and major in _DEBIAN_REPOS and arch == "x86_64":
        return (f"wget {CUDA_REPOS}/debian{major}/{arch}/{CUDA_KEYRING}", f"sudo dpkg -i {CUDA_KEYRING}",
                "sudo apt-get update")
    if distro_id in _RHEL_LIKE and major in _RHEL_REPOS:
        return (f"sudo dnf config-manager --add-repo {CUDA_REPOS}/rhel{major}/{arch}/cuda-rhel{major}.repo",)
    if distro_id == "fedora" and major in _FEDORA_REPOS and arch == "x86_64":
        repo = f"{CUDA_REPOS}/fedora{major}/{arch}/cuda-fedora{major}.repo"
        return ((f"sudo dnf config-manager addrepo --from-repofile={repo}",) if int(major) >= _FEDORA_DNF5
                else (f"sudo dnf config-manager --add-repo {repo}",))
    if distro_id == "sles" and major == "15" and arch == "x86_64":
        return (f"sudo zypper addrepo {CUDA_REPOS}/sles15/{arch}/cuda-sles15.repo",
                "sudo zypper --gpg-auto-import-keys refresh")
    return ()


#: The newest driver branch in a Fedora repository NVIDIA no longer updates (the index pages under CUDA_REPOS:
#: fedora40/x86_64 stops at cuda-drivers 565.57.01, fedora41/x86_64 at the 570 series).
_FEDORA_FROZEN = {"40": 565, "41": 570}


def _before_turing(ctx: CheckContext) -> list[str]:
    """The machine's GPUs known to be older than Turing (compute capability below 7.5), as "name (cc X.Y)":
    NVIDIA's open kernel modules (nvidia-open) do not run on them."""
    driver = ctx.driver
    out = []
    for gpu in (driver.gpus if driver is not None else ()):
        cc, _source = gpu_cc(gpu, ctx.matrix)
        if cc is not None and cc < (7, 5):
            out.append(f"{gpu.name or 'a GPU'} (compute capability {cc[0]}.{cc[1]})")
    return out


def _rpm_driver_fix(distro_id: str, version: str | None, machine: str | None, branch: int | None,
                    what: str, need: str | None = None, old_gpus: Sequence[str] = ()) -> Fix:
    """RHEL-like and Fedora: NVIDIA's repository, then the guide's install for that release's dnf. No
    install command where it would not give a driver that works: the open modules on a GPU older than
    Turing, or a Fedora repository that stops below the driver needed."""
    major = (version or "").split(".")[0]
    repo = cuda_repo_commands(distro_id, version, machine)
    if not repo:
        return Fix(f"Install {what}, from NVIDIA's CUDA repository: the driver installation guide lists the "
                   "releases it serves and their commands (none is known here for this release and architecture)",
                   (), (DRIVER_GUIDE,))
    frozen = _FEDORA_FROZEN.get(major) if distro_id == "fedora" else None
    if frozen is not None:
        needed = major_of(need)
        if needed is None or needed > frozen:
            return Fix(f"Install {what}: NVIDIA's repository for Fedora {major} stops at its R{frozen} drivers"
                       f"{', too old for this' if needed else ''}; upgrade Fedora to a release NVIDIA's repository "
                       "still serves (the driver installation guide lists them), then install the driver from it",
                       (), (DRIVER_GUIDE,))
        what = (f"an NVIDIA driver of at least {need} (NVIDIA's repository for Fedora {major} no longer changes: "
                f"its newest, R{frozen}, is what it installs)")
        branch = None
    if old_gpus:  # (whether cuda-drivers pulls the open or the proprietary modules is not known here either)
        return Fix(f"Install {what}; it needs NVIDIA's proprietary kernel modules: {', '.join(old_gpus)} is older "
                   "than Turing, and the open modules (nvidia-open) that NVIDIA's repository installs by default do "
                   "not run on it. After adding the repository, install the proprietary packages the driver "
                   "installation guide's Kernel Modules page lists for this release", repo, (DRIVER_GUIDE,))
    if distro_id != "fedora" and major in _RHEL_MODULE_STREAMS:
        stream = f"{branch}-open" if branch else "open-dkms"
        return Fix(f"Install {what}, from NVIDIA's CUDA repository (its nvidia-driver:{stream} module stream)"
                   f"{_TURING_NOTE}",
                   (*repo, f"sudo dnf module enable -y nvidia-driver:{stream}", _OPEN_DRIVER, "sudo reboot"),
                   (DRIVER_GUIDE,))
    install = "sudo dnf install -y cuda-drivers" if distro_id == "fedora" and int(major) < _FEDORA_DNF5 else _OPEN_DRIVER
    held = (f" (the newest there; to hold R{branch}, lock its packages as the guide's Version locking section "
            "shows)" if branch else "")
    return Fix(f"Install {what}, from NVIDIA's CUDA repository{held}{_TURING_NOTE if install == _OPEN_DRIVER else ''}",
               (*repo, install, "sudo reboot"), (DRIVER_GUIDE,))


def driver_target_text(branch: int | None, need: str | None) -> str:
    """What to install, said so that the branch and the minimum never read as a contradiction
    ("R580 (555.42.06 or newer)" did): the minimum first, then the branch that meets it."""
    if branch and need:
        return (f"an NVIDIA driver of at least {need}: branch R{branch} (its {branch}.xx drivers), the oldest "
                "branch NVIDIA still supports that is new enough")
    if branch:
        return f"NVIDIA driver branch R{branch} (its {branch}.xx drivers), the oldest branch NVIDIA still supports"
    return f"a current NVIDIA driver{f' (at least {need})' if need else ''}"


def install_driver_fix(ctx: CheckContext, need: str | None, wsl2: bool) -> Fix:
    """How to install or upgrade the driver to at least `need` on this platform: under WSL2 the Windows
    driver; on Linux the distribution's package manager, with NVIDIA's repository added as commands where
    the packages come from it. (In a container the registry's fix pass says it as the host's.)"""
    if wsl2:
        return windows_driver_fix(need)
    branch = branch_for(ctx.matrix, need)
    host = ctx.host
    distro_id = distro(ctx)
    like = ((host.distro_like or "") if host is not None else "").lower().split()
    version = host.distro_version if host is not None else None
    machine = host.machine if host is not None else None
    what = driver_target_text(branch, need)
    # Package names from NVIDIA's driver installation guide (Ubuntu also packages each branch itself).
    # Without a supported branch from the matrix, the packages that follow the newest driver.
    if distro_id in _UBUNTU_LIKE or (distro_id != "debian" and "ubuntu" in like):
        cmds: tuple[str, ...] = ((f"sudo apt-get install -y nvidia-driver-{branch}" if branch
                                  else "sudo ubuntu-drivers install"), "sudo reboot")
        return Fix(f"Install {what}", cmds, (DRIVER_GUIDE,))
    if distro_id == "debian":
        repo = cuda_repo_commands("debian", version, machine)
        package = f"cuda-drivers{f'-{branch}' if branch else ''}"
        if not repo:  # Debian has no cuda-drivers of its own: without NVIDIA's repository the install fails
            return Fix(f"Install {what}, from NVIDIA's CUDA repository: add it with its cuda-keyring package for your "
                       f"Debian release and architecture (the driver installation guide lists them), then install "
                       f"{package}", (), (DRIVER_GUIDE,))
        return Fix(f"Install {what}, from NVIDIA's CUDA repository (its cuda-keyring package adds it)",
                   (*repo, f"sudo apt-get install -y {package}", "sudo reboot"), (DRIVER_GUIDE,))
    if distro_id in _RHEL_LIKE or distro_id == "fedora":
        return _rpm_driver_fix(distro_id, version, machine, branch, what, need, _before_turing(ctx))
    if distro_id == "sles":
        repo = cuda_repo_commands("sles", version, machine)
        if repo and not branch:
            return Fix(f"Install {what}, from NVIDIA's CUDA repository",
                       (*repo, "sudo zypper install -y cuda-drivers", "sudo reboot"), (DRIVER_GUIDE,))
        return Fix(f"Install {what}, from NVIDIA's CUDA repository (add it, then install that branch's packages as "
                   "the driver installation guide lists them for SUSE)", repo, (DRIVER_GUIDE,))
    return Fix(f"Install {what} with your distribution's packages or NVIDIA's installer", (), (DRIVER_GUIDE,))


def gpu_lost_fixes(index: int | None) -> tuple[Fix, ...]:
    target = f" -i {index}" if index is not None else ""
    return (
        Fix("Read the kernel log for the Xid error that took the GPU away", ("sudo dmesg | grep -i -e xid -e nvrm",)),
        Fix("Reset the GPU (nothing may be using it), or reboot", (f"sudo nvidia-smi --gpu-reset{target}", "sudo reboot")),
    )


def gib_text(n_bytes: int) -> str:
    """A byte count in GiB to one decimal, without a trailing '.0' ('11.2', '80')."""
    text = f"{n_bytes / 1024**3:.1f}"
    return text[:-2] if text.endswith(".0") else text


def vram_free_text(free: int, total: int) -> str:
    """'1.9 of 80 GiB VRAM free': both amounts rounded the same way, so that free never reads as more than
    the total ('11.2 of 11 GiB' did, from one decimal against none)."""
    return f"{gib_text(min(free, total))} of {gib_text(total)} GiB VRAM free"
