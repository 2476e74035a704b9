"""The terminal report: the verdict first, then findings by area with their fixes as commands.

`render` is pure (Report -> str); the CLI decides width and colour (NO_COLOR, non-terminals).
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from tfgpu.model import Finding, ProbeFailure, Report, Severity, VerdictStatus

ICONS = {
    Severity.OK: ("✔", "green"),
    Severity.INFO: ("i", "cyan"),
    Severity.SKIPPED: ("–", "dim"),
    Severity.WARNING: ("!", "yellow"),
    Severity.ERROR: ("✘", "bold red"),
}
VERDICT_STYLE = {
    VerdictStatus.READY: ("READY", "bold green"),
    VerdictStatus.NOT_READY: ("NOT READY", "bold red"),
    VerdictStatus.UNKNOWN: ("UNKNOWN", "bold yellow"),
}
AREA_TITLES = {
    "platform": "Platform",
    "tensorflow": "TensorFlow",
    "environment": "Environment",
    "driver": "NVIDIA driver",
    "gpu": "GPUs",
    "libraries": "CUDA libraries",
    "toolkit": "CUDA toolkit",
    "live": "Live TensorFlow",
    "plugins": "Plugins",
}


def buffer_console(width: int, color: bool, **options: Any) -> Console:
    """A Rich console that renders into memory (read it back with `rendered`): every text view
    is built this way, and the CLI writes the result out in one piece."""
    return Console(file=io.StringIO(), width=width, color_system="standard" if color else None, no_color=not color,
                   force_terminal=color, highlight=False, **options)


def rendered(console: Console) -> str:
    """The text a `buffer_console` has taken so far."""
    buf = console.file
    assert isinstance(buf, io.StringIO), "not a buffer_console"
    return buf.getvalue()


def _area_of(finding: Finding) -> str:
    # A finding that names no area did not come from a built-in check.
    return finding.area or "plugins"


def _facts_lines(facts: dict[str, Any]) -> list[str]:
    lines = []
    host = facts.get("host")
    if host is not None and not isinstance(host, ProbeFailure):
        extra = [x for x in (host.distro_name, f"glibc {host.glibc}" if host.glibc else None,
                             host.wsl.upper() if host.wsl else None,
                             f"container: {host.container}" if host.container else None) if x]
        lines.append(f"Host     {host.system} {host.machine}, kernel {host.kernel}" + (f" ({', '.join(extra)})" if extra else ""))
    env = facts.get("python_env")
    if env is not None and not isinstance(env, ProbeFailure):
        lines.append(f"Python   {env.version} at {env.executable}")
    elif isinstance(env, ProbeFailure):
        lines.append(f"Python   could not be probed: {env.message}")
    build = facts.get("tf_build")
    if build is not None and not isinstance(build, ProbeFailure):
        if build.is_cuda_build and build.cuda_version:
            lines.append(f"Build    {build.distribution} {build.version}: CUDA {build.cuda_version}, cuDNN {build.cudnn_version}, "
                         f"{', '.join(build.compute_capabilities)}")
        elif build.is_cuda_build:
            lines.append(f"Build    {build.distribution} {build.version}: a CUDA build (its build record names no versions)")
        else:
            lines.append(f"Build    {build.distribution} {build.version}: CPU only")
    live = facts.get("tf_live")
    if live is not None and not isinstance(live, ProbeFailure):
        if live.outcome == "ok":
            gpus = ", ".join(g.name for g in live.gpus) or "no GPU"
            lines.append(f"Live     TensorFlow {live.version or '?'} imported in {live.import_seconds or 0:.1f} s, "
                         f"lists {gpus}; its log has {live.log_lines_total} lines")
        else:
            what = (live.error or "").splitlines()[0] if live.error else f"stage '{live.stage}'"
            lines.append(f"Live     {live.outcome.replace('_', ' ')}: {what}")
    driver = facts.get("driver")
    if driver is not None and not isinstance(driver, ProbeFailure):
        summary = getattr(driver, "summary", None)
        if callable(summary):
            lines.extend(summary())
    return lines


_LOG_PREFIX = re.compile(r"^(?:([IWEF])\d{4} [\d:.]+\s+\d+\s+|\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) )")


def _short_log(text: str) -> str:
    """A log line with its level but without timestamp and thread id, so the message fits."""
    return _LOG_PREFIX.sub(lambda m: f"{m.group(1) or m.group(2)} ", text, count=1)


def print_fixes(console: Console, fixes) -> None:
    """Fixes as the doctor and explain show them: the summary, then each command to copy."""
    for fix in fixes:
        console.print(Text(f"   → {fix.summary}", style="cyan"))
        for cmd in fix.commands:
            console.print(Text(f"     $ {cmd}", style="bold"), soft_wrap=True)
        for link in fix.links:
            console.print(Text(f"     {link}", style="dim"), soft_wrap=True)


#: For terminals that cannot show the symbols (LC_ALL=C): the same report in ASCII.
_ASCII = str.maketrans({"✔": "+", "✘": "x", "–": "-", "→": ">", "…": "~", "│": "|", "·": "-"})


def render(report: Report, width: int = 100, color: bool = False, show_ok: bool = True, ascii_only: bool = False) -> str:
    text = _render(report, width, color, show_ok)
    return text.translate(_ASCII) if ascii_only else text


def _render(report: Report, width: int, color: bool, show_ok: bool) -> str:
    console = buffer_console(width, color, emoji=False, soft_wrap=False)
    label, style = VERDICT_STYLE[report.verdict.status]
    head = Text()
    head.append(f"{label}", style=style)
    head.append("  ")
    head.append(report.verdict.headline)
    console.print(head)
    if report.verdict.predicted:
        live = report.facts.get("tf_live")
        if live is not None and not isinstance(live, ProbeFailure):
            note = f"(predicted from static facts: the live import ended with '{live.outcome.replace('_', ' ')}')"
        else:
            note = "(predicted from static facts; TensorFlow was not imported)"
        console.print(Text(note, style="dim"))
    console.print()
    for line in _facts_lines(report.facts):
        console.print(Text(line, style="dim"))
    groups: dict[str, list[Finding]] = {}
    for f in report.findings:
        if f.severity is Severity.OK and not show_ok:
            continue
        groups.setdefault(_area_of(f), []).append(f)
    order = list(AREA_TITLES)
    for area in sorted(groups, key=lambda a: order.index(a) if a in order else len(order)):
        console.print()
        console.print(Text(AREA_TITLES.get(area, area.title()), style="bold underline"))
        items = sorted(groups[area], key=lambda f: -f.severity.rank)
        skipped = [f for f in items if f.severity is Severity.SKIPPED and f.id != "check-crashed"]
        items = [f for f in items if f not in skipped]
        for f in items:
            icon, istyle = ICONS[f.severity]
            head_line = Text()
            head_line.append(f" {icon} ", style=istyle)
            head_line.append(f.summary)
            head_line.append(f"  [{f.id}]", style="dim")
            console.print(head_line)
            if f.detail and f.severity.rank >= Severity.WARNING.rank:
                console.print(Text(f"   {f.detail}", style="dim"))
            lines = f.evidence.get("lines") if isinstance(f.evidence, dict) else None
            if isinstance(lines, list) and f.check == "tf-live":
                for ln in lines[:4]:
                    if isinstance(ln, dict):
                        text = _short_log(str(ln.get("text", "")))
                        room = max(20, width - 14)
                        text = text if len(text) <= room else text[: room - 1] + "…"
                        console.print(Text(f"   L{ln.get('line', '?')}: {text}", style="dim"), no_wrap=True)
                if len(lines) > 4:
                    console.print(Text(f"   … and {len(lines) - 4} more line(s)", style="dim"))
            print_fixes(console, f.fixes)
        if skipped:
            # Skipped checks are one line: they repeat a cause reported elsewhere.
            why = skipped[0].detail.split(";")[0] if skipped[0].detail else ""
            console.print(Text(f" – {len(skipped)} check(s) skipped ({', '.join(f.check for f in skipped)})"
                               + (f": {why}" if why else ""), style="dim"))
    console.print()
    counts = {s: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity] += 1
    total = report.timings.get("total", report.timings.get("probes_total", 0.0))
    tail = (f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
            f"{counts[Severity.OK]} ok · {total:.2f} s")
    if report.failed_checks:
        tail += f" · check(s) crashed: {', '.join(report.failed_checks)}"
    console.print(Text(tail, style="dim"))
    return rendered(console)


__all__ = ["render", "escape"]
