"""The one seam between TensorFlow logs and findings: the live probe's log and the smoke tests'
errors are classified with the same signature knowledge that `tfgpu explain` uses."""

from __future__ import annotations

from typing import Any, Iterable

from tfgpu.model import Finding


def classify(lines: Iterable[str], matrix: Any = None, source: str = "tf_live") -> list[Finding]:
    """Findings for log lines: root causes (errors/warnings), noise ("Harmless: ...") and
    unrecognised error lines, with the same ids as the doctor's checks."""
    from tfgpu.explain import explain_lines

    return list(explain_lines(list(lines), matrix, source).findings)
