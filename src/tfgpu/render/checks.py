"""The view of `tfgpu doctor --list`: every check with its title, area and origin, and each
plugin that failed to load. Pure: the registry is handed in."""

from __future__ import annotations

from typing import Any, Iterable

#: The published reference of every check (docs/checks.md, generated from the registry); each
#: check has its own section there, anchored by its id.
CHECKS_DOC_URL = "https://github.com/tfgpu/tfgpu/blob/main/docs/checks.md"


def doc_link(check_id: str) -> str:
    """Where a check (and the findings it emits) is described: its section of docs/checks.md."""
    return f"{CHECKS_DOC_URL}#{check_id}"


def _ordered(checks: Iterable[Any]) -> list[Any]:
    return sorted(checks, key=lambda c: (c.area, c.id))


def to_dict(checks: Iterable[Any], plugin_errors: Iterable[Any]) -> dict[str, Any]:
    """`plugin_errors`: the registry's record (entry point, message) of each plugin that failed to load."""
    return {"checks": [{"id": c.id, "title": c.title, "area": c.area, "origin": c.origin} for c in _ordered(checks)],
            "plugin_errors": [{"name": e.entry_point, "error": e.message} for e in plugin_errors]}


def render(checks: Iterable[Any], plugin_errors: Iterable[Any]) -> str:
    """One line per check (a plugin's names its origin), then one per plugin that failed to load."""
    lines = []
    for chk in _ordered(checks):
        origin = "" if chk.origin.startswith("tfgpu.") else f"  (plugin: {chk.origin})"
        lines.append(f"{chk.id:<28} {chk.title}{origin}\n")
    for e in plugin_errors:
        lines.append(f"{e.entry_point:<28} (plugin failed to load: {e.message})\n")
    return "".join(lines)
