"""Pure functions that turn a TensorFlow wheel (or the member files read from one) into a compat-matrix row.

Build-time code: tools/refresh_matrix.py uses it to regenerate compat_matrix.yaml. It is not part of the
installed tfgpu package (the doctor reads the matrix, never a wheel)."""

from __future__ import annotations

import email.parser
import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from tfgpu.elf import read_dynamic
from tfgpu.probes.tf_build import parse_build_info

__all__ = [
    "DSO_LOADER_MARKERS",
    "OPTIONAL_ROW_KEYS",
    "RELEASE_FACT_KEYS",
    "ROW_KEYS",
    "WheelFactsError",
    "WheelMembers",
    "and_cuda_requirements",
    "build_row",
    "cuda_config_defines",
    "cudnn_header_version",
    "dso_loaders_in",
    "full_cuda_version",
    "glibc_from_filename",
    "libraries_from_config",
    "normalize_requirement",
    "nvidia_runpath_packages",
    "parse_metadata",
    "python_versions_from_tags",
    "read_wheel_members",
    "row_from_wheel",
    "sha256_of",
    "wheel_filename_parts",
]

SOURCE_ID = "tf-wheels"
# The order rows are emitted in (compat_matrix.yaml's schema).
ROW_KEYS = ("series", "release", "package", "cpu_only_tensorflow", "requires_python", "python", "python_by_release",
            "cuda", "cuda_build_info", "cudnn", "cudnn_headers", "tested_build", "compute_capabilities", "and_cuda",
            "libraries", "nvidia_runpath", "glibc", "wheel", "sha256", "source")
# Facts about the release series that no single wheel holds: added by tools/refresh_matrix.py from
# PyPI's file lists, TensorFlow's tested-build table and the plain `tensorflow` wheels (never by build_row).
RELEASE_FACT_KEYS = frozenset({"cpu_only_tensorflow", "python_by_release", "tested_build"})
# Keys a row has only where they say something (left out of the row, and of the YAML, otherwise).
OPTIONAL_ROW_KEYS = frozenset({"cuda_build_info"}) | RELEASE_FACT_KEYS


class WheelFactsError(ValueError):
    """A wheel, or a member file read from it, that does not hold the facts a row needs."""


# --- METADATA ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    name: str | None
    version: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]


def parse_metadata(text: str) -> Metadata:
    """Name, Version, Requires-Python and every Requires-Dist line (as written) of a METADATA file."""
    msg = email.parser.HeaderParser().parsestr(text)

    def one(key: str) -> str | None:
        value = msg.get(key)
        return str(value).strip() or None if value is not None else None

    return Metadata(
        name=one("Name"),
        version=one("Version"),
        requires_python=one("Requires-Python"),
        requires_dist=tuple(str(v).strip() for v in (msg.get_all("Requires-Dist") or ())),
    )


_REQ_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*
        (?P<extras>\[[^\]]*\])?\s*
        (?:\((?P<pspec>[^)]*)\)|(?P<spec>[^;(]*))\s*
        (?:;\s*(?P<marker>.*))?$""",
    re.VERBOSE,
)
# `extra == "and-cuda"` in any quoting / name spelling (PEP 685 normalizes and_cuda to and-cuda).
_AND_CUDA = r"""extra\s*==\s*(?P<q>["'])and[-_.]cuda(?P=q)"""
_AND_CUDA_RE = re.compile(_AND_CUDA)


def normalize_requirement(line: str) -> tuple[str, str | None]:
    """Split a Requires-Dist value into (requirement, marker) with one spelling for both metadata
    styles: `pkg (==1.0) ; extra == 'x'` (Metadata 2.1 as setuptools wrote it) and `pkg==1.0; extra ==
    "x"`. Specifiers are sorted the way `packaging` prints a SpecifierSet; the marker is kept as written."""
    m = _REQ_RE.match(line)
    if not m:
        raise WheelFactsError(f"Requires-Dist {line!r} is not a requirement")
    spec_text = m.group("pspec") if m.group("pspec") is not None else (m.group("spec") or "")
    specs = sorted(s.replace(" ", "") for s in spec_text.split(",") if s.strip())
    extras = (m.group("extras") or "").replace(" ", "")
    marker = (m.group("marker") or "").strip() or None
    return f"{m.group('name')}{extras}{','.join(specs)}", marker


def _strip_outer_parens(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text  # "(a) and (b)": the first paren closes early
        text = text[1:-1].strip()
    return text


def _remove_and_cuda(marker: str) -> str | None:
    """The marker without its `extra == "and-cuda"` clause; None when nothing else is left."""
    rest = re.sub(r"\s+and\s+" + _AND_CUDA, "", marker, count=1)
    if rest == marker:
        rest = re.sub(_AND_CUDA + r"\s+and\s+", "", marker, count=1)
    if rest == marker:
        rest = _AND_CUDA_RE.sub("", marker, count=1)
    rest = _strip_outer_parens(rest)
    return rest or None


def and_cuda_requirements(requires_dist: Iterable[str]) -> list[str]:
    """The `and-cuda` extra's requirements, marker clause removed (other marker clauses kept), sorted."""
    out = []
    for line in requires_dist:
        req, marker = normalize_requirement(line)
        if marker is None or not _AND_CUDA_RE.search(marker):
            continue
        rest = _remove_and_cuda(marker)
        out.append(f"{req}; {rest}" if rest else req)
    return sorted(out)


# --- cuda_config.h / nccl_config.h / cudnn_version.h ----------------------------------------------

_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(?:[ \t]+(.*?))?[ \t]*$", re.MULTILINE)


def cuda_config_defines(text: str) -> dict[str, str]:
    """`#define NAME value` pairs of a generated config header (cuda_config.h, nccl_config.h), with
    string quotes removed. Values still holding an unexpanded template (`%{...}`) are left out."""
    out: dict[str, str] = {}
    for name, value in _DEFINE_RE.findall(text):
        value = (value or "").split("//")[0].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if "%{" in value:
            continue
        out[name] = value
    return out


def cudnn_header_version(text: str) -> str | None:
    """"MAJOR.MINOR.PATCH" from cuDNN's cudnn_version.h (or cudnn.h of cuDNN <= 7); None when the text
    is not that header (TSL ships an unrelated tsl/cuda/cudnn_version.h)."""
    d = cuda_config_defines(text)
    parts = [d.get("CUDNN_MAJOR"), d.get("CUDNN_MINOR"), d.get("CUDNN_PATCHLEVEL")]
    if not all(p is not None and p.isdigit() for p in parts):
        return None
    return ".".join(str(int(p)) for p in parts if p is not None)


def full_cuda_version(build_info_cuda: str | None, config_cuda: str | None) -> str | None:
    """The CUDA version a row records: build_info.py's `cuda_version`, unless cuda_config.h's
    TF_CUDA_VERSION says the same version more precisely. TF 1.15, 2.0 and 2.2 build_info.py say only
    "10" while their cuda_config.h says "10.0" / "10.1"; a bare major matches no `cuda:` row, so
    no driver check could be made. A TF_CUDA_VERSION that disagrees (not an extension of
    build_info's numbers) or is no more precise changes nothing."""
    if not build_info_cuda or not config_cuda:
        return build_info_cuda
    ours, theirs = build_info_cuda.split("."), config_cuda.split(".")
    if not all(p.isdigit() for p in ours + theirs):
        return build_info_cuda
    if len(theirs) > len(ours) and [int(p) for p in theirs[:len(ours)]] == [int(p) for p in ours]:
        return config_cuda
    return build_info_cuda


def _major(version: str | None) -> int | None:
    m = re.match(r"^(\d+)", version or "")
    return int(m.group(1)) if m else None


# --- which loaders DsoLoader has ----------------------------------------------------------------

#: Library key -> the name of its DsoLoader function (`tsl::internal::DsoLoader::GetCurandDsoHandle()`
#: and its CachedDsoLoader twin), whose mangled symbol names are in libtensorflow_framework.so.*
#: (every release 1.15 ... 2.21). Checked against the cached wheels: GetCublasLtDsoHandle appears
#: in 2.4 (the first CUDA 11 build), GetCurandDsoHandle is gone from 2.14 on, GetNcclDsoHandle
#: appears in 2.15 (the `dso_loaders` lists in tests/data/wheels/*/facts.json, read from the
#: wheels, record 2.12-2.21). (Literal sonames are no marker: dso_loader.cc builds them at run
#: time, and the bare "curand" string is gone from the framework library already in 2.9.)
DSO_LOADER_MARKERS: dict[str, bytes] = {
    "cudart": b"GetCudaRuntimeDsoHandle",
    "cublas": b"GetCublasDsoHandle",
    "cublasLt": b"GetCublasLtDsoHandle",
    "cufft": b"GetCufftDsoHandle",
    "curand": b"GetCurandDsoHandle",
    "cusolver": b"GetCusolverDsoHandle",
    "cusparse": b"GetCusparseDsoHandle",
    "cupti": b"GetCuptiDsoHandle",
    "cudnn": b"GetCudnnDsoHandle",
    "nccl": b"GetNcclDsoHandle",
}
_MARKER_OVERLAP = max(len(m) for m in DSO_LOADER_MARKERS.values()) - 1


def dso_loaders_in(chunks: Iterable[bytes] | bytes) -> list[str]:
    """The library keys whose DsoLoader function name occurs in a binary (the bytes of
    libtensorflow_framework.so.*, whole or as consecutive chunks), in DSO_LOADER_MARKERS order.
    Nothing is loaded or run: this is a plain byte search."""
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        chunks = [bytes(chunks)]
    todo = dict(DSO_LOADER_MARKERS)
    found: set[str] = set()
    tail = b""
    for chunk in chunks:
        if not todo:
            continue  # keep consuming: callers may be copying the stream as they scan it
        window = tail + chunk
        for key, marker in list(todo.items()):
            if marker in window:
                found.add(key)
                del todo[key]
        tail = window[-_MARKER_OVERLAP:] if _MARKER_OVERLAP else b""
    return [key for key in DSO_LOADER_MARKERS if key in found]


def libraries_from_config(cuda_defines: dict[str, str], nccl_defines: dict[str, str] | None = None,
                          dso_loaders: Iterable[str] | None = None) -> dict[str, str]:
    """The sonames TensorFlow's DsoLoader dlopen()s, built the way dso_loader.cc builds them
    (`lib<name>.so.<version>`) from the versions baked into cuda_config.h / nccl_config.h.

    `dso_loaders` (see dso_loaders_in) are the keys DsoLoader has a loader for; a key without one is
    left out even when the header names a version (cuda_config.h keeps TF_CURAND_VERSION in 2.14+,
    whose DsoLoader no longer has a curand loader). None: every key the headers give (no binary read).

    Per library, the version macro DsoLoader uses, newest first, then the older fallback:
      cudart   TF_CUDART_VERSION (2.4+: "11.0" on every CUDA 11 build) | TF_CUDA_VERSION (<= 2.3)
      cublas, cufft, curand, cusolver, cusparse   TF_<LIB>_VERSION (2.2+) | TF_CUDA_LIB_VERSION (<= 2.1)
      cublasLt TF_CUBLAS_VERSION, only for CUDA >= 11 builds (the loader appeared in 2.4; 2.2/2.3 had
               TF_CUBLAS_VERSION but no cublasLt loader)
      cupti    TF_CUPTI_VERSION (2.12+) | TF_CUDA_VERSION (libcupti.so.11.2 for 2.5-2.11, .so.10.1 ...)
      cudnn    TF_CUDNN_VERSION
      nccl     TF_NCCL_VERSION from nccl_config.h (shipped from 2.15)
    A key whose version macro is absent or empty (CPU builds) is left out.
    """
    d = cuda_defines

    def get(*keys: str) -> str | None:
        for key in keys:
            value = d.get(key)
            if value:
                return value
        return None

    def so(name: str, version: str | None) -> str | None:
        return f"lib{name}.so.{version}" if version else None

    cuda_version = get("TF_CUDA_VERSION")
    cuda_major = _major(cuda_version)
    libs: dict[str, str | None] = {
        "cudart": so("cudart", get("TF_CUDART_VERSION", "TF_CUDA_VERSION")),
        "cublas": so("cublas", get("TF_CUBLAS_VERSION", "TF_CUDA_LIB_VERSION")),
        "cublasLt": so("cublasLt", get("TF_CUBLAS_VERSION")) if cuda_major is not None and cuda_major >= 11 else None,
        "cufft": so("cufft", get("TF_CUFFT_VERSION", "TF_CUDA_LIB_VERSION")),
        "curand": so("curand", get("TF_CURAND_VERSION", "TF_CUDA_LIB_VERSION")),
        "cusolver": so("cusolver", get("TF_CUSOLVER_VERSION", "TF_CUDA_LIB_VERSION")),
        "cusparse": so("cusparse", get("TF_CUSPARSE_VERSION", "TF_CUDA_LIB_VERSION")),
        "cupti": so("cupti", get("TF_CUPTI_VERSION", "TF_CUDA_VERSION")),
        "cudnn": so("cudnn", get("TF_CUDNN_VERSION")),
        "nccl": so("nccl", (nccl_defines or {}).get("TF_NCCL_VERSION") or None),
    }
    loaders = None if dso_loaders is None else set(dso_loaders)
    return {k: v for k, v in libs.items() if v and (loaders is None or k in loaders)}


def compute_capabilities_from_config(cuda_defines: dict[str, str]) -> list[str] | None:
    """The capability list of old cuda_config.h files (`TF_CUDA_CAPABILITIES CudaVersion("3.5"), ...`,
    TF 1.15-2.1) or newer ones (`TF_CUDA_COMPUTE_CAPABILITIES 35, 50, ...`), as written."""
    old = cuda_defines.get("TF_CUDA_CAPABILITIES")
    if old:
        found = re.findall(r'CudaVersion\("([^"]+)"\)', old)
        if found:
            return found
    new = cuda_defines.get("TF_CUDA_COMPUTE_CAPABILITIES")
    if new:
        return [c.strip() for c in new.split(",") if c.strip()]
    return None


# --- RUNPATH, filename, python tags ----------------------------------------------------------------

_NVIDIA_DIR_RE = re.compile(r"^\$(?:ORIGIN|\{ORIGIN\})/(?:\.\./)+nvidia/([^/]+)/lib/?$")


def nvidia_runpath_packages(search_path: Iterable[str]) -> list[str]:
    """<pkg> of every `$ORIGIN/../nvidia/<pkg>/lib` (or `$ORIGIN/../../nvidia/<pkg>/lib`) entry, sorted."""
    return sorted({m.group(1) for entry in search_path if (m := _NVIDIA_DIR_RE.match(entry.strip()))})


@dataclass(frozen=True)
class WheelName:
    distribution: str
    version: str
    python_tag: str
    abi_tag: str
    platform_tag: str


def wheel_filename_parts(filename: str) -> WheelName:
    """The PEP 427 parts of a wheel file name (the optional build tag is dropped)."""
    base = os.path.basename(filename)
    if not base.endswith(".whl"):
        raise WheelFactsError(f"{base!r} is not a wheel file name")
    parts = base[:-4].split("-")
    if len(parts) not in (5, 6):
        raise WheelFactsError(f"{base!r} is not a wheel file name (expected 5 or 6 dash-separated parts)")
    return WheelName(parts[0], parts[1], parts[-3], parts[-2], parts[-1])


_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def glibc_from_filename(filename: str) -> str | None:
    """Minimum glibc a manylinux wheel needs, from its platform tag(s): manylinux1 -> 2.5,
    manylinux2010 -> 2.12, manylinux2014 -> 2.17, manylinux_X_Y -> X.Y. With a compressed tag set
    (`manylinux_2_17_x86_64.manylinux2014_x86_64`) the lowest wins; None for non-manylinux wheels."""
    found: list[tuple[int, int]] = []
    for tag in wheel_filename_parts(filename).platform_tag.split("."):
        m = re.match(r"^manylinux_(\d+)_(\d+)_", tag)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
            continue
        legacy = tag.split("_", 1)[0]
        if legacy in _LEGACY_MANYLINUX:
            found.append(_LEGACY_MANYLINUX[legacy])
    if not found:
        return None
    major, minor = min(found)
    return f"{major}.{minor}"


def python_versions_from_tags(tags: Iterable[str]) -> list[str]:
    """["cp310", "cp39"] -> ["3.9", "3.10"]; non-CPython tags are ignored."""
    versions = set()
    for tag in tags:
        m = re.match(r"^cp(\d)(\d+)$", tag.strip())
        if m:
            versions.add((int(m.group(1)), int(m.group(2))))
    return [f"{a}.{b}" for a, b in sorted(versions)]


def _series(release: str) -> str:
    return ".".join(re.split(r"[.+-]", release)[:2])


def _as_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# --- the row ----------------------------------------------------------------------------------------


def build_row(
    *,
    filename: str,
    build_info_text: str,
    metadata_text: str,
    cuda_config_text: str | None = None,
    nccl_config_text: str | None = None,
    cudnn_version_text: str | None = None,
    runpath: Sequence[str] = (),
    python_tags: Iterable[str] = (),
    sha256: str | None = None,
    dso_loaders: Iterable[str] | None = None,
) -> dict[str, Any]:
    """One compat-matrix row from the texts of a wheel's member files (no archive needed).

    `runpath` is libtensorflow_framework's search path (DT_RUNPATH, or DT_RPATH in builds that
    have that instead); `python_tags` the CPython tags with a Linux x86_64 wheel for this release;
    `dso_loaders` the library keys libtensorflow_framework has a DsoLoader function for
    (dso_loaders_in): `libraries` lists only those. None keeps every library the headers name.
    """
    meta = parse_metadata(metadata_text)
    name = wheel_filename_parts(filename)
    release = meta.version or name.version
    package = re.sub(r"[-_.]+", "-", (meta.name or name.distribution)).lower()
    facts = parse_build_info(build_info_text)
    cuda_defines = cuda_config_defines(cuda_config_text) if cuda_config_text else {}
    nccl_defines = cuda_config_defines(nccl_config_text) if nccl_config_text else {}

    ccs_raw = facts.get("cuda_compute_capabilities")
    if isinstance(ccs_raw, str):
        ccs_raw = [c.strip() for c in ccs_raw.split(",") if c.strip()]
    if ccs_raw:
        ccs: list[str] | None = [str(c) for c in ccs_raw]
    else:
        # TF 1.15-2.2 build_info.py has no capability list; their cuda_config.h has it, as bare
        # numbers (CudaVersion("3.5"), ...), kept as written.
        ccs = compute_capabilities_from_config(cuda_defines) if facts.get("is_cuda_build") else None
    is_cuda = bool(facts.get("is_cuda_build")) or bool(facts.get("cuda_version"))
    libraries = libraries_from_config(cuda_defines, nccl_defines, dso_loaders) if is_cuda else {}
    if is_cuda and dso_loaders is not None and not libraries and libraries_from_config(cuda_defines, nccl_defines):
        # A CUDA build whose framework library names no loader at all: the marker no longer works
        # (a renamed DsoLoader), not a build without loaders. Refuse rather than write an empty map.
        raise WheelFactsError("libtensorflow_framework has none of the DsoLoader function names "
                              f"({', '.join(m.decode() for m in DSO_LOADER_MARKERS.values())})")
    build_info_cuda = _as_str(facts.get("cuda_version")) if is_cuda else None
    cuda = full_cuda_version(build_info_cuda, cuda_defines.get("TF_CUDA_VERSION"))
    row: dict[str, Any] = {
        "series": _series(release),
        "release": release,
        "package": package,
        "requires_python": meta.requires_python,
        "python": python_versions_from_tags(python_tags),
        "cuda": cuda,
        # What build_info.py said, kept where `cuda` took cuda_config.h's more precise TF_CUDA_VERSION.
        "cuda_build_info": build_info_cuda if cuda != build_info_cuda else None,
        "cudnn": _as_str(facts.get("cudnn_version")) if is_cuda else None,
        "cudnn_headers": cudnn_header_version(cudnn_version_text) if cudnn_version_text else None,
        "compute_capabilities": ccs or [],
        "and_cuda": and_cuda_requirements(meta.requires_dist),
        "libraries": libraries,
        "nvidia_runpath": nvidia_runpath_packages(runpath),
        "glibc": glibc_from_filename(filename),
        "wheel": os.path.basename(filename),
        "sha256": sha256,
        "source": SOURCE_ID,
    }
    return {key: row[key] for key in ROW_KEYS if key in row and (key not in OPTIONAL_ROW_KEYS or row[key] is not None)}


# --- reading the archive ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WheelMembers:
    """The small member files a row is built from, as text, plus the framework library's search path
    and the DsoLoader functions it has (None: the wheel has no libtensorflow_framework)."""

    build_info_path: str
    build_info_text: str
    metadata_path: str
    metadata_text: str
    cuda_config_path: str | None
    cuda_config_text: str | None
    nccl_config_path: str | None
    nccl_config_text: str | None
    cudnn_version_path: str | None
    cudnn_version_text: str | None
    framework_path: str | None
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]
    dso_loaders: tuple[str, ...] | None = None

    @property
    def search_path(self) -> tuple[str, ...]:
        """DT_RUNPATH when present (the loader then ignores DT_RPATH), else DT_RPATH."""
        return self.runpath or self.rpath


_MAX_TEXT = 4 * 1024 * 1024


def _read_text(zf: zipfile.ZipFile, name: str) -> str:
    info = zf.getinfo(name)
    if info.file_size > _MAX_TEXT:
        raise WheelFactsError(f"{name} is {info.file_size} bytes; not a config/metadata file")
    return zf.read(name).decode("utf-8", "replace")


def _pick(names: Sequence[str], pattern: str, prefer: Sequence[str] = ()) -> list[str]:
    rx = re.compile(pattern)
    hits = sorted(n for n in names if rx.search(n))
    return sorted(hits, key=lambda n: next((i for i, p in enumerate(prefer) if p in n), len(prefer)))


def _read_framework(zf: zipfile.ZipFile, name: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """DT_RUNPATH, DT_RPATH and the DsoLoader functions (dso_loaders_in) of a (large) member, copied
    to a temporary file in chunks and scanned on the way."""
    with tempfile.NamedTemporaryFile(prefix="tfgpu-elf-", suffix=".so") as tmp:
        with zf.open(name) as src:

            def chunks() -> Iterable[bytes]:
                for chunk in iter(lambda: src.read(4 * 1024 * 1024), b""):
                    tmp.write(chunk)
                    yield chunk

            loaders = dso_loaders_in(chunks())
        tmp.flush()
        info = read_dynamic(tmp.name)
    return info.runpath, info.rpath, tuple(loaders)


def read_wheel_members(zf: zipfile.ZipFile) -> WheelMembers:
    """Find and read the member files a row needs. TF 2.0/2.1 wheels keep the package in
    `tensorflow_core/`; every later one in `tensorflow/`."""
    names = zf.namelist()
    build_infos = _pick(names, r"^tensorflow(?:_core)?/python/platform/build_info\.py$", prefer=("tensorflow_core/",))
    if not build_infos:
        raise WheelFactsError("no tensorflow/python/platform/build_info.py in the wheel")
    metas = _pick(names, r"^[^/]+\.dist-info/METADATA$")
    if not metas:
        raise WheelFactsError("no *.dist-info/METADATA in the wheel")
    cuda_configs = [n for n in _pick(names, r"/cuda_config\.h$", prefer=("third_party/gpus/cuda/", "local_config_cuda/"))
                    if "rocm" not in n]
    nccl_configs = _pick(names, r"/nccl_config\.h$")
    cudnn_version_path = cudnn_version_text = None
    for cand in _pick(names, r"/cudnn_version\.h$", prefer=("third_party/gpus/cudnn/", "cuda_cudnn/", "cudnn/include/")):
        text = _read_text(zf, cand)
        if cudnn_header_version(text):  # skip TSL's own tsl/cuda/cudnn_version.h
            cudnn_version_path, cudnn_version_text = cand, text
            break
    frameworks = _pick(names, r"^tensorflow(?:_core)?/libtensorflow_framework\.so(?:\.\d+)*$")
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    loaders: tuple[str, ...] | None = None
    if frameworks:
        # The versioned file (".so.2") is the real library; a bare ".so" may be a copy or absent.
        framework = max(frameworks, key=lambda n: (n.count("."), n))
        runpath, rpath, loaders = _read_framework(zf, framework)
    else:
        framework = None
    return WheelMembers(
        build_info_path=build_infos[0],
        build_info_text=_read_text(zf, build_infos[0]),
        metadata_path=metas[0],
        metadata_text=_read_text(zf, metas[0]),
        cuda_config_path=cuda_configs[0] if cuda_configs else None,
        cuda_config_text=_read_text(zf, cuda_configs[0]) if cuda_configs else None,
        nccl_config_path=nccl_configs[0] if nccl_configs else None,
        nccl_config_text=_read_text(zf, nccl_configs[0]) if nccl_configs else None,
        cudnn_version_path=cudnn_version_path,
        cudnn_version_text=cudnn_version_text,
        framework_path=framework,
        runpath=runpath,
        rpath=rpath,
        dso_loaders=loaders,
    )


def sha256_of(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def row_from_wheel(zf: zipfile.ZipFile, *, filename: str | None = None, sha256: str | None = None,
                   python_tags: Iterable[str] = (), members: WheelMembers | None = None) -> dict[str, Any]:
    """The matrix row for an open wheel, read straight from the archive (nothing is installed or run).

    `filename` defaults to the archive's own file name; `python_tags` are the CPython tags that have a
    Linux x86_64 wheel of this release (the archive itself only names its own).
    """
    if filename is None:
        filename = os.path.basename(str(zf.filename or ""))
    m = members or read_wheel_members(zf)
    return build_row(
        filename=filename,
        build_info_text=m.build_info_text,
        metadata_text=m.metadata_text,
        cuda_config_text=m.cuda_config_text,
        nccl_config_text=m.nccl_config_text,
        cudnn_version_text=m.cudnn_version_text,
        runpath=m.search_path,
        python_tags=python_tags,
        sha256=sha256,
        dso_loaders=m.dso_loaders,
    )
