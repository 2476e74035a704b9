"""Which CUDA a library name belongs to, read from the matrix's TensorFlow rows. Pure.

A soname does not name its CUDA release: TensorFlow 2.4 (CUDA 11.0) dlopen()s `libcusolver.so.10`
and `libcufft.so.10`, and so do 2.1-2.3 (CUDA 10.1) for cuFFT. The generated `tensorflow` rows of
the matrix record, per release, the exact names it dlopen()s (`libraries`, read from the wheel's
`DsoLoader` markers; docs/knowledge.md, "TensorFlow builds"), so the releases, CUDA versions and
pip wheels a name stands for are read from there, never from a table of our own.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from tfgpu.pep508 import InvalidRequirement, Requirement
from tfgpu.records import dataclass
from tfgpu.versions import pep440


@dataclass(frozen=True)
class SonameUse:
    """What one library name means for the TensorFlow releases it can come from."""

    soname: str
    #: library key in the rows' `libraries` (cudart, cusolver, ...); None where no row loads the name.
    kind: str | None
    #: TensorFlow series (oldest first) that dlopen() this name, among the candidates.
    series: tuple[str, ...]
    #: the CUDA version each of those series was built with, distinct, oldest first.
    cudas: tuple[str, ...]

    @property
    def known(self) -> bool:
        return bool(self.series)

    @property
    def cuda_majors(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.split(".")[0] for c in self.cudas))


_DLL_RE = re.compile(r"^(?P<lib>[A-Za-z]{2,20}?)64_(?P<ver>\d{1,3})\.dll$")


def linux_soname(dll: str) -> str | None:
    """The Linux soname a Windows CUDA DLL name stands for, so that the matrix rows (which list the
    Linux names each release dlopen()s) resolve it: cudart64_110.dll -> libcudart.so.11.0,
    cudart64_101.dll -> libcudart.so.10.1, cusolver64_10.dll -> libcusolver.so.10,
    cublas64_11.dll -> libcublas.so.11, cudnn64_8.dll -> libcudnn.so.8. The DLL's number is the
    soname's version without its dot: three digits are major and minor (110, 101), two digits a
    CUDA 9 major.minor (90, 92) or a major (10, 11, 12), one digit a major."""
    m = _DLL_RE.match(dll)
    if m is None:
        return None
    ver = m.group("ver")
    if len(ver) == 3:
        ver = f"{ver[:2]}.{ver[2]}"
    elif len(ver) == 2 and ver[0] == "9":
        ver = f"9.{ver[1]}"
    return f"lib{m.group('lib')}.so.{ver}"


def _rows(matrix: Any) -> list[Any]:
    rows = list(getattr(matrix, "tensorflow", ()) or ())
    return sorted(rows, key=lambda r: pep440(getattr(r, "release", None)) or Version("0"))


def _kind(row: Any, soname: str) -> str | None:
    for kind, name in (getattr(row, "libraries", None) or {}).items():
        if name == soname:
            return str(kind)
    return None


def rows_loading(matrix: Any, soname: str) -> list[Any]:
    """The TensorFlow rows (oldest first) whose build dlopen()s exactly `soname`."""
    return [row for row in _rows(matrix) if _kind(row, soname) is not None]


def known_soname(matrix: Any, soname: str) -> bool:
    return bool(rows_loading(matrix, soname))


def rows_in(matrix: Any, spec: str | None) -> list[Any]:
    """The rows whose newest release a PEP 440 specifier (">=2.12,<2.15") admits; every row for None."""
    rows = _rows(matrix)
    if not spec:
        return rows
    try:
        allowed = SpecifierSet(spec)
    except InvalidSpecifier:
        return rows
    return [row for row in rows if allowed.contains(Version(row.release), prereleases=True)]


def candidate_rows(matrix: Any, sonames: Iterable[str], eras: Sequence[str] = ()) -> list[Any]:
    """The releases a log can come from: those that dlopen() every name the matrix knows among
    `sonames` (failed and loaded alike), within every era the log's source paths tell. Where the era
    contradicts the names, the names win (they are what the build asked for); where nothing is
    known, every row."""
    rows = _rows(matrix)
    by_names = rows
    for soname in dict.fromkeys(sonames):
        loading = {id(r) for r in rows_loading(matrix, soname)}
        if loading:
            narrowed = [r for r in by_names if id(r) in loading]
            by_names = narrowed if narrowed else by_names
    narrowed = by_names
    for era in eras:
        inside = {id(r) for r in rows_in(matrix, era)}
        kept = [r for r in narrowed if id(r) in inside]
        narrowed = kept if kept else narrowed
    return narrowed


def resolve(matrix: Any, soname: str, candidates: Sequence[Any] | None = None) -> SonameUse:
    """`soname` among the `candidates` (the log's own release, or the releases it can come from):
    the series and CUDA versions that load it. Where no candidate loads it, every row that does."""
    loading = rows_loading(matrix, soname)
    if candidates is not None:
        ids = {id(r) for r in candidates}
        inside = [r for r in loading if id(r) in ids]
        loading = inside or loading
    kind = _kind(loading[0], soname) if loading else None
    series = tuple(str(r.series) for r in loading)
    cudas = tuple(dict.fromkeys(str(r.cuda) for r in loading if getattr(r, "cuda", None)))
    return SonameUse(soname, kind, series, cudas)


def span(items: Sequence[str]) -> str:
    """'2.4' / '2.1-2.3' for a run of versions, oldest first (as the rows list them)."""
    if not items:
        return ""
    return items[0] if len(items) == 1 else f"{items[0]}-{items[-1]}"


def cuda_text(use: SonameUse, matrix: Any) -> str:
    """'CUDA 11.0 (TensorFlow 2.4)' or 'CUDA 10.1 (TensorFlow 2.1-2.3) or CUDA 11.0-11.8 (TensorFlow
    2.4-2.14)': the CUDA releases grouped by major, each with the series that load the name."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for row in rows_loading(matrix, use.soname):
        if str(row.series) not in use.series or not getattr(row, "cuda", None):
            continue
        cudas, series = groups.setdefault(str(row.cuda).split(".")[0], ([], []))
        if row.cuda not in cudas:
            cudas.append(str(row.cuda))
        series.append(str(row.series))
    return " or ".join(f"CUDA {span(c)} (TensorFlow {span(s)})" for c, s in groups.values())


def _name(req: str) -> str | None:
    try:
        return Requirement(req).name.lower()
    except InvalidRequirement:
        return None


def wheel_for(matrix: Any, soname: str, cuda_major: str, wheel_base: str | None) -> str | None:
    """The pip requirement that ships `soname` for CUDA `cuda_major`, or None.

    A wheel is offered only where a release built with that CUDA major dlopen()s this very name
    and pins the wheel in its `[and-cuda]` extra (`<wheel_base>-cu<major>`): then the wheel is known
    to ship the name. cuDNN wheels are bounded to the soname's major (nvidia-cudnn-cu11 and -cu12
    moved from cuDNN 8 to 9 under the same name)."""
    if not wheel_base:
        return None
    want = f"{wheel_base}-cu{cuda_major}".lower()
    for row in rows_loading(matrix, soname):
        if str(getattr(row, "cuda", "")).split(".")[0] != cuda_major:
            continue
        if any(_name(req) == want for req in getattr(row, "and_cuda", ()) or ()):
            if wheel_base == "nvidia-cudnn":
                major = int(soname.rsplit(".so.", 1)[-1].split(".")[0])
                return f"{want}>={major},<{major + 1}"
            return want
    return None
