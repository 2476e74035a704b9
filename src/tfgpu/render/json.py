"""The JSON report: the contract for scripts (schema in tfgpu/schema/report.schema.json).

`report_to_dict` is pure; `facts_from_dict` rebuilds fact records for `--from-facts`;
`document` is how every command's JSON is laid out on stdout.
"""

from __future__ import annotations

import json
from typing import Any

from tfgpu.model import Finding, ProbeFailure, ProbeStatus, Report
from tfgpu.serde import REPORT_SCHEMA_VERSION, DecodeError, from_jsonable, to_jsonable

#: The report format version this tfgpu writes (and reads back: tfgpu.serde).
SCHEMA_VERSION = REPORT_SCHEMA_VERSION


def fact_to_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, ProbeFailure):
        return {"status": value.status.value, "message": value.message, "evidence": to_jsonable(value.evidence)}
    return {"status": "ok", "data": to_jsonable(value)}


def finding_to_dict(f: Finding) -> dict[str, Any]:
    out = {
        "id": f.id,
        "check": f.check,
        "area": f.area,
        "severity": f.severity.value,
        "summary": f.summary,
        "detail": f.detail,
        "evidence": to_jsonable(f.evidence),
        "fixes": [{"summary": x.summary, "commands": list(x.commands), "links": list(x.links)} for x in f.fixes],
    }
    if f.root_cause:
        out["root_cause"] = f.root_cause
    if f.ignored:
        out["ignored"] = f.ignored
    return out


#: A report's `policy` where the run set none (explain, or a doctor run without flags or config).
NO_POLICY: dict[str, Any] = {"fail_on": "error", "required": {}, "ignored": [], "source": None}


def report_to_dict(report: Report, kind: str = "doctor") -> dict[str, Any]:
    """The report as JSON data; `kind` is "doctor" or "explain" (one schema for both)."""
    from tfgpu.model import Severity

    counts = {s.value: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity.value] += 1
    verdict: dict[str, Any] = {
        "status": report.verdict.status.value,
        "headline": report.verdict.headline,
        "predicted": report.verdict.predicted,
    }
    decision = getattr(report.facts.get("log"), "decision", None)
    if isinstance(decision, dict) and decision.get("class"):
        # explain: the class of report it decided, and the lines that decided it (also in facts.log).
        verdict["class"] = decision.get("class")
        verdict["decided_by"] = list(decision.get("decided_by") or [])
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "tool": {"name": "tfgpu", "version": report.tool_version},
        "matrix": report.matrix_version,
        "verdict": verdict,
        "summary": {"worst": report.worst.value, "counts": counts, "failed_checks": list(report.failed_checks)},
        "facts": {name: fact_to_dict(value) for name, value in sorted(report.facts.items())},
        "findings": [finding_to_dict(f) for f in report.findings],
        "timings": dict(report.timings),
        "policy": {**NO_POLICY, **to_jsonable(report.policy)},
    }


def document(data: Any) -> str:
    """One JSON document, as every command prints it: indented, keys in their given order, a final newline."""
    return json.dumps(data, indent=2) + "\n"


def render(report: Report, kind: str = "doctor") -> str:
    return document(report_to_dict(report, kind))


def facts_from_dict(data: dict[str, Any], fact_types: dict[str, type]) -> dict[str, Any]:
    """Rebuild fact records from a saved report's `facts`; raise DecodeError on a bad entry."""
    facts: dict[str, Any] = {}
    if not isinstance(data, dict):
        raise DecodeError("$.facts: expected an object")
    for name, entry in data.items():
        if not isinstance(entry, dict) or "status" not in entry:
            raise DecodeError(f"$.facts.{name}: expected an object with a status")
        status = entry["status"]
        if status == "ok":
            tp = fact_types.get(name)
            if tp is None:
                continue  # a probe this tfgpu does not know (newer version, or a plugin)
            facts[name] = from_jsonable(tp, entry.get("data"), f"$.facts.{name}.data")
        else:
            try:
                st = ProbeStatus(status)
            except ValueError:
                raise DecodeError(f"$.facts.{name}.status: unknown status {status!r}") from None
            facts[name] = ProbeFailure(name, st, str(entry.get("message", "")), dict(entry.get("evidence") or {}))
    return facts
