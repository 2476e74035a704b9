"""The Markdown report (`tfgpu doctor --markdown PATH`, and the GitHub Actions step summary).

The verdict and its headline first, then a table of the findings that matter (errors, warnings,
notes; each id linked to its check's reference page, the ignored ones marked), each fix with its
commands in a fenced shell block, the key facts (driver, GPUs, TensorFlow and its build's CUDA and
cuDNN, Python), and the run's policy when one was set. Pure: `render(report)` returns the text.

Text from the machine (a log line, a path) can hold Markdown or HTML: table cells and prose are
escaped, commands go into fences longer than any run of backticks they hold.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tfgpu.model import Finding, ProbeFailure, Report, Severity, VerdictStatus
from tfgpu.render.checks import doc_link
from tfgpu.render.junit import fails_on_warnings
from tfgpu.safeio import printable

_STATUS = {VerdictStatus.READY: "✅ READY", VerdictStatus.NOT_READY: "❌ NOT READY", VerdictStatus.UNKNOWN: "❔ UNKNOWN"}
_SEVERITY = {Severity.ERROR: "❌ error", Severity.WARNING: "⚠️ warning", Severity.INFO: "ℹ️ info",
             Severity.SKIPPED: "⏭️ skipped", Severity.OK: "✅ ok"}
#: Characters with a meaning in Markdown (or HTML) inline text: shown literally, escaped.
_SPECIAL = re.compile(r"([\\`*_\[\]|<>#!~])")


def inline(text: Any) -> str:
    """Text as literal Markdown on one line: special characters escaped, & < > as entities,
    line breaks as <br> (a table cell holds one line), control characters as visible escapes."""
    text = printable(str(text), keep="\n").replace("&", "&amp;").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)
    return "<br>".join(line.strip() for line in text.replace("\r\n", "\n").split("\n"))


def fence(commands: tuple[str, ...] | list[str], lang: str = "sh") -> str:
    """Commands in a fenced code block whose fence is longer than any backtick run inside it."""
    body = "\n".join(printable(c) for c in commands)
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    mark = "`" * max(3, longest + 1)
    return f"{mark}{lang}\n{body}\n{mark}\n"


def _failure(value: Any) -> str:
    return f"not known ({inline(value.message)})" if isinstance(value, ProbeFailure) else ""


def key_facts(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of the facts a reader wants first; values are escaped Markdown."""
    rows: list[tuple[str, str]] = []
    driver = facts.get("driver")
    if driver is not None:
        if isinstance(driver, ProbeFailure):
            rows.append(("Driver", _failure(driver)))
        else:
            cuda = getattr(driver, "cuda_driver_version", None)
            rows.append(("Driver", inline(f"{getattr(driver, 'driver_version', None) or 'version unknown'}"
                                          + (f" (supports CUDA {cuda})" if cuda else ""))))
            gpus = getattr(driver, "gpus", ()) or ()
            described = []
            for g in gpus:
                bits = [f"compute capability {g.compute_capability}" if getattr(g, "compute_capability", None) else "",
                        f"{g.memory_total_bytes / 1024**3:.0f} GiB" if getattr(g, "memory_total_bytes", None) else ""]
                extra = ", ".join(b for b in bits if b)
                described.append(f"{g.index}: {g.name}" + (f" ({extra})" if extra else ""))
            rows.append(("GPUs", inline("; ".join(described)) if described else "none visible"))
    build = facts.get("tf_build")
    if build is not None:
        if isinstance(build, ProbeFailure):
            rows.append(("TensorFlow", _failure(build)))
        else:
            if getattr(build, "is_cuda_build", None) and getattr(build, "cuda_version", None):
                how = f"built with CUDA {build.cuda_version}, cuDNN {build.cudnn_version or '?'}"
            elif getattr(build, "is_cuda_build", None):
                how = "a CUDA build"
            else:
                how = "CPU only"
            rows.append(("TensorFlow", inline(f"{build.distribution} {build.version}: {how}")))
    live = facts.get("tf_live")
    if live is not None and not isinstance(live, ProbeFailure):
        headline = getattr(live, "headline", "")
        rows.append(("Live", inline(headline if getattr(live, "outcome", "") == "ok" else
                                    f"{str(getattr(live, 'outcome', '')).replace('_', ' ')} at stage {getattr(live, 'stage', '?')}")))
    env = facts.get("python_env")
    if env is not None:
        rows.append(("Python", _failure(env) if isinstance(env, ProbeFailure)
                     else inline(f"{env.version} at {env.executable}")))
    return rows


def _shown(f: Finding) -> bool:
    """Findings in the table: what went wrong or is worth knowing (ignored or not), not passes or
    skips; a check that itself failed (a skipped row, but exit 3) is shown."""
    return f.severity in (Severity.ERROR, Severity.WARNING, Severity.INFO) or f.id == "check-crashed"


def run_result(report: Report) -> str:
    """One line where the verdict alone would mislead about the run's result, its exit code (as
    tfgpu.cli decides it): a check that itself failed (3), a ready machine failing on warnings (1),
    a machine not ready whose errors the policy all ignores (0); "" otherwise."""
    if report.failed_checks:
        return (f"**This run fails (exit 3): {len(report.failed_checks)} check(s) could not run to the end "
                f"({inline(', '.join(report.failed_checks))}), a problem of tfgpu or a plugin; the rest of the report stands.**")
    fails = report.fails(fails_on_warnings(report))
    if fails and report.worst is not Severity.ERROR and report.verdict.status is not VerdictStatus.NOT_READY:
        return ("**This run fails (exit 1): this pipeline's policy (fail-on: warning) fails on warnings "
                "and on a verdict that could not be decided.**")
    if not fails and report.verdict.status is VerdictStatus.NOT_READY:
        return "**This run passes (exit 0): this pipeline's policy ignores every error found.**"
    return ""


def url(link: str) -> str:
    """A link as a Markdown link target: anything but a URL's own characters percent-encoded
    (a space or parenthesis would end the target)."""
    return quote(printable(link, keep=""), safe=":/#?=&%-._~+,;@!$'*")


def _id_cell(f: Finding) -> str:
    return f"[{inline(f.id)}]({url(doc_link(f.check))})"


def render(report: Report) -> str:
    """The report as GitHub-flavoured Markdown."""
    v = report.verdict
    out = [f"## tfgpu doctor: {_STATUS.get(v.status, v.status.value)}\n",
           f"**{inline(v.headline)}**" + (" *(predicted without importing TensorFlow)*" if v.predicted else "") + "\n"]
    shown = sorted((f for f in report.findings if _shown(f)),
                   key=lambda f: (bool(f.ignored), -f.severity.rank))
    counts = {s: sum(1 for f in report.findings if f.severity is s and not f.ignored) for s in Severity}
    out.append(f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
               f"{counts[Severity.SKIPPED]} skipped, {counts[Severity.OK]} passed"
               + (f", {sum(1 for f in report.findings if f.ignored)} ignored by the policy" if any(f.ignored for f in report.findings) else "")
               + ".\n")
    result = run_result(report)
    if result:
        out.append(result + "\n")
    if shown:
        out.append("| Severity | Finding | Summary |\n|---|---|---|")
        for f in shown:
            sev = "❗ check failed" if f.id == "check-crashed" else _SEVERITY.get(f.severity, f.severity.value)
            summary = inline(f.summary) + (f"<br>*ignored: {inline(f.ignored)}*" if f.ignored else "")
            out.append(f"| {sev}{' (ignored)' if f.ignored else ''} | {_id_cell(f)} | {summary} |")
        out.append("")
    fixed = [f for f in shown if f.fixes and not f.ignored]
    if fixed:
        out.append("### How to fix\n")
        seen: set[tuple[str, tuple[str, ...]]] = set()
        for f in fixed:
            out.append(f"#### {inline(f.summary)}\n\n`{f.id}`" + (f": {inline(f.detail)}" if f.detail else "") + "\n")
            for fix in f.fixes:
                if (fix.summary, fix.commands) in seen:  # a consequence's fix that its cause already gave
                    out.append(f"- {inline(fix.summary)}: see above\n")
                    continue
                seen.add((fix.summary, fix.commands))
                out.append(f"- {inline(fix.summary)}" + "".join(f" ([link]({link}))" for link in fix.links
                                                                if re.match(r"https?://[^\s()<>]+$", link)) + "\n")
                if fix.commands:
                    out.append(fence(fix.commands))
    facts = key_facts(report.facts)
    if facts:
        out.append("### Key facts\n")
        out.extend(f"- **{name}**: {value}" for name, value in facts)
        out.append("")
    policy = _policy_items(report.policy)
    if policy:
        out.append("### Policy\n")
        out.extend(f"- **{inline(key)}**: {inline(_policy_value(value))}" for key, value in policy)
        out.append("")
    out.append(f"<sub>tfgpu {inline(report.tool_version)}"
               + (f", matrix {inline(report.matrix_version)}" if report.matrix_version else "") + "</sub>\n")
    return "\n".join(out)


def _policy_items(policy: Any) -> list[tuple[str, Any]]:
    """The policy's settings that say something: none where nothing is required or ignored and
    only errors fail the run (the default)."""
    if not isinstance(policy, dict):
        return []
    items = [(str(k), v) for k, v in policy.items() if v not in (None, "", [], {}, ())]
    return [] if all(k == "fail_on" and v == "error" for k, v in items) else items


def _policy_value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"id", "reason"}:
        return f"{value['id']} ({value['reason']})"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_policy_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_policy_value(v) for v in value) or "none"
    return str(value)
