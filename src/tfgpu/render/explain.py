"""The terminal view of an explain report (`tfgpu explain`), in the doctor's Rich style: causes,
consequences, noise. Pure: the CLI writes the text out."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from tfgpu.explain.report import fact_label
from tfgpu.model import Finding, Report
from tfgpu.render.rich import ICONS, VERDICT_STYLE, buffer_console, print_fixes, rendered

SECTIONS = (
    ("cause", "Root causes"),
    ("consequence", "Consequences"),
    ("unrecognized", "Not recognised"),
    ("noise", "Harmless (you can ignore these lines)"),
)


#: Facts shown elsewhere (the verdict says it) or not worth a mention.
_FACTS_NOT_SHOWN = {"gpu_created"}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _values_line(values: dict[str, Any]) -> str:
    parts = []
    for name, got in values.items():
        shown = ", ".join(str(v) for v in got) if isinstance(got, list) else str(got)
        if shown and shown != "None":
            parts.append(f"{name}={shown}")
    return "; ".join(parts)


def _finding(console: Console, f: Finding, width: int) -> None:
    icon, style = ICONS[f.severity]
    role = f.evidence.get("role")
    head = Text()
    head.append(f" {icon} ", style=style)
    head.append(f.summary)
    head.append(f"  [{f.id}]", style="dim")
    console.print(head)
    lines = f.evidence.get("lines") or []
    if role == "noise":
        where = ", ".join(str(e["line"]) for e in lines)
        more = int(f.evidence.get("matches", len(lines))) - len(lines)
        console.print(Text(f"   line{'s' if len(lines) != 1 else ''} {where}" + (f" (+{more} more)" if more > 0 else ""),
                           style="dim"))
        return
    follows = f.evidence.get("follows_from")
    if follows:
        console.print(Text(f"   follows from: {', '.join(follows)}", style="dim"))
    for e in lines:
        console.print(Text(_clip(f"   {e['line']:>6} │ {e['text']}", width), style="dim"), soft_wrap=True)
    for e in f.evidence.get("consequence_lines") or []:
        console.print(Text(_clip(f"   {e['line']:>6} │ {e['text']}  (a consequence of this)", width), style="dim"),
                      soft_wrap=True)
    more = int(f.evidence.get("matches", len(lines))) - len(lines)
    if more > 0:
        console.print(Text(f"          … and {more} more matching line{'s' if more != 1 else ''}", style="dim"))
    values = _values_line(f.evidence.get("values") or {})
    if values:
        console.print(Text(f"   values: {values}", style="dim"), soft_wrap=True)
    if f.detail:
        console.print(Text(f"   {f.detail}"))
    print_fixes(console, f.fixes)


def class_line(decision: dict[str, Any], width: int = 100) -> str:
    """One line: the class explain decided, and the log lines (with their numbers) that decided it."""
    klass = decision.get("class") or "not recognised"
    why = str(decision.get("why") or klass)
    lines = decision.get("decided_by") or []
    by = "; ".join(f"line {e['line']}: {_clip(str(e['text']).strip(), 80)}" for e in lines)
    return f"Class: {why}" + (f" (decided by {by})" if by else "")


def render(report: Report, width: int = 100, color: bool = False) -> str:
    """The explain report as text for a terminal of `width` columns."""
    console = buffer_console(width, color, emoji=False, soft_wrap=False)
    label, style = VERDICT_STYLE[report.verdict.status]
    head = Text()
    head.append(label, style=style)
    head.append("  ")
    head.append(report.verdict.headline)
    console.print(head)
    log = report.facts.get("log")
    if log is not None:
        decision = getattr(log, "decision", None) or {}
        if decision:
            console.print(Text(class_line(decision, width)), soft_wrap=True)
            for note in decision.get("notes") or []:
                console.print(Text(f"Note: {note}"), soft_wrap=True)
        seen = "; ".join(f"{fact_label(k)}: {', '.join(v)}" for k, v in sorted(log.values.items())
                         if k not in _FACTS_NOT_SHOWN)
        console.print(Text(f"Read {log.lines_read} line{'s' if log.lines_read != 1 else ''} from {log.source}"
                           + (f" ({seen})" if seen else ""), style="dim"))
    for role, title in SECTIONS:
        group = [f for f in report.findings if f.evidence.get("role", "cause") == role]
        if not group:
            continue
        console.print()
        console.print(Text(title, style="bold underline"))
        for f in group:
            _finding(console, f, width)
    console.print()
    return rendered(console)
