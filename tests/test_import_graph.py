"""The module graph of src/tfgpu, read from the source (every import, function-local ones included):
no cycles, the layer direction checks → recommend → rules → matrix and explain → rules, and no private
name imported across packages."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "tfgpu"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


@lru_cache(maxsize=None)
def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (module, alias.name, node.lineno))
    return out


@lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for module, _n, _line in _imports(path):
            if module in MODULES and module != name:
                edges[name].add(module)
    return edges


def _reaches(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _is_package_init_edge(a: str, b: str) -> bool:
    """A module importing its own package's __init__ (Python runs it first anyway) is no cycle."""
    return a.startswith(b + ".")


def test_the_module_graph_has_no_cycle():
    edges = {a: {b for b in bs if not _is_package_init_edge(a, b)} for a, bs in graph().items()}
    cycles = sorted(m for m in edges if m in _reaches(edges, m))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_cycle_detector_finds_a_cycle():
    assert "a" in _reaches({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a")
    assert "a" not in _reaches({"a": {"b"}, "b": {"c"}, "c": set()}, "a")


@pytest.mark.parametrize("module", ["tfgpu.rules", "tfgpu.versions", "tfgpu.matrix"])
def test_the_rules_layer_imports_no_upper_layer(module):
    reach = _reaches(graph(), module)
    upper = sorted(m for m in reach if m.startswith(("tfgpu.checks", "tfgpu.explain", "tfgpu.recommend",
                                                      "tfgpu.probes", "tfgpu.render", "tfgpu.cli", "tfgpu.runner")))
    assert not upper, f"{module} reaches {upper}"


@pytest.mark.parametrize("module", ["tfgpu.recommend", "tfgpu.explain", "tfgpu.explain.report",
                                    "tfgpu.explain.scan", "tfgpu.explain.classify"])
def test_recommend_and_explain_import_no_check_module(module):
    reach = _reaches(graph(), module)
    checks = sorted(m for m in reach if m == "tfgpu.checks" or m.startswith("tfgpu.checks."))
    assert not checks, f"{module} reaches {checks}"


def _package_of(module: str) -> str:
    """The package a module belongs to (tfgpu.checks.driver → tfgpu.checks; tfgpu.rules → tfgpu)."""
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def test_no_private_name_crosses_a_package():
    bad = []
    for name, path in MODULES.items():
        for module, imported, line in _imports(path):
            if imported is None or not imported.startswith("_") or imported.startswith("__") or module not in MODULES:
                continue
            if _package_of(module) != _package_of(name):
                bad.append(f"{path.relative_to(SRC)}:{line} imports {module}.{imported}")
    assert not bad, bad
