"""Host probe: operating system, distribution, kernel, architecture, glibc, WSL and containers.

Reads only small files under /etc, /proc and /run and a few environment variables; nothing is
executed. Unreadable files simply leave their field empty, with the reason in `notes`.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass

from tfgpu.probes import ProbeContext, probe


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


def _read(path: str, limit: int = 65536) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


@probe("host", "Host system", HostInfo, timeout=5.0)
def probe_host(ctx: ProbeContext) -> HostInfo:
    system = platform.system()
    notes: list[str] = []
    if system != "Linux":
        mac = platform.mac_ver()[0] or None if system == "Darwin" else None
        win = platform.version() if system == "Windows" else None
        return HostInfo(system, platform.machine(), platform.release(), macos_version=mac, windows_version=win)

    osr = parse_os_release(_read("/etc/os-release") or _read("/usr/lib/os-release") or "")
    if not osr:
        notes.append("/etc/os-release unreadable")
    glibc = None
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
        glibc = glibc.split()[-1] if glibc else None
    except (ValueError, OSError, AttributeError):
        libc, ver = platform.libc_ver(sys.executable)
        glibc = ver if libc == "glibc" else None
    wsl = detect_wsl(
        _read("/proc/sys/kernel/osrelease") or "",
        _read("/proc/version") or "",
        os.path.exists("/dev/dxg"),
    )
    exists = {p: os.path.exists(p) for p in ("/.dockerenv", "/run/.containerenv")}
    container, evidence = detect_container(exists, _read("/proc/1/cgroup") or "", ctx.environ)  # type: ignore[arg-type]
    return HostInfo(
        system=system,
        machine=platform.machine(),
        kernel=platform.release(),
        distro_id=osr.get("ID"),
        distro_name=osr.get("PRETTY_NAME") or osr.get("NAME"),
        distro_version=osr.get("VERSION_ID"),
        glibc=glibc,
        wsl=wsl,
        container=container,
        container_evidence=evidence,
        notes=tuple(notes),
    )
