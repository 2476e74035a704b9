"""`tfgpu explain`: read a TensorFlow/CUDA log and say what it means, with the doctor's findings and fixes.

Flow: `reader` (the only I/O) yields bounded lines → `scan` matches them against the signatures
in `tfgpu/knowledge/signatures.yaml` → `report` builds a `Report` (cross-checking versions
against the matrix) → `render` (terminal) or `tfgpu.render.json` (with kind "explain").
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable

from tfgpu.explain.knowledge import Knowledge, KnowledgeError, load_knowledge
from tfgpu.explain.report import build_report
from tfgpu.explain.scan import ScanResult, scan
from tfgpu.model import Report, Severity

__all__ = ["run", "explain_lines", "report_to_dict", "load_knowledge", "Knowledge", "KnowledgeError", "ScanResult"]


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
    from tfgpu.render.json import report_to_dict as doctor_dict

    data = doctor_dict(report)
    data["kind"] = "explain"
    return data


def run(path: str | None, as_json: bool, matrix: Any | None, width: int = 100, color: bool = False) -> int:
    """Explain the log at `path` (None: standard input); print the report; return the exit code.

    0: nothing wrong found; 1: an error finding; 2: the log cannot be read (permission denied,
    an I/O error part-way); 3: the signature file itself is broken.
    """
    from tfgpu.explain.reader import iter_log_lines

    try:
        know = load_knowledge()
    except KnowledgeError as exc:
        sys.stderr.write(f"tfgpu: broken signature file: {exc}\n")
        return 3
    t0 = time.monotonic()
    source = path or "<stdin>"
    try:
        # The reader is lazy: open and read errors surface while the lines are scanned.
        report = explain_lines(iter_log_lines(path), matrix, source, know)
    except OSError as exc:
        sys.stderr.write(f"tfgpu: {source}: {exc.strerror or exc}\n")
        return 2
    report.timings["total"] = round(time.monotonic() - t0, 4)
    if as_json:
        sys.stdout.write(json.dumps(report_to_dict(report), indent=2) + "\n")
    else:
        from tfgpu.explain.render import render

        sys.stdout.write(render(report, width=width, color=color))
    sys.stdout.flush()
    return 1 if report.worst is Severity.ERROR else 0
