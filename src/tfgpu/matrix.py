"""The compatibility matrix: loading, validation and the queries checks ask of it.

`compat_matrix.yaml` is data with provenance. It is validated when loaded; a broken file raises
`MatrixError` naming the file, the entry and what is wrong, which the CLI turns into one line and
exit code 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from tfgpu.records import dataclass

SCHEMA_VERSION = 1
#: Version components are at most 9 digits: no real version has more, and int() of thousands of digits fails.
_VERSION_RE = re.compile(r"^\d{1,9}(\.\d{1,9}){0,3}$")
_CC_RE = re.compile(r"^(sm|compute)_(\d{2,4})([a-z]?)$")


def _small_int(digits: str, ceiling: int = 10**9) -> int:
    """int() of a run of digits, `ceiling` where it has more than 9 (never the 4300-digit ValueError)."""
    return int(digits) if len(digits) <= 9 else ceiling


class MatrixError(ValueError):
    """A matrix file that cannot be used, with the place and the reason."""

    def __init__(self, path: str, entry: str, problem: str):
        self.path, self.entry, self.problem = path, entry, problem
        super().__init__(f"{path}: {entry}: {problem}" if entry else f"{path}: {problem}")


@dataclass(frozen=True)
class TestedBuild:
    """A row of TensorFlow's "tested build configurations" (Linux GPU) table: the cuDNN and CUDA
    (major.minor) the series' x.y.0 release was built and tested with."""

    cudnn: str
    cuda: str
    source: str


@dataclass(frozen=True)
class TFRow:
    series: str
    release: str
    package: str
    requires_python: str | None
    python: tuple[str, ...]
    cuda: str | None
    cudnn: str | None
    cudnn_headers: str | None
    compute_capabilities: tuple[str, ...]
    and_cuda: tuple[str, ...]
    libraries: dict[str, str]
    nvidia_runpath: tuple[str, ...]
    glibc: str | None
    wheel: str | None
    source: str
    cuda_build_info: str | None = None  # build_info.py's less precise cuda_version, where `cuda` is cuda_config.h's
    #: {release: Python X.Y with a Linux x86_64 wheel} for every final release of the series on PyPI
    #: (the `python` field is the newest release's); empty where the matrix does not say.
    python_by_release: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the same for Linux aarch64 wheels (empty where the series has none).
    python_by_release_aarch64: dict[str, tuple[str, ...]] = field(default_factory=dict)
    python_by_release_source: str | None = None
    #: TensorFlow's tested-build table row (cuDNN and CUDA major.minor), where it has one.
    tested_build: TestedBuild | None = None
    #: releases of the series whose plain `tensorflow` wheel is CPU-only: the GPU build is `package`.
    cpu_only_tensorflow: tuple[str, ...] = ()
    cpu_only_tensorflow_source: str | None = None

    @property
    def version(self) -> Version:
        return Version(self.release)

    @property
    def cudnn_tested(self) -> str | None:
        """cuDNN major.minor the build was made with: the shipped header, else the [and-cuda] pin,
        else TensorFlow's tested-build table (`cudnn_tested_from` says which)."""
        return self._cudnn_tested()[0]

    @property
    def cudnn_tested_from(self) -> str | None:
        """Where `cudnn_tested` comes from: "headers", "and-cuda pin", "tested build table", or None."""
        return self._cudnn_tested()[1]

    def _cudnn_tested(self) -> tuple[str | None, str | None]:
        if self.cudnn_headers:
            return ".".join(self.cudnn_headers.split(".")[:2]), "headers"
        for req in self.and_cuda:
            m = re.match(r"^nvidia-cudnn-cu\d+\s*(?:==|>=)\s*(\d+\.\d+)", req.replace(" ", ""))
            if m:
                return m.group(1), "and-cuda pin"
        if self.tested_build is not None:
            return self.tested_build.cudnn, "tested build table"
        return None, None

    # --- releases and their Python wheels -----------------------------------------------------------
    def _by_release(self, arch: str) -> dict[str, tuple[str, ...]]:
        if arch in ("aarch64", "arm64"):
            return self.python_by_release_aarch64
        return self.python_by_release or {self.release: self.python}

    @property
    def releases(self) -> tuple[str, ...]:
        """The series' final releases on PyPI, oldest first (just `release` where the matrix does not list them)."""
        return tuple(sorted(self.python_by_release or {self.release: ()}, key=Version))

    def python_for(self, release: str, arch: str = "x86_64") -> tuple[str, ...] | None:
        """The Python versions `release` has Linux wheels for on `arch`; None where the matrix does not know it."""
        return self._by_release(arch).get(release)

    def pythons(self, arch: str = "x86_64") -> tuple[str, ...]:
        """Every Python X.Y any release of the series has a Linux wheel for on `arch`, oldest first."""
        found = {p for tags in self._by_release(arch).values() for p in tags}
        return tuple(sorted(found, key=lambda p: tuple(int(x) for x in p.split("."))))

    def newest_release_for_python(self, python: str | None, arch: str = "x86_64") -> str | None:
        """The newest release of the series with a Linux wheel for `python` ("3.6" or "3.6.15") on
        `arch`; None where none has (or `python` is unknown)."""
        parts = re.findall(r"\d+", python or "")[:2]
        if len(parts) < 2:
            return None
        py = ".".join(parts)
        hits = [rel for rel, tags in self._by_release(arch).items() if py in tags]
        return max(hits, key=Version) if hits else None

    def gpu_requirement(self, release: str | None = None) -> str:
        """The pip requirement for the CUDA build of `release`: exact where the series lists that release
        ('tensorflow==2.6.2', 'tensorflow-gpu==1.15.4', 'tensorflow[and-cuda]==2.15.1'), else the series'
        ('tensorflow==2.6.*'). The project is `package`: tensorflow-gpu for 1.15 and 2.0."""
        name = self.package + ("[and-cuda]" if self.and_cuda and self.package == "tensorflow" else "")
        if release and release in self.releases:
            return f"{name}=={release}"
        return f"{name}=={self.series}.*"

    def plain_tensorflow_is_cpu_only(self, release: str) -> bool:
        """Whether the plain `tensorflow` wheel of `release` is a CPU-only build (tensorflow 1.15.2-1.15.5
        and 2.0.x: their GPU build is tensorflow-gpu)."""
        return release in self.cpu_only_tensorflow

    @property
    def cuda_major(self) -> int | None:
        return int(self.cuda.split(".")[0]) if self.cuda else None


@dataclass(frozen=True)
class CudaRelease:
    name: str
    full: str
    linux: str | None
    windows: str | None


@dataclass(frozen=True)
class CudaRow:
    version: str
    releases: tuple[CudaRelease, ...]
    minor_compat_linux: str | None
    minor_compat_windows: str | None
    ptx_isa: str | None
    min_cc: str | None
    max_cc: str | None
    dropped: tuple[str, ...]
    sources: tuple[str, ...]
    #: compute capabilities this toolkit is the first to target (the first row: all it targets).
    adds_cc: tuple[str, ...] = ()
    #: what users report when a build of an older toolkit meets the GPUs this row adds, and what works.
    older_builds: OlderBuilds | None = None


@dataclass(frozen=True)
class Workaround:
    """A way reported to work where the PyPI builds do not: a summary (with {sm}/{compute}/{cc}/{cuda}
    placeholders), commands, links, the compute capabilities it is reported for, and its source."""

    summary: str
    commands: tuple[str, ...]
    links: tuple[str, ...]
    ccs: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class OlderBuilds:
    """A `cuda` row's `older_builds`: the failure of older-toolkit builds on the GPUs it adds."""

    failure: str
    reports: tuple[str, ...]
    alternatives: tuple[Workaround, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class CudnnRow:
    version: str
    cuda: tuple[str, ...]
    min_cc: str | None
    max_cc: str | None
    sonames: tuple[str, ...]
    version_encoding: str | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuRow:
    name: str
    cc: str
    arch: str
    segment: str


@dataclass(frozen=True)
class PlatformRow:
    """Where TensorFlow can use a GPU: a platform, the kind of GPU, and the release series span."""

    platform: str  # linux-x86_64, wsl2, windows-native, macos-arm64, macos-x86_64, linux-aarch64
    gpu: str  # nvidia-cuda, apple-metal, none
    first: str | None
    last: str | None
    package: str
    note: str
    source: str

    def covers(self, series: str) -> bool:
        key = _series_key(series)
        return (self.first is None or key >= _series_key(self.first)) and (self.last is None or key <= _series_key(self.last))


def _series_key(series: str) -> tuple[int, int]:
    parts = [_small_int(p) for p in re.findall(r"\d+", series)[:2]] + [0, 0]
    return parts[0], parts[1]


@dataclass(frozen=True)
class DriverBranch:
    branch: int
    type: str
    end_of_life: str  # "YYYY-MM"
    max_cuda: str


@dataclass(frozen=True)
class DriverNeed:
    """What a CUDA version asks of the driver: its own toolkit driver, and the floor of
    minor-version compatibility for its major (None where the major has none)."""

    cuda: str
    toolkit_min: str | None
    minor_compat_min: str | None


@dataclass(frozen=True)
class Matrix:
    path: str
    schema_version: int
    data_date: str
    sources: dict[str, dict[str, Any]]
    tensorflow: tuple[TFRow, ...]
    cuda: tuple[CudaRow, ...]
    cudnn: tuple[CudnnRow, ...]
    gpus: tuple[GpuRow, ...]
    forward_compat: dict[str, Any] = field(default_factory=dict)
    platforms: tuple[PlatformRow, ...] = ()
    driver_branches: tuple[DriverBranch, ...] = ()
    #: cuda_forward_compat.packages: {CUDA "12.5": base driver branches NVIDIA marks compatible}.
    forward_compat_packages: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        return f"schema {self.schema_version}, data {self.data_date}"

    # --- TensorFlow -------------------------------------------------------------------------
    def tf_row(self, version: str) -> TFRow | None:
        """The row for the release series of `version` ("2.16.1", "2.16" → the 2.16 row)."""
        series = series_of(version)
        for row in self.tensorflow:
            if row.series == series:
                return row
        return None

    def tf_rows_newest_first(self) -> list[TFRow]:
        return sorted(self.tensorflow, key=lambda r: Version(r.release), reverse=True)

    def newest_release_for_python(self, series: str, python: str | None, arch: str = "x86_64") -> str | None:
        """The newest release of `series` ("2.6") with a Linux wheel for `python` ("3.6") on `arch`
        ("2.6.2"), or None (no such series, or no release of it has one)."""
        row = self.tf_row(series)
        return row.newest_release_for_python(python, arch) if row is not None else None

    # --- platforms ----------------------------------------------------------------------------
    def platform_row(self, platform: str) -> PlatformRow | None:
        return next((p for p in self.platforms if p.platform == platform), None)

    def nvidia_gpu_on(self, platform: str, series: str) -> bool | None:
        """Whether TensorFlow `series` can use an NVIDIA GPU on `platform` (None: no row)."""
        row = self.platform_row(platform)
        if row is None:
            return None
        return row.gpu == "nvidia-cuda" and row.covers(series)

    def gpu_platforms(self, series: str) -> dict[str, str]:
        """{platform: GPU kind} for one release series ("none" where no GPU is used)."""
        return {p.platform: (p.gpu if p.covers(series) else "none") for p in self.platforms}

    # --- CUDA / driver ------------------------------------------------------------------------
    def supported_branches(self) -> tuple[int, ...]:
        """Driver branches still supported on the matrix's data date, oldest first."""
        today = self.data_date[:7]
        return tuple(sorted(b.branch for b in self.driver_branches if b.end_of_life >= today))

    def branch_for(self, need: str | None) -> int | None:
        """The oldest still-supported branch whose drivers are at least `need` (None: the oldest supported
        one, every branch being new enough: the longest-established packages of a supported branch)."""
        branches = self.supported_branches()
        if not branches:
            return None
        if not need:
            return branches[0]
        digits = re.findall(r"\d+", need)
        if not digits:
            return branches[0]
        major = _small_int(digits[0])
        return next((b for b in branches if b >= major), None)

    def forward_compat_branches(self, cuda: str) -> tuple[int, ...]:
        """The base driver branches on which NVIDIA supports CUDA `cuda`'s forward-compatibility package
        (cuda-compat-<major>-<minor>) and that are still supported on the data date; () where none is."""
        mm = ".".join(cuda.split(".")[:2])
        supported = set(self.supported_branches())
        return tuple(b for b in self.forward_compat_packages.get(mm, ()) if b in supported)

    def cuda_row(self, version: str) -> CudaRow | None:
        mm = ".".join(version.split(".")[:2])
        for row in self.cuda:
            if row.version == mm:
                return row
        return None

    def driver_need(self, cuda_version: str, os_name: str = "linux") -> DriverNeed:
        """The driver a CUDA version needs on `os_name` ("linux" or "windows")."""
        row = self.cuda_row(cuda_version)
        if row is None:
            return DriverNeed(cuda_version, None, None)
        key = "windows" if os_name == "windows" else "linux"
        toolkit = None
        # An exact "12.5.1" picks Update 1's driver; "12.5" picks the GA release's.
        parts = cuda_version.split(".")
        exact = [r for r in row.releases if r.full == cuda_version]
        if not exact and len(parts) == 2:
            exact = [r for r in row.releases if r.full in (cuda_version, cuda_version + ".0")]
        chosen = exact[0] if exact else (row.releases[0] if row.releases else None)
        if chosen is not None:
            toolkit = getattr(chosen, key)
        minor = row.minor_compat_windows if key == "windows" else row.minor_compat_linux
        return DriverNeed(cuda_version, toolkit, minor)

    # --- GPUs ---------------------------------------------------------------------------------
    def gpu_by_name(self, name: str) -> GpuRow | None:
        want = _norm_gpu(name)
        for row in self.gpus:
            if _norm_gpu(row.name) == want:
                return row
        return None

    def arch_of(self, cc: tuple[int, int]) -> str | None:
        """The architecture name the `gpus` rows give compute capability `cc` ("Blackwell"), if any."""
        text = f"{cc[0]}.{cc[1]}"
        return next((g.arch for g in self.gpus if g.cc == text), None)

    # --- compute capabilities each toolkit targets (cuda rows' adds_cc / dropped) -------------------
    def _cuda_rows_upto(self, cuda: str) -> list[CudaRow] | None:
        """The cuda rows up to and including `cuda`'s (major.minor), oldest first; None without a row."""
        want = _series_key(cuda)
        rows = self._cuda_sorted
        if not any(key == want for key, _row in rows):
            return None
        return [r for key, r in rows if key <= want]

    @cached_property
    def _cuda_sorted(self) -> tuple[tuple[Any, CudaRow], ...]:
        """The cuda rows with their series keys, oldest first (sorted once: rules ask per GPU and release)."""
        return tuple(sorted(((_series_key(r.version), r) for r in self.cuda), key=lambda kr: kr[0]))

    def cuda_targets(self, cuda: str) -> tuple[str, ...] | None:
        """The compute capabilities CUDA `cuda`'s compiler targets (added by it or an earlier toolkit,
        not dropped since); None where the matrix has no row for it or no row up to it records targets."""
        rows = self._cuda_rows_upto(cuda)
        if not rows or not any(r.adds_cc for r in rows):
            return None
        targets: dict[str, None] = {}
        for row in rows:
            for cc in row.adds_cc:
                targets[cc] = None
            for cc in row.dropped:
                targets.pop(cc, None)
        return tuple(targets)

    def cuda_adding(self, cc: str) -> CudaRow | None:
        """The first cuda row whose adds_cc names compute capability `cc` ("12.0")."""
        for row in sorted(self.cuda, key=lambda r: _series_key(r.version)):
            if cc in row.adds_cc:
                return row
        return None

    # --- cuDNN ------------------------------------------------------------------------------------
    def cudnn_row_for(self, version: str) -> CudnnRow | None:
        """The cudnn row of the release series `version` ("9.28.0.42") belongs to: the newest row at or
        below it of the same major."""
        try:
            have = Version(version)
        except InvalidVersion:
            return None
        best: CudnnRow | None = None
        for row in self.cudnn:
            rv = Version(row.version)
            if rv.major == have.major and rv <= have and (best is None or rv > Version(best.version)):
                best = row
        return best


def parse_arch(text: str) -> tuple[str, int, int, str] | None:
    """Like `parse_cc`, keeping the suffix: 'sm_90a' → ('sm', 9, 0, 'a'); '8.6' → ('sm', 8, 6, '')."""
    m = _CC_RE.match(text.strip())
    if m:
        digits = m.group(2)
        return (m.group(1), int(digits[:-1]), int(digits[-1]), m.group(3))
    parsed = parse_cc(text)
    return (parsed[0], parsed[1], parsed[2], "") if parsed else None


def _norm_gpu(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower().replace("nvidia", "")).strip()


def series_of(version: str) -> str:
    parts = re.split(r"[.+-]", version)
    return ".".join(parts[:2])


def parse_cc(text: str) -> tuple[str, int, int] | None:
    """'sm_86' → ('sm', 8, 6); 'compute_90' → ('compute', 9, 0); '8.6' or '86' → ('sm', 8, 6)."""
    text = text.strip()
    m = _CC_RE.match(text)
    if m:
        digits = m.group(2)
        return (m.group(1), int(digits[:-1]), int(digits[-1]))
    if re.match(r"^\d{1,3}\.\d{1,3}$", text):
        major, minor = text.split(".")
        return ("sm", int(major), int(minor))
    if re.match(r"^\d{2,3}$", text):
        return ("sm", int(text[:-1]), int(text[-1]))
    return None


# --- loading -----------------------------------------------------------------------------------


def default_path() -> str:
    """The matrix shipped inside the package, else the repository's own copy (editable installs)."""
    here = Path(__file__).resolve().parent
    shipped = here / "compat_matrix.yaml"
    if shipped.is_file():
        return str(shipped)
    repo = here.parent.parent / "compat_matrix.yaml"
    return str(repo)


def load(path: str | None = None) -> Matrix:
    """Load and validate a matrix file; raise MatrixError on any problem (never anything else)."""
    given = path or default_path()
    try:
        absolute = os.path.abspath(given)
    except OSError as exc:  # a relative path while the working folder is gone
        raise MatrixError(given, "", f"cannot resolve the path: {exc.strerror or exc}") from None
    return _load_cached(absolute)


#: Collections nested deeper than this are refused (the matrix nests five levels).
MAX_DEPTH = 32
#: The cache file's first line: this tag and the checksum of the rest, so a damaged file is rebuilt.
_CACHE_TAG = "tfgpu-matrix-cache"


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Matrix:
    from tfgpu.safeio import BadInput, read_bytes

    try:
        content = read_bytes(path, "matrix")
    except BadInput as exc:
        raise MatrixError(path, "", exc.problem) from None
    from tfgpu.yamlcache import cache_file, read_cache, write_cache

    # Keyed by the file's path and content (any change is a new key), the schema and the cache format.
    cache = cache_file("matrix", f"{SCHEMA_VERSION}|2|{path}|".encode("utf-8", "surrogateescape") + content)
    data = read_cache(cache, _CACHE_TAG)
    if data is not None:
        try:
            return validate(data, path)
        except MatrixError:
            pass  # a damaged cache file: the YAML decides, and the cache is rewritten
    data = _parse_yaml(path, content)
    matrix = validate(data, path)
    write_cache(cache, data, _CACHE_TAG)
    return matrix


def _parse_yaml(path: str, content: bytes | None = None) -> Any:
    """The YAML of `path` (or `content`): aliases and deep nesting refused before anything is built
    (an alias bomb expands in whatever walks the data next), then PyYAML's safe loader."""
    import yaml

    if content is None:
        from tfgpu.safeio import BadInput, read_bytes

        try:
            content = read_bytes(path, "matrix")
        except BadInput as exc:
            raise MatrixError(path, "", exc.problem) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MatrixError(path, "", f"cannot read: not UTF-8 text (byte {exc.start})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_events(path, yaml.parse(text, Loader=loader))
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MatrixError(path, where, f"YAML syntax error: {problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise MatrixError(path, "YAML", f"a value cannot be read: {_short(str(exc))}") from None
    except (RecursionError, MemoryError):
        raise MatrixError(path, "YAML", "nested too deeply or too large to read") from None
    return data


def _check_events(path: str, events: Iterator[Any]) -> None:
    """Refuse YAML aliases (`*name`) and nesting deeper than MAX_DEPTH, from the event stream."""
    import yaml

    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            mark = getattr(event, "start_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
            raise MatrixError(path, where, f"YAML alias *{event.anchor} refused: a matrix file may not use aliases")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                mark = getattr(event, "start_mark", None)
                where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
                raise MatrixError(path, where, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class _V:
    """Field access with errors that name the entry."""

    def __init__(self, path: str, entry: str, data: Any):
        if not isinstance(data, dict):
            raise MatrixError(path, entry, f"expected a mapping, got {type(data).__name__}")
        self.path, self.entry = path, entry
        self.data: dict[Any, Any] = data

    def fail(self, problem: str) -> MatrixError:
        return MatrixError(self.path, self.entry, problem)

    def text(self, key: str, required: bool = True, version: bool = False) -> str | None:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(f"missing required field '{key}'")
            return None
        value = self.data[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise self.fail(f"field '{key}' must be a quoted string, got the number {value!r}")
        if not isinstance(value, str):
            raise self.fail(f"field '{key}' must be a string, got {type(value).__name__}")
        if version and not _VERSION_RE.match(value):
            raise self.fail(f"field '{key}': {value!r} is not a version (like 12.5 or 535.104.05)")
        return value

    def need(self, key: str, version: bool = False) -> str:
        """A required string field (`text` raises where it is missing)."""
        return self.text(key, version=version) or ""

    def items(self, key: str, required: bool = False) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(f"missing required field '{key}'")
            return []
        if not isinstance(value, list):
            raise self.fail(f"field '{key}' must be a list")
        return value

    def strings(self, key: str, required: bool = False) -> tuple[str, ...]:
        return tuple(str(x) for x in self.items(key, required=required))

    def mapping(self, key: str) -> dict[Any, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"field '{key}' must be a mapping")
        return value

    def source(self, sources: dict[Any, Any], ref: Any) -> None:
        """`ref` must name an entry under the top level's `sources`."""
        if not isinstance(ref, str) or ref not in sources:
            raise self.fail(f"source {ref!r} is not defined under 'sources'")


def _entries(top: _V, section: str, key: str, required: bool = False) -> Iterator[tuple[dict[Any, Any], _V]]:
    """Each row of a section, with a validator whose errors name it (by `key`, else its index)."""
    for i, raw in enumerate(top.items(section, required=required)):
        label = raw.get(key, f"#{i}") if isinstance(raw, dict) else f"#{i}"
        v = _V(top.path, f"{section}[{label}]", raw)
        yield v.data, v


def _check_version(v: _V, value: str, key: str) -> None:
    if len(value) > 64 or any(len(d) > 9 for d in re.findall(r"\d+", value)):
        raise v.fail(f"field '{key}': {_short(repr(value), 80)} is not a valid version")
    try:
        Version(value)
    except (InvalidVersion, ValueError):
        raise v.fail(f"field '{key}': {value!r} is not a valid version") from None


# The top-level keys a schema-1 matrix has, in the order the file holds them. Any other key is
# refused: a misspelt section ("gpu:" for "gpus:") would otherwise leave its rows silently unread.
TOP_LEVEL_KEYS = ("schema_version", "data_date", "sources", "tensorflow", "cuda", "tensorflow_platforms",
                  "driver_branches", "cuda_forward_compat", "cudnn", "gpus")


def _schema_version(top: _V) -> int:
    sv = top.data.get("schema_version")
    if sv is None:
        raise top.fail("missing required field 'schema_version'")
    if sv != SCHEMA_VERSION:
        raise top.fail(f"schema_version {sv!r} is not supported (this tfgpu reads {SCHEMA_VERSION})")
    return SCHEMA_VERSION


def _refuse_unknown_keys(top: _V) -> None:
    unknown = [key for key in top.data if key not in TOP_LEVEL_KEYS]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise top.fail(f"unknown key{'s' if len(unknown) > 1 else ''} {names} "
                       f"(a schema-{SCHEMA_VERSION} matrix has: {', '.join(TOP_LEVEL_KEYS)})")


def _requires_python(v: _V) -> str | None:
    rp = v.text("requires_python", required=False)
    if rp:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(rp)
        except InvalidSpecifier:
            raise v.fail(f"requires_python {rp!r} is not a version specifier") from None
    return rp


_PY_RE = re.compile(r"^\d{1,3}\.\d{1,3}$")


def _wheels_by_release(v: _V, key: str, series: str) -> dict[str, tuple[str, ...]]:
    """`python_by_release.<arch>`: {release of this series: [Python X.Y, ...]}."""
    out: dict[str, tuple[str, ...]] = {}
    for release, tags in v.mapping(key).items():
        if not isinstance(release, str):
            raise v.fail(f"{key}: release {release!r} must be a quoted string")
        _check_version(v, release, f"{key}.{release}")
        if series_of(release) != series:
            raise v.fail(f"{key}: release {release} is not of series {series}")
        if not isinstance(tags, list) or not all(isinstance(t, str) and _PY_RE.match(t) for t in tags):
            raise v.fail(f"{key}.{release}: expected a list of Python versions like \"3.11\"")
        out[release] = tuple(tags)
    return out


def _python_by_release(v: _V, sources: dict[Any, Any], series: str, release: str,
                       python: tuple[str, ...]) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], str | None]:
    if v.data.get("python_by_release") is None:
        return {}, {}, None
    pv = _V(v.path, f"{v.entry}.python_by_release", v.mapping("python_by_release"))
    pv.source(sources, pv.data.get("source"))
    x86 = _wheels_by_release(pv, "x86_64", series)
    arm = _wheels_by_release(pv, "aarch64", series)
    if x86.get(release) != python:
        raise pv.fail(f"x86_64 must list the row's release {release} with its python {list(python)}")
    newest = max(x86, key=Version)
    if newest != release:
        raise pv.fail(f"lists {newest}, newer than the row's release {release}")
    return x86, arm, str(pv.data["source"])


def _tested_build(v: _V, sources: dict[Any, Any], cuda: str | None, cudnn: str | None) -> TestedBuild | None:
    if v.data.get("tested_build") is None:
        return None
    tv = _V(v.path, f"{v.entry}.tested_build", v.mapping("tested_build"))
    tv.source(sources, tv.data.get("source"))
    tb = TestedBuild(cudnn=tv.need("cudnn", version=True), cuda=tv.need("cuda", version=True),
                     source=str(tv.data["source"]))
    if cuda and cuda.split(".")[:2] != tb.cuda.split(".")[:2]:
        raise tv.fail(f"cuda {tb.cuda} disagrees with the row's cuda {cuda}")
    if cudnn and cudnn.split(".")[0] != tb.cudnn.split(".")[0]:
        raise tv.fail(f"cudnn {tb.cudnn} disagrees with the row's cudnn {cudnn}")
    return tb


def _cpu_only_tensorflow(v: _V, sources: dict[Any, Any], series: str) -> tuple[tuple[str, ...], str | None]:
    if v.data.get("cpu_only_tensorflow") is None:
        return (), None
    cv = _V(v.path, f"{v.entry}.cpu_only_tensorflow", v.mapping("cpu_only_tensorflow"))
    cv.source(sources, cv.data.get("source"))
    releases = cv.strings("releases", required=True)
    for rel in releases:
        _check_version(cv, rel, "releases")
        if series_of(rel) != series:
            raise cv.fail(f"release {rel} is not of series {series}")
    return releases, str(cv.data["source"])


def _tensorflow_rows(top: _V, sources: dict[Any, Any]) -> tuple[TFRow, ...]:
    rows = []
    seen_series = set()
    for raw, v in _entries(top, "tensorflow", "release", required=True):
        release = v.need("release")
        _check_version(v, release, "release")
        series = v.need("series", version=True)
        if series in seen_series:
            raise v.fail(f"series {series} appears twice")
        seen_series.add(series)
        cuda = v.text("cuda", required=False, version=True)
        ccs = v.strings("compute_capabilities")
        for cc in ccs:
            if parse_cc(cc) is None:
                raise v.fail(f"compute capability {cc!r} is not like sm_80 / compute_90 / 8.0")
        rp = _requires_python(v)
        v.source(sources, raw.get("source"))
        libraries = v.mapping("libraries")
        python = v.strings("python")
        cudnn = v.text("cudnn", required=False)
        by_release, by_release_arm, by_release_source = _python_by_release(v, sources, series, release, python)
        cpu_only, cpu_only_source = _cpu_only_tensorflow(v, sources, series)
        rows.append(TFRow(
            series=series,
            release=release,
            package=v.need("package"),
            requires_python=rp,
            python=python,
            cuda=cuda,
            cudnn=cudnn,
            cudnn_headers=v.text("cudnn_headers", required=False, version=True),
            compute_capabilities=ccs,
            and_cuda=v.strings("and_cuda"),
            libraries={str(k): str(x) for k, x in libraries.items()},
            nvidia_runpath=v.strings("nvidia_runpath"),
            glibc=v.text("glibc", required=False, version=True),
            wheel=v.text("wheel", required=False),
            source=str(raw.get("source")),
            cuda_build_info=v.text("cuda_build_info", required=False, version=True),
            python_by_release=by_release,
            python_by_release_aarch64=by_release_arm,
            python_by_release_source=by_release_source,
            tested_build=_tested_build(v, sources, cuda, cudnn),
            cpu_only_tensorflow=cpu_only,
            cpu_only_tensorflow_source=cpu_only_source,
        ))
    return tuple(rows)


def _cuda_release(v: _V) -> CudaRelease:
    return CudaRelease(
        name=v.need("name"),
        full=v.text("full", required=False, version=True) or "",
        linux=v.text("linux", required=False, version=True),
        windows=v.text("windows", required=False, version=True),
    )


def _cuda_rows(top: _V, sources: dict[Any, Any]) -> tuple[CudaRow, ...]:
    rows = []
    for _raw, v in _entries(top, "cuda", "version"):
        version = v.need("version", version=True)
        releases = tuple(_cuda_release(_V(top.path, f"{v.entry}.releases[{j}]", rel))
                         for j, rel in enumerate(v.items("releases", required=True)))
        mcv = _V(top.path, f"{v.entry}.minor_compat", v.mapping("minor_compat"))
        for ref in v.items("sources", required=True):
            v.source(sources, ref)
        rows.append(CudaRow(
            version=version,
            releases=releases,
            minor_compat_linux=mcv.text("linux", required=False, version=True),
            minor_compat_windows=mcv.text("windows", required=False, version=True),
            ptx_isa=v.text("ptx_isa", required=False, version=True),
            min_cc=v.text("min_cc", required=False, version=True),
            max_cc=v.text("max_cc", required=False, version=True),
            dropped=v.strings("dropped"),
            sources=v.strings("sources"),
            adds_cc=_cc_list(v, "adds_cc"),
            older_builds=_older_builds(top.path, v, sources),
        ))
    return tuple(rows)


def _cc_list(v: _V, key: str) -> tuple[str, ...]:
    ccs = v.strings(key)
    for cc in ccs:
        if not re.match(r"^\d+\.\d+$", cc):
            raise v.fail(f"field '{key}': {cc!r} is not a compute capability like 12.0")
    return ccs


def _older_builds(path: str, v: _V, sources: dict[Any, Any]) -> OlderBuilds | None:
    raw = v.data.get("older_builds")
    if raw is None:
        return None
    ob = _V(path, f"{v.entry}.older_builds", raw)
    for ref in ob.items("sources", required=True):
        ob.source(sources, ref)
    alternatives = []
    for j, alt in enumerate(ob.items("alternatives")):
        av = _V(path, f"{ob.entry}.alternatives[{j}]", alt)
        av.source(sources, alt.get("source"))
        alternatives.append(Workaround(av.need("summary"), av.strings("commands"), av.strings("links"),
                                       _cc_list(av, "ccs"), str(alt.get("source"))))
    return OlderBuilds(ob.need("failure"), ob.strings("reports"), tuple(alternatives), ob.strings("sources"))


def _cudnn_rows(top: _V, sources: dict[Any, Any]) -> tuple[CudnnRow, ...]:
    rows = []
    for raw, v in _entries(top, "cudnn", "version"):
        for ref in v.items("sources", required=True):
            v.source(sources, ref)
        rows.append(CudnnRow(
            version=v.need("version", version=True),
            cuda=v.strings("cuda", required=True),
            min_cc=v.text("min_cc", required=False, version=True),
            max_cc=v.text("max_cc", required=False, version=True),
            sonames=v.strings("sonames"),
            version_encoding=v.text("version_encoding", required=False),
            raw=dict(raw),
        ))
    return tuple(rows)


def _gpu_rows(top: _V, sources: dict[Any, Any]) -> tuple[GpuRow, ...]:
    rows = []
    for raw, v in _entries(top, "gpus", "name"):
        v.source(sources, raw.get("source"))
        rows.append(GpuRow(name=v.need("name"), cc=v.need("cc", version=True), arch=v.need("arch"),
                           segment=v.need("segment")))
    return tuple(rows)


def _platform_rows(top: _V, sources: dict[Any, Any]) -> tuple[PlatformRow, ...]:
    rows = []
    for raw, v in _entries(top, "tensorflow_platforms", "platform"):
        v.source(sources, raw.get("source"))
        gpu = v.need("gpu")
        if gpu not in ("nvidia-cuda", "apple-metal", "none"):
            raise v.fail(f"gpu {gpu!r} is not one of nvidia-cuda, apple-metal, none")
        rows.append(PlatformRow(
            platform=v.need("platform"), gpu=gpu,
            first=v.text("from", required=False, version=True), last=v.text("to", required=False, version=True),
            package=v.text("package", required=False) or "", note=v.text("note", required=False) or "",
            source=str(raw.get("source")),
        ))
    return tuple(rows)


def _driver_branch_rows(top: _V, sources: dict[Any, Any]) -> tuple[DriverBranch, ...]:
    rows = []
    for raw, v in _entries(top, "driver_branches", "branch"):
        v.source(sources, raw.get("source"))
        eol = v.need("end_of_life")
        if not re.match(r"^\d{4}-\d{2}$", eol):
            raise v.fail(f"end_of_life {eol!r} is not YYYY-MM")
        branch = v.need("branch", version=True)
        if not branch.isdigit():
            raise v.fail(f"branch {branch!r} is not a driver branch like \"580\" (digits only)")
        rows.append(DriverBranch(int(branch), v.need("type"), eol,
                                 v.need("max_cuda", version=True)))
    return tuple(rows)


def _forward_compat(top: _V, sources: dict[Any, Any]) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """`cuda_forward_compat`: the mapping as read, and its `packages` ({"12.5": [base branches]})."""
    data = top.mapping("cuda_forward_compat")
    v = _V(top.path, "cuda_forward_compat", data)
    for ref in v.items("sources"):
        v.source(sources, ref)
    raw = data.get("packages")
    if raw is None:
        return data, {}
    v.source(sources, data.get("packages_source"))
    if not isinstance(raw, dict):
        raise v.fail("packages: expected a mapping of CUDA major.minor to driver branches")
    packages: dict[str, tuple[int, ...]] = {}
    for cuda, branches in raw.items():
        if not isinstance(cuda, str) or not _PY_RE.match(cuda):
            raise v.fail(f"packages: {cuda!r} is not a quoted CUDA major.minor like \"12.5\"")
        if not isinstance(branches, list) or not all(isinstance(b, str) and b.isdigit() and len(b) <= 9 for b in branches):
            raise v.fail(f"packages.{cuda}: expected a list of quoted driver branches like \"535\"")
        packages[cuda] = tuple(int(b) for b in branches)
    return data, packages


def _tf_cuda_has_rows(path: str, tf_rows: tuple[TFRow, ...], cuda_rows: tuple[CudaRow, ...]) -> None:
    """Every TensorFlow row's CUDA must have a `cuda:` row (major.minor): without one no driver check is made."""
    cuda_versions = {r.version for r in cuda_rows}
    for row in tf_rows:
        if row.cuda and ".".join(row.cuda.split(".")[:2]) not in cuda_versions:
            raise MatrixError(path, f"tensorflow[{row.release}]", f"cuda {row.cuda!r} has no row under 'cuda'")


def validate(data: Any, path: str = "<matrix>") -> Matrix:
    """Check parsed matrix data section by section; raise MatrixError at the first problem, and
    MatrixError only: data of any shape (a damaged cache, a fuzzed file) is a bad input, never a crash."""
    try:
        return _validate(data, path)
    except MatrixError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError,
            MemoryError) as exc:
        raise MatrixError(path, "", f"not a usable matrix ({type(exc).__name__}: {_short(str(exc))})") from None


def _validate(data: Any, path: str) -> Matrix:
    if data is None:
        raise MatrixError(path, "", "the file is empty")
    top = _V(path, "top level", data)
    schema_version = _schema_version(top)
    _refuse_unknown_keys(top)
    date = top.need("data_date")
    sources = top.mapping("sources")
    tensorflow = _tensorflow_rows(top, sources)
    cuda = _cuda_rows(top, sources)
    cudnn = _cudnn_rows(top, sources)
    gpus = _gpu_rows(top, sources)
    platforms = _platform_rows(top, sources)
    driver_branches = _driver_branch_rows(top, sources)
    forward_compat, forward_compat_packages = _forward_compat(top, sources)
    _tf_cuda_has_rows(path, tensorflow, cuda)
    return Matrix(
        path=path,
        schema_version=schema_version,
        data_date=date,
        sources=sources,
        tensorflow=tensorflow,
        cuda=cuda,
        cudnn=cudnn,
        gpus=gpus,
        forward_compat=forward_compat,
        platforms=platforms,
        driver_branches=driver_branches,
        forward_compat_packages=forward_compat_packages,
    )
