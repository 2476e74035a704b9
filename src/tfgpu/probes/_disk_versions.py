"""The version of a CUDA library read from what is on disk, without loading it (`doctor --fast`).

Three sources, tried in this order for the file the loader would pick:

- filename: the real file's full version, `libcudnn.so.8.9.7` behind `libcudnn.so.8` (system
  packages and toolkits name their files so; pip wheels do not).
- dist-info: the pip wheel whose RECORD lists the file, `nvidia-cudnn-cu12 9.3.0.75` -> cuDNN 9.3.0
  (the nvidia-* wheels are versioned as the library they carry).
- header: the version header installed beside it, `<lib>/../include/cudnn_version.h` (CUDNN_MAJOR,
  CUDNN_MINOR, CUDNN_PATCHLEVEL), `cuda_runtime_api.h` (CUDART_VERSION), `nccl.h`, `cublas_api.h` ...

A version is kept only where its major is the one the soname promises (`libcudnn.so.9` -> 9.x), so
that a wheel or a header of another release is never taken for the file's own. Versions are spelled
as the loaded library reports them (`tfgpu.probes.libraries._format_version`): the CUDA runtime as
major.minor, nvJitLink as major.minor, CUPTI as `API N`, the others major.minor.patch.

Nothing is executed or loaded; every read is bounded, and an unreadable file is no version, never
an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from tfgpu.probes import FactEnum
from tfgpu.records import dataclass
from tfgpu.safeio import read_head

#: Bytes read from the head of a header; the version defines sit near the top of each.
HEADER_BYTES = 96 * 1024
#: Bytes read from a wheel's RECORD (the CUDA wheels list a few dozen files).
RECORD_BYTES = 4 * 1024 * 1024


class VersionSource(FactEnum):
    """Where a library's version was read."""

    LOADED = "loaded"  # asked of the library itself, dlopen()ed in a child
    FILENAME = "filename"  # the real file's name: libcudnn.so.8.9.7
    DIST_INFO = "dist-info"  # the pip wheel that installed it: nvidia-cudnn-cu12 9.3.0.75
    HEADER = "header"  # the version header installed beside it


@dataclass(frozen=True)
class DiskVersion:
    version: str
    source: VersionSource
    detail: str  # what it was read from: a file name, "nvidia-cudnn-cu12 9.3.0.75", a header path


@dataclass(frozen=True)
class Wheel:
    """An installed distribution that may hold CUDA libraries (from the python_env probe)."""

    name: str
    version: str
    location: str  # the site-packages folder
    metadata_dir: str  # its .dist-info folder


# --- spelling ------------------------------------------------------------------------------------

#: Components kept of a full version, by library key (the loaded library's own spelling).
_PARTS = {"cudart": 2, "nvJitLink": 2}


def spell(key: str, parts: Iterable[int]) -> str | None:
    """The version as `tfgpu.probes.libraries` spells it for library `key`, from its numbers."""
    nums = list(parts)
    want = _PARTS.get(key, 3)
    if not nums:
        return None
    nums = (nums + [0] * want)[:want]
    return ".".join(str(n) for n in nums)


def soname_major(soname: str) -> int | None:
    """libcudnn.so.9 -> 9, libcudart.so.11.0 -> 11, libfoo.so -> None."""
    m = re.search(r"\.so\.(\d{1,9})(?!\d)", soname)
    return int(m.group(1)) if m else None


def _numbers(text: str) -> list[int] | None:
    # At most 9 digits a part: int() of thousands of digits raises, and no real version has them.
    return [int(p) for p in text.split(".")] if re.fullmatch(r"\d{1,9}(\.\d{1,9}){0,7}", text) else None


# --- filename ------------------------------------------------------------------------------------


def from_filename(key: str, soname: str, realpath: str) -> DiskVersion | None:
    """`libcudnn.so.8.9.7` (the file `libcudnn.so.8` points to) -> 8.9.7. The name must extend the
    soname's own stem with a version longer than the soname's (libcudart.so.11.0 is no full version)."""
    base = os.path.basename(realpath)
    stem = soname.split(".so")[0] + ".so."
    if not base.startswith(stem):
        return None
    nums = _numbers(base[len(stem):])
    own = _numbers(soname[len(stem):]) or []
    if nums is None or len(nums) < 2 or len(nums) <= len(own) or nums[0] != soname_major(soname):
        return None
    if key == "cupti":  # CUPTI's files carry the CUDA version, not the API version it reports
        return None
    version = spell(key, nums)
    return DiskVersion(version, VersionSource.FILENAME, base) if version else None


# --- dist-info -----------------------------------------------------------------------------------


class WheelIndex:
    """Which installed wheel holds a file, from the wheels' RECORD files (read once each, lazily)."""

    def __init__(self, wheels: Iterable[Wheel]) -> None:
        self.wheels = [w for w in wheels if w.metadata_dir]
        self._records: dict[str, frozenset[str] | None] = {}

    def _record(self, wheel: Wheel) -> frozenset[str] | None:
        if wheel.metadata_dir not in self._records:
            data = read_head(os.path.join(wheel.metadata_dir, "RECORD"), RECORD_BYTES)
            if data is None:
                self._records[wheel.metadata_dir] = None
            else:
                text = data.decode("utf-8", "replace")
                self._records[wheel.metadata_dir] = frozenset(
                    os.path.normpath(line.split(",", 1)[0]) for line in text.splitlines() if line.strip(","))
        return self._records[wheel.metadata_dir]

    def owner(self, path: str) -> Wheel | None:
        """The wheel whose RECORD lists `path` (as installed, not its realpath)."""
        path = os.path.normpath(os.path.abspath(path))
        candidates = []
        for wheel in self.wheels:
            loc = os.path.normpath(os.path.abspath(wheel.location)) + os.sep
            if path.startswith(loc):
                candidates.append((wheel, path[len(loc):]))
        # The wheel named for the file's folder first (nvidia/cudnn/lib -> nvidia-cudnn-cu12): one RECORD read.
        folder = path.split(os.sep)[-3].replace("_", "-").lower() if path.count(os.sep) >= 3 else ""
        candidates.sort(key=lambda c: 0 if folder and folder in c[0].name.lower() else 1)
        for wheel, rel in candidates:
            record = self._record(wheel)
            if record is not None and rel in record:
                return wheel
        return None


def from_dist_info(key: str, soname: str, path: str, index: WheelIndex) -> DiskVersion | None:
    """nvidia-cudnn-cu12 9.3.0.75 holding site-packages/nvidia/cudnn/lib/libcudnn.so.9 -> 9.3.0."""
    wheel = index.owner(path)
    if wheel is None:
        return None
    m = re.match(r"^(\d+(?:\.\d+)*)", wheel.version)
    nums = _numbers(m.group(1)) if m else None
    if not nums or nums[0] != soname_major(soname) or key == "cupti":
        # cupti: the wheel carries the CUDA version, the library reports its API version.
        return None
    version = spell(key, nums)
    return DiskVersion(version, VersionSource.DIST_INFO, f"{wheel.name} {wheel.version}") if version else None


# --- headers -------------------------------------------------------------------------------------


def _defines(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(
        r"^[ \t]*#[ \t]*define[ \t]+(\w{1,64})[ \t]+\(?(\d{1,9})\)?[ \t]*(?://.*|/\*.*)?$", text, re.M)}


def _triple(d: dict[str, int], prefix: str, minor: str = "MINOR", patch: str = "PATCH") -> list[int] | None:
    try:
        return [d[f"{prefix}MAJOR"], d[f"{prefix}{minor}"], d[f"{prefix}{patch}"]]
    except KeyError:
        return None


def _cudart(d: dict[str, int]) -> list[int] | None:
    v = d.get("CUDART_VERSION") or d.get("CUDA_VERSION")  # major*1000 + minor*10
    return [v // 1000, v % 1000 // 10] if v else None


def _curand(d: dict[str, int]) -> list[int] | None:
    v = d.get("CURAND_VERSION")  # major*1000 + minor*100 + patch, where not spelled by CURAND_VER_*
    return _triple(d, "CURAND_VER_") or ([v // 1000, v % 1000 // 100, v % 100] if v else None)


#: key -> (header names, in order, with how to read their defines). `{major}` is the soname's major.
HEADERS = {
    "cudnn": (("cudnn_version.h", "cudnn_version_v{major}.h", "cudnn.h"), lambda d: _triple(d, "CUDNN_", patch="PATCHLEVEL")),
    "cudart": (("cuda_runtime_api.h", "cuda.h"), _cudart),
    "cublas": (("cublas_api.h",), lambda d: _triple(d, "CUBLAS_VER_")),
    "cublasLt": (("cublas_api.h",), lambda d: _triple(d, "CUBLAS_VER_")),
    "cufft": (("cufft.h",), lambda d: _triple(d, "CUFFT_VER_")),
    "cusolver": (("cusolver_common.h",), lambda d: _triple(d, "CUSOLVER_VER_")),
    "cusparse": (("cusparse.h",), lambda d: _triple(d, "CUSPARSE_VER_")),
    "curand": (("curand.h",), _curand),
    "nccl": (("nccl.h",), lambda d: _triple(d, "NCCL_")),
    "cupti": (("cupti_version.h",), lambda d: [d["CUPTI_API_VERSION"]] if "CUPTI_API_VERSION" in d else None),
}


def include_dirs(lib_dir: str) -> list[str]:
    """Where the headers of a library in `lib_dir` are installed: `<lib_dir>/../include` (toolkits,
    conda, the pip wheels' nvidia/<pkg>/include), and /usr/include[/<triplet>] for /usr/lib/<triplet>."""
    lib_dir = os.path.normpath(lib_dir)
    parent = os.path.dirname(lib_dir)
    dirs = [os.path.join(parent, "include")]
    name = os.path.basename(lib_dir)
    if name.endswith("-linux-gnu") and os.path.basename(parent) == "lib":
        usr = "/usr" if parent in ("/lib", "/usr/lib") else os.path.dirname(parent)
        dirs = [os.path.join(usr, "include", name), os.path.join(usr, "include")]
    elif name in ("lib64", "lib") and parent in ("/", "/usr"):
        dirs = ["/usr/include"]
    return dirs


def _read_head(path: str) -> str | None:
    data = read_head(path, HEADER_BYTES)
    return None if data is None else data.decode("utf-8", "replace")


def from_header(key: str, soname: str, path: str, realpath: str) -> DiskVersion | None:
    """The version the header beside the library spells, where its major is the soname's."""
    spec = HEADERS.get(key)
    major = soname_major(soname)
    if spec is None or major is None:
        return None
    names, read = spec
    folders = list(dict.fromkeys(include_dirs(os.path.dirname(path)) + include_dirs(os.path.dirname(realpath))))
    for folder in folders:
        for name in names:
            header = os.path.join(folder, name.format(major=major))
            if not os.path.isfile(header):
                continue
            text = _read_head(header)
            nums = read(_defines(text)) if text is not None else None
            if not nums:
                continue
            if key == "cupti":
                return DiskVersion(f"API {nums[0]}", VersionSource.HEADER, header)
            if nums[0] != major:
                continue
            version = spell(key, nums)
            if version:
                return DiskVersion(version, VersionSource.HEADER, header)
    return None


def read_version(key: str, soname: str, path: str, realpath: str, index: WheelIndex) -> DiskVersion | None:
    """The library's version from disk: its file name, the wheel that installed it, or its header."""
    return (from_filename(key, soname, realpath) or from_dist_info(key, soname, path, index)
            or from_header(key, soname, path, realpath))
