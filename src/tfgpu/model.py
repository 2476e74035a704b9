"""The report model: severities, fixes, findings, probe outcomes and the report itself.

Everything here is plain, frozen data. Probes produce facts, checks produce findings, renderers
read a `Report`; none of them share anything else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    """A finding's outcome, ordered from best to worst by `rank`."""

    OK = "ok"
    INFO = "info"
    SKIPPED = "skipped"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Severity.OK: 0,
    Severity.INFO: 1,
    Severity.SKIPPED: 1,
    Severity.WARNING: 2,
    Severity.ERROR: 3,
}


@dataclass(frozen=True)
class Fix:
    """One way out: what to do, the exact commands, and where to read more."""

    summary: str
    commands: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One judgement about the machine.

    `id` names the root cause (shared with `tfgpu explain`), `check` the check that made it,
    `area` the part of the stack it is about (platform, driver, libraries, ...: renderers group
    and order by it). `evidence` holds the observed values the judgement rests on.
    """

    id: str
    check: str
    severity: Severity
    summary: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    fixes: tuple[Fix, ...] = ()
    area: str = ""


class ProbeStatus(str, enum.Enum):
    """How a probe ended. Anything but OK means its fact is absent, with a reason."""

    OK = "ok"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ProbeFailure:
    """A probe that could not produce its fact, and why (never a bare None)."""

    probe: str
    status: ProbeStatus
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


class VerdictStatus(str, enum.Enum):
    READY = "ready"
    NOT_READY = "not_ready"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    headline: str
    predicted: bool = True


@dataclass(frozen=True)
class Report:
    """One run of the doctor: what was seen, what was judged, and how long it took."""

    verdict: Verdict
    facts: dict[str, Any]
    findings: tuple[Finding, ...]
    timings: dict[str, float]
    tool_version: str
    matrix_version: str = ""
    failed_checks: tuple[str, ...] = ()

    @property
    def worst(self) -> Severity:
        worst = Severity.OK
        for finding in self.findings:
            if finding.severity.rank > worst.rank:
                worst = finding.severity
        return worst
