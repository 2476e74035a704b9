"""The report model: severities, fixes, findings, probe outcomes, the report itself, and the
options of the run that made it.

Everything here is plain, frozen data. Probes produce facts, checks produce findings, renderers
read a `Report`; none of them share anything else.
"""

from __future__ import annotations

import enum
from dataclasses import field
from typing import Any

from tfgpu.records import dataclass


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
    #: The id of the finding that causes this one, when this one is only its consequence (no
    #: driver -> no GPU listed): renderers show it under its cause and its fixes are not repeated.
    root_cause: str = ""
    #: Why this finding is ignored by the run's policy (`--ignore ID`, or `[tool.tfgpu] ignore`), ""
    #: when it is not: an ignored finding stays in every report, marked, and never sets the exit code.
    ignored: str = ""


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


@dataclass(frozen=True)
class RunOptions:
    """What one run was asked for. The CLI builds it; it travels unchanged to the probes (through
    `ProbeContext.options`), the checks (`CheckContext.options`) and the verdict."""

    #: Never import TensorFlow: static facts only, a predicted verdict.
    fast: bool = False
    #: Run a little work on each GPU after the live import (off with --no-smoke).
    smoke: bool = True
    #: A warning, or a verdict that could not be decided, fails the run (exit 1).
    strict: bool = False
    #: Seconds each probe may take (the live probe has its own limit).
    timeout: float = 30.0
    #: Seconds the live TensorFlow import and GPU smoke test may take.
    live_timeout: float = 120.0
    #: The saved report whose facts were replayed instead of probing, if any.
    from_facts: str | None = None
    #: explain's signature knowledge, for classifying the live import's log: data handed to the
    #: checks so that they stay pure (the runner loads it when there is a live log).
    knowledge: Any = None
    #: How tfgpu was invoked (argv after the program name, as typed, e.g. ("doctor", "--python",
    #: "/srv/venv/bin/python")): every tfgpu command a finding suggests is rebuilt from it, so that
    #: pasting it diagnoses the same environment (see tfgpu.invocation).
    argv: tuple[str, ...] = ()
    #: Why the target interpreter was chosen ("--python", "the active virtualenv (VIRTUAL_ENV)", ...).
    target_reason: str = ""


class Area(str, enum.Enum):
    """The part of the stack a check (and its findings) is about; renderers group by it."""

    PLATFORM = "platform"
    ENVIRONMENT = "environment"
    TENSORFLOW = "tensorflow"
    DRIVER = "driver"
    GPU = "gpu"
    LIBRARIES = "libraries"
    TOOLKIT = "toolkit"
    LIVE = "live"
    #: The run's own requirements (tfgpu.policy: --require-gpus, [tool.tfgpu]), not a part of the stack.
    POLICY = "policy"
    PLUGINS = "plugins"


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
    #: The run's policy (tfgpu.policy): what was required and what was ignored; {} when none was set.
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def worst(self) -> Severity:
        """The worst severity among the findings that the policy does not ignore."""
        worst = Severity.OK
        for finding in self.findings:
            if not finding.ignored and finding.severity.rank > worst.rank:
                worst = finding.severity
        return worst

    def fails(self, warnings_fail: bool = False) -> bool:
        """Whether the findings fail the run (exit 1; a check that itself failed is exit 3, apart):
        an error the policy does not ignore; with `warnings_fail` (fail-on warning, --strict) a
        warning too, or a verdict that could not be decided (a gate must not pass on a machine it
        could not judge)."""
        worst = self.worst
        return worst is Severity.ERROR or (warnings_fail and (
            worst is Severity.WARNING or self.verdict.status is VerdictStatus.UNKNOWN))
