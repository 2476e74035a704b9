"""`tfgpu fleet report PATH…`: merge per-node doctor reports into one view that names the odd nodes out.

Inputs: report files, directories (their *.json and *.out files, not recursive), and `-` for a
stream of JSON documents on stdin (such as `kubectl logs -l app=tfgpu --prefix`). Reports are read
one at a time and dropped once summarised (tfgpu.fleet.ingest); many files are read by worker
processes (`--jobs`). Exit: 0 every node ready, 1 a node not ready, without a usable report,
missing from --expect, or reported twice, 2 bad input (no such path, nothing to read, a bad option).
"""

from __future__ import annotations

from typing import List, Optional

import typer

from tfgpu.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, emit, err, text_style

#: Files per worker task. Worker processes are used by default only for PARALLEL_MIN files or more
#: on PARALLEL_CPUS CPUs or more: on 2 CPUs (bench/bench_fleet.py) 2 workers were slower than one
#: process (parsing is CPU-bound and the parent still merges), so there `--jobs 1` is the default.
CHUNK = 256
PARALLEL_MIN = 2000
PARALLEL_CPUS = 4


def _auto_jobs(files: int) -> int:
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if files < PARALLEL_MIN or cpus < PARALLEL_CPUS:
        return 1
    return min(cpus - 1, 8)


def collect(paths: List[str], jobs: int = 0):
    """The Items of every input, in order (a generator), or ValueError naming bad input (exit 2).

    Bad input is found before anything is read: a path that does not exist, a directory without
    report files, more than one `-`."""
    import os

    from tfgpu.fleet import ingest
    from tfgpu.safeio import printable

    plan: list[tuple[str, object]] = []  # ("stdin", None) or ("files", [paths])
    if sum(1 for p in paths if p == "-") > 1:
        raise ValueError("'-' (stdin) may be given once")
    for path in paths:
        if path == "-":
            plan.append(("stdin", None))
            continue
        shown = printable(path)
        if os.path.isdir(path):
            try:
                files = ingest.directory_files(path)
            except OSError as exc:
                raise ValueError(f"{shown}: cannot list the directory ({exc.strerror or exc})") from None
            if not files:
                raise ValueError(f"{shown}: no report files in it (*.json or *.out)")
            plan.append(("files", files))
        elif os.path.lexists(path):
            plan.append(("files", [path]))
        else:
            raise ValueError(f"{shown}: no such file or directory")

    def generate():
        for kind, files in plan:
            if kind == "stdin":
                reader = ingest.StreamReader("stdin", "stdin")
                stream = _stdin_text()
                if stream is None:
                    continue
                for item in reader.read_blocks(stream):
                    if isinstance(item, ingest.Problem) and item.kind == "no_report" and list(reader.splitters) == [None]:
                        # Plain text without one JSON document (no kubectl prefixes either): not
                        # a node without a report, the wrong input.
                        raise ValueError(f"stdin: {item.reason.replace('no JSON report in it', 'no JSON document in it')}")
                    yield item
                continue
            assert isinstance(files, list)
            workers = jobs or _auto_jobs(len(files))
            if workers <= 1 or len(files) < 2:
                for path in files:
                    yield from ingest.read_file(path)
                continue
            from concurrent.futures import ProcessPoolExecutor

            chunks = [files[i:i + CHUNK] for i in range(0, len(files), CHUNK)]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for items in pool.map(ingest.read_files, chunks):
                    yield from items

    return generate()


def _stdin_text():
    """Standard input as UTF-8 text whatever the locale (bytes that are not UTF-8 are replaced, and
    so named by the JSON parser or dropped with a log line); None when there is none."""
    import io
    import sys

    stream = sys.stdin
    if stream is None:
        return None
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return stream
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace", newline=None)


def build(paths: List[str], expect: Optional[str] = None, outlier_below: float = 10.0, jobs: int = 0) -> dict:
    """The fleet document of `paths` (what `--json` prints); ValueError for bad input."""
    from tfgpu import __version__
    from tfgpu.fleet.hostlist import expand
    from tfgpu.fleet.merge import Merger

    expected = expand(expect) if expect is not None else None
    if expected is not None and not expected:
        raise ValueError("--expect: the host list names no node")
    merger = Merger()
    merger.add_all(collect(paths, jobs))
    if merger.inputs == 0:
        raise ValueError("nothing to merge: no JSON document in the input")
    return merger.document(expect=expected, outlier_share=outlier_below / 100.0, tool_version=__version__)


def _write(path: str, text: str, what: str) -> bool:
    """Write `text` to `path`; False (one line said) where it cannot be written."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except (OSError, ValueError) as exc:
        err(f"{what} {path}: cannot write: {getattr(exc, 'strerror', None) or exc}")
        return False
    return True


def run(paths: List[str], *, as_json: bool = False, markdown: Optional[str] = None, junit: Optional[str] = None,
        expect: Optional[str] = None, outlier_below: float = 10.0, jobs: int = 0) -> int:
    """Merge `paths`, write --junit/--markdown files, print the view; the exit code (bad input:
    one line on stderr, EXIT_USAGE). What `fleet report` and `fleet slurm` both run."""
    from tfgpu.fleet import render
    from tfgpu.fleet.hostlist import HostlistError

    if as_json and markdown == "-":
        err("--json and --markdown - both print on stdout: choose one")
        return EXIT_USAGE
    try:
        doc = build(paths, expect=expect, outlier_below=outlier_below, jobs=jobs)
    except HostlistError as exc:
        err(f"--expect: {exc}")
        return EXIT_USAGE
    except ValueError as exc:
        err(str(exc))
        return EXIT_USAGE
    if junit and not _write(junit, render.junit(doc), "--junit"):
        return EXIT_USAGE
    if markdown and markdown != "-" and not _write(markdown, render.markdown(doc) + "\n", "--markdown"):
        return EXIT_USAGE
    if as_json:
        from tfgpu.render.json import document

        emit(document(doc))
    elif markdown == "-":
        emit(render.markdown(doc) + "\n")
    else:
        emit(render.text(doc, **text_style()) + "\n")
    return EXIT_OK if doc["verdict"]["status"] == "ready" else EXIT_FINDINGS


def report(
    paths: List[str] = typer.Argument(..., metavar="PATH...", help="Report files, directories of them (*.json, *.out), or '-' for JSON documents on stdin (e.g. kubectl logs --prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the merged view as one JSON document (kind 'fleet')."),
    markdown: Optional[str] = typer.Option(None, "--markdown", metavar="PATH", help="Also write the view as Markdown to PATH; '-' prints it on stdout instead of the terminal view."),
    junit: Optional[str] = typer.Option(None, "--junit", metavar="PATH", help="Also write JUnit XML to PATH: one testcase per node."),
    expect: Optional[str] = typer.Option(None, "--expect", metavar="HOSTLIST", help="The nodes that should have reported (a Slurm host list, e.g. 'gpu[001-064]'): the others are missing."),
    outlier_below: float = typer.Option(10.0, "--outlier-below", min=0.0, max=100.0, metavar="PERCENT", help="A configuration on fewer than PERCENT of the reporting nodes (other than the majority) is an outlier."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, max=64, metavar="N", help="Worker processes to read files with (0: by the number of files and CPUs)."),
) -> None:
    """Merge per-node reports: groups of identical configurations, the majority, outliers by what differs."""
    raise SystemExit(run(paths, as_json=as_json, markdown=markdown, junit=junit, expect=expect,
                         outlier_below=outlier_below, jobs=jobs))
