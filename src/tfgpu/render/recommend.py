"""The views of `tfgpu recommend`: the machine as understood, the releases that fit (best first,
with the command that installs each) and the newer ones excluded, with why. Pure."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.text import Text

from tfgpu.render.rich import buffer_console, rendered


def to_dict(machine: Any, advice: Any) -> dict[str, Any]:
    return {
        "machine": asdict(machine),
        "assumptions": list(advice.assumptions),
        "recommendations": [{"tensorflow": r.tensorflow, "install": r.install, "notes": list(r.notes)}
                            for r in advice.recommendations],
        "excluded": [{"tensorflow": e.tensorflow, "reason": e.reason} for e in advice.excluded],
    }


def render(machine: Any, advice: Any, width: int = 100, color: bool = False, ascii_only: bool = False) -> str:
    console = buffer_console(width, color, safe_box=ascii_only)
    desc = ", ".join(f"{k} {v}" for k, v in (("driver", machine.driver), ("GPU cc", ",".join(machine.ccs) or None),
                                             ("Python", machine.python), ("OS", machine.os),
                                             ("arch", getattr(machine, "machine", None))) if v)
    console.print(Text(f"Machine: {desc}", style="dim"))
    for a in advice.assumptions:
        console.print(Text(f"Note: {a}", style="dim"))
    if not advice.recommendations:
        console.print(Text("No TensorFlow release in the matrix will use this GPU.", style="bold red"))
    for i, r in enumerate(advice.recommendations):
        console.print(Text(f"{'Best: ' if i == 0 else '      '}TensorFlow {r.tensorflow}", style="bold green" if i == 0 else ""))
        console.print(Text(f"        $ {r.install}", style="bold"))
        for n in r.notes:
            console.print(Text(f"        - {n}", style="dim"))
    if advice.excluded:
        console.print()
        console.print(Text("Newer releases excluded:" if advice.recommendations else "Releases excluded:", style="bold"))
        for e in advice.excluded:
            console.print(f"  {e.tensorflow}: {e.reason}")
    return rendered(console)
