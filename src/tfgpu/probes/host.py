"""Host probe: operating system, distribution, kernel, architecture, glibc, WSL and containers, and
what a fix command needs to fit this machine: the user (root or not), whether `sudo` is on PATH, and
the distribution's package manager.

Reads only small files under /etc, /proc and /run and a few environment variables, and looks up
names on PATH (a stat, never a run: `sudo` is never executed). Unreadable files simply leave their
field empty, with the reason in `notes`.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Callable, Mapping

from tfgpu.probes import ProbeContext, probe
from tfgpu.records import dataclass


@dataclass(frozen=True)
class HostInfo:
    system: str  # "Linux", "Windows", "Darwin"
    machine: str  # "x86_64", "aarch64", "AMD64", "arm64"
    kernel: str
    distro_id: str | None = None
    distro_name: str | None = None
    distro_version: str | None = None
    glibc: str | None = None
    wsl: str | None = None  # "wsl2", "wsl1" or None
    container: str | None = None  # "docker", "podman", "kubernetes", "lxc", "container" or None
    container_evidence: tuple[str, ...] = ()
    macos_version: str | None = None
    windows_version: str | None = None
    notes: tuple[str, ...] = ()
    #: os-release ID_LIKE ("debian", "rhel fedora"): the family a derivative belongs to.
    distro_like: str | None = None
    #: Whether tfgpu runs as root (effective uid 0); None where unknown (not POSIX).
    root: bool | None = None
    #: Whether `sudo` is on PATH (looked up, never run); None where unknown.
    sudo: bool | None = None
    #: "apt", "dnf", "zypper" or "tdnf" (from os-release, else the tools on PATH); None where unknown.
    package_manager: str | None = None
    #: This machine's host name (socket.gethostname()); None where unknown, and in reports written
    #: before it was added. `tfgpu fleet report` names a node by it.
    hostname: str | None = None
    #: The scheduler's name of this node where the environment says it (TFGPU_NODE_NAME, which a
    #: Kubernetes pod sets from spec.nodeName; else Slurm's SLURMD_NODENAME): a pod's host name is
    #: the pod's, not the node's. None elsewhere.
    node_name: str | None = None


def parse_os_release(text: str) -> dict[str, str]:
    """Parse /etc/os-release (KEY=value lines, values optionally quoted)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def detect_wsl(osrelease: str, proc_version: str, has_dxg: bool) -> str | None:
    """WSL2 kernels say "microsoft-standard-WSL2" (and expose /dev/dxg); WSL1 says "Microsoft"."""
    text = f"{osrelease} {proc_version}"
    low = text.lower()
    if "microsoft" not in low and "wsl" not in low:
        return "wsl2" if has_dxg else None
    if "wsl2" in low or has_dxg:
        return "wsl2"
    # WSL1 reports e.g. "4.4.0-19041-Microsoft" with a capital M and no "standard".
    if "Microsoft" in text and "standard" not in low:
        return "wsl1"
    return "wsl2"


def detect_container(
    exists: dict[str, bool], cgroup: str, environ: dict[str, str] | os._Environ
) -> tuple[str | None, tuple[str, ...]]:
    """Container signs, strongest first; the evidence lists every sign seen."""
    evidence: list[str] = []
    kind: str | None = None
    if environ.get("KUBERNETES_SERVICE_HOST"):
        evidence.append("KUBERNETES_SERVICE_HOST is set")
        kind = "kubernetes"
    if exists.get("/run/.containerenv"):
        evidence.append("/run/.containerenv exists")
        kind = kind or "podman"
    if exists.get("/.dockerenv"):
        evidence.append("/.dockerenv exists")
        kind = kind or "docker"
    for marker, name in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"), ("lxc", "lxc")):
        if marker in cgroup:
            evidence.append(f"/proc/1/cgroup mentions {marker}")
            kind = kind or name
    # systemd-nspawn, podman and others set `container`; keep only values we know, never the raw value.
    value = environ.get("container")
    if value:
        known = value if value in ("docker", "podman", "lxc", "systemd-nspawn", "oci", "wsl") else "other"
        evidence.append(f"container={known}")
        kind = kind or known
    return kind, tuple(evidence)


#: Package managers by distribution ID (os-release ID, then each ID_LIKE word), and their binary.
PACKAGE_MANAGERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("apt", "apt-get", ("debian", "ubuntu", "pop", "linuxmint", "raspbian", "kali", "elementary", "zorin")),
    ("dnf", "dnf", ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn", "kylin")),
    ("zypper", "zypper", ("suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed")),
    ("tdnf", "tdnf", ("azurelinux", "mariner")),
)


def package_manager_for(distro_id: str | None, distro_like: str | None = None,
                        on_path: Callable[[str], bool] | None = None) -> str | None:
    """The package manager of a distribution: by its ID, then by its ID_LIKE family, then by the
    first of apt-get, dnf, zypper, tdnf that `on_path` finds."""
    for word in [(distro_id or "").lower(), *(distro_like or "").lower().split()]:
        for name, _binary, ids in PACKAGE_MANAGERS:
            if word and word in ids:
                return name
    if on_path is not None:
        for name, binary, _ids in PACKAGE_MANAGERS:
            if on_path(binary):
                return name
    return None


def on_path(environ: Mapping[str, str]) -> Callable[[str], bool]:
    """Whether a name is an executable file on the PATH of `environ` (a lookup; nothing is run)."""
    path = environ.get("PATH") or os.defpath

    def found(name: str) -> bool:
        return shutil.which(name, path=path) is not None

    return found


def host_name() -> str | None:
    """This machine's name, or None where it fails or is empty: uname's node name, which is what
    gethostname(2) returns on Linux and macOS (without importing socket, ~10 ms of a --fast run);
    socket.gethostname() where there is no uname (Windows)."""
    try:
        uname = getattr(os, "uname", None)
        if uname is not None:
            name = uname().nodename.strip()
        else:
            import socket

            name = socket.gethostname().strip()
    except (OSError, UnicodeError):
        return None
    return name or None


def node_name(environ: Mapping[str, str]) -> str | None:
    """The scheduler's name of this node, from TFGPU_NODE_NAME or SLURMD_NODENAME; None without."""
    for key in ("TFGPU_NODE_NAME", "SLURMD_NODENAME"):
        value = (environ.get(key) or "").strip()
        if value:
            return value
    return None


def _read(path: str, limit: int = 65536) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def uname() -> tuple[str, str, str]:
    """(system, machine, kernel release): os.uname() where there is one (what platform.system(),
    machine() and release() return on POSIX, without importing platform, ~4 ms of every run)."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        u = uname()
        return u.sysname, u.machine, u.release
    import platform

    return platform.system(), platform.machine(), platform.release()


@probe("host", "Host system", HostInfo, timeout=5.0)
def probe_host(ctx: ProbeContext) -> HostInfo:
    system, machine, kernel = uname()
    notes: list[str] = []
    if system != "Linux":
        import platform

        mac = platform.mac_ver()[0] or None if system == "Darwin" else None
        win = platform.version() if system == "Windows" else None
        return HostInfo(system, machine, kernel, macos_version=mac, windows_version=win,
                        hostname=host_name(), node_name=node_name(ctx.environ))

    osr = parse_os_release(_read("/etc/os-release") or _read("/usr/lib/os-release") or "")
    if not osr:
        notes.append("/etc/os-release unreadable")
    glibc = None
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
        glibc = glibc.split()[-1] if glibc else None
    except (ValueError, OSError, AttributeError):
        import platform

        libc, ver = platform.libc_ver(sys.executable)
        glibc = ver if libc == "glibc" else None
    wsl = detect_wsl(
        _read("/proc/sys/kernel/osrelease") or "",
        _read("/proc/version") or "",
        os.path.exists("/dev/dxg"),
    )
    exists = {p: os.path.exists(p) for p in ("/.dockerenv", "/run/.containerenv")}
    container, evidence = detect_container(exists, _read("/proc/1/cgroup") or "", ctx.environ)  # type: ignore[arg-type]
    found = on_path(ctx.environ)
    geteuid = getattr(os, "geteuid", None)
    return HostInfo(
        system=system,
        machine=machine,
        kernel=kernel,
        distro_id=osr.get("ID"),
        distro_name=osr.get("PRETTY_NAME") or osr.get("NAME"),
        distro_version=osr.get("VERSION_ID"),
        glibc=glibc,
        wsl=wsl,
        container=container,
        container_evidence=evidence,
        notes=tuple(notes),
        distro_like=osr.get("ID_LIKE"),
        root=geteuid() == 0 if geteuid is not None else None,
        sudo=found("sudo"),
        package_manager=package_manager_for(osr.get("ID"), osr.get("ID_LIKE"), found),
        hostname=host_name(),
        node_name=node_name(ctx.environ),
    )
