"""Fix commands as functions of what was found, so that every check words them the same way."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from tfgpu.model import Fix
from tfgpu.pep508 import InvalidRequirement, Requirement, normalize_name
from tfgpu.records import dataclass
from tfgpu.rules import nvidia_platform, platform_gpu_refusal, wheel_arch
from tfgpu.versions import pep440


def pip(python: str | None, *args: str) -> str:
    """`<python> -m pip ARGS`, quoted for a POSIX shell (the target's own pip, never a stray one)."""
    exe = shlex.quote(python) if python else "python"
    return " ".join([exe, "-m", "pip", *[shlex.quote(a) for a in args]])


def pinnable(version: str | None) -> str | None:
    """`version` where a requirement can pin it, else None (an unpinned requirement): a garbled
    METADATA Version ('not-a-version!!') must never become 'tensorflow==not-a-version!!.*'."""
    return version if pep440(version) is not None else None


def tf_requirement(version: str | None = None, and_cuda: bool = True) -> str:
    """'tensorflow[and-cuda]==2.21.*' style requirement for a release series, or the newest."""
    name = "tensorflow[and-cuda]" if and_cuda else "tensorflow"
    if not version:
        return name
    parsed = pep440(version)
    if parsed is not None and parsed.is_prerelease:
        return f"{name}=={version}"  # a wildcard never matches a pre-release
    parts = version.split(".")
    return f"{name}=={'.'.join(parts[:2])}.*"


def is_arm(machine: str | None) -> bool:
    """Whether a CPU name (as the host probe or the target's platform.machine() says it) is 64-bit Arm."""
    return wheel_arch(machine) == "aarch64"


def nvidia_arm_tf() -> Fix:
    """GPU TensorFlow for Linux on Arm: the TensorFlow wheels on PyPI for aarch64 are CPU builds (their
    build_info.py: is_cuda_build False; the matrix's platforms table, source tf-wheel-2.21-aarch64), so
    no pip command from PyPI gives one; NVIDIA builds it (JetPack wheels for Jetson, the NGC container)."""
    return Fix("Use NVIDIA's TensorFlow container (Grace / Arm servers) or the JetPack wheel (Jetson)",
               ("docker run --gpus all -it nvcr.io/nvidia/tensorflow:<tag>-tf2-py3",),
               ("https://docs.nvidia.com/deeplearning/frameworks/install-tf-jetson-platform/",
                "https://catalog.ngc.nvidia.com/orgs/nvidia/containers/tensorflow"))


def install_tf(python: str | None, platform: str, version: str | None = None, machine: str | None = "x86_64") -> Fix:
    """The way to get a GPU TensorFlow on this platform (and, on Linux, this CPU architecture)."""
    if platform == "win32":
        return Fix(
            "TensorFlow 2.10 was the last release with GPU support on native Windows: use WSL2 "
            "(and run tfgpu inside it), or pin 2.10 with CUDA 11.2 / cuDNN 8.1 from conda",
            ("wsl --install", pip(python, "install", "tensorflow<2.11")),
            ("https://www.tensorflow.org/install/pip#windows-wsl2",),
        )
    if platform == "darwin":
        return Fix(
            "macOS has no CUDA; TensorFlow uses the Apple GPU through the tensorflow-metal plugin",
            (pip(python, "install", "tensorflow", "tensorflow-metal"),),
            ("https://developer.apple.com/metal/tensorflow-plugin/",),
        )
    if is_arm(machine):
        return nvidia_arm_tf()
    cmd = pip(python, "install", tf_requirement(version))
    return Fix(
        "Install TensorFlow with its CUDA libraries as pip wheels (only the NVIDIA driver comes from the system)",
        (cmd,),
        ("https://www.tensorflow.org/install/pip#linux",),
    )


# --- Every install command is checked against the matrix before it is offered --------------------
#
# A fix that cannot work is worse than none (pip warns about an unknown extra and installs no CUDA
# library; conda finds no such package). `command_problems` reads a command the way a POSIX shell
# splits it and judges each `pip install` and `conda install` in it against the matrix: the
# TensorFlow series exists, `[and-cuda]` only where the release has that extra, NVIDIA's pip wheels
# only for a CUDA major some release pins them for (none for CUDA 10), conda's cudatoolkit and cudnn
# only in versions the matrix knows and the channel holds. Pure: no I/O, no registry is asked.

_PIP_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
                      "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
                      "--platform", "--python-version", "--implementation", "--abi", "--progress-bar",
                      "--only-binary", "--no-binary", "--upgrade-strategy", "--src", "--report"}
_CONDA_VALUE_OPTIONS = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--override-channels-from"}
_SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&"}
_NVIDIA_WHEEL_RE = re.compile(r"^nvidia-(?P<base>[a-z0-9-]+?)-cu(?P<major>\d+)$")


def _tokens(command: str) -> list[str] | None:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return None


def _segments(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for tok in tokens:
        if tok in _SEPARATORS or tok.startswith("$("):
            out.append([])
        else:
            out[-1].append(tok)
    return [s for s in out if s]


def _pip_args(seg: list[str]) -> list[str] | None:
    """The arguments after `pip install` (or `python -m pip install`), None if `seg` is no pip install."""
    for i, tok in enumerate(seg[:-1]):
        is_pip = tok in ("pip", "pip3") or tok.endswith(("/pip", "/pip3"))
        if tok == "-m" and seg[i + 1] == "pip":
            is_pip, i = True, i + 1
        if is_pip and i + 1 < len(seg) and seg[i + 1] == "install":
            return seg[i + 2:]
    return None


def _operands(args: list[str], value_options: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional arguments, and the values of the options that take one."""
    operands: list[str] = []
    values: dict[str, list[str]] = {}
    skip_for: str | None = None
    for arg in args:
        if skip_for is not None:
            values.setdefault(skip_for, []).append(arg)
            skip_for = None
        elif arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if name in value_options:
                if eq:
                    values.setdefault(name, []).append(value)
                else:
                    skip_for = name
        else:
            operands.append(arg)
    return operands, values


def _releases(row: Any) -> list[Version]:
    rels = getattr(row, "releases", None) or (row.release,)
    out = []
    for rel in rels:
        try:
            out.append(Version(str(rel)))
        except InvalidVersion:
            continue
    return out


def _beyond_matrix(spec: SpecifierSet, newest: Version) -> bool:
    """Whether the specifier names a version newer than the matrix knows (then it is not judged)."""
    for clause in spec:
        if clause.operator in ("==", "===", "~=", ">=", ">"):
            v = pep440(clause.version.rstrip("*").rstrip("."))
            if v is not None and v > newest:
                return True
    return False


def _tf_problems(req: Requirement, matrix: Any, platform: str | None = None) -> list[str]:
    rows = list(getattr(matrix, "tensorflow", ()) or ())
    if not rows:
        return []
    spec = req.specifier
    newest = max(Version(r.release) for r in rows)
    pre = any((v := pep440(c.version.rstrip("*").rstrip("."))) is not None and v.is_prerelease for c in spec)
    admitted = [(r, [v for v in _releases(r) if spec.contains(v, prereleases=True)]) for r in rows]
    admitted = [(r, vs) for r, vs in admitted if vs]
    if not admitted:
        if _beyond_matrix(spec, newest) or pre:
            return []
        first = min(rows, key=lambda r: Version(r.release)).series
        return [f"no TensorFlow release matches {req.name}{spec} (the matrix lists {first} to {newest})"]
    if platform and hasattr(matrix, "platform_row"):
        # No release the requirement admits uses an NVIDIA GPU there (linux-aarch64: PyPI's wheels are CPU builds).
        refusals = [platform_gpu_refusal(matrix, platform, r.series) for r, _vs in admitted]
        if all(refusals):
            return [str(refusals[0])]
    problems = []
    extras = {e.lower() for e in req.extras}
    if extras - {"and-cuda"}:
        problems.append(f"tensorflow has no extra {', '.join(sorted(extras - {'and-cuda'}))}")
    if "and-cuda" in extras and not any(getattr(r, "and_cuda", ()) for r, _vs in admitted):
        with_extra = [r.series for r in sorted(rows, key=lambda r: Version(r.release)) if getattr(r, "and_cuda", ())]
        since = f" (it exists from {with_extra[0]})" if with_extra else ""
        problems.append(f"{req.name}{spec} has no [and-cuda] extra{since}: pip would install no CUDA library")
    if normalize_name(req.name) == "tensorflow" and not extras:
        cpu_only = [all(getattr(r, "plain_tensorflow_is_cpu_only", lambda _v: False)(str(v)) for v in vs)
                    for r, vs in admitted]
        if all(cpu_only):
            problems.append(f"the plain tensorflow{spec} wheel is CPU-only; its GPU build is "
                            f"{admitted[0][0].package}")
    return problems


def _nvidia_wheel_names(matrix: Any) -> set[str]:
    names: set[str] = set()
    for row in getattr(matrix, "tensorflow", ()) or ():
        for text in getattr(row, "and_cuda", ()) or ():
            try:
                names.add(str(normalize_name(Requirement(text).name)))
            except InvalidRequirement:
                continue
    return names


def _nvidia_problems(req: Requirement, major: str, matrix: Any, cuda: str | None) -> list[str]:
    name = normalize_name(req.name)
    problems = []
    known = _nvidia_wheel_names(matrix)
    if known and name not in known:
        problems.append(f"{name} is pinned by no TensorFlow release in the matrix")
    if cuda:
        want = cuda.split(".")[0]
        if int(want) < 11:
            problems.append(f"CUDA {cuda} has no pip wheels ({name} is a CUDA {major} wheel)")
        elif want != major:
            problems.append(f"{name} is a CUDA {major} wheel, but this TensorFlow was built with CUDA {cuda}")
    if name.startswith("nvidia-cudnn-") and req.specifier.contains("99", prereleases=True):
        problems.append(f"{name}{req.specifier} has no upper bound: pip takes the newest cuDNN major")
    return problems


def _pip_problems(args: list[str], matrix: Any, cuda: str | None, platform: str | None = None) -> list[str]:
    if any(a in ("<", ">", "<<", ">>") for a in args):
        return ["an unquoted < or > in a requirement is a shell redirection"]
    operands, _values = _operands(args, _PIP_VALUE_OPTIONS)
    problems: list[str] = []
    for text in operands:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            problems.append(f"{text!r} is not a pip requirement")
            continue
        name = normalize_name(req.name)
        if name in ("tensorflow", "tensorflow-gpu"):
            problems += _tf_problems(req, matrix, platform)
        elif m := _NVIDIA_WHEEL_RE.match(name):
            problems += _nvidia_problems(req, m.group("major"), matrix, cuda)
    return problems


def _conda_problems(seg: list[str], matrix: Any, conda: Mapping[str, Mapping[str, Sequence[str]]] | None
                    ) -> list[str]:
    operands, values = _operands(seg[2:], _CONDA_VALUE_OPTIONS)
    channels = values.get("-c", []) + values.get("--channel", []) or ["defaults"]
    specs: dict[str, str | None] = {}
    ranges: dict[str, str] = {}
    for text in operands:
        m = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", text)
        if m is None:
            continue
        name, rest = m.group(1).lower(), m.group(2)
        if rest.startswith(("<", ">", "!")):
            ranges[name] = rest  # a version range, e.g. cudnn>=8.6,<9
            specs[name] = None
            continue
        pinned = rest.lstrip("=").split("=")[0]
        pinned = pinned[:-2] if pinned.endswith(".*") else pinned.rstrip("*")
        specs[name] = pinned or None
    problems: list[str] = []
    for pkg in ("cudatoolkit", "cudnn"):
        if pkg not in specs:
            continue
        version = specs[pkg]
        if conda is not None:
            held = [v for ch in channels for v in (conda.get(ch, {}).get(pkg) or ())]
            if not held:
                problems.append(f"{pkg} is not a package whose versions on {', '.join(channels)} were read")
            elif version and not any(v == version or v.startswith(version + ".") for v in held):
                problems.append(f"{', '.join(channels)} has no {pkg} {version}")
            elif pkg in ranges and not _any_in_range(held, ranges[pkg]):
                problems.append(f"{', '.join(channels)} has no {pkg}{ranges[pkg]}")
        if version and pkg == "cudatoolkit" and matrix is not None and matrix.cuda_row(version) is None:
            problems.append(f"CUDA {version} is not a CUDA release in the matrix")
        if version and pkg == "cudnn" and matrix is not None:
            rows = [r for r in getattr(matrix, "cudnn", ()) or () if r.version == version
                    or r.version.startswith(version + ".") or version.startswith(r.version.rsplit(".", 1)[0] + ".")]
            if not rows:
                problems.append(f"cuDNN {version} is not a cuDNN release in the matrix")
            elif (toolkit := specs.get("cudatoolkit")) and not any(toolkit.split(".")[0] in r.cuda for r in rows):
                problems.append(f"cuDNN {version} has no build for CUDA {toolkit} (matrix: CUDA {', '.join(rows[0].cuda)})")
    return problems


def _any_in_range(versions: Sequence[str], spec_text: str) -> bool:
    """Whether any of `versions` satisfies a conda range such as '>=8.6,<9' (an unreadable range: True)."""
    try:
        spec = SpecifierSet(spec_text)
    except InvalidSpecifier:
        return True
    for v in versions:
        try:
            if Version(v) in spec:
                return True
        except InvalidVersion:
            continue
    return False


def command_problems(command: str, matrix: Any, *, tf_version: str | None = None, cuda: str | None = None,
                     conda: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                     platform: str | None = None) -> list[str]:
    """Why `command` cannot work as a fix, judged against the matrix; empty when nothing is wrong.

    `tf_version` is the TensorFlow the fix is for (its row's CUDA applies to NVIDIA wheels), or
    `cuda` the CUDA release the fix targets; `conda` maps a channel to the versions it holds per
    package (the signature file's `conda_packages`); `platform` the matrix's name of the machine's
    platform (`tfgpu_platform`): where no PyPI TensorFlow wheel uses a GPU there (linux-aarch64), no
    `pip install tensorflow` can be a fix. Commands other than pip and conda installs are not judged."""
    tokens = _tokens(command)
    if tokens is None:
        return ["the command is not valid shell (unbalanced quotes)"]
    if cuda is None and tf_version and matrix is not None:
        row = matrix.tf_row(tf_version)
        cuda = str(row.cuda) if row is not None and getattr(row, "cuda", None) else None
    problems: list[str] = []
    for seg in _segments(tokens):
        args = _pip_args(seg)
        if args is not None:
            problems += _pip_problems(args, matrix, cuda, platform)
        elif len(seg) > 1 and seg[0] in ("conda", "mamba", "micromamba") and seg[1] in ("install", "create"):
            problems += _conda_problems(seg, matrix, conda)
    return problems


def checked_fixes(fixes: Sequence[Fix], matrix: Any, *, tf_version: str | None = None, cuda: str | None = None,
                  conda: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                  platform: str | None = None) -> tuple[Fix, ...]:
    """`fixes` without the commands that cannot work; a fix that loses every command is dropped."""
    if matrix is None:
        return tuple(fixes)
    out = []
    for fix in fixes:
        kept = tuple(c for c in fix.commands
                     if not command_problems(c, matrix, tf_version=tf_version, cuda=cuda, conda=conda,
                                             platform=platform))
        if fix.commands and not kept:
            continue
        out.append(fix if kept == fix.commands else Fix(fix.summary, kept, fix.links))
    return tuple(out)


# --- Every fix is fitted to the machine the facts describe -----------------------------------------
#
# The checks word a fix once; `fit_fixes` then fits it to the context in the facts (issue #13):
#   - in a container, a host action (a driver install, reboot, modprobe, nvidia-ctk, a GPU reset, the
#     kernel log) is said as the host's and never offered as a command to run inside the container,
#     and a fix that starts the container with GPUs also names the Kubernetes resource request;
#   - under WSL2 a Linux driver action becomes the Windows driver (never a Linux driver inside WSL2);
#   - as root no command starts with `sudo` (root without sudo on PATH: every sudo command fails);
#   - `export XLA_FLAGS=...` / `LD_LIBRARY_PATH=...` keep what the user already has;
#   - a TensorFlow version change goes into a fresh environment first (venv or conda, with the
#     target's Python), the in-place install second;
#   - no command twice in one finding, and the first fix never begins "Or ...".
# Pure: the context is read from the facts by attribute (no probe is imported), nothing is run.

DRIVER_DOWNLOAD = "https://www.nvidia.com/Download/index.aspx"
WSL_GUIDE = "https://docs.nvidia.com/cuda/wsl-user-guide/"
#: NVIDIA's device plugin exposes GPUs to pods as this extended resource (NVIDIA/k8s-device-plugin README).
K8S_GPU_RESOURCE = "nvidia.com/gpu"
K8S_GPU_REQUEST = f"resources: limits: {K8S_GPU_RESOURCE}: 1"
DOCKER_GPUS = "docker run --gpus all <image> ..."
#: Restarts WSL (run from Windows; wsl.exe also runs from inside WSL through its Windows interop).
#: From a WSL shell or from Windows: `wsl.exe` is reachable from both (WSL interop), `wsl` only from Windows.
WSL_RESTART = "wsl.exe --shutdown"
ON_HOST = "on the host, not inside this container"


@dataclass(frozen=True)
class FixContext:
    """What a fix command must fit: where it runs, who runs it, and the user's shell and Python."""

    container: str | None = None  # "docker", "podman", "kubernetes", "lxc", ... (None: not in one)
    wsl2: bool = False
    root: bool | None = None  # None: unknown
    sudo: bool | None = None  # `sudo` on PATH; None: unknown
    package_manager: str | None = None  # "apt", "dnf", "zypper", "tdnf"
    distro: str | None = None
    platform: str | None = None  # the target's sys.platform
    python: str | None = None  # the target interpreter
    python_version: str | None = None
    env_kind: str | None = None  # "conda", "venv", "system" (None: unknown)
    env_prefix: str | None = None
    tf_version: str | None = None  # the TensorFlow installed in the target, if any
    #: The relevant environment variables that are set; None where the environment was not read.
    shell: Mapping[str, str] | None = None
    machine: str | None = None  # the target's CPU architecture (platform.machine()), else the host's


def tfgpu_platform(platform: str | None, machine: str | None) -> str | None:
    """The matrix's tensorflow_platforms name (rules.nvidia_platform) for a Linux target on a CPU the
    matrix knows (linux-x86_64, linux-aarch64); None elsewhere (WSL2, Windows and macOS are judged by
    their own checks)."""
    if not (platform or "").startswith("linux") or (machine or "").lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
        return None
    return nvidia_platform("linux", machine or "")


def _usable(value: Any) -> Any:
    """A fact, or None where it is absent or its probe failed (a ProbeFailure has `probe` and `status`)."""
    return None if value is None or (hasattr(value, "status") and hasattr(value, "probe")) else value


_PM_BY_DISTRO = {**{d: "apt" for d in ("debian", "ubuntu", "pop", "linuxmint", "raspbian")},
                 **{d: "dnf" for d in ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn", "kylin")},
                 **{d: "zypper" for d in ("sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse")},
                 **{d: "tdnf" for d in ("azurelinux", "mariner")}}


def fix_context(facts: Mapping[str, Any]) -> FixContext:
    """The context the facts give (host, driver system, python_env, environment, tf_build)."""
    host = _usable(facts.get("host"))
    env = _usable(facts.get("python_env"))
    shell = _usable(facts.get("environment"))
    build = _usable(facts.get("tf_build"))
    drv = facts.get("driver")
    system: Any = getattr(drv, "system", None)
    evidence = getattr(drv, "evidence", None)
    if system is None and isinstance(evidence, dict):
        raw = evidence.get("system")
        system = raw if isinstance(raw, dict) else None

    def sys_value(name: str) -> Any:
        return system.get(name) if isinstance(system, dict) else getattr(system, name, None)

    container = getattr(host, "container", None) or sys_value("container")
    if container == "wsl":  # WSL sets container=wsl: no container runtime between the user and the GPU
        container = None
    wsl2 = getattr(host, "wsl", None) == "wsl2" or bool(sys_value("wsl2"))
    distro = (getattr(host, "distro_id", None) or "").lower() or None
    pm = getattr(host, "package_manager", None) or (_PM_BY_DISTRO.get(distro) if distro else None)
    kind = None
    if env is not None:
        kind = "conda" if getattr(env, "is_conda", False) else "venv" if getattr(env, "is_venv", False) else "system"
    tf_version = getattr(build, "version", None)
    if tf_version is None and env is not None and hasattr(env, "find"):
        dist = env.find("tensorflow")
        tf_version = getattr(dist, "version", None)
    values = getattr(shell, "values", None)
    return FixContext(
        container=container, wsl2=wsl2, root=getattr(host, "root", None), sudo=getattr(host, "sudo", None),
        package_manager=pm, distro=distro, platform=getattr(env, "platform", None),
        python=getattr(env, "executable", None), python_version=getattr(env, "version", None), env_kind=kind,
        env_prefix=getattr(env, "prefix", None), tf_version=tf_version,
        shell=dict(values) if isinstance(values, Mapping) else None,
        machine=getattr(env, "machine", None) or getattr(host, "machine", None))


# --- what a command does -------------------------------------------------------------------------

_DRIVER_PACKAGE_RE = re.compile(r"^(nvidia-driver|cuda-drivers|nvidia-open|libnvidia-compute|nvidia-dkms|kmod-nvidia|"
                                r"nvidia-kernel|nvidia-compute-G0|nvidia-gfxG0|nvidia-utils-)", re.I)
_PACKAGE_TOOLS = {"apt-get", "apt", "dnf", "yum", "zypper", "tdnf", "dpkg"}
#: Commands that act on the machine's kernel, driver or services: under a container they are the host's.
_HOST_TOOLS = {"reboot", "shutdown", "poweroff", "modprobe", "rmmod", "insmod", "dkms", "update-initramfs", "dracut",
               "mokutil", "nvidia-ctk", "systemctl", "service", "usermod", "dmesg", "ubuntu-drivers",
               "nvidia-installer", "wsl", "wsl.exe", "kill", "pkill"}
#: Commands that install or load a Linux kernel driver: never inside WSL2 (the Windows driver serves it).
_LINUX_DRIVER_TOOLS = {"modprobe", "rmmod", "insmod", "dkms", "update-initramfs", "dracut", "mokutil",
                       "ubuntu-drivers", "nvidia-installer"}
_REBOOT_TOOLS = {"reboot", "shutdown", "poweroff"}


def _words(segment: list[str]) -> list[str]:
    """A command segment without `sudo` and leading VAR=value assignments."""
    words = list(segment)
    while words and (words[0] == "sudo" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words.pop(0)
    return words


def _tool(words: list[str]) -> str:
    return words[0].rsplit("/", 1)[-1] if words else ""


def _installs_driver(words: list[str]) -> bool:
    """A package-manager command that installs, reinstalls or enables an NVIDIA kernel driver (or the
    container toolkit, a host package)."""
    if _tool(words) not in _PACKAGE_TOOLS:
        return False
    return any(_DRIVER_PACKAGE_RE.match(w) or w.startswith(("nvidia-driver:", "nvidia-container-toolkit"))
               for w in words[1:])


def _command_segments(command: str) -> list[list[str]]:
    tokens = _tokens(command)
    return _segments(tokens) if tokens is not None else []


def is_host_action(command: str) -> bool:
    """Whether `command` acts on the machine itself (kernel, driver, services, GPU reset, kernel log,
    host processes): inside a container it is the host's to run."""
    for seg in _command_segments(command):
        words = _words(seg)
        tool = _tool(words)
        if tool in _HOST_TOOLS or _installs_driver(words):
            return True
        if tool == "tee" and any(w.startswith(("/etc/modprobe.d", "/etc/modules-load.d")) for w in words[1:]):
            return True
        if tool == "nvidia-smi" and any(w in ("--gpu-reset", "-r", "-mig", "--multi-instance-gpu", "-pm",
                                              "--persistence-mode", "-e", "--ecc-config") for w in words[1:]):
            return True
    return False


def _is_package_setup(command: str) -> bool:
    """A package-manager or repository step (apt-get update, dpkg -i, adding a repository, fetching a
    keyring): on its own harmless anywhere, but part of the host's driver install where one follows."""
    for seg in _command_segments(command):
        words = _words(seg)
        tool = _tool(words)
        if tool in _PACKAGE_TOOLS or tool in ("wget", "curl", "rpm") and any("cuda" in w for w in words[1:]):
            return True
    return False


def is_linux_driver_action(command: str) -> bool:
    """Whether `command` installs, loads or rebuilds a Linux NVIDIA kernel driver."""
    for seg in _command_segments(command):
        words = _words(seg)
        tool = _tool(words)
        if tool in _LINUX_DRIVER_TOOLS or (_installs_driver(words) and not any(
                w.startswith("nvidia-container-toolkit") for w in words)):
            return True
        if tool == "tee" and any(w.startswith("/etc/modprobe.d") for w in words[1:]):
            return True
    return False


def is_reboot(command: str) -> bool:
    return any(_tool(_words(seg)) in _REBOOT_TOOLS for seg in _command_segments(command))


def uses_sudo(command: str) -> bool:
    return any(seg and seg[0] == "sudo" for seg in _command_segments(command))


_SUDO_RE = re.compile(r"(^|&&|\|\||[;|(]|\$\()(\s*)sudo\s+")


def without_sudo(command: str) -> str:
    """`command` with every `sudo ` that starts a command removed (for a user who is root)."""
    return _SUDO_RE.sub(lambda m: m.group(1) + m.group(2), command)


# --- the wording of a fix --------------------------------------------------------------------------


def _lead_lower(text: str) -> str:
    """`text` with its first word lower-cased where it is an ordinary capitalised word (never NVIDIA)."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _lead_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _split_or(summary: str) -> tuple[bool, str]:
    """(whether the summary offers an alternative, "Or ...", and the summary without that word)."""
    m = re.match(r"^Or\b[,:]?\s*", summary)
    return (True, summary[m.end():]) if m else (False, summary)


def lead_fix(fixes: Sequence[Fix]) -> tuple[Fix, ...]:
    """`fixes` whose first summary does not begin "Or ..." (nothing comes before it)."""
    out = list(fixes)
    if out:
        had_or, rest = _split_or(out[0].summary)
        if had_or and rest:
            out[0] = replace(out[0], summary=_lead_upper(rest))
    return tuple(out)


def _on_host(fix: Fix, host_cmds: Sequence[str], kept: tuple[str, ...]) -> Fix:
    """`fix` with its host commands said as the host's (in the text), the rest kept as commands."""
    had_or, core = _split_or(fix.summary)
    listed = "; ".join(host_cmds)
    if kept:
        return replace(fix, summary=f"{fix.summary}; {ON_HOST}: {listed}", commands=kept)
    if re.match(r"^on the host\b", core, re.I):
        text = f"{core} (there: {listed})"
    else:
        text = f"{ON_HOST}: {_lead_lower(core)} (there: {listed})"
    return replace(fix, summary=("Or " + _lead_lower(text)) if had_or else _lead_upper(text), commands=())


def windows_driver_fix(need: str | None = None) -> Fix:
    """Under WSL2 the driver is the Windows one: install or update it there, then restart WSL."""
    at_least = f" to {need} or newer" if need else ""
    return Fix(f"Install or update the NVIDIA driver on Windows{at_least}; never install a Linux NVIDIA driver "
               "inside WSL2, the Windows driver provides libcuda there. Then restart WSL from Windows",
               (WSL_RESTART,), (DRIVER_DOWNLOAD, WSL_GUIDE))


def _k8s_text() -> str:
    return (f"in Kubernetes, request it in the pod's container spec ({K8S_GPU_REQUEST}; NVIDIA's device plugin "
            "runs on the node)")


def _container_start_fix(container: str | None) -> Fix:
    if container == "kubernetes":
        return Fix(f"The GPU comes from the node: {_k8s_text()}", (), ())
    return Fix(f"Start the container with GPU access (from the host, with the NVIDIA Container Toolkit); "
               f"{_k8s_text()}", (DOCKER_GPUS,), ())


def _is_container_start(fix: Fix) -> bool:
    return any(re.match(r"^(docker|podman) run\b.*--gpus", c) for c in fix.commands)


# --- the user's shell variables ----------------------------------------------------------------------

_FLAG_VARS = ("XLA_FLAGS", "TF_XLA_FLAGS")
_PATH_VARS = ("LD_LIBRARY_PATH", "PATH")
_EXPORT_RE = re.compile(r"^export\s+(?P<var>XLA_FLAGS|TF_XLA_FLAGS|LD_LIBRARY_PATH|PATH)=(?P<raw>.*)$")


def _dq_inner(raw: str) -> str | None:
    """The text inside double quotes equivalent to the shell word `raw`; None for a shape not handled."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"' and '"' not in raw[1:-1].replace('\\"', ""):
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == "'" and "'" not in raw[1:-1]:
        return "".join("\\" + c if c in '"\\$`' else c for c in raw[1:-1])
    if re.fullmatch(r"[A-Za-z0-9_./:=,+@%-]+", raw):
        return raw
    return None


def keep_shell_variable(command: str, shell: Mapping[str, str] | None) -> str:
    """`export XLA_FLAGS=...` / `export LD_LIBRARY_PATH=...` that keeps what the user already has:
    flags appended to "$XLA_FLAGS", folders put before ":$LD_LIBRARY_PATH". A value that already
    carries the user's (a reference to the variable, or every flag or folder it holds) is kept."""
    m = _EXPORT_RE.match(command.strip())
    if m is None:
        return command
    var, raw = m.group("var"), m.group("raw")
    if re.search(r"\$\{?" + var + r"\b", raw):
        return command
    inner = _dq_inner(raw)
    words = _tokens(raw)
    if inner is None or not words or len(words) != 1:
        return command
    value = words[0]
    current = None if shell is None else shell.get(var)
    if shell is not None and current is None:
        return command  # not set: nothing to keep
    if var in _FLAG_VARS:
        if current is not None:
            names = {w.split("=", 1)[0] for w in value.split()}
            if all(w.split("=", 1)[0] in names for w in current.split()):
                return command
        return f'export {var}="${var} {inner}"'
    if current is None:
        return command  # unknown: a value may be the user's own with a folder taken off
    have = {p.rstrip("/") for p in current.split(":") if p}
    new = [p.rstrip("/") for p in value.split(":") if p]
    if all(p in have for p in new):
        return command  # a rewrite of the user's own value (a folder taken off)
    return f'export {var}="{inner}:${var}"'


# --- a TensorFlow version change goes into a fresh environment --------------------------------------


def _tf_target(command: str) -> tuple[str, str] | None:
    """(the requirement text, the X.Y series) of a `python -m pip install tensorflow...==X.Y...` command."""
    for seg in _command_segments(command):
        args = _pip_args(seg)
        if args is None:
            continue
        operands, _values = _operands(args, _PIP_VALUE_OPTIONS)
        for text in operands:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if normalize_name(req.name) != "tensorflow":
                continue
            pins = [c.version for c in req.specifier if c.operator in ("==", "===")]
            if len(pins) != 1:
                return None
            parts = pins[0].rstrip("*").rstrip(".").split(".")
            return (text, ".".join(parts[:2])) if len(parts) >= 2 else None
    return None


def _series(version: str | None) -> str | None:
    v = pep440(version) if version else None
    return f"{v.major}.{v.minor}" if v is not None else None


def fresh_env_commands(ctx: FixContext, requirement: str, series: str) -> tuple[str, ...] | None:
    """Commands that install `requirement` into a new environment with the target's Python (a conda env
    where the target is one, else a venv); None where the target is unknown or not POSIX."""
    if not ctx.python or ctx.platform in ("win32", "cygwin") or ctx.env_kind is None:
        return None
    name = f"tf-{series}"
    req = shlex.quote(requirement)
    if ctx.env_kind == "conda":
        py = _series(ctx.python_version)
        if py is None:
            return None
        return (f"conda create -y -n {name} python={py}", f"conda run -n {name} python -m pip install {req}")
    return (f"{shlex.quote(ctx.python)} -m venv ~/venvs/{name}", f"~/venvs/{name}/bin/python -m pip install {req}")


def _fresh_env(fix: Fix, ctx: FixContext) -> tuple[Fix, ...]:
    """A fix that changes the installed TensorFlow's release: first into a fresh environment, then
    (second) in place."""
    installed = _series(ctx.tf_version)
    if installed is None or len(fix.commands) != 1:
        return (fix,)
    target = _tf_target(fix.commands[0])
    if target is None or target[1] == installed:
        return (fix,)
    fresh = fresh_env_commands(ctx, *target)
    if fresh is None:
        return (fix,)
    name = f"tf-{target[1]}"
    where = f"a new conda environment {name}" if ctx.env_kind == "conda" else f"a new virtual environment ~/venvs/{name}"
    here = f" in {ctx.env_prefix}" if ctx.env_prefix else ""
    return (replace(fix, summary=f"{fix.summary}, in {where} (TensorFlow {ctx.tf_version}{here} stays as it is)",
                    commands=fresh),
            Fix(f"Or install TensorFlow {target[1]} in place, replacing TensorFlow {ctx.tf_version}{here}",
                fix.commands, fix.links))


# --- the pass ------------------------------------------------------------------------------------


def _need_in(summary: str) -> str | None:
    m = re.search(r"at least (\d{3}\.\d+(?:\.\d+)?)|(\d{3}\.\d+(?:\.\d+)?) or newer", summary)
    return (m.group(1) or m.group(2)) if m else None


def fit_fixes(fixes: Sequence[Fix], ctx: FixContext) -> tuple[Fix, ...]:
    """One finding's fixes fitted to `ctx` (see the comment above); the order of the checks is kept,
    except that in a container the fix that starts it with GPUs leads."""
    return lead_fix(_once(list(_fit(fixes, ctx))))


def _fit(fixes: Sequence[Fix], ctx: FixContext) -> tuple[Fix, ...]:
    out: list[Fix] = []
    for fix in fixes:
        out.extend(_fresh_env(fix, ctx))
    if ctx.wsl2:
        out = _fit_wsl2(out)
    if ctx.container:
        out = _fit_container(out, ctx.container)
    if ctx.root is True or (ctx.root is False and ctx.sudo is False):
        out = [_fit_sudo(f, ctx) for f in out]
    out = [replace(f, commands=tuple(keep_shell_variable(c, ctx.shell) for c in f.commands)) for f in out]
    return tuple(out)


def _fit_wsl2(fixes: list[Fix]) -> list[Fix]:
    out: list[Fix] = []
    for fix in fixes:
        if any(is_linux_driver_action(c) for c in fix.commands):
            had_or, _core = _split_or(fix.summary)
            win = windows_driver_fix(_need_in(fix.summary))
            if not any(f.summary == win.summary for f in out):
                out.append(replace(win, summary=("Or " + _lead_lower(win.summary)) if had_or else win.summary))
            continue
        if any(is_reboot(c) for c in fix.commands):
            fix = replace(fix, commands=tuple(WSL_RESTART if is_reboot(c) else c for c in fix.commands),
                          summary=fix.summary.replace("Reboot", "Restart WSL").replace("reboot", "restart WSL"))
        out.append(fix)
    return out


def _fit_container(fixes: list[Fix], container: str) -> list[Fix]:
    out: list[Fix] = []
    for fix in fixes:
        # Where a fix has a host step (a driver install, a reboot), the steps that serve it (adding NVIDIA's
        # repository, refreshing the package lists) are the host's too.
        if any(is_host_action(c) for c in fix.commands):
            host = [c for c in fix.commands if is_host_action(c) or _is_package_setup(c)]
        else:
            host = []
        out.append(_on_host(fix, host, tuple(c for c in fix.commands if c not in host)) if host else fix)
    start = [f for f in out if _is_container_start(f)]
    if start:
        lead = _container_start_fix(container)
        if container != "kubernetes":
            first = start[0]
            text = first.summary if "host" in first.summary else f"{first.summary} (docker run runs on the host)"
            text = text if K8S_GPU_RESOURCE in text else f"{text}; {_k8s_text()}"
            lead = replace(first, summary=text)
        # The container's own way out leads; the host's actions follow it.
        out = [lead, *[f for f in out if not _is_container_start(f)]]
    return out


def _fit_sudo(fix: Fix, ctx: FixContext) -> Fix:
    if not any(uses_sudo(c) for c in fix.commands):
        return fix
    cmds = tuple(without_sudo(c) for c in fix.commands)
    if ctx.root:
        return replace(fix, commands=cmds)
    # Not root and no sudo on PATH: the commands need root; say so rather than offer a sudo that fails.
    return replace(fix, summary=f"{fix.summary} (as root: sudo is not installed here)", commands=cmds)


def _once(fixes: list[Fix]) -> list[Fix]:
    """No command twice in one finding: a later repeat is named in its fix's text instead."""
    seen: set[str] = set()
    out: list[Fix] = []
    for fix in fixes:
        kept = tuple(c for c in fix.commands if c not in seen)
        repeated = [c for c in fix.commands if c in seen]
        seen.update(fix.commands)
        if repeated and not kept:
            out.append(replace(fix, summary=f"{fix.summary} (the commands above: {'; '.join(repeated)})",
                               commands=()))
        elif repeated:
            out.append(replace(fix, summary=f"{fix.summary}, then again (above): {'; '.join(repeated)}",
                               commands=kept))
        else:
            out.append(fix)
    return out


def fitted_fixes(fixes: Sequence[Fix], facts_context: FixContext, matrix: Any, *,
                 conda: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> tuple[Fix, ...]:
    """One finding's fixes fitted to the machine, then checked against the matrix (`checked_fixes`):
    what the check registry offers."""
    platform = tfgpu_platform(facts_context.platform, facts_context.machine)
    return lead_fix(_once(list(checked_fixes(_fit(fixes, facts_context), matrix, conda=conda, platform=platform))))
