"""Finding third-party check plugins: the entry points of a group, read from the `entry_points.txt`
of every distribution on `sys.path` (the file `importlib.metadata` reads too, without its 50-80 ms
import on every run). A distribution found twice counts once, the first on the path, as Python's
own import would pick it. Reading never raises: an unreadable folder or file is skipped."""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any, Iterable

from tfgpu.records import dataclass

_SECTION = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_ENTRY = re.compile(r"^([^=\s][^=]*?)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class PluginEntry:
    """One entry point: `name = module:attr` of a distribution."""

    name: str
    value: str
    distribution: str

    def load(self) -> Any:
        """Import the module and return the object the entry point names (may raise: the caller reports it)."""
        module, _sep, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.split("[", 1)[0].strip().split("."):
            if part:
                obj = getattr(obj, part)
        return obj


def _distribution(folder_name: str) -> str:
    """'tfgpu_testplugin-0.1.dist-info' → 'tfgpu-testplugin' (the project name, normalised as pip prints it)."""
    stem = folder_name.rsplit(".", 1)[0]
    return re.sub(r"[-_.]+", "-", stem.split("-", 1)[0]).lower()


def parse_entry_points(text: str, group: str) -> list[tuple[str, str]]:
    """(name, value) of each entry in `group` of an entry_points.txt."""
    out: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        section = _SECTION.match(line)
        if section:
            current = section.group(1)
            continue
        entry = _ENTRY.match(line)
        if entry and current == group:
            out.append((entry.group(1), entry.group(2)))
    return out


def discover(group: str, path: Iterable[str] | None = None) -> list[PluginEntry]:
    """Every entry point of `group` on `path` (default: sys.path), in path order."""
    seen: set[str] = set()
    found: list[PluginEntry] = []
    for folder in list(path if path is not None else sys.path):
        try:
            with os.scandir(folder or ".") as entries:
                metas = sorted(e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for meta in metas:
            dist = _distribution(meta)
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder or ".", meta, "entry_points.txt"), encoding="utf-8",
                          errors="replace") as fh:
                    text = fh.read(1_000_000)
            except OSError:
                continue
            found.extend(PluginEntry(name, value, dist) for name, value in parse_entry_points(text, group))
    return found
