"""The one seam between TensorFlow logs and findings: the live probe's log and the smoke tests'
errors are classified with the same signature knowledge that `tfgpu explain` uses.

The knowledge is loaded once by the runner (I/O) and handed in, so that checks stay pure.
"""

from __future__ import annotations

from typing import Any, Iterable

from tfgpu.explain import KnowledgeError, explain_lines
from tfgpu.explain import load_knowledge as _load
from tfgpu.model import Finding


def load_knowledge() -> Any | None:
    """The signature knowledge, or None when it cannot be read (then logs go unclassified)."""
    try:
        return _load()
    except (KnowledgeError, OSError):
        return None


def classify(lines: Iterable[str], matrix: Any, knowledge: Any | None, source: str = "tf_live") -> list[Finding]:
    """Findings for log lines: root causes (errors/warnings), noise ("Harmless: ...") and
    unrecognised error lines, with the same ids as the doctor's checks. No knowledge, no findings."""
    if knowledge is None:
        return []
    return list(explain_lines(list(lines), matrix, source, knowledge).findings)
