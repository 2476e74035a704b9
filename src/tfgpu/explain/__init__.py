"""`tfgpu explain`: read a TensorFlow/CUDA log and say what it means, with the doctor's findings and fixes.

Flow: `reader` (the only I/O) yields bounded lines → `scan` matches them against the signatures
in `tfgpu/knowledge/signatures.yaml` → `report` builds a `Report` (cross-checking versions
against the matrix) → `tfgpu.render.explain` (terminal) or `tfgpu.render.json` (kind "explain"),
written out by the CLI.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from tfgpu.explain.knowledge import Knowledge, KnowledgeError, load_knowledge
from tfgpu.explain.report import build_report
from tfgpu.explain.scan import ScanResult, scan
from tfgpu.model import Report

__all__ = ["explain_file", "ExplainFailed", "explain_lines", "report_to_dict", "load_knowledge", "Knowledge",
           "KnowledgeError", "ScanResult"]


def explain_lines(lines: Iterable[str], matrix: Any | None = None, source: str = "<lines>",
                  knowledge: Knowledge | None = None) -> Report:
    """The explain report for an iterable of log lines.

    Pure when `knowledge` is given (the doctor loads it once and passes it in); without it, the
    shipped signature file is loaded (cached). Scanning and report building read no files.
    """
    from tfgpu import __version__

    know = knowledge if knowledge is not None else load_knowledge()
    t0 = time.monotonic()
    result = scan(lines, know)
    t1 = time.monotonic()
    return build_report(result, know, matrix, source, __version__, {"scan": round(t1 - t0, 4)})


def report_to_dict(report: Report) -> dict[str, Any]:
    """The JSON document for an explain report (the doctor's schema, with kind "explain")."""
    from tfgpu.render.json import report_to_dict as as_dict

    return as_dict(report, kind="explain")


class ExplainFailed(Exception):
    """The log (or the signature file) could not be read: a one-line `message` and the exit `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def explain_file(path: str | None, matrix: Any | None) -> Report:
    """The explain report for the log at `path` (None: standard input). Writes nothing: the CLI
    renders the report and writes it out.

    Raises ExplainFailed with code 2 when the log cannot be read (permission denied, an I/O error
    part-way) and code 3 when the signature file itself is broken.
    """
    from tfgpu.explain.reader import iter_log_lines

    try:
        know = load_knowledge()
    except KnowledgeError as exc:
        raise ExplainFailed(f"broken signature file: {exc}", 3) from None
    t0 = time.monotonic()
    source = path or "<stdin>"
    try:
        # The reader is lazy: open and read errors surface while the lines are scanned.
        report = explain_lines(iter_log_lines(path), matrix, source, know)
    except OSError as exc:
        raise ExplainFailed(f"{source}: {exc.strerror or exc}", 2) from None
    report.timings["total"] = round(time.monotonic() - t0, 4)
    return report
