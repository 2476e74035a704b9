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
from collections.abc import Iterable
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


def linux_x86_64_wheels(files: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{python tag: file record} of the non-yanked CPython manylinux x86_64 wheels."""
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        name = str(f.get("filename", ""))
        if f.get("yanked") or not name.endswith(".whl"):
            continue
        parts = name[:-4].split("-")
        if len(parts) < 5:
            continue
        tag, plat = parts[-3], parts[-1]
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
    args = ap.parse_args(argv)

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

    raw = args.matrix.read_bytes()
    text = raw.decode("utf-8")
    rows = {str(r.get("series")): r for r in current_rows(text)} if (args.only or failures) else {}
    rows.update(results)
    ordered = [rows[s] for s in sorted(rows, key=_series_key)]
    body = render_rows(ordered)
    if args.dry_run:
        sys.stdout.write(body)
    else:
        new = replace_section(text, body)
        if new != text:
            fd, tmp = tempfile.mkstemp(dir=str(args.matrix.parent), prefix=".compat_matrix.")
            with os.fdopen(fd, "wb") as fh:
                fh.write(new.encode("utf-8"))
            os.chmod(tmp, args.matrix.stat().st_mode & 0o7777)
            os.replace(tmp, args.matrix)
            log(f"wrote {len(ordered)} rows to {args.matrix}")
        else:
            log(f"{args.matrix} unchanged")
    if failures:
        log(f"failed: {', '.join(failures)} (their previous rows, if any, were kept)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
