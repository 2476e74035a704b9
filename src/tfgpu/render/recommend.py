"""The views of `tfgpu recommend`: the machine as understood, the releases that fit (best first,
with the command that installs each), the newer ones excluded grouped by reason, and, when
nothing fits, which one constraint to relax and what it would give. Pure."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from rich.text import Text

from tfgpu.render.rich import buffer_console, rendered


def python_m_pip(command: str) -> str:
    """`pip install ...` as `python -m pip install ...`: the pip of the Python that will run it."""
    return re.sub(r"^pip(\d(\.\d+)?)? ", "python -m pip ", command)


def to_dict(machine: Any, advice: Any, relax: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    out = {
        "machine": asdict(machine),
        "assumptions": list(advice.assumptions),
        "recommendations": [{"tensorflow": r.tensorflow, "install": r.install, "notes": list(r.notes)}
                            for r in advice.recommendations],
        "excluded": [{"tensorflow": e.tensorflow, "reason": e.reason} for e in advice.excluded],
    }
    if relax:
        out["relax"] = [{"constraint": c, "change": change, "tensorflow": tf} for c, change, tf in relax]
    return out


def _key(series: str, reason: str) -> str:
    """A reason with its own release's number taken out, so that releases sharing it group."""
    return re.sub(rf"(?<![\d.]){re.escape(series)}(?![\d])", "#", reason)


def group_exclusions(excluded: Any) -> list[tuple[str, str]]:
    """Consecutive releases (newest first) excluded for the same reason, as one ("2.11–2.21", reason):
    the same words, or the same words but for each release's own number (then the span stands in it)."""
    groups: list[tuple[list[str], list[str]]] = []  # (series, reasons)
    for e in excluded:
        if groups:
            names, reasons = groups[-1]
            if reasons[-1] == e.reason or _key(names[-1], reasons[-1]) == _key(e.tensorflow, e.reason):
                names.append(e.tensorflow)
                reasons.append(e.reason)
                continue
        groups.append(([e.tensorflow], [e.reason]))
    out = []
    for names, reasons in groups:
        if len(names) == 1:
            out.append((names[0], reasons[0]))
            continue
        span = f"{names[-1]}–{names[0]}"
        same = all(r == reasons[0] for r in reasons)
        out.append((span, reasons[0] if same else _key(names[0], reasons[0]).replace("#", span)))
    return out


def render(machine: Any, advice: Any, width: int | None = 100, color: bool = False, ascii_only: bool = False,
           relax: list[tuple[str, str, str]] | None = None) -> str:
    """`relax`: (constraint, the change, the best TensorFlow it would give) for each single constraint
    whose removal lets a release fit; shown when nothing fits."""
    console = buffer_console(10_000, color, safe_box=ascii_only, soft_wrap=True)
    room = None if width is None else max(30, width)

    def say(text: Text, indent: int = 0) -> None:
        if room is None or text.cell_len + indent <= room:
            console.print(Text(" " * indent) + text)
            return
        for i, ln in enumerate(text.wrap(console, room - indent - (2 if indent else 0))):
            console.print(Text(" " * (indent + (2 if i and indent else 0))) + ln)

    desc = ", ".join(f"{k} {v}" for k, v in (("driver", machine.driver), ("GPU cc", ",".join(machine.ccs) or None),
                                             ("Python", machine.python), ("OS", machine.os),
                                             ("arch", getattr(machine, "machine", None))) if v)
    say(Text(f"Machine: {desc}", style="dim"))
    for a in advice.assumptions:
        say(Text(f"Note: {a}", style="dim"))
    if not advice.recommendations:
        say(Text("No TensorFlow release in the matrix will use this GPU.", style="bold red"))
        for constraint, change, tf in relax or []:
            say(Text(f"{change}: ", style="bold") + Text(f"TensorFlow {tf}") + Text(f"  (relaxing the {constraint})",
                                                                                    style="dim"), indent=2)
    for i, r in enumerate(advice.recommendations):
        say(Text(f"{'Best: ' if i == 0 else '      '}TensorFlow {r.tensorflow}", style="bold green" if i == 0 else ""))
        console.print(Text(f"        {python_m_pip(r.install)}", style="bold"))
        for n in r.notes:
            say(Text(f"- {n}", style="dim"), indent=8)
    if advice.excluded:
        console.print()
        say(Text("Newer releases excluded:" if advice.recommendations else "Releases excluded:", style="bold"))
        for names, reason in group_exclusions(advice.excluded):
            say(Text(f"{names}: ", style="bold") + Text(reason), indent=2)
    return "\n".join(line.rstrip() for line in rendered(console).split("\n"))
