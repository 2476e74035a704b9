"""The JUnit XML report (`tfgpu doctor --junit PATH`), for the test-report views of CI systems
(GitHub test-reporter actions, GitLab's `artifacts:reports:junit`, Jenkins).

One `<testsuite>` per area, one `<testcase>` per check that ran (classname `tfgpu.<area>`, name
the check id). An error finding is a `<failure>` (message: its summary; body: its detail, fixes
and the check's reference page); a warning is a `<failure>` too where warnings fail the run
(`--fail-on warning`, `--strict`), else a line of `<system-out>`; a skipped check is `<skipped>`;
a finding the policy ignores is `<skipped message="ignored: ...">`, never a failure; a check that
crashed is an `<error>` (a tfgpu bug, exit 3); where warnings fail the run, an undecided verdict
fails it too, as a `verdict` testcase. So the file's `failures` agree with the exit code.

Pure: `render(report, ...)` returns the document; the CLI writes it. The text of any finding (a
log line, a path) is made valid XML 1.0: characters XML cannot carry are shown as escapes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable

from tfgpu.model import Area, Finding, Report, Severity, VerdictStatus
from tfgpu.render.checks import doc_link
from tfgpu.safeio import printable

#: Characters XML 1.0 cannot hold at all (surrogates, U+FFFE, U+FFFF), beyond the control characters.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")
_AREA_ORDER = {a.value: i for i, a in enumerate(Area)}


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can carry it: control characters but tab, newline and carriage return are
    shown as visible escapes (`\\x1b`), as are surrogates and the two non-characters."""
    text = printable(str(text), keep="\t\n\r")
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def fails_on_warnings(report: Report, strict: bool = False) -> bool:
    """Whether a warning fails this run: the policy's `fail_on` where it is set, else `--strict`."""
    fail_on = report.policy.get("fail_on") if isinstance(report.policy, dict) else None
    if fail_on in ("error", "warning"):
        return fail_on == "warning"
    return strict


def failure_body(f: Finding) -> str:
    """A finding in plain text: its detail, each fix with its commands, and its reference page."""
    parts = []
    if f.detail:
        parts.append(f.detail)
    for fix in f.fixes:
        lines = [f"Fix: {fix.summary}"] + [f"  $ {cmd}" for cmd in fix.commands] + [f"  {link}" for link in fix.links]
        parts.append("\n".join(lines))
    if f.root_cause:
        parts.append(f"Caused by: {f.root_cause}")
    parts.append(f"Reference: {doc_link(f.check)}")
    return "\n\n".join(parts)


def _check_rows(report: Report, checks: Iterable[Any]) -> list[tuple[str, str]]:
    """(area, check id) of every check that ran, and of every check a finding names (a plugin's,
    one that failed to load), ordered by area then id."""
    rows: dict[str, str] = {}
    for chk in checks:
        rows[str(chk.id)] = str(getattr(chk, "area", "") or "plugins")
    for f in report.findings:
        rows.setdefault(f.check, f.area or "plugins")
    return sorted(((area, cid) for cid, area in rows.items()), key=lambda r: (_AREA_ORDER.get(r[0], 99), r[0], r[1]))


def _element(parent: ET.Element, tag: str, text: str = "", **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text:
        el.text = xml_text(text)
    return el


def _testcase(suite: ET.Element, area: str, cid: str, findings: list[Finding], warnings_fail: bool) -> dict[str, int]:
    """One check's testcase; returns what it counts toward its suite (failures, errors, skipped)."""
    case = _element(suite, "testcase", classname=f"tfgpu.{area}", name=cid)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    out: list[str] = []
    skips: list[str] = []
    for f in findings:
        if f.ignored:
            skips.append(f"ignored: {f.ignored} ({f.id}: {f.summary})")
        elif f.id == "check-crashed":
            _element(case, "error", failure_body(f), message=f.summary, type=f.id)
            counts["errors"] += 1
        elif f.severity is Severity.ERROR or (f.severity is Severity.WARNING and warnings_fail):
            _element(case, "failure", failure_body(f), message=f.summary, type=f.id)
            counts["failures"] += 1
        elif f.severity is Severity.SKIPPED:
            skips.append(f"{f.summary}" + (f": {f.detail}" if f.detail else ""))
        else:
            out.append(f"{f.severity.value}: {f.id}: {f.summary}" + (f"\n{failure_body(f)}" if f.severity is Severity.WARNING else ""))
    if not counts["failures"] and not counts["errors"]:
        # A testcase that failed is a failure; why its other parts were skipped goes to its output.
        for message in skips:
            _element(case, "skipped", message=message)
        counts["skipped"] = 1 if skips else 0
    else:
        out.extend(f"skipped: {m}" for m in skips)
    if out:
        _element(case, "system-out", "\n\n".join(out))
    return counts


def render(report: Report, checks: Iterable[Any] = (), strict: bool = False) -> str:
    """The JUnit XML document of `report`. `checks`: the checks that ran (objects with `id` and
    `area`, the registry's), so that a check that found nothing is a passed testcase; `strict`:
    --strict, read where the policy sets no `fail_on`."""
    warnings_fail = fails_on_warnings(report, strict)
    by_check: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_check.setdefault(f.check, []).append(f)
    suites: dict[str, list[str]] = {}
    for area, cid in _check_rows(report, checks):
        suites.setdefault(area, []).append(cid)
    total = report.timings.get("total")
    root = _element(ET.Element("root"), "testsuites", name="tfgpu doctor")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for area, cids in suites.items():
        suite = _element(root, "testsuite", name=f"tfgpu.{area}", tests=str(len(cids)))
        if len(root) == 1:  # the run's own facts, once, in the first suite
            _run_properties(_element(suite, "properties"), report)
        counts = {"failures": 0, "errors": 0, "skipped": 0}
        for cid in cids:
            for key, n in _testcase(suite, area, cid, by_check.get(cid, []), warnings_fail).items():
                counts[key] += n
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        totals["tests"] += len(cids)
    if warnings_fail and report.verdict.status is VerdictStatus.UNKNOWN:
        # A gate that fails on warnings fails on a machine it could not judge too (exit 1): say so here.
        suite = _element(root, "testsuite", name="tfgpu.verdict", tests="1", failures="1", errors="0", skipped="0")
        case = _element(suite, "testcase", classname="tfgpu.verdict", name="verdict")
        _element(case, "failure", "The run fails on warnings, and an undecided verdict fails it too.",
                 message=report.verdict.headline, type="verdict-unknown")
        totals["tests"] += 1
        totals["failures"] += 1
    for key in ("tests", "failures", "errors"):
        root.set(key, str(totals[key]))
    if isinstance(total, (int, float)):
        root.set("time", f"{max(0.0, float(total)):.3f}")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _run_properties(props: ET.Element, report: Report) -> None:
    """The verdict, the tool and the matrix, and each probe's time, as <property> elements."""
    for name, value in (("verdict", report.verdict.status.value), ("headline", report.verdict.headline),
                        ("predicted", str(report.verdict.predicted).lower()),
                        ("tfgpu.version", report.tool_version), ("matrix", report.matrix_version)):
        _element(props, "property", name=name, value=value)
    for probe, seconds in report.timings.items():
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            _element(props, "property", name=f"time.{probe}", value=f"{seconds:g}")
