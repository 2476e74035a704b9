"""CUDA library probe: the libraries TensorFlow will dlopen(), resolved as the dynamic loader would, then loaded in a child for their versions (or, with --fast, read from disk without loading anything).

Resolution follows ld.so(8) for a dlopen() by soname from TensorFlow's own shared objects:
DT_RPATH of the caller (only where it has no DT_RUNPATH), LD_LIBRARY_PATH, the caller's DT_RUNPATH
(`$ORIGIN` expanded: this is how TF 2.14+ finds `site-packages/nvidia/*/lib`), the ld.so.cache,
then the default folders. `$CONDA_PREFIX/lib` and the toolkits' library folders are scanned too,
but only reported as "not on the loader's path" unless one of the above names them.
Versions come from the libraries themselves: the `libs` child (`tfgpu.probes._children.libs`)
dlopen()s each winner in a child process (tfgpu's own interpreter, the user's environment, a time
limit) and calls its version functions; a child that crashes loses only the library it was loading.
With --fast nothing is loaded (`LoadStatus.NOT_LOADED`): versions come from disk
(`tfgpu.probes._disk_versions`: the real file's name, the pip wheel's dist-info, the version
header beside it), and a library that cannot load because its ELF file is foreign or a DT_NEEDED
dependency is nowhere on the loader's path is predicted as failed (`LoadResult.from_disk`). What
only a load shows (a constructor that crashes, a missing symbol) is left to the full doctor.

Failure modes: TensorFlow not probed or not a CUDA build (skipped, with the reason); a TF shared
object whose ELF header cannot be read (its path and the reason land in `notes`); an unreadable
ld.so.cache (falls back to `ldconfig -p`, then to nothing, noted); a child that cannot start, times
out or is killed by a signal (per library: `LoadResult.status` "crashed"/"timed_out"/"failed").
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
from dataclasses import field, replace
from typing import TYPE_CHECKING

from tfgpu import elf
from tfgpu.elf import DynamicInfo
from tfgpu.model import ProbeFailure, ProbeStatus
from tfgpu.probes import FactEnum, ProbeContext, _children, failure, probe
from tfgpu.probes._disk_versions import VersionSource, Wheel, WheelIndex, read_version
from tfgpu.probes.host import uname
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.probes.toolkit import decode_cudnn
from tfgpu.records import dataclass
from tfgpu.versions import major_minor, major_of

if TYPE_CHECKING:
    from tfgpu.matrix import Matrix

LD_SO_CACHE = "/etc/ld.so.cache"
CHILD_TIMEOUT = 20.0

#: The shared objects of a TensorFlow wheel whose RUNPATH governs its dlopen() calls (DsoLoader
#: lives in libtensorflow_framework; 2.x wheels up to 2.15 put the nvidia RUNPATH on the pywrap).
TF_OBJECTS = (
    "libtensorflow_framework.so.2",
    "libtensorflow_cc.so.2",
    os.path.join("python", "_pywrap_tensorflow_internal.so"),
)

#: Fallback sonames by CUDA family while the matrix lacks the release (docs/knowledge.md, "TensorFlow builds":
#: "dlopen() names": CUDA 12 builds 2.15+; CUDA 11 builds 2.5-2.14). cupti 11 follows the minor.
#: The matrix rows list only the libraries DsoLoader has a loader for (read from each wheel's
#: libtensorflow_framework); these tables follow the same facts: no curand loader in any CUDA 12
#: build, and among the CUDA 11 builds only up to 2.13 (CUDA11_CURAND_UNTIL).
SONAMES_CUDA12 = {
    "cudart": "libcudart.so.12", "cublas": "libcublas.so.12", "cublasLt": "libcublasLt.so.12",
    "cufft": "libcufft.so.11", "cusolver": "libcusolver.so.11", "cusparse": "libcusparse.so.12",
    "cupti": "libcupti.so.12", "nccl": "libnccl.so.2",
}
SONAMES_CUDA11 = {
    "cudart": "libcudart.so.11.0", "cublas": "libcublas.so.11", "cublasLt": "libcublasLt.so.11",
    "cufft": "libcufft.so.10", "curand": "libcurand.so.10", "cusolver": "libcusolver.so.11",
    "cusparse": "libcusparse.so.11",
}

#: The last release whose DsoLoader has a curand loader (GetCurandDsoHandle is gone from 2.14's
#: libtensorflow_framework, although [and-cuda] still pins nvidia-curand). Fallback table only.
CUDA11_CURAND_UNTIL = (2, 13)

#: Prefixes of the transitive needs worth resolving (NVIDIA's own libraries; libcuda.so.1 is the
#: driver, judged by the driver probe, and never needed by these at link time except cuDNN's
#: runtime-compiled engines, which cuDNN itself dlopen()s later).
_TRANSITIVE_RE = re.compile(r"^lib(nvJitLink|cublasLt|cublas|cusparse|nvrtc|cudart)\.so")

#: The driver's library as TensorFlow dlopen()s it.
LIBCUDA = "libcuda.so.1"


def is_stub(path: str) -> bool:
    """A CUDA toolkit's link-time stub (lib64/stubs/libcuda.so): no implementation, cuInit fails."""
    return "stubs" in os.path.normpath(path).split(os.sep)


#: e_machine of the libraries a process of each platform.machine() can load (ELF specification).
ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "ppc64le": 21}


class Origin(FactEnum):
    """Where a search folder (and so a library copy) comes from."""

    RPATH = "RPATH"
    LD_LIBRARY_PATH = "LD_LIBRARY_PATH"
    RUNPATH = "RUNPATH"
    CACHE = "ld.so.cache"
    DEFAULT = "default"
    CONDA = "CONDA_PREFIX"  # not on the loader's path unless another entry names it
    TOOLKIT = "toolkit"  # likewise


ORIGIN_RPATH = Origin.RPATH
ORIGIN_LD = Origin.LD_LIBRARY_PATH
ORIGIN_RUNPATH = Origin.RUNPATH
ORIGIN_CACHE = Origin.CACHE
ORIGIN_DEFAULT = Origin.DEFAULT
ORIGIN_CONDA = Origin.CONDA
ORIGIN_TOOLKIT = Origin.TOOLKIT


class LoadStatus(FactEnum):
    """What became of a library: loaded in the child, or why not."""

    LOADED = "loaded"
    FAILED = "failed"  # dlopen() failed (or, from disk, would fail: see LoadResult.from_disk)
    CRASHED = "crashed"  # loading it killed the child
    TIMED_OUT = "timed_out"
    NOT_RUN = "not_run"  # not found, or the child never reached it
    NOT_LOADED = "not_loaded"  # found, not loaded (--fast): its version, if any, is read from disk


@dataclass(frozen=True)
class SearchDir:
    """One place the loader (or tfgpu, beyond it) looks, in order."""

    path: str
    origin: Origin
    on_loader_path: bool
    exists: bool
    entry: str = ""  # as written, e.g. "$ORIGIN/../nvidia/cudnn/lib"
    source: str = ""  # the object whose RPATH/RUNPATH holds it


@dataclass(frozen=True)
class LibraryCopy:
    path: str
    realpath: str
    origin: Origin
    on_loader_path: bool
    pip_wheel: bool  # under site-packages/nvidia/<pkg>/lib


@dataclass(frozen=True)
class LoadResult:
    """What happened when the child dlopen()ed the winner (or, with --fast, what the disk says)."""

    status: LoadStatus
    error: str | None = None  # dlerror() text, or how the child ended
    signal: int | None = None
    version: str | None = None  # "9.28.0", "12.9" ...
    cudart_version: str | None = None  # the CUDA runtime it was built against (cuDNN, cublasLt)
    raw: dict[str, str] = field(default_factory=dict)
    version_source: VersionSource | None = None  # "loaded", "filename", "dist-info", "header"
    version_from: str | None = None  # what a disk version was read from: file name, wheel, header
    #: True where nothing was loaded and this result is read from the file (--fast): a NOT_LOADED
    #: library, or a FAILED one whose ELF file or DT_NEEDED dependencies rule the load out.
    from_disk: bool = False


@dataclass(frozen=True)
class LibraryStatus:
    key: str  # "cudnn"
    soname: str  # "libcudnn.so.9"
    direct: bool  # TensorFlow dlopen()s it itself (False: a transitive DT_NEEDED)
    copies: tuple[LibraryCopy, ...]
    winner: LibraryCopy | None
    expected: LibraryCopy | None  # the copy TensorFlow is meant to use (the pip wheel's, via RUNPATH)
    other_versions: tuple[str, ...]  # same library, other soname (e.g. libcudart.so.13 when .12 is wanted)
    load: LoadResult
    needed_by: tuple[str, ...] = ()

    @property
    def shadowed(self) -> bool:
        """Another copy wins over the one TensorFlow expects."""
        return self.winner is not None and self.expected is not None and self.winner.realpath != self.expected.realpath


@dataclass(frozen=True)
class Libraries:
    tf_version: str
    cuda_major: int | None
    cudnn_major: int | None
    names_from: str  # "matrix" or "build_info"
    search_path: tuple[SearchDir, ...]
    libraries: tuple[LibraryStatus, ...]
    tf_objects: tuple[str, ...]
    ld_library_path: str | None
    conda_prefix: str | None
    ld_cache: str  # how the cache was read, with its size
    child: str  # the interpreter that loaded them ("" where none did: --fast)
    notes: tuple[str, ...] = ()
    #: False with --fast: no library was loaded, versions were read from disk.
    loaded: bool = True
    #: The libcuda.so.1 the loader would find on this search path (the driver's, or a toolkit stub),
    #: and every copy of it seen; not loaded (it is the driver's, checked by the driver probes).
    libcuda: LibraryCopy | None = None
    libcuda_copies: tuple[LibraryCopy, ...] = ()

    def get(self, key: str) -> LibraryStatus | None:
        for lib in self.libraries:
            if lib.key == key:
                return lib
        return None


# --- ld.so.cache ---------------------------------------------------------------------------------

_CACHE_NEW = b"glibc-ld.so.cache1.1"
_CACHE_OLD = b"ld.so-1.7.0"
#: glibc sysdeps/generic/ldconfig.h: FLAG_ELF_LIBC6 = 3 (type), arch bits in 0xff00.
_FLAG_TYPE_MASK, _FLAG_ELF_LIBC6 = 0x00FF, 0x0003
_ARCH_FLAGS = {"x86_64": 0x0300, "aarch64": 0x0A00, "ppc64le": 0x0500}


def parse_ld_so_cache(data: bytes, machine: str | None = None) -> dict[str, list[str]]:
    """soname -> paths, in cache order, from /etc/ld.so.cache bytes (glibc's "new" format, alone or
    after the old one: sysdeps/generic/dl-cache.h, struct cache_file_new / file_entry_new).
    Entries for another architecture are left out. Raises ValueError on a file it cannot read."""
    start = data.find(_CACHE_NEW)
    if start < 0:
        raise ValueError("no glibc-ld.so.cache1.1 header")
    header = struct.Struct("<20sIIB3xI12x")  # magic+version, nlibs, len_strings, flags, extension_offset
    if len(data) < start + header.size:
        raise ValueError("truncated header")
    _magic, nlibs, _len_strings, _flags, _ext = header.unpack_from(data, start)
    entry = struct.Struct("<iIIIQ")  # flags, key, value, osversion, hwcap
    if nlibs > 1_000_000 or start + header.size + nlibs * entry.size > len(data):
        raise ValueError(f"{nlibs} entries do not fit the file")
    want = _ARCH_FLAGS.get(machine or "")
    out: dict[str, list[str]] = {}
    for i in range(nlibs):
        flags, key, value, _os, _hw = entry.unpack_from(data, start + header.size + i * entry.size)
        if flags & _FLAG_TYPE_MASK != _FLAG_ELF_LIBC6:
            continue
        if want is not None and flags & 0xFF00 != want:
            continue
        name, path = _cstr(data, start + key), _cstr(data, start + value)
        if name and path:
            out.setdefault(name, []).append(path)
    return out


def _cstr(data: bytes, offset: int) -> str:
    if offset < 0 or offset >= len(data):
        return ""
    end = data.find(b"\0", offset)
    return data[offset:end if end >= 0 else len(data)].decode("utf-8", "replace")


_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$")


def parse_ldconfig_p(text: str, machine: str | None = None) -> dict[str, list[str]]:
    """The same mapping from `ldconfig -p` output ("libfoo.so.1 (libc6,x86-64) => /path")."""
    tag = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(machine or "")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = _LDCONFIG_LINE.match(line)
        if m and (tag is None or tag in m.group(2)):
            out.setdefault(m.group(1), []).append(m.group(3))
    return out


def read_ld_cache(ctx: ProbeContext, machine: str) -> tuple[dict[str, list[str]], str]:
    try:
        with open(LD_SO_CACHE, "rb") as fh:
            data = fh.read(64 * 1024 * 1024)
        cache = parse_ld_so_cache(data, machine)
        return cache, f"{LD_SO_CACHE} ({sum(len(v) for v in cache.values())} entries)"
    except (OSError, ValueError) as exc:
        reason = f"{LD_SO_CACHE}: {exc}"
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        result = ctx.run_command([ldconfig, "-p"], timeout=min(5.0, ctx.timeout), env={"LC_ALL": "C", "PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
        if result.ok:
            cache = parse_ldconfig_p(result.stdout, machine)
            return cache, f"ldconfig -p ({sum(len(v) for v in cache.values())} entries; {reason})"
    return {}, f"unavailable ({reason}; ldconfig -p failed)"


# --- the search path ---------------------------------------------------------------------------


def default_dirs(machine: str) -> list[str]:
    """glibc's trusted system folders: the multiarch ones (Debian/Ubuntu) and lib64 (Fedora/RHEL)."""
    triplet = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(machine, f"{machine}-linux-gnu")
    return [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def expand_origin(entry: str, origin_dir: str) -> str:
    """$ORIGIN / ${ORIGIN} -> the folder of the object (ld.so(8), "Dynamic string tokens")."""
    return os.path.normpath(entry.replace("${ORIGIN}", origin_dir).replace("$ORIGIN", origin_dir))


def split_path_list(value: str | None) -> list[str]:
    """LD_LIBRARY_PATH: ':' or ';' separated; an empty element means the current folder, which a
    library search by tfgpu cannot honour meaningfully, so it is kept as '.'."""
    if value is None or value == "":
        return []
    return [p if p else "." for p in re.split(r"[:;]", value)]


def read_tf_runpaths(package_dir: str, notes: list[str]) -> tuple[list[SearchDir], list[SearchDir], list[str]]:
    """(RPATH dirs, RUNPATH dirs, objects read) of TensorFlow's own shared objects, deduplicated."""
    rpath: list[SearchDir] = []
    runpath: list[SearchDir] = []
    objects: list[str] = []
    seen: set[tuple[str, str]] = set()
    for rel in TF_OBJECTS:
        path = os.path.join(package_dir, rel)
        if not os.path.isfile(path):
            continue
        try:
            info = elf.read_dynamic(path)
        except (OSError, elf.ElfError) as exc:
            notes.append(f"could not read the ELF dynamic section of {path}: {exc}")
            continue
        objects.append(path)
        origin_dir = os.path.dirname(path)
        # DT_RPATH is only honoured when the object has no DT_RUNPATH (ld.so(8)).
        entries = [(ORIGIN_RUNPATH, e) for e in info.runpath] or [(ORIGIN_RPATH, e) for e in info.rpath]
        for kind, entry in entries:
            if not entry:
                continue
            d = expand_origin(entry, origin_dir)
            if (kind, d) in seen:
                continue
            seen.add((kind, d))
            exists = os.path.isdir(d)
            # Bazel's _solib_* and *.runfiles entries never exist in an installed wheel: drop them
            # unless they do, but keep every nvidia/tensorrt one, present or not ("where it looked").
            if not exists and "nvidia" not in entry and "tensorrt" not in entry:
                continue
            target = rpath if kind == ORIGIN_RPATH else runpath
            target.append(SearchDir(d, kind, True, exists, entry, path))
    return rpath, runpath, objects


def build_search_path(environ: dict[str, str], rpath: list[SearchDir], runpath: list[SearchDir],
                      machine: str, extra: list[tuple[str, Origin]]) -> list[SearchDir]:
    dirs: list[SearchDir] = list(rpath)
    for d in split_path_list(environ.get("LD_LIBRARY_PATH")):
        dirs.append(SearchDir(os.path.normpath(d), ORIGIN_LD, True, os.path.isdir(d), d))
    dirs.extend(runpath)
    dirs.append(SearchDir(LD_SO_CACHE, ORIGIN_CACHE, True, os.path.isfile(LD_SO_CACHE)))
    for d in default_dirs(machine):
        if os.path.isdir(d):
            dirs.append(SearchDir(d, ORIGIN_DEFAULT, True, True))
    on_path = {os.path.realpath(d.path) for d in dirs if d.origin != ORIGIN_CACHE}
    for path, how in extra:
        if os.path.isdir(path) and os.path.realpath(path) not in on_path:
            on_path.add(os.path.realpath(path))
            dirs.append(SearchDir(path, how, False, True))
    return dirs


def _is_pip_wheel_dir(path: str) -> bool:
    parts = os.path.normpath(path).split(os.sep)
    return "nvidia" in parts and ("site-packages" in parts or "dist-packages" in parts)


def resolve_library(soname: str, search: list[SearchDir], cache: dict[str, list[str]],
                    own: list[SearchDir] | None = None) -> tuple[list[LibraryCopy], LibraryCopy | None]:
    """Every copy of `soname` along `search` (and the object's own RPATH/RUNPATH `own`, placed
    where ld.so puts them), and the one that wins: the first on the loader's path."""
    copies: list[LibraryCopy] = []
    seen: set[str] = set()
    order = list(search)
    if own:
        # A transitive need is searched with the needing object's RPATH first / RUNPATH after LD_LIBRARY_PATH.
        first = [d for d in own if d.origin == ORIGIN_RPATH]
        after = [d for d in own if d.origin == ORIGIN_RUNPATH]
        ld = [d for d in search if d.origin == ORIGIN_LD]
        rest = [d for d in search if d.origin not in (ORIGIN_LD, ORIGIN_RUNPATH, ORIGIN_RPATH)]
        order = first + ld + after + rest
    for d in order:
        if d.origin == ORIGIN_CACHE:
            candidates = cache.get(soname, [])
        else:
            candidates = [os.path.join(d.path, soname)]
        for path in candidates:
            if not os.path.isfile(path):
                continue
            key = os.path.normpath(path)
            if key in seen:
                continue
            seen.add(key)
            copies.append(LibraryCopy(path, os.path.realpath(path), d.origin, d.on_loader_path,
                                      _is_pip_wheel_dir(os.path.dirname(path))))
    winner = next((c for c in copies if c.on_loader_path), None)
    return copies, winner


def _by_stem(names: list[str]) -> dict[str, list[str]]:
    """Names grouped by their library stem: "libcudart.so.12" under "libcudart.so."."""
    index: dict[str, list[str]] = {}
    for name in names:
        cut = name.find(".so.")
        if cut > 0:
            index.setdefault(name[:cut + 4], []).append(name)
    return index


def other_versions(soname: str, search: list[SearchDir], cache: dict[str, list[str]],
                   listing: dict[str, dict[str, list[str]]]) -> list[str]:
    """Files of the same library under another soname ("libcudart.so.13" when .12 is wanted).
    `listing` keeps each folder's (and the cache's) names by stem, read once for all libraries."""
    stem = soname.split(".so")[0] + ".so."
    found: list[str] = []
    if LD_SO_CACHE not in listing:
        listing[LD_SO_CACHE] = _by_stem(list(cache))
    for name in listing[LD_SO_CACHE].get(stem, ()):
        if name != soname:
            found.extend(cache[name])
    for d in search:
        if d.origin == ORIGIN_CACHE or not d.exists:
            continue
        if d.path not in listing:
            try:
                listing[d.path] = _by_stem(os.listdir(d.path))
            except OSError:
                listing[d.path] = {}
        for name in listing[d.path].get(stem, ()):
            if name != soname and re.match(r"^\d+(\.\d+)*$", name[len(stem):]):
                found.append(os.path.join(d.path, name))
    out: list[str] = []
    for p in found:
        if p not in out:
            out.append(p)
    return out[:10]


def wanted_sonames(build: TFBuild, matrix: Matrix | None) -> tuple[dict[str, str], str] | None:
    """key -> soname that this TensorFlow dlopen()s, and where the names came from: the matrix row's,
    else the CUDA family's table for build_info's CUDA major. None where neither says: no matrix row
    and no CUDA 11 or 12 version in the build record (TF 2.22.0rc0's build_info.py has only
    is_cuda_build), so guessing a family would name libraries TensorFlow never asks for."""
    row = matrix.tf_row(build.version) if matrix is not None and build.version else None
    if row is not None and row.libraries:
        listed = {k: v for k, v in row.libraries.items() if v and v not in ("-", "—") and k != "cuda"}
        if listed:
            return listed, "matrix"
    names = _fallback_sonames(build)
    return (names, "build_info") if names is not None else None


def sonames_unknown_text(distribution: str, version: str, cuda_version: str | None, build_info_path: str) -> str:
    """Why no library names could be resolved, from what the build record holds."""
    series = ".".join(version.split(".")[:2]) or "?"
    found = (f"names CUDA {cuda_version}, for which tfgpu knows no library names" if cuda_version
             else "names no CUDA version")
    return (f"{distribution} {version} is a CUDA build, but its build record ({build_info_path}) {found} and "
            f"tfgpu's matrix lists no libraries for TensorFlow {series}, so the CUDA libraries it loads are unknown and "
            "were not resolved")


def _fallback_sonames(build: TFBuild) -> dict[str, str] | None:
    """The CUDA family's table for build_info's CUDA major (11 or 12); None for any other or none."""
    major = major_of(build.cuda_version)
    if major not in (11, 12):
        return None
    cudnn_major = major_of(build.cudnn_version)
    names = dict(SONAMES_CUDA12 if major == 12 else SONAMES_CUDA11)
    if major == 11 and build.cuda_version:
        minor = build.cuda_version.split(".")[1] if "." in build.cuda_version else "0"
        names["cupti"] = f"libcupti.so.11.{minor}"
    if cudnn_major is not None:
        names["cudnn"] = f"libcudnn.so.{cudnn_major}"
    if "curand" in names and not _at_most(build.version, CUDA11_CURAND_UNTIL):
        names.pop("curand")
    return names


def _at_most(version: str, ceiling: tuple[int, int]) -> bool:
    mm = major_minor(version)
    return mm is not None and mm <= ceiling



# --- the child -----------------------------------------------------------------------------------


def _format_version(key: str, values: dict) -> tuple[str | None, str | None]:
    """(library version, cudart version) from the child's raw values."""
    def cudart(v: object) -> str | None:
        # CUDART_VERSION encoding: major*1000 + minor*10 (cuda_runtime_api.h).
        return f"{v // 1000}.{v % 1000 // 10}" if isinstance(v, int) and v > 0 else None

    if key == "cudart":
        return cudart(values.get("runtime")), cudart(values.get("runtime"))
    if key == "cudnn":
        v = values.get("version")
        return (decode_cudnn(v) if isinstance(v, int) and v > 0 else None), cudart(values.get("cudart"))
    if key == "cublasLt":
        v = values.get("version")  # CUBLAS_VER_MAJOR*10000 + MINOR*100 + PATCH
        return (f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if isinstance(v, int) and v > 0 else None), cudart(values.get("cudart"))
    if key == "nccl":
        v = values.get("version")  # NCCL_VERSION(X,Y,Z): X*10000+Y*100+Z since 2.9 (nccl.h), X*1000+Y*100+Z before
        if isinstance(v, int) and v > 0:
            return (f"{v // 10000}.{v % 10000 // 100}.{v % 100}" if v >= 20900 else f"{v // 1000}.{v % 1000 // 100}.{v % 100}"), None
        return None, None
    if key == "nvJitLink":
        v = values.get("major_minor")
        return (f"{v[0]}.{v[1]}" if isinstance(v, list) and len(v) == 2 else None), None
    if key == "cupti":
        v = values.get("api")
        return (f"API {v}" if isinstance(v, int) else None), None
    prop = values.get("property")
    if isinstance(prop, list) and len(prop) == 3:
        return ".".join(str(p) for p in prop), None
    v = values.get("version")
    if key == "curand" and isinstance(v, int):  # CURAND_VERSION: major*1000 + minor*100 + patch
        return f"{v // 1000}.{v % 1000 // 100}.{v % 100}", None
    return (str(v) if v is not None else None), None


def parse_child_lines(stdout: str) -> tuple[dict[str, dict], str | None]:
    """(results by key, the key whose BEGIN has no RESULT: the one that was loading when it ended)."""
    results: dict[str, dict] = {}
    pending: str | None = None
    for line in stdout.splitlines():
        if line.startswith("BEGIN "):
            pending = line[6:].strip()
        elif line.startswith("RESULT "):
            try:
                data = json.loads(line[7:])
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("key"), str):
                results[data["key"]] = data
                if data["key"] == pending:
                    pending = None
    return results, pending


def load_in_child(ctx: ProbeContext, todo: list[tuple[str, str]]) -> dict[str, LoadResult]:
    """dlopen each (key, path) in a child; restart past a library that crashes or hangs it."""
    out: dict[str, LoadResult] = {}
    remaining = list(todo)
    env = dict(ctx.environ)
    env.pop("PYTHONSTARTUP", None)
    budget = min(CHILD_TIMEOUT, ctx.timeout)
    for _attempt in range(len(todo) + 1):
        if not remaining:
            break
        request = json.dumps({"libraries": remaining}).encode()
        result = ctx.run_child(_children.LIBS, site=False, timeout=budget, env=env, stdin_data=request)
        budget = max(budget - result.seconds, 2.0)
        parsed, pending = parse_child_lines(result.stdout)
        for key, data in parsed.items():
            values = data.get("values") or {}
            version, cudart = _format_version(key, values)
            raw = {str(k): json.dumps(v) for k, v in values.items()}
            raw.update({f"error:{k}": str(v) for k, v in (data.get("errors") or {}).items()})
            if data.get("loaded"):
                out[key] = LoadResult(LoadStatus.LOADED, None, None, version, cudart, raw,
                                      VersionSource.LOADED if version else None)
            else:
                out[key] = LoadResult(LoadStatus.FAILED, str(data.get("error") or "dlopen failed"), None, None, None, raw)
        remaining = [(k, p) for k, p in remaining if k not in parsed]
        if result.ok or not remaining:
            continue
        if result.start_error is not None:
            for k, _p in remaining:
                out[k] = LoadResult(LoadStatus.NOT_RUN, f"the loader child could not start: {result.start_error}")
            break
        victim = pending or remaining[0][0]
        if result.timed_out:
            out[victim] = LoadResult(LoadStatus.TIMED_OUT, f"loading it did not finish within {result.seconds:.0f} s")
        elif result.signal is not None:
            out[victim] = LoadResult(LoadStatus.CRASHED, f"loading it killed the process: {result.describe()}", result.signal)
        else:
            tail = "\n".join(result.stderr.strip().splitlines()[-3:])
            out[victim] = LoadResult(LoadStatus.CRASHED, f"loading it ended the process: {result.describe()}"
                                     + (f": {tail}" if tail else ""))
        remaining = [(k, p) for k, p in remaining if k != victim]
    for k, _p in remaining:
        out.setdefault(k, LoadResult(LoadStatus.NOT_RUN, "the loader child gave up before reaching it"))
    return out


# --- without loading (--fast) ----------------------------------------------------------------------


def _read_elf(path: str, infos: dict[str, DynamicInfo | str]) -> DynamicInfo | str:
    """The dynamic section of `path` (read once per run), or why it could not be read."""
    if path not in infos:
        try:
            infos[path] = elf.read_dynamic(path)
        except (OSError, elf.ElfError) as exc:
            infos[path] = str(exc) or type(exc).__name__
    return infos[path]


def _own_dirs(info: DynamicInfo, path: str) -> list[SearchDir]:
    """An object's own DT_RUNPATH (or, without one, DT_RPATH) folders, $ORIGIN expanded."""
    own_dir = os.path.dirname(path)
    return ([SearchDir(expand_origin(e, own_dir), ORIGIN_RUNPATH, True, True, e, path) for e in info.runpath if e]
            or [SearchDir(expand_origin(e, own_dir), ORIGIN_RPATH, True, True, e, path) for e in info.rpath if e])


def missing_needs(info: DynamicInfo, path: str, search: list[SearchDir], cache: dict[str, list[str]],
                  found: dict[str, bool]) -> list[str]:
    """The DT_NEEDED entries of `path` that ld.so would find nowhere: its own RPATH/RUNPATH,
    LD_LIBRARY_PATH, the ld.so cache or the default folders. `found` remembers the needs that do not
    depend on the object's own folders (most are libc's), across libraries."""
    own = _own_dirs(info, path)
    missing = []
    for need in info.needed:
        if "/" in need:  # a path, not a name: no search
            if not os.path.isfile(need):
                missing.append(need)
            continue
        if need in cache or found.get(need):
            continue
        _copies, winner = resolve_library(need, search, cache, own)
        if winner is None:
            missing.append(need)
        elif winner.origin not in (ORIGIN_RPATH, ORIGIN_RUNPATH):
            found[need] = True
    return missing


def from_disk(key: str, soname: str, win: LibraryCopy, info: DynamicInfo | str, machine: str,
              search: list[SearchDir], cache: dict[str, list[str]], wheels: WheelIndex,
              found: dict[str, bool]) -> LoadResult:
    """What can be known of a library without loading it: a load that cannot succeed (not an ELF
    file, another machine's, a DT_NEEDED dependency nowhere on the path), else its version from disk."""
    suffix = "; read from the file, not loaded (--fast)"
    if isinstance(info, str):
        return LoadResult(LoadStatus.FAILED, f"{win.path}: invalid ELF header ({info}){suffix}", from_disk=True)
    want = ELF_MACHINES.get(machine)
    if want is not None and info.machine != want:
        return LoadResult(LoadStatus.FAILED, f"{win.path}: wrong ELF machine {info.machine} for {machine}"
                          f" (e_machine {want}){suffix}", from_disk=True)
    missing = missing_needs(info, win.path, search, cache, found)
    if missing:
        # Worded as dlopen() words it, so that the checks name the missing dependency alike.
        return LoadResult(LoadStatus.FAILED, f"{missing[0]}: cannot open shared object file: No such file or directory"
                          f" (a DT_NEEDED entry of {soname}, on no folder the loader searches"
                          + (f"; also missing: {', '.join(missing[1:])}" if missing[1:] else "") + f"){suffix}",
                          from_disk=True)
    disk = read_version(key, soname, win.path, win.realpath, wheels)
    return LoadResult(LoadStatus.NOT_LOADED, None, None, disk.version if disk else None, None, {},
                      disk.source if disk else None, disk.detail if disk else None, from_disk=True)


def _with_disk_version(result: LoadResult, key: str, soname: str, win: LibraryCopy, wheels: WheelIndex) -> LoadResult:
    """A loaded library whose version functions did not answer keeps the version on disk, labelled so."""
    if result.status is not LoadStatus.LOADED or result.version:
        return result
    disk = read_version(key, soname, win.path, win.realpath, wheels)
    return replace(result, version=disk.version, version_source=disk.source, version_from=disk.detail) if disk else result


# --- the probe -----------------------------------------------------------------------------------


def _extra_dirs(environ: dict[str, str], env: PythonEnv | None) -> list[tuple[str, Origin]]:
    extra: list[tuple[str, Origin]] = []
    prefixes = [environ.get("CONDA_PREFIX")]
    if env is not None and env.is_conda:
        prefixes.append(env.prefix)
    for prefix in prefixes:
        if prefix:
            extra.append((os.path.join(prefix, "lib"), ORIGIN_CONDA))
    roots = [environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT")] + ["/usr/local/cuda"]
    for root in roots:
        if root:
            for rel in ("lib64", "lib"):
                extra.append((os.path.join(root, rel), ORIGIN_TOOLKIT))
    return extra


def collect_libraries(ctx: ProbeContext, build: TFBuild, env: PythonEnv | None, load: bool = True) -> Libraries:
    """Resolve (and, with `load`, dlopen in a child) the libraries this TensorFlow loads. Where their
    names are unknown (see `wanted_sonames`) none are resolved and `notes` says why; the probe
    itself reports that case as skipped before getting here."""
    environ = dict(ctx.environ)
    machine = (env.machine if env is not None and env.machine else uname()[1]) or "x86_64"
    notes: list[str] = []
    matrix = ctx.get_matrix()
    wanted = wanted_sonames(build, matrix)
    if wanted is None:
        notes.append(sonames_unknown_text(build.distribution, build.version, build.cuda_version, build.build_info_path))
    names, names_from = wanted if wanted is not None else ({}, "unknown")
    row = matrix.tf_row(build.version) if matrix is not None and build.version else None
    rpath, runpath, objects = read_tf_runpaths(build.package_dir, notes)
    if not objects:
        notes.append(f"no TensorFlow shared object with a dynamic section under {build.package_dir}")
    cache, cache_desc = read_ld_cache(ctx, machine)
    search = build_search_path(environ, rpath, runpath, machine, _extra_dirs(environ, env))
    listing: dict[str, dict[str, list[str]]] = {}
    statuses: list[dict] = []
    for key, soname in names.items():
        copies, winner = resolve_library(soname, search, cache)
        expected = next((c for c in copies if c.origin == ORIGIN_RUNPATH and c.pip_wheel), None)
        statuses.append({"key": key, "soname": soname, "direct": True, "copies": copies, "winner": winner,
                         "expected": expected, "needed_by": ()})
    # Transitive NVIDIA needs of the winners (libcusparse.so.12 -> libnvJitLink.so.12), resolved
    # with the needing object's own RPATH/RUNPATH, as ld.so does for DT_NEEDED.
    known = {s["soname"] for s in statuses}
    transitive: dict[str, dict] = {}
    infos: dict[str, DynamicInfo | str] = {}  # winner path -> its dynamic section, or why it could not be read
    for s in statuses:
        win: LibraryCopy | None = s["winner"]
        if win is None:
            continue
        info = _read_elf(win.path, infos)
        if isinstance(info, str):
            notes.append(f"could not read the ELF dynamic section of {win.path}: {info}")
            continue
        own = _own_dirs(info, win.path)
        for need in info.needed:
            if need in known or not _TRANSITIVE_RE.match(need):
                continue
            if need in transitive:
                transitive[need]["needed_by"] += (s["key"],)
                continue
            copies, winner = resolve_library(need, search, cache, own)
            key = need.split(".so")[0][3:]
            transitive[need] = {"key": key, "soname": need, "direct": False, "copies": copies, "winner": winner,
                                "expected": next((c for c in copies if c.origin == ORIGIN_RUNPATH and c.pip_wheel), None),
                                "needed_by": (s["key"],)}
    statuses.extend(transitive.values())
    loads: dict[str, LoadResult] = {}
    todo = [(s["key"], s["winner"].path) for s in statuses if s["winner"] is not None]
    if load and todo:
        loads = load_in_child(ctx, todo)
    wheels = WheelIndex(Wheel(d.name, d.version, d.location, d.metadata_dir)
                        for d in (env.nvidia_wheels if env is not None else ()))
    found: dict[str, bool] = {}
    results: dict[str, LoadResult] = {}
    for s in statuses:
        win = s["winner"]
        if win is None:
            results[s["key"]] = LoadResult(LoadStatus.NOT_RUN, "not found")
        elif load:
            results[s["key"]] = _with_disk_version(
                loads.get(s["key"], LoadResult(LoadStatus.NOT_RUN, "not loaded")), s["key"], s["soname"], win, wheels)
        else:
            results[s["key"]] = from_disk(s["key"], s["soname"], win, _read_elf(win.path, infos), machine,
                                          search, cache, wheels, found)
    libcuda_copies, libcuda = resolve_library(LIBCUDA, search, cache)
    libraries = tuple(
        LibraryStatus(
            key=s["key"], soname=s["soname"], direct=s["direct"], copies=tuple(s["copies"]), winner=s["winner"],
            expected=s["expected"], other_versions=tuple(other_versions(s["soname"], search, cache, listing)),
            load=results[s["key"]], needed_by=tuple(s["needed_by"]),
        )
        for s in statuses
    )
    return Libraries(
        tf_version=build.version,
        # build_info first; the matrix row where the build record has none (2.22.0rc0 on).
        cuda_major=major_of(build.cuda_version) or (row.cuda_major if row is not None else None),
        cudnn_major=major_of(build.cudnn_version) or (major_of(row.cudnn) if row is not None else None),
        names_from=names_from,
        search_path=tuple(search),
        libraries=libraries,
        tf_objects=tuple(objects),
        ld_library_path=environ.get("LD_LIBRARY_PATH"),
        conda_prefix=environ.get("CONDA_PREFIX"),
        ld_cache=cache_desc,
        child=sys.executable if load else "",
        notes=tuple(notes),
        loaded=load,
        libcuda=libcuda,
        libcuda_copies=tuple(libcuda_copies),
    )


@probe("libraries", "CUDA libraries TensorFlow will load", Libraries, needs=("python_env", "tf_build"), timeout=30.0)
def probe_libraries(ctx: ProbeContext) -> Libraries | ProbeFailure:
    build: TFBuild | None = ctx.fact("tf_build")
    if build is None:
        return failure("libraries", ProbeStatus.SKIPPED, "TensorFlow's build could not be read, so its libraries are unknown")
    if not build.is_cuda_build:
        return failure("libraries", ProbeStatus.SKIPPED,
                       f"{build.distribution} {build.version} is not a CUDA build; it loads no CUDA libraries",
                       is_cuda_build=build.is_cuda_build)
    env: PythonEnv | None = ctx.fact("python_env")
    if env is not None and env.platform and env.platform != "linux":
        return failure("libraries", ProbeStatus.SKIPPED, f"library resolution is modelled for Linux only (target: {env.platform})")
    if wanted_sonames(build, ctx.get_matrix()) is None:
        return failure("libraries", ProbeStatus.SKIPPED,
                       sonames_unknown_text(build.distribution, build.version, build.cuda_version, build.build_info_path),
                       tf_version=build.version, cuda_version=build.cuda_version, build_info=build.build_info_path)
    # --fast loads nothing: versions come from disk (file names, wheels' dist-info, headers).
    return collect_libraries(ctx, build, env, load=not ctx.option("fast", False))
