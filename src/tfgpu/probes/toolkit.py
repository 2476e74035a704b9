"""CUDA toolkit probe: every reachable nvcc with its version, the first `nvcc` on PATH (what `nvcc --version`
in a shell runs), cuDNN headers, and the ptxas and libdevice XLA would pick.

Failure modes, each a typed field rather than an exception: an nvcc that cannot start, hangs
(`nvcc_error` says "timed out after N s") or prints no release line; an unreadable or malformed
`version.json` (`version_json` stays None); a cuDNN header without the CUDNN_MAJOR/MINOR/PATCHLEVEL
defines (`CudnnHeader.error`); no ptxas or libdevice anywhere XLA looks (`XlaTool.path` None, with
the places searched). Nothing found at all is a valid fact (no toolkit), not a failure.

Only an ELF binary is ever run (`nvcc --version`, under a time limit): a wrapper script, an unreadable
file or anything else is read at most, and its `nvcc_error` says it was not run.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import threading
from dataclasses import replace

from tfgpu.probes import ProbeContext, probe
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.records import dataclass

#: XLA looks for libdevice here under each candidate CUDA root (xla/service/gpu/llvm_gpu_backend,
#: GetLibdeviceDir: `<root>/nvvm/libdevice`, file libdevice.10.bc).
LIBDEVICE_REL = os.path.join("nvvm", "libdevice")
LIBDEVICE_FILE = "libdevice.10.bc"
NVCC_TIMEOUT = 10.0

_RELEASE_RE = re.compile(r"release (\d+\.\d+), V(\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Toolkit:
    """One CUDA toolkit (or the pip nvidia-cuda-nvcc wheel, which has ptxas and libdevice but no nvcc)."""

    root: str
    realpath: str
    found_via: tuple[str, ...]
    nvcc: str | None
    nvcc_release: str | None  # "13.0" from "release 13.0, V13.0.88"
    nvcc_version: str | None  # "13.0.88"
    nvcc_error: str | None  # how `nvcc --version` failed, where it did
    version_json: str | None  # version.json's "cuda" version
    ptxas: str | None
    libdevice: str | None  # the nvvm/libdevice folder, where it holds libdevice.10.bc
    lib_dirs: tuple[str, ...]
    cudart: tuple[str, ...]  # libcudart.so.N files in its library folders
    wheel_version: str | None = None  # for the pip wheel: the distribution's version

    @property
    def version(self) -> str | None:
        """The most exact version known: nvcc's own, then version.json, then the wheel's."""
        return self.nvcc_version or self.version_json or self.wheel_version

    @property
    def major(self) -> int | None:
        v = self.version
        try:
            return int(v.split(".")[0]) if v else None
        except ValueError:
            return None


@dataclass(frozen=True)
class CudnnHeader:
    """cudnn_version.h (cuDNN 8+) or cudnn.h (up to 7) with the version its defines spell."""

    path: str
    version: str | None
    #: CUDNN_VERSION as that family encodes it: 8.x M*1000+m*100+p, 9.x M*10000+m*100+p
    #: (cudnn_version.h of each release; cuDNN 9 release notes, "CUDNN_VERSION encoding").
    encoded: int | None
    error: str | None = None


@dataclass(frozen=True)
class XlaTool:
    """Where XLA would find ptxas or libdevice, in its own search order."""

    path: str | None
    origin: str | None  # "XLA_FLAGS", "PATH", "/usr/local/cuda", "pip nvidia-cuda-nvcc", ...
    version: str | None  # the CUDA version of the toolkit it belongs to, where known
    searched: tuple[str, ...]


@dataclass(frozen=True)
class PathNvcc:
    """The first `nvcc` on PATH: the file `nvcc --version` in a shell runs, and what stands behind it.

    Nothing here runs a script: a wrapper is read for the binary it execs; only an ELF binary is asked."""

    path: str | None  # PATH entry + "/nvcc" as the shell finds it; None: no entry holds one the shell would run
    realpath: str | None  # `path` with its symlinks resolved
    kind: str | None  # "elf", "script" (#!), "unreadable" or "other" (neither): read from its first bytes
    runs: str | None  # the nvcc binary it runs: itself (an ELF), a script's exec target read from it; None: unknown
    root: str | None  # the folder above `runs`'s bin/, where it stands in one
    stands_in: str | None  # "cuda-toolkit", "conda-env", "pip-wheel" or "lone" (no ptxas/libdevice beside it)
    toolkit: str | None  # the realpath of the Toolkit record whose nvcc is `runs`, where there is one
    release: str | None  # from asking `runs`, where it is an ELF binary
    version: str | None
    error: str | None  # why there is no version ("a script (not run)", "timed out after 10 s", ...)
    ptxas: str | None  # an executable ptxas beside `runs`
    libdevice: str | None  # `root`/nvvm/libdevice where it holds libdevice.10.bc
    script_lines: tuple[str, ...] = ()  # a script's first lines, read and never run
    skipped: tuple[str, ...] = ()  # earlier PATH entries' nvcc the shell passes over, each with why
    later: tuple[str, ...] = ()  # executable nvccs further down PATH, hidden by this one


@dataclass(frozen=True)
class Toolkits:
    toolkits: tuple[Toolkit, ...]
    cudnn_headers: tuple[CudnnHeader, ...]
    xla_cuda_data_dir: str | None  # --xla_gpu_cuda_data_dir from XLA_FLAGS
    xla_ptxas: XlaTool
    xla_libdevice: XlaTool
    pip_nvcc_root: str | None  # site-packages/nvidia/cuda_nvcc next to TensorFlow, where present
    path_entries: tuple[str, ...] = ()
    path_nvcc: PathNvcc | None = None  # None: no nvcc anywhere on PATH


def parse_nvcc_version(text: str) -> tuple[str, str] | None:
    """'Cuda compilation tools, release 13.0, V13.0.88' -> ('13.0', '13.0.88'); also ptxas's banner."""
    m = _RELEASE_RE.search(text)
    return (m.group(1), m.group(2)) if m else None


def parse_version_json(text: str) -> str | None:
    """version.json (CUDA 11.1+): {"cuda": {"name": ..., "version": "12.5.1"}, ...}."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    cuda = data.get("cuda") if isinstance(data, dict) else None
    version = cuda.get("version") if isinstance(cuda, dict) else None
    return version if isinstance(version, str) and version else None


_DEFINE_RE = re.compile(r"^\s*#\s*define\s+CUDNN_(MAJOR|MINOR|PATCHLEVEL)\s+(\d+)", re.M)


def parse_cudnn_header(text: str) -> tuple[str, int] | None:
    """The version spelled by CUDNN_MAJOR/MINOR/PATCHLEVEL, and CUDNN_VERSION in its family's encoding."""
    parts = {k: int(v) for k, v in _DEFINE_RE.findall(text)}
    if not {"MAJOR", "MINOR", "PATCHLEVEL"} <= set(parts):
        return None
    major, minor, patch = parts["MAJOR"], parts["MINOR"], parts["PATCHLEVEL"]
    return f"{major}.{minor}.{patch}", encode_cudnn(major, minor, patch)


def encode_cudnn(major: int, minor: int, patch: int) -> int:
    """CUDNN_VERSION: 9.x and later M*10000+m*100+p; 8.x and earlier M*1000+m*100+p."""
    return major * 10000 + minor * 100 + patch if major >= 9 else major * 1000 + minor * 100 + patch


def decode_cudnn(value: int) -> str:
    """The inverse of encode_cudnn for a value cudnnGetVersion() returns (90300 -> 9.3.0, 8906 -> 8.9.6)."""
    if value >= 90000:
        return f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    return f"{value // 1000}.{value % 1000 // 100}.{value % 100}"


def _read_text(path: str, limit: int = 200_000) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _is_exe(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


_ELF_MAGIC = b"\x7fELF"

#: Why a file was not run, by its kind (see file_kind).
NOT_RUN = {
    "script": "a script (not run)",
    "unreadable": "unreadable by this user (not run)",
    "other": "neither an ELF binary nor a #! script (not run)",
}


def file_kind(path: str) -> str:
    """'elf', 'script' (a #! line), 'unreadable' or 'other', from the file's first bytes; never runs it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return "unreadable"
    if head.startswith(_ELF_MAGIC):
        return "elf"
    return "script" if head.startswith(b"#!") else "other"


_WRAPPER_TARGET = re.compile(r"(/[^\s'\"]+/bin/(?:nvcc|ptxas))\b")


def real_tool(path: str) -> str:
    """The binary behind `path`: symlinks resolved, and a small `#!/bin/sh exec /x/bin/nvcc "$@"`
    wrapper (as some images put in /usr/local/bin) read, never run, for the path it execs."""
    real = os.path.realpath(path)
    try:
        if os.path.getsize(real) <= 4096:
            with open(real, "rb") as fh:
                head = fh.read(4096)
            if head.startswith(b"#!"):
                m = _WRAPPER_TARGET.search(head.decode("utf-8", "replace"))
                if m and _is_exe(m.group(1)):
                    return os.path.realpath(m.group(1))
    except OSError:
        pass
    return real


def _candidate_roots(environ: dict[str, str], env: PythonEnv | None) -> list[tuple[str, str]]:
    """(root, how it was found) in the order a user would meet them."""
    out: list[tuple[str, str]] = []
    for entry in (environ.get("PATH") or "").split(os.pathsep):
        if entry and _is_exe(os.path.join(entry, "nvcc")):
            binary = real_tool(os.path.join(entry, "nvcc"))
            if os.path.basename(os.path.dirname(binary)) == "bin":  # a lone nvcc elsewhere has no toolkit root
                out.append((os.path.dirname(os.path.dirname(binary)), "PATH"))
    for var in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"):
        value = environ.get(var)
        if value:
            out.append((value, var))
    out.append(("/usr/local/cuda", "/usr/local/cuda"))
    for path in sorted(glob.glob("/usr/local/cuda-*")):
        out.append((path, "/usr/local/cuda-*"))
    for prefix in {environ.get("CONDA_PREFIX"), env.prefix if env is not None and env.is_conda else None} - {None}:
        # conda's cuda-nvcc puts nvcc in $PREFIX/bin and the rest under targets/<arch>
        out.append((str(prefix), "conda"))
    return out


def _lib_dirs(root: str) -> tuple[str, ...]:
    dirs: list[str] = []
    for rel in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib"), os.path.join("targets", "sbsa-linux", "lib")):
        path = os.path.join(root, rel)
        if os.path.isdir(path) and os.path.realpath(path) not in {os.path.realpath(d) for d in dirs}:
            dirs.append(path)
    return tuple(dirs)


def _cudart_files(lib_dirs: tuple[str, ...]) -> tuple[str, ...]:
    found = []
    for d in lib_dirs:
        found.extend(sorted(glob.glob(os.path.join(d, "libcudart.so.*"))))
    return tuple(found)


def _libdevice(root: str) -> str | None:
    path = os.path.join(root, LIBDEVICE_REL)
    return path if os.path.isfile(os.path.join(path, LIBDEVICE_FILE)) else None


def _nvcc_version(ctx: ProbeContext, nvcc: str) -> tuple[str | None, str | None, str | None]:
    """(release, version, error) from `nvcc --version`, under a time limit; only an ELF binary is run."""
    kind = file_kind(nvcc)
    if kind != "elf":
        return None, None, NOT_RUN[kind]
    result = ctx.run_command([nvcc, "--version"], timeout=min(NVCC_TIMEOUT, ctx.timeout), env=dict(ctx.environ))
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        return None, None, f"{result.describe()}{': ' + tail[0] if tail[0] else ''}"
    parsed = parse_nvcc_version(result.stdout)
    if parsed is None:
        return None, None, "no 'release X.Y, VX.Y.Z' line in its output"
    return parsed[0], parsed[1], None


Answer = tuple[str | None, str | None, str | None]  # (release, version, error) of one nvcc


def _ask_nvccs(ctx: ProbeContext, nvccs: list[str]) -> dict[str, Answer]:
    """`nvcc --version` of each binary (keyed by real path, each asked once), concurrently."""
    results: dict[str, Answer] = {}
    todo = list(dict.fromkeys(os.path.realpath(n) for n in nvccs))

    def ask(nvcc: str) -> None:
        results[nvcc] = _nvcc_version(ctx, nvcc)

    threads = [threading.Thread(target=ask, args=(nvcc,), daemon=True) for nvcc in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join(NVCC_TIMEOUT + 2)
    return {n: results.get(n, (None, None, "did not answer")) for n in todo}


def find_toolkits(ctx: ProbeContext, env: PythonEnv | None, pip_nvcc: tuple[str, str | None] | None) -> list[Toolkit]:
    """Every distinct toolkit (by real path), nvcc versions asked concurrently."""
    return _find_toolkits(ctx, env, pip_nvcc, ())[0]


def _find_toolkits(ctx: ProbeContext, env: PythonEnv | None, pip_nvcc: tuple[str, str | None] | None,
                   also_ask: tuple[str, ...]) -> tuple[list[Toolkit], dict[str, Answer]]:
    """The toolkits, and the answers of every nvcc asked (theirs and `also_ask`), by real path."""
    environ = dict(ctx.environ)
    seen: dict[str, dict] = {}
    order: list[str] = []
    for root, via in _candidate_roots(environ, env):
        if not os.path.isdir(root):
            continue
        real = os.path.realpath(root)
        nvcc = os.path.join(root, "bin", "nvcc")
        if not _is_exe(nvcc) and via not in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"):
            continue
        if real in seen:
            if via not in seen[real]["via"]:
                seen[real]["via"].append(via)
            continue
        seen[real] = {"root": root, "via": [via], "nvcc": nvcc if _is_exe(nvcc) else None}
        order.append(real)
    answers = _ask_nvccs(ctx, [*(seen[real]["nvcc"] for real in order if seen[real]["nvcc"]), *also_ask])
    toolkits = []
    for real in order:
        info = seen[real]
        root = info["root"]
        if info["nvcc"]:
            release, version, error = answers[os.path.realpath(info["nvcc"])]
        else:
            release, version, error = None, None, f"no nvcc in {os.path.join(root, 'bin')}"
        vj_text = _read_text(os.path.join(root, "version.json"))
        lib_dirs = _lib_dirs(root)
        ptxas = os.path.join(root, "bin", "ptxas")
        toolkits.append(Toolkit(
            root=root, realpath=real, found_via=tuple(info["via"]), nvcc=info["nvcc"], nvcc_release=release,
            nvcc_version=version, nvcc_error=error, version_json=parse_version_json(vj_text) if vj_text else None,
            ptxas=ptxas if _is_exe(ptxas) else None, libdevice=_libdevice(root), lib_dirs=lib_dirs,
            cudart=_cudart_files(lib_dirs),
        ))
    if pip_nvcc is not None:
        root, wheel_version = pip_nvcc
        ptxas = os.path.join(root, "bin", "ptxas")
        toolkits.append(Toolkit(
            root=root, realpath=os.path.realpath(root), found_via=("pip nvidia-cuda-nvcc",), nvcc=None,
            nvcc_release=None, nvcc_version=None, nvcc_error=None, version_json=None,
            ptxas=ptxas if _is_exe(ptxas) else None, libdevice=_libdevice(root), lib_dirs=(), cudart=(),
            wheel_version=wheel_version,
        ))
    return toolkits, answers


def _link_target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _nvcc_on_path(path_entries: list[str]) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(the nvcc a shell runs, the earlier ones it passes over with why, the executable ones after it)."""
    first: str | None = None
    skipped: list[str] = []
    later: list[str] = []
    for entry in dict.fromkeys(path_entries):
        cand = os.path.join(entry, "nvcc")
        if not os.path.lexists(cand):
            continue
        if first is not None:
            if _is_exe(cand):
                later.append(cand)
        elif os.path.isdir(cand):
            skipped.append(f"{cand}: a folder")
        elif not os.path.exists(cand):
            skipped.append(f"{cand}: a broken link (to {_link_target(cand)})")
        elif not _is_exe(cand):
            skipped.append(f"{cand}: not executable")
        else:
            first = cand
    return first, tuple(skipped), tuple(later)


def _script_lines(path: str, limit: int = 6) -> tuple[str, ...]:
    """A script's first non-empty lines (each cut to 200 characters): read, never run."""
    text = _read_text(path, 4096)
    lines = [ln.strip()[:200] for ln in (text or "").splitlines() if ln.strip()]
    return tuple(lines[:limit])


def _stands_in(runs: str | None, root: str | None, ptxas: str | None, libdevice: str | None) -> str | None:
    if runs is None:
        return None
    parts = os.path.normpath(runs).split(os.sep)
    if "nvidia" in parts and ({"site-packages", "dist-packages"} & set(parts)):
        return "pip-wheel"  # nvidia/cuda_nvcc/bin (CUDA 12 wheels: ptxas only) or nvidia/cu13/bin (CUDA 13)
    if root and os.path.isdir(os.path.join(root, "conda-meta")):
        return "conda-env"
    if root and ptxas and libdevice:
        return "cuda-toolkit"
    return "lone"


def inspect_path_nvcc(path_entries: list[str]) -> PathNvcc | None:
    """The first nvcc on PATH, read and never run (its version is filled in by the probe, which asks
    `runs` where that is an ELF binary). None where no PATH entry has an nvcc at all."""
    first, skipped, later = _nvcc_on_path(path_entries)
    if first is None:
        if not skipped:
            return None
        return PathNvcc(None, None, None, None, None, None, None, None, None, "no nvcc on PATH that a shell would run",
                        None, None, skipped=skipped)
    real = os.path.realpath(first)
    kind = file_kind(real)
    runs: str | None = None
    lines: tuple[str, ...] = ()
    if kind == "elf":
        runs = real
    elif kind == "script":
        lines = _script_lines(real)
        target = real_tool(first)
        runs = target if target != real else None
    folder = os.path.dirname(runs) if runs else None
    root = os.path.dirname(folder) if folder and os.path.basename(folder) == "bin" else None
    ptxas = os.path.join(folder, "ptxas") if folder else None
    ptxas = ptxas if ptxas and _is_exe(ptxas) else None
    libdevice = _libdevice(root) if root else None
    error = None if runs else NOT_RUN.get(kind, "not run")
    return PathNvcc(first, real, kind, runs, root, _stands_in(runs, root, ptxas, libdevice), None, None, None, error,
                    ptxas, libdevice, lines, skipped, later)


def _with_answer(found: PathNvcc | None, answers: dict[str, Answer], toolkits: list[Toolkit]) -> PathNvcc | None:
    """The PATH nvcc with the answer of the binary it runs and the toolkit record that binary belongs to."""
    if found is None or found.realpath is None:
        return found
    mine = {os.path.realpath(p) for p in (found.runs, found.realpath) if p}
    toolkit = next((tk.realpath for tk in toolkits if tk.nvcc and os.path.realpath(tk.nvcc) in mine), None)
    if found.runs is None:
        return replace(found, toolkit=toolkit)
    release, version, error = answers.get(os.path.realpath(found.runs), (None, None, "did not answer"))
    return replace(found, release=release, version=version, error=error, toolkit=toolkit)


def _pip_nvcc(env: PythonEnv | None, build: TFBuild | None) -> tuple[str, str | None] | None:
    """The nvidia-cuda-nvcc-cuXX wheel's folder and version: the wheel's own location, else next to
    TensorFlow (a folder without a distribution record: no version)."""
    if env is None:
        return None
    for dist in env.nvidia_wheels:
        if re.match(r"^nvidia-cuda-nvcc(-cu\d+)?$", dist.name):
            root = os.path.join(dist.location, "nvidia", "cuda_nvcc")
            if os.path.isdir(root):
                return root, dist.version
    if build is not None:
        root = os.path.normpath(os.path.join(build.package_dir, "..", "nvidia", "cuda_nvcc"))
        if os.path.isdir(root):
            return root, None
    return None


def xla_data_dir(xla_flags: str | None) -> str | None:
    """--xla_gpu_cuda_data_dir=DIR from XLA_FLAGS (the last one wins, as with absl flags)."""
    if not xla_flags:
        return None
    try:
        words = shlex.split(xla_flags)
    except ValueError:
        words = xla_flags.split()
    found = None
    for word in words:
        if word.startswith("--xla_gpu_cuda_data_dir="):
            found = word.split("=", 1)[1]
    return found


def xla_candidate_roots(data_dir: str | None, tf_package_dir: str | None) -> list[tuple[str, str]]:
    """XLA's CUDA roots in order (xla/tsl/platform/default/cuda_root_path.cc, CandidateCudaRoots):
    the --xla_gpu_cuda_data_dir folder, the build machine's TF_CUDA_TOOLKIT_PATH (absent on users'
    machines, so left out), /usr/local/cuda, then `<dir of libtensorflow_framework>/../nvidia/cuda_nvcc`
    and `/../../nvidia/cuda_nvcc` (the pip wheel)."""
    roots: list[tuple[str, str]] = []
    if data_dir:
        roots.append((data_dir, "XLA_FLAGS"))
    roots.append(("/usr/local/cuda", "/usr/local/cuda"))
    if tf_package_dir:
        for rel in ("..", os.path.join("..", "..")):
            roots.append((os.path.normpath(os.path.join(tf_package_dir, rel, "nvidia", "cuda_nvcc")), "pip nvidia-cuda-nvcc"))
    return roots


def _version_of_root(root: str, toolkits: list[Toolkit]) -> str | None:
    real = os.path.realpath(root)
    for tk in toolkits:
        if tk.realpath == real:
            return tk.version
    return None


def resolve_xla_ptxas(roots: list[tuple[str, str]], path_entries: list[str], toolkits: list[Toolkit]) -> XlaTool:
    """ptxas as XLA finds it (xla/stream_executor/cuda/cuda_asm_compiler.cc, FindCudaExecutable):
    the preferred data dir first, then PATH (PreferPtxasFromPath() is true in open-source builds),
    then the other candidate roots."""
    searched: list[str] = []
    order: list[tuple[str, str]] = []
    if roots and roots[0][1] == "XLA_FLAGS":
        order.append((os.path.join(roots[0][0], "bin", "ptxas"), "XLA_FLAGS"))
    order.extend((os.path.join(p, "ptxas"), "PATH") for p in path_entries if p)
    order.extend((os.path.join(r, "bin", "ptxas"), how) for r, how in roots if how != "XLA_FLAGS")
    for path, how in order:
        searched.append(path)
        if _is_exe(path):
            root = os.path.dirname(os.path.dirname(real_tool(path)))
            version = _version_of_root(root, toolkits)
            return XlaTool(path, how, version, tuple(searched))
    return XlaTool(None, None, None, tuple(searched))


def resolve_xla_libdevice(roots: list[tuple[str, str]], toolkits: list[Toolkit]) -> XlaTool:
    searched = []
    for root, how in roots:
        folder = os.path.join(root, LIBDEVICE_REL)
        searched.append(folder)
        if os.path.isfile(os.path.join(folder, LIBDEVICE_FILE)):
            return XlaTool(folder, how, _version_of_root(root, toolkits), tuple(searched))
    return XlaTool(None, None, None, tuple(searched))


def find_cudnn_headers(environ: dict[str, str], toolkits: list[Toolkit], env: PythonEnv | None,
                       build: TFBuild | None) -> list[CudnnHeader]:
    dirs: list[str] = []
    for tk in toolkits:
        dirs.append(os.path.join(tk.root, "include"))
    for var in ("CUDNN_PATH", "CONDA_PREFIX"):
        if environ.get(var):
            dirs.append(os.path.join(environ[var], "include"))
    dirs += ["/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/local/include"]
    if build is not None:
        dirs.append(os.path.normpath(os.path.join(build.package_dir, "..", "nvidia", "cudnn", "include")))
    headers: list[CudnnHeader] = []
    seen: set[str] = set()
    for d in dirs:
        for name in ("cudnn_version.h", "cudnn.h"):
            path = os.path.join(d, name)
            real = os.path.realpath(path)
            if real in seen or not os.path.isfile(path):
                continue
            seen.add(real)
            text = _read_text(path)
            parsed = parse_cudnn_header(text) if text is not None else None
            if parsed is None:
                if name == "cudnn.h" and any(h.path.startswith(d + os.sep) for h in headers):
                    continue  # cuDNN 8+: cudnn.h only includes cudnn_version.h, already read
                headers.append(CudnnHeader(path, None, None, "unreadable" if text is None else "no CUDNN_MAJOR/MINOR/PATCHLEVEL defines"))
                continue
            headers.append(CudnnHeader(path, parsed[0], parsed[1]))
            break  # one version per folder
    return headers


@probe("toolkit", "CUDA toolkits, cuDNN headers, XLA's ptxas and libdevice", Toolkits,
       needs=("python_env", "tf_build"), timeout=15.0)
def probe_toolkit(ctx: ProbeContext) -> Toolkits:
    env: PythonEnv | None = ctx.fact("python_env")
    build: TFBuild | None = ctx.fact("tf_build")
    environ = dict(ctx.environ)
    pip_nvcc = _pip_nvcc(env, build)
    path_entries = [p for p in (environ.get("PATH") or "").split(os.pathsep) if p]
    path_nvcc = inspect_path_nvcc(path_entries)
    also_ask = (path_nvcc.runs,) if path_nvcc is not None and path_nvcc.runs else ()
    toolkits, answers = _find_toolkits(ctx, env, pip_nvcc, also_ask)
    data_dir = xla_data_dir(environ.get("XLA_FLAGS"))
    roots = xla_candidate_roots(data_dir, build.package_dir if build is not None else None)
    return Toolkits(
        toolkits=tuple(toolkits),
        cudnn_headers=tuple(find_cudnn_headers(environ, toolkits, env, build)),
        xla_cuda_data_dir=data_dir,
        xla_ptxas=resolve_xla_ptxas(roots, path_entries, toolkits),
        xla_libdevice=resolve_xla_libdevice(roots, toolkits),
        pip_nvcc_root=pip_nvcc[0] if pip_nvcc else None,
        path_entries=tuple(path_entries),
        path_nvcc=_with_answer(path_nvcc, answers, toolkits),
    )
