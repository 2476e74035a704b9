#!/usr/bin/env python3
"""Maintainer script: rebuild compat_matrix.yaml's generated `tensorflow` section from the real PyPI wheels.

For each TensorFlow minor release (1.15, 2.0 ... 2.21; the GPU package is `tensorflow-gpu` for 1.15
and 2.0 and `tensorflow` from 2.1 on) it picks the newest final patch, fetches one Linux x86_64 wheel
with `pip download --no-deps --only-binary=:all:` (nothing is installed, nothing from the wheel is
run), reads it with tools/wheel_facts.py (beside this script), and rewrites ONLY the lines between

    # BEGIN GENERATED: tensorflow (tools/refresh_matrix.py)
    # END GENERATED: tensorflow

keeping every other byte of the file as it was.

    python tools/refresh_matrix.py                        # every release
    python tools/refresh_matrix.py --only 2.21 --only 2.20
    python tools/refresh_matrix.py --fixtures tests/data/wheels --delete-wheels

Release list and Python tags come from PyPI's JSON API when it is reachable; otherwise the
fallback table below names the releases, and the tags are the ones whose download succeeds.

Besides what the wheel read says, each row gets facts about its whole series:

- `python_by_release`: for every final release of the series, the Python versions with a Linux
  x86_64 (and aarch64) wheel, from the file names PyPI's Simple API lists (JSON form, PEP 691);
  nothing is downloaded. A patch release can drop a Python its predecessors had (cp35 after
  2.3.1, cp36 after 2.6.2, cp37 after 2.11.0), so the series' newest release does not say it all.
- `tested_build`: cuDNN and CUDA major.minor from TensorFlow's tested build configurations table
  (Linux GPU), the only place that gives the cuDNN minor of 1.15-2.13 (their build_info.py has
  the major only). `--tested-builds FILE` reads the table from a tensorflow/docs checkout's
  site/en/install/source.md; otherwise the copy below (read at TESTED_BUILDS_COMMIT) is used.
- `cpu_only_tensorflow`: the releases whose plain `tensorflow` wheel is CPU-only, so that the GPU
  build is the row's `package` (tensorflow-gpu), from CPU_ONLY_TENSORFLOW below.

    python tools/refresh_matrix.py --release-facts-only   # only these, from PyPI, no wheel download
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
try:
    import tfgpu  # noqa: F401
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(REPO / "src"))

from packaging.version import InvalidVersion, Version
from wheel_facts import (
    OPTIONAL_ROW_KEYS,
    RELEASE_FACT_KEYS,
    ROW_KEYS,
    WheelMembers,
    python_versions_from_tags,
    read_wheel_members,
    row_from_wheel,
    sha256_of,
)

from tfgpu import proc

BEGIN_MARKER = "# BEGIN GENERATED: tensorflow (tools/refresh_matrix.py)"
END_MARKER = "# END GENERATED: tensorflow"
DEFAULT_CACHE = Path("~/.cache/tfgpu-wheels").expanduser()
DEFAULT_MATRIX = REPO / "compat_matrix.yaml"

# (series, PyPI project holding the CUDA build). 1.15 and 2.0 shipped CUDA in a separate
# tensorflow-gpu package; from 2.1 the plain `tensorflow` wheel is the CUDA build on Linux.
SERIES: tuple[tuple[str, str], ...] = (("1.15", "tensorflow-gpu"), ("2.0", "tensorflow-gpu")) + tuple(
    (f"2.{minor}", "tensorflow") for minor in range(1, 22)
)
# Newest final patch per series as of 2026-11-26; only used when PyPI's JSON API cannot be reached.
FALLBACK_LATEST = {
    "1.15": "1.15.5", "2.0": "2.0.4", "2.1": "2.1.4", "2.2": "2.2.3", "2.3": "2.3.4", "2.4": "2.4.4",
    "2.5": "2.5.3", "2.6": "2.6.5", "2.7": "2.7.4", "2.8": "2.8.4", "2.9": "2.9.3", "2.10": "2.10.1",
    "2.11": "2.11.1", "2.12": "2.12.1", "2.13": "2.13.1", "2.14": "2.14.1", "2.15": "2.15.1",
    "2.16": "2.16.2", "2.17": "2.17.1", "2.18": "2.18.1", "2.19": "2.19.1", "2.20": "2.20.0",
    "2.21": "2.21.0",
}
# The wheel we read: the CPython 3.11 one where it exists, else the newest CPython the release has.
# (Within a release METADATA / build_info / cuda_config.h do not differ between python tags.)
PREFERRED_TAG = "cp311"
FALLBACK_TAGS = tuple(f"cp3{minor}" for minor in range(14, 4, -1))  # tried when PyPI is unreachable
PLATFORMS = ("manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux2010_x86_64", "manylinux1_x86_64")
PIP_TIMEOUT_S = 1800
HTTP_TIMEOUT_S = 30

# --- facts about a whole series (see the module docstring) ---------------------------------------
PYPI_FILES_SOURCE = "pypi-file-lists"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
TESTED_BUILDS_SOURCE = "tf-tested-builds"
TESTED_BUILDS_COMMIT = "7c3650212740204359d4ceae481abc79345541be"  # tensorflow/docs, 2026-03-11
# series -> (cuDNN, CUDA) of the Linux GPU table in tensorflow/docs site/en/install/source.md at
# TESTED_BUILDS_COMMIT (lines 486-508; each row names the series' x.y.0 release, 1.15 as tensorflow_gpu-1.15.0).
TESTED_BUILDS: dict[str, tuple[str, str]] = {
    "1.15": ("7.4", "10.0"), "2.0": ("7.4", "10.0"), "2.1": ("7.6", "10.1"), "2.2": ("7.6", "10.1"),
    "2.3": ("7.6", "10.1"), "2.4": ("8.0", "11.0"), "2.5": ("8.1", "11.2"), "2.6": ("8.1", "11.2"),
    "2.7": ("8.1", "11.2"), "2.8": ("8.1", "11.2"), "2.9": ("8.1", "11.2"), "2.10": ("8.1", "11.2"),
    "2.11": ("8.1", "11.2"), "2.12": ("8.6", "11.8"), "2.13": ("8.6", "11.8"), "2.14": ("8.7", "11.8"),
    "2.15": ("8.9", "12.2"), "2.16": ("8.9", "12.3"), "2.17": ("8.9", "12.3"), "2.18": ("9.3", "12.5"),
    "2.19": ("9.3", "12.5"), "2.20": ("9.3", "12.5"), "2.21": ("9.3", "12.5"),
}
CPU_ONLY_SOURCE = "tf-plain-wheels"
# Releases whose plain `tensorflow` Linux wheel has is_cuda_build = False in its build_info.py (read
# from the PyPI wheels by HTTP range requests, 2026-11-30, every release listed): TF 1.15.0's
# `tensorflow` was a CUDA build, 1.15.2 on were not (there is no 1.15.1); every 2.0.x was CPU-only;
# from 2.1.0 the plain package is the CUDA build.
CPU_ONLY_TENSORFLOW: dict[str, tuple[str, ...]] = {
    "1.15": ("1.15.2", "1.15.3", "1.15.4", "1.15.5"),
    "2.0": ("2.0.0", "2.0.1", "2.0.2", "2.0.3", "2.0.4"),
}
ARCHES = ("x86_64", "aarch64")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- PyPI ----------------------------------------------------------------------------------------


def _get_json(url: str) -> dict[str, Any] | None:
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "tfgpu-refresh-matrix"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            data = json.load(resp)
            return data if isinstance(data, dict) else None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log(f"  PyPI: {url}: {exc}")
        return None


@dataclass
class PypiIndex:
    """What PyPI says about one project (None fields: PyPI was not reachable)."""

    project: str
    releases: dict[str, list[dict[str, Any]]] | None

    @classmethod
    def fetch(cls, project: str) -> PypiIndex:
        data = _get_json(f"https://pypi.org/pypi/{project}/json")
        releases = data.get("releases") if isinstance(data, dict) else None
        return cls(project, releases if isinstance(releases, dict) else None)

    def newest_final(self, series: str) -> str | None:
        if not self.releases:
            return None
        best: Version | None = None
        best_text = None
        for text, files in self.releases.items():
            try:
                v = Version(text)
            except InvalidVersion:
                continue
            if v.is_prerelease or v.is_devrelease or f"{v.major}.{v.minor}" != series:
                continue
            if not files or all(f.get("yanked") for f in files):
                continue
            if best is None or v > best:
                best, best_text = v, text
        return best_text

    def files(self, version: str) -> list[dict[str, Any]] | None:
        # The project document (already fetched) lists every release's files; the per-version
        # endpoint is asked only when that document is missing or lacks the version.
        if self.releases is not None and self.releases.get(version):
            return self.releases[version]
        data = _get_json(f"https://pypi.org/pypi/{self.project}/{version}/json")
        if isinstance(data, dict) and isinstance(data.get("urls"), list):
            return cast("list[dict[str, Any]]", data["urls"])
        return None


def fetch_simple_files(project: str) -> list[dict[str, Any]] | None:
    """Every file PyPI lists for `project` (its Simple API in JSON, PEP 691), None where unreachable."""
    req = urllib.request.Request(f"https://pypi.org/simple/{project}/",
                                 headers={"Accept": SIMPLE_JSON, "User-Agent": "tfgpu-refresh-matrix"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            data = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log(f"  PyPI simple: {project}: {exc}")
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else None


def python_by_release(files: Iterable[dict[str, Any]], series: str, arch: str = "x86_64") -> dict[str, list[str]]:
    """{final release of `series`: Python X.Y with a non-yanked CPython manylinux `arch` wheel},
    from file names alone; releases without such a wheel are left out. Oldest release first."""
    found: dict[str, set[str]] = {}
    for _f, version, tag, plat in wheel_files(files):
        try:
            v = Version(version)
        except InvalidVersion:
            continue
        if v.is_prerelease or v.is_devrelease or f"{v.major}.{v.minor}" != series:
            continue
        if "manylinux" not in plat or not any(p.endswith(arch) for p in plat.split(".")):
            continue
        found.setdefault(str(v), set()).update(python_versions_from_tags(tag.split(".")))
    return {rel: python_versions_from_tags(f"cp{p.replace('.', '')}" for p in found[rel])
            for rel in sorted(found, key=Version) if found[rel]}


_TABLE_ROW_RE = re.compile(r"<tr><td>tensorflow(?:[-_]gpu)?-(\d+)\.(\d+)\.\d+</td>(?:<td>[^<]*</td>){3}"
                           r"<td>(\d+\.\d+)</td><td>(\d+\.\d+)</td></tr>")


def tested_builds_from_source_md(text: str) -> dict[str, tuple[str, str]]:
    """{series: (cuDNN, CUDA)} from the Linux "#### GPU" table of tensorflow/docs site/en/install/source.md
    (the first GPU table after the "## Tested build configurations" heading of the Linux section)."""
    start = text.find("#### GPU")
    if start < 0:
        return {}
    end = text.find("</table>", start)
    out: dict[str, tuple[str, str]] = {}
    for m in _TABLE_ROW_RE.finditer(text[start:end if end > 0 else None]):
        out.setdefault(f"{m.group(1)}.{m.group(2)}", (m.group(3), m.group(4)))
    return out


def release_facts(row: dict[str, Any], project_files: dict[str, list[dict[str, Any]] | None],
                  tested: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """`row` with its series-wide facts (python_by_release, tested_build, cpu_only_tensorflow) set:
    computed where their source is at hand, else kept as the row had them."""
    out = dict(row)
    series = str(row["series"])
    files = project_files.get(str(row["package"]))
    if files is not None:
        by_arch = {arch: python_by_release(files, series, arch) for arch in ARCHES}
        if by_arch["x86_64"]:
            value: dict[str, Any] = {"source": PYPI_FILES_SOURCE, "x86_64": by_arch["x86_64"]}
            if by_arch["aarch64"]:
                value["aarch64"] = by_arch["aarch64"]
            out["python_by_release"] = value
    if series in tested:
        cudnn, cuda = tested[series]
        out["tested_build"] = {"cudnn": cudnn, "cuda": cuda, "source": TESTED_BUILDS_SOURCE}
    if series in CPU_ONLY_TENSORFLOW:
        out["cpu_only_tensorflow"] = {"releases": list(CPU_ONLY_TENSORFLOW[series]), "source": CPU_ONLY_SOURCE}
    return out


def wheel_files(files: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str, str, str]]:
    """(file record, version, python tag, platform tag) of each non-yanked wheel, from its file name."""
    for f in files:
        name = str(f.get("filename", ""))
        if f.get("yanked") or not name.endswith(".whl"):
            continue
        parts = name[:-4].split("-")
        if len(parts) >= 5:
            yield f, parts[1], parts[-3], parts[-1]


def linux_x86_64_wheels(files: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{python tag: file record} of the non-yanked CPython manylinux x86_64 wheels."""
    out: dict[str, dict[str, Any]] = {}
    for f, _version, tag, plat in wheel_files(files):
        if tag.startswith("cp") and "manylinux" in plat and "x86_64" in plat:
            out[tag] = f
    return out


def pick_tag(tags: Iterable[str]) -> str:
    tags = list(tags)
    if PREFERRED_TAG in tags:
        return PREFERRED_TAG
    return max(tags, key=lambda t: int(t[3:]) if t[3:].isdigit() else 0)


def python_version_of(tag: str) -> str:
    return python_versions_from_tags([tag])[0]


# --- wheels --------------------------------------------------------------------------------------


def _dist_prefix(project: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', project)}-{version}-"


def cached_wheel(cache: Path, project: str, version: str, tag: str) -> Path | None:
    """A manylinux x86_64 wheel of `project` `version` for python tag `tag` already in the cache."""
    prefix = _dist_prefix(project, version)
    rx = re.compile(re.escape(prefix) + re.escape(tag) + r"-[^-]+-[^-]*manylinux[^-]*x86_64[^-]*\.whl$", re.IGNORECASE)
    try:
        names = sorted(os.listdir(cache))
    except FileNotFoundError:
        return None
    hits = [cache / n for n in names if rx.match(n)]
    return hits[0] if hits else None


def pip_download(project: str, version: str, tag: str, cache: Path) -> Path | None:
    """Download one wheel into the cache; None when pip finds no such wheel."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--python-version", python_version_of(tag), "--implementation", "cp"]
    for plat in PLATFORMS:
        argv += ["--platform", plat]
    argv += ["-d", str(cache), f"{project}=={version}"]
    log(f"  $ {' '.join(argv)}")
    # Through tfgpu's one command seam: argv list (never a shell), a hard time limit.
    result = proc.run(argv, timeout=PIP_TIMEOUT_S)
    if not result.ok:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        log(f"  pip download {result.describe()}: {tail[0]}")
        return None
    return cached_wheel(cache, project, version, tag)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_of(fh)


# --- one release -----------------------------------------------------------------------------------


@dataclass
class Result:
    series: str
    row: dict[str, Any]
    members: WheelMembers
    python_tags: list[str]
    wheel_path: Path


def process_series(series: str, project: str, index: PypiIndex, cache: Path) -> Result:
    version = index.newest_final(series)
    if version is None:
        version = FALLBACK_LATEST[series]
        log(f"{series}: PyPI release list unavailable; using {project} {version} from the fallback table")
    else:
        log(f"{series}: {project} {version}")
    files = index.files(version)
    downloaded: dict[str, Path] = {}
    expected_sha: str | None = None
    if files is not None:
        wheels = linux_x86_64_wheels(files)
        if not wheels:
            raise RuntimeError(f"{project} {version} has no CPython manylinux x86_64 wheel on PyPI")
        tags = sorted(wheels, key=lambda t: int(t[3:]) if t[3:].isdigit() else 0)
        tag = pick_tag(tags)
        expected_sha = (wheels[tag].get("digests") or {}).get("sha256")
        path = cached_wheel(cache, project, version, tag) or pip_download(project, version, tag, cache)
        if path is None:
            raise RuntimeError(f"could not download {project} {version} for {tag}")
    else:
        # No JSON API: the tags are the ones pip can download. Keep only the wheel we read.
        log(f"  PyPI JSON API unavailable; trying python tags {', '.join(FALLBACK_TAGS)}")
        found: dict[str, Path] = {}
        for cand in FALLBACK_TAGS:
            hit = cached_wheel(cache, project, version, cand)
            if hit is None:
                hit = pip_download(project, version, cand, cache)
                if hit is not None:
                    downloaded[cand] = hit
            if hit is not None:
                found[cand] = hit
        if not found:
            raise RuntimeError(f"no Linux x86_64 wheel of {project} {version} could be downloaded")
        tags = sorted(found, key=lambda t: int(t[3:]))
        tag = pick_tag(tags)
        path = found[tag]
        for other, p in downloaded.items():  # only what this run downloaded, never older cache entries
            if other != tag:
                p.unlink(missing_ok=True)
    sha = sha256_file(path)
    if expected_sha and sha != expected_sha:
        raise RuntimeError(f"{path.name}: sha256 {sha} does not match PyPI's {expected_sha}")
    with zipfile.ZipFile(path) as zf:
        members = read_wheel_members(zf)
        row = row_from_wheel(zf, filename=path.name, sha256=sha, python_tags=tags, members=members)
    if row["release"] != version:
        raise RuntimeError(f"{path.name}: METADATA says version {row['release']}, expected {version}")
    log(f"  {path.name}: CUDA {row['cuda']}, cuDNN {row['cudnn']}, python {', '.join(row['python'])}")
    return Result(series, row, members, tags, path)


def write_fixtures(result: Result, root: Path) -> None:
    """The small member files a row was built from, plus facts.json, under root/<series>/."""
    out = root / result.series
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("build_info.py", "METADATA", "cuda_config.h", "nccl_config.h", "cudnn_version.h", "facts.json"):
        (out / stale).unlink(missing_ok=True)
    m = result.members
    files = {
        "build_info.py": m.build_info_text,
        "METADATA": m.metadata_text,
        "cuda_config.h": m.cuda_config_text,
        "nccl_config.h": m.nccl_config_text,
        "cudnn_version.h": m.cudnn_version_text,
    }
    for name, text in files.items():
        if text is not None:
            (out / name).write_text(text, encoding="utf-8", newline="")
    facts = {
        "package": result.row["package"],
        "release": result.row["release"],
        "filename": result.wheel_path.name,
        "sha256": result.row["sha256"],
        "python_tags": result.python_tags,
        "framework_library": m.framework_path,
        "runpath": list(m.runpath),
        "rpath": list(m.rpath),
        # The DsoLoader functions libtensorflow_framework has (wheel_facts.dso_loaders_in): the
        # fixture rebuilds `libraries` from these without the (large) library itself.
        "dso_loaders": list(m.dso_loaders) if m.dso_loaders is not None else None,
        "members": {
            "build_info.py": m.build_info_path,
            "METADATA": m.metadata_path,
            "cuda_config.h": m.cuda_config_path,
            "nccl_config.h": m.nccl_config_path,
            "cudnn_version.h": m.cudnn_version_path,
        },
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")


# --- YAML -------------------------------------------------------------------------------------------


def _q(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _plain(value: Any) -> str:
    """An id (source, package) bare, anything else quoted."""
    return value if isinstance(value, str) and re.match(r"^[a-z][a-z0-9-]*$", value) else _q(value)


def _flow(values: Iterable[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def row_notes(row: dict[str, Any]) -> dict[str, str]:
    """Inline comments for facts that need a word of explanation (derived from the row alone)."""
    notes: dict[str, str] = {}
    ccs = row.get("compute_capabilities") or []
    if ccs and not any(str(c).startswith(("sm_", "compute_")) for c in ccs):
        notes["compute_capabilities"] = ("bare numbers as written: build_info.py has no list, these are "
                                         "cuda_config.h's TF_CUDA_CAPABILITIES")
    if row.get("cuda_build_info"):
        notes["cuda"] = (f'cuda_config.h (TF_CUDA_VERSION); build_info.py says only "{row["cuda_build_info"]}" '
                         "(cuda_build_info)")
    libraries = row.get("libraries") or {}
    if row.get("tested_build"):
        notes["tested_build"] = (f"tensorflow/docs site/en/install/source.md @ {TESTED_BUILDS_COMMIT[:12]}, "
                                 "Linux GPU table")
    if row.get("cpu_only_tensorflow"):
        notes["cpu_only_tensorflow"] = f"plain tensorflow is CPU-only in these releases: install {row['package']}"
    if row.get("cuda") and not libraries:
        notes["libraries"] = "no cuda_config.h in the wheel"
    elif libraries and "curand" not in libraries and any(
            str(req).startswith("nvidia-curand") for req in row.get("and_cuda") or []):
        notes["libraries"] = "no curand: DsoLoader has no curand loader, although and-cuda pins nvidia-curand"
    return notes


def render_rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "tensorflow: []\n"
    lines = ["tensorflow:"]
    for row in rows:
        notes = row_notes(row)
        first = True
        for key in ROW_KEYS:
            value = row.get(key)
            if key in OPTIONAL_ROW_KEYS and value is None:
                continue
            if key in ("package", "source") and isinstance(value, str) and re.match(r"^[a-z][a-z0-9-]*$", value):
                text = value
            elif key in ("python", "compute_capabilities", "nvidia_runpath"):
                text = _flow(value or [])
            elif key == "libraries":
                text = "{" + ", ".join(f"{k}: {_q(v)}" for k, v in (value or {}).items()) + "}"
            elif key == "and_cuda":
                text = "[]" if not value else ""
            elif key in ("tested_build", "cpu_only_tensorflow"):
                text = "{" + ", ".join(f"{k}: {_flow(v) if isinstance(v, list) else _plain(v)}"
                                       for k, v in value.items()) + "}"
            elif key == "python_by_release":
                text = ""
            else:
                text = _q(value)
            prefix = "  - " if first else "    "
            first = False
            line = f"{prefix}{key}:" + (f" {text}" if text else "")
            if key in notes:
                line += f"  # {notes[key]}"
            lines.append(line)
            if key == "and_cuda" and value:
                lines.extend(f"      - {_q(req)}" for req in value)
            if key == "python_by_release":
                lines.append(f"      source: {_plain(value['source'])}")
                for arch in ARCHES:
                    if value.get(arch):
                        lines.append(f"      {arch}:")
                        lines.extend(f"        {_q(rel)}: {_flow(tags)}" for rel, tags in value[arch].items())
    return "\n".join(lines) + "\n"


def _series_key(series: str) -> tuple[int, ...]:
    return tuple(int(p) for p in series.split("."))


def replace_section(text: str, body: str) -> str:
    """`text` with the lines between the markers replaced by `body`; every other byte kept."""
    lines = text.splitlines(keepends=True)
    begin = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN_MARKER]
    end = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == END_MARKER]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise RuntimeError(f"expected exactly one '{BEGIN_MARKER}' line followed by one '{END_MARKER}' line")
    newline = "\r\n" if lines[begin[0]].endswith("\r\n") else "\n"
    if newline != "\n":
        body = body.replace("\n", newline)
    return "".join(lines[: begin[0] + 1]) + body + "".join(lines[end[0]:])


def current_rows(text: str) -> list[dict[str, Any]]:
    """The rows now between the markers (to keep the ones --only does not refresh)."""
    import yaml

    lines = text.splitlines(keepends=True)
    try:
        b = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN_MARKER)
        e = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == END_MARKER)
    except StopIteration:
        return []
    data = yaml.safe_load("".join(lines[b + 1:e])) or {}
    rows = data.get("tensorflow") or []
    return [dict(r) for r in rows if isinstance(r, dict)]


def write_rows(matrix: Path, text: str, rows: dict[str, dict[str, Any]], dry_run: bool) -> None:
    """Replace the generated section of `text` (the file as just read) with `rows`, by series."""
    ordered = [rows[s] for s in sorted(rows, key=_series_key)]
    body = render_rows(ordered)
    if dry_run:
        sys.stdout.write(body)
        return
    new = replace_section(text, body)
    if new == text:
        log(f"{matrix} unchanged")
        return
    fd, tmp = tempfile.mkstemp(dir=str(matrix.parent), prefix=".compat_matrix.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(new.encode("utf-8"))
    os.chmod(tmp, matrix.stat().st_mode & 0o7777)
    os.replace(tmp, matrix)
    log(f"wrote {len(ordered)} rows to {matrix}")


def refresh_release_facts(matrix: Path, tested: dict[str, tuple[str, str]], only: list[str], dry_run: bool) -> int:
    """--release-facts-only: every row's series-wide facts, from PyPI's file lists and the tables above."""
    text = matrix.read_bytes().decode("utf-8")
    rows = {str(r.get("series")): r for r in current_rows(text)}
    projects = {str(r["package"]) for s, r in rows.items() if not only or s in only}
    project_files = {p: fetch_simple_files(p) for p in sorted(projects)}
    missing = sorted(p for p, files in project_files.items() if files is None)
    for series, row in rows.items():
        if not only or series in only:
            rows[series] = release_facts(row, project_files, tested)
    text = matrix.read_bytes().decode("utf-8")  # re-read right before writing: others may have edited it
    write_rows(matrix, text, rows, dry_run)
    if missing:
        log(f"PyPI file lists unavailable for {', '.join(missing)}: their python_by_release was kept")
        return 1
    return 0


# --- main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help=f"wheel cache; wheels already there are reused (default {DEFAULT_CACHE})")
    ap.add_argument("--only", action="append", metavar="SERIES", default=[],
                    help="refresh only this release series, e.g. 2.21 (repeatable); other rows are kept")
    ap.add_argument("--fixtures", type=Path, metavar="DIR",
                    help="also write each release's member files and facts.json under DIR/<series>/")
    ap.add_argument("--delete-wheels", action="store_true", help="delete each wheel after reading it")
    ap.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX, help="matrix file to rewrite")
    ap.add_argument("--dry-run", action="store_true", help="print the generated section instead of writing it")
    ap.add_argument("--release-facts-only", action="store_true",
                    help="download no wheel: keep every row's wheel facts and refresh only python_by_release, "
                         "tested_build and cpu_only_tensorflow")
    ap.add_argument("--tested-builds", type=Path, metavar="SOURCE_MD",
                    help="read the tested-build table from this tensorflow/docs site/en/install/source.md")
    args = ap.parse_args(argv)
    tested = dict(TESTED_BUILDS)
    if args.tested_builds:
        parsed = tested_builds_from_source_md(args.tested_builds.read_text(encoding="utf-8"))
        if not parsed:
            ap.error(f"--tested-builds {args.tested_builds}: no Linux GPU table found")
        tested = parsed
    if args.release_facts_only:
        return refresh_release_facts(args.matrix, tested, args.only, args.dry_run)

    known = dict(SERIES)
    for s in args.only:
        if s not in known:
            ap.error(f"--only {s}: not a known series ({', '.join(known)})")
    todo = [(s, p) for s, p in SERIES if not args.only or s in args.only]
    args.cache.mkdir(parents=True, exist_ok=True)

    indexes: dict[str, PypiIndex] = {}
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for series, project in todo:
        index = indexes.get(project) or indexes.setdefault(project, PypiIndex.fetch(project))
        try:
            result = process_series(series, project, index, args.cache)
        except (RuntimeError, OSError, ValueError, zipfile.BadZipFile) as exc:
            log(f"{series}: FAILED: {exc}")
            failures.append(series)
            continue
        results[series] = result.row
        if args.fixtures:
            write_fixtures(result, args.fixtures)
        if args.delete_wheels:
            result.wheel_path.unlink(missing_ok=True)

    project_files = {project: fetch_simple_files(project) for project in {p for _s, p in todo}}
    # Read the file right before writing: the curated sections may have changed meanwhile.
    text = args.matrix.read_bytes().decode("utf-8")
    rows = {str(r.get("series")): r for r in current_rows(text)} if (args.only or failures) else {}
    for series, row in results.items():
        old = rows.get(series, {})
        rows[series] = release_facts({**{k: old[k] for k in RELEASE_FACT_KEYS if k in old}, **row},
                                     project_files, tested)
    write_rows(args.matrix, text, rows, args.dry_run)
    if failures:
        log(f"failed: {', '.join(failures)} (their previous rows, if any, were kept)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
