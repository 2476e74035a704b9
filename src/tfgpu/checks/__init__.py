"""Checks: pure judgements from facts (and the matrix) to findings. No I/O here.

Built-in checks register with `@check`; third-party checks load from the `tfgpu.checks`
entry-point group through the same registry. A plugin that fails to load, or a check that
raises, becomes a row of the report, never a crash.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from tfgpu.model import Finding, Fix, ProbeFailure, Severity

ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class CheckContext:
    """What a check sees: the facts by probe name, the matrix and the run's options."""

    check_id: str
    facts: dict[str, Any]
    matrix: Any
    options: dict[str, Any] = field(default_factory=dict)

    def fact(self, name: str) -> Any | None:
        value = self.facts.get(name)
        return None if value is None or isinstance(value, ProbeFailure) else value

    def failure(self, name: str) -> ProbeFailure | None:
        value = self.facts.get(name)
        return value if isinstance(value, ProbeFailure) else None

    def finding(
        self,
        id: str,
        severity: Severity,
        summary: str,
        detail: str = "",
        evidence: dict[str, Any] | None = None,
        fixes: Iterable[Fix] = (),
    ) -> Finding:
        return Finding(id, self.check_id, severity, summary, detail, dict(evidence or {}), tuple(fixes))


CheckFunc = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    area: str
    func: CheckFunc
    #: Probes whose facts it reads; with none of them usable the check reports "skipped".
    needs: tuple[str, ...] = ()
    origin: str = "built-in"


CHECKS: dict[str, Check] = {}
PLUGIN_ERRORS: list[tuple[str, str, str]] = []


def check(id: str, title: str, area: str, needs: tuple[str, ...] = ()) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check. Ids are stable, short and kebab-case."""
    if not ID_RE.match(id):
        raise ValueError(f"check id {id!r} is not kebab-case")

    def register(func: CheckFunc) -> CheckFunc:
        CHECKS[id] = Check(id, title, area, func, tuple(needs), getattr(func, "__module__", "built-in"))
        return func

    return register


_LOADED = False


def load_all() -> dict[str, Check]:
    """Import the built-in check modules, then the `tfgpu.checks` entry points."""
    global _LOADED
    if _LOADED:
        return CHECKS
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    for module in ("tfgpu.checks",):
        _load_plugins(module)
    return CHECKS


def _load_plugins(group: str) -> None:
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=group)
    except TypeError:  # Python < 3.10 has no selection interface
        eps = entry_points().get(group, [])  # type: ignore[attr-defined]
    for ep in eps:
        try:
            obj = ep.load()
        except Exception as exc:
            dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value.split(":")[0].split(".")[0]
            PLUGIN_ERRORS.append((ep.name, f"{ep.value}: {type(exc).__name__}: {exc}", dist))
            continue
        if isinstance(obj, Check):
            CHECKS[obj.id] = obj
        elif callable(obj) and not any(c.func is obj for c in CHECKS.values()):
            # A bare function: register it under the entry point's name.
            if ID_RE.match(ep.name):
                CHECKS[ep.name] = Check(ep.name, obj.__doc__.strip().splitlines()[0] if obj.__doc__ else ep.name,
                                        "plugins", obj, (), ep.value)
            else:
                PLUGIN_ERRORS.append((ep.name, f"{ep.value}: entry point name is not a kebab-case check id", ep.name))


def run_checks(
    facts: dict[str, Any], matrix: Any, only: list[str] | None, options: dict[str, Any]
) -> tuple[list[Finding], list[str]]:
    """Run the selected checks; return (findings, ids of checks that crashed)."""
    registry = load_all()
    findings: list[Finding] = []
    crashed: list[str] = []
    for name, error, dist in PLUGIN_ERRORS:
        findings.append(
            Finding(
                "plugin-load-failed",
                "plugins",
                Severity.WARNING,
                f"The tfgpu check plugin '{name}' could not be loaded",
                error,
                {"entry_point": name},
                (Fix(f"Reinstall, or remove, the package '{dist}' that provides it",
                     (f"python -m pip install --force-reinstall {dist}", f"python -m pip uninstall {dist}")),),
            )
        )
    selected = [registry[i] for i in only] if only else list(registry.values())
    for chk in selected:
        ctx = CheckContext(chk.id, facts, matrix, options)
        if chk.needs and all(ctx.fact(n) is None for n in chk.needs):
            reasons = []
            for n in chk.needs:
                fail = ctx.failure(n)
                reasons.append(f"{n}: {fail.message}" if fail else f"{n}: not probed")
            findings.append(ctx.finding(f"{chk.id}-skipped", Severity.SKIPPED, f"Skipped: {chk.title}",
                                        "; ".join(reasons)))
            continue
        try:
            findings.extend(chk.func(ctx) or ())
        except Exception as exc:
            crashed.append(chk.id)
            findings.append(
                Finding(
                    "check-crashed",
                    chk.id,
                    Severity.SKIPPED,
                    f"The check '{chk.id}' itself failed ({type(exc).__name__}: {exc}); this is a tfgpu bug, not a problem with your machine",
                    evidence={"exception": type(exc).__name__, "origin": chk.origin},
                )
            )
    return findings, crashed
