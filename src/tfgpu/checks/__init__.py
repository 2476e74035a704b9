"""Checks: pure judgements from facts (and the matrix) to findings. No I/O here.

A check declares the facts it reads: `needs` (without any of them usable it is reported as
skipped) and `uses` (read when present). It reads them through the typed accessors of
`CheckContext` (`ctx.driver`, `ctx.tf_build`, ...), each the probe's dataclass or None; reading a
fact it did not declare raises `UndeclaredFact` (reported as a crashed check, a tfgpu bug).

Built-in checks register with `@check`; a `Registry` holds them plus the third-party checks of the
`tfgpu.checks` entry-point group. A plugin that fails to load, or whose id is taken, becomes a
`plugin-load-failed` finding; a check that raises becomes a `check-crashed` row; never a crash.

A built-in check also declares the finding ids it can emit (`emits`; `log_classes` adds the ids of
explain's signature knowledge, for the check that classifies TensorFlow's own log). The declaration
is what `tfgpu doctor --list`, docs/checks.md and `tfgpu doctor FINDING_ID` read, so the runner
holds a check to it: a finding whose id the check does not declare is a tfgpu bug, reported like a
crashed check (the finding itself is kept). A plugin check that declares nothing may emit any id.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from tfgpu.fixes import fitted_fixes, fix_context
from tfgpu.matrix import Matrix
from tfgpu.model import Area, Finding, Fix, ProbeFailure, RunOptions, Severity
from tfgpu.plugins import PluginEntry, discover
from tfgpu.probes.driver import DriverInfo
from tfgpu.probes.environment import EnvVars
from tfgpu.probes.host import HostInfo
from tfgpu.probes.libraries import Libraries
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.probes.tf_live import TFLive
from tfgpu.probes.toolkit import Toolkits
from tfgpu.records import dataclass

ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

#: Every fact a check may declare, with the type its accessor returns.
FACT_TYPES: dict[str, type] = {
    "host": HostInfo,
    "python_env": PythonEnv,
    "environment": EnvVars,
    "tf_build": TFBuild,
    "driver": DriverInfo,
    "libraries": Libraries,
    "toolkit": Toolkits,
    "tf_live": TFLive,
}

T = TypeVar("T")


class UndeclaredFact(Exception):
    """A check read a fact it does not declare in `needs` or `uses` (a tfgpu bug)."""


@dataclass
class CheckContext:
    """What a check sees: the facts it declared, the matrix and the run's options."""

    check_id: str
    facts: Mapping[str, Any]
    matrix: Matrix | None
    options: RunOptions | None = None
    area: str = ""
    #: The facts this check may read; None allows any (explain and tests build contexts directly).
    declared: frozenset[str] | None = None

    def _raw(self, name: str) -> Any:
        if self.declared is not None and name not in self.declared:
            raise UndeclaredFact(f"check '{self.check_id}' reads the fact '{name}' without declaring it")
        return self.facts.get(name)

    def fact(self, name: str) -> Any | None:
        """A fact by name, untyped (for plugins); None where it is absent or its probe failed."""
        value = self._raw(name)
        return None if value is None or isinstance(value, ProbeFailure) else value

    def failure(self, name: str) -> ProbeFailure | None:
        """Why a fact is absent, where its probe failed."""
        value = self._raw(name)
        return value if isinstance(value, ProbeFailure) else None

    def _typed(self, name: str, cls: type[T]) -> T | None:
        value = self.fact(name)
        return value if isinstance(value, cls) else None

    @property
    def host(self) -> HostInfo | None:
        return self._typed("host", HostInfo)

    @property
    def python_env(self) -> PythonEnv | None:
        return self._typed("python_env", PythonEnv)

    @property
    def environment(self) -> EnvVars | None:
        return self._typed("environment", EnvVars)

    @property
    def tf_build(self) -> TFBuild | None:
        return self._typed("tf_build", TFBuild)

    @property
    def driver(self) -> DriverInfo | None:
        return self._typed("driver", DriverInfo)

    @property
    def libraries(self) -> Libraries | None:
        return self._typed("libraries", Libraries)

    @property
    def toolkit(self) -> Toolkits | None:
        return self._typed("toolkit", Toolkits)

    @property
    def tf_live(self) -> TFLive | None:
        return self._typed("tf_live", TFLive)

    @property
    def knowledge(self) -> Any | None:
        """The explain signature knowledge the runner loaded for log classification, if any."""
        return getattr(self.options, "knowledge", None)

    def finding(
        self,
        id: str,
        severity: Severity,
        summary: str,
        detail: str = "",
        evidence: dict[str, Any] | None = None,
        fixes: Iterable[Fix] = (),
    ) -> Finding:
        return Finding(id, self.check_id, severity, summary, detail, dict(evidence or {}), tuple(fixes), self.area)


CheckFunc = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    area: str
    func: CheckFunc
    #: Facts it cannot judge without: with none of them usable the check reports "skipped".
    needs: tuple[str, ...] = ()
    #: Facts it reads where present.
    uses: tuple[str, ...] = ()
    origin: str = "built-in"
    #: The finding ids it can emit (besides its own `<id>-skipped`); None: undeclared (a plugin), any id.
    emits: tuple[str, ...] | None = None
    #: It also emits the ids of explain's signature knowledge (it classifies TensorFlow's own log).
    log_classes: bool = False
    #: What it checks, in a sentence or two (docs/checks.md and `--list --json`); the title otherwise.
    description: str = ""

    @property
    def declared(self) -> frozenset[str]:
        return frozenset(self.needs) | frozenset(self.uses)

    def may_emit(self, finding_id: str, knowledge: Any | None = None) -> bool:
        """Whether the finding id is one this check declares (always, for a check that declares none)."""
        if self.emits is None or finding_id in self.emits or finding_id == f"{self.id}-skipped":
            return True
        return self.log_classes and finding_id in log_class_ids(knowledge)


def log_class_ids(knowledge: Any | None) -> frozenset[str]:
    """The finding ids of explain's signature knowledge (the log classes), none without knowledge."""
    return frozenset(getattr(s, "id", "") for s in getattr(knowledge, "signatures", ()) or ())


def _description(func: CheckFunc) -> str:
    """The first paragraph of a check function's docstring, on one line."""
    doc = (func.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


#: Built-in checks, in registration order (filled by `@check` as the modules are imported).
BUILTIN: list[Check] = []


def check(id: str, title: str, area: Area, needs: tuple[str, ...] = (),
          uses: tuple[str, ...] = (), emits: tuple[str, ...] | None = None,
          log_classes: bool = False) -> Callable[[CheckFunc], CheckFunc]:
    """Register a built-in check. Ids are stable, short and kebab-case; facts are declared, and so
    are the finding ids it emits (the function's docstring says what it checks)."""
    area_name = Area(area).value  # a built-in's area is one of the known ones
    if not ID_RE.match(id):
        raise ValueError(f"check id {id!r} is not kebab-case")
    unknown = [n for n in (*needs, *uses) if n not in FACT_TYPES]
    if unknown:
        raise ValueError(f"check {id!r} declares unknown facts {unknown}")
    if isinstance(emits, str):
        raise ValueError(f"check {id!r}: emits is a tuple of finding ids, not one string")
    bad = [e for e in emits or () if not ID_RE.match(e)]
    if bad:
        raise ValueError(f"check {id!r} declares finding ids that are not kebab-case: {bad}")

    def register(func: CheckFunc) -> CheckFunc:
        BUILTIN.append(Check(id, title, area_name, func, tuple(needs), tuple(uses),
                             getattr(func, "__module__", "built-in"),
                             tuple(emits) if emits is not None else None, log_classes, _description(func)))
        return func

    return register


@dataclass(frozen=True)
class PluginError:
    entry_point: str
    message: str
    distribution: str


@dataclass
class Registry:
    """The checks of one run, by id. Tests build their own; `load_all()` gives the default one."""

    checks: dict[str, Check] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)

    def add(self, chk: Check, entry_point: str | None = None, distribution: str = "") -> bool:
        """Add a check; a second check with a taken id is refused and recorded as a plugin error."""
        if not ID_RE.match(chk.id):
            self.errors.append(PluginError(entry_point or chk.id, f"{chk.origin}: '{chk.id}' is not a kebab-case "
                                           "check id", distribution or chk.origin))
            return False
        taken = self.checks.get(chk.id)
        if taken is not None:
            self.errors.append(PluginError(
                entry_point or chk.id,
                f"{chk.origin}: the check id '{chk.id}' is already taken by {taken.origin}; the plugin's check "
                "was not loaded", distribution or chk.origin))
            return False
        self.checks[chk.id] = chk
        return True

    def __contains__(self, check_id: object) -> bool:
        return check_id in self.checks

    def __getitem__(self, check_id: str) -> Check:
        return self.checks[check_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def get(self, check_id: str) -> Check | None:
        return self.checks.get(check_id)

    def values(self) -> list[Check]:
        return list(self.checks.values())

    def emitters(self, finding_id: str, knowledge: Any | None = None) -> list[str]:
        """The checks that declare the finding id; only where none does by name, the checks that emit
        it as one of explain's log classes (the live check: running it imports TensorFlow)."""
        named = [c.id for c in self.checks.values()
                 if finding_id == f"{c.id}-skipped" or (c.emits is not None and finding_id in c.emits)]
        if named or not any(c.log_classes for c in self.checks.values()):
            return named
        classes = log_class_ids(knowledge() if callable(knowledge) else knowledge)
        return [c.id for c in self.checks.values() if c.log_classes and finding_id in classes]

    def resolve(self, ids: Iterable[str],
                knowledge: Any | None = None) -> tuple[list[str], dict[str, list[str]]]:
        """Check ids and finding ids -> (the checks to run, in order, each once; {unknown id: close
        matches}). `knowledge`: explain's signature knowledge, or a function that loads it (called only
        for an id that is neither a check's nor one a check declares)."""
        run: dict[str, None] = {}
        unknown: dict[str, list[str]] = {}
        for name in ids:
            found = [name] if name in self.checks else self.emitters(name, knowledge)
            if found:
                run.update(dict.fromkeys(found))
            else:
                unknown[name] = self.suggest(name)
        return list(run), unknown

    def suggest(self, name: str, n: int = 2) -> list[str]:
        """The check and finding ids closest to a mistyped one."""
        import difflib

        known = set(self.checks) | {e for c in self.checks.values() for e in c.emits or ()}
        return difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.6)

    def load_plugins(self, entries: Iterable[PluginEntry]) -> None:
        """Add the checks of plugin entry points (`tfgpu.plugins.discover`); failures become `errors`,
        never exceptions."""
        for ep in entries:
            dist = ep.distribution
            try:
                obj = ep.load()
            except Exception as exc:
                self.errors.append(PluginError(ep.name, f"{ep.value}: {type(exc).__name__}: {exc}", dist))
                continue
            if isinstance(obj, Check):
                self.add(obj, ep.name, dist)
            elif callable(obj):
                if any(c.func is obj for c in self.checks.values()):
                    continue
                title = obj.__doc__.strip().splitlines()[0] if obj.__doc__ and obj.__doc__.strip() else ep.name
                if not ID_RE.match(ep.name):
                    self.errors.append(PluginError(ep.name, f"{ep.value}: entry point name is not a kebab-case check id",
                                                   dist))
                    continue
                # A bare function declares nothing: it may read any fact through `ctx.fact`.
                self.add(Check(ep.name, title, Area.PLUGINS.value, obj, (), tuple(FACT_TYPES), ep.value), ep.name, dist)
            else:
                self.errors.append(PluginError(ep.name, f"{ep.value}: neither a tfgpu Check nor a function", dist))

    def run(self, facts: Mapping[str, Any], matrix: Matrix | None, only: list[str] | None,
            options: RunOptions | None = None) -> tuple[list[Finding], list[str]]:
        """Run the selected checks; return (findings, ids of checks that crashed)."""
        findings = [_plugin_error_finding(e) for e in self.errors]
        crashed: list[str] = []
        selected = [self.checks[i] for i in only] if only else list(self.checks.values())
        # What every fix must fit (container, WSL2, root, package manager, the user's Python and shell).
        fit = fix_context(facts)
        for chk in selected:
            ctx = CheckContext(chk.id, facts, matrix, options, chk.area, chk.declared)
            if chk.needs and all(ctx.fact(n) is None for n in chk.needs):
                reasons = []
                for n in chk.needs:
                    fail = ctx.failure(n)
                    reasons.append(f"{n}: {fail.message}" if fail else f"{n}: not probed")
                findings.append(ctx.finding(f"{chk.id}-skipped", Severity.SKIPPED, f"Skipped: {chk.title}",
                                            "; ".join(reasons)))
                continue
            try:
                conda = getattr(ctx.knowledge, "conda", None)
                # Every fix is fitted to the machine, in this one place, and each command is then checked
                # against the matrix (tfgpu.fixes): a host action inside a container becomes the host's,
                # root gets no sudo, and one that cannot work (an extra the release lacks) is dropped.
                made: list[Finding] = []
                for f in chk.func(ctx) or ():  # kept one by one: a check that raises keeps what it said
                    made.append(replace(f, fixes=fitted_fixes(f.fixes, fit, matrix, conda=conda)) if f.fixes else f)
                    findings.append(made[-1])
                undeclared = sorted({f.id for f in made if not chk.may_emit(f.id, ctx.knowledge)})
                if undeclared:
                    crashed.append(chk.id)
                    findings.append(Finding(
                        "check-crashed", chk.id, Severity.SKIPPED,
                        f"The check '{chk.id}' emitted finding id(s) it does not declare ({', '.join(undeclared)}); "
                        "this is a tfgpu bug, not a problem with your machine",
                        evidence={"undeclared_ids": undeclared, "origin": chk.origin}, area=chk.area))
            except Exception as exc:
                crashed.append(chk.id)
                findings.append(Finding(
                    "check-crashed", chk.id, Severity.SKIPPED,
                    f"The check '{chk.id}' itself failed ({type(exc).__name__}: {exc}); this is a tfgpu bug, not a "
                    "problem with your machine",
                    evidence={"exception": type(exc).__name__, "origin": chk.origin}, area=chk.area))
        return findings, crashed


def _plugin_error_finding(error: PluginError) -> Finding:
    dist = error.distribution
    return Finding(
        "plugin-load-failed", "plugins", Severity.WARNING,
        f"The tfgpu check plugin '{error.entry_point}' could not be loaded", error.message,
        {"entry_point": error.entry_point},
        (Fix(f"Reinstall, or remove, the package '{dist}' that provides it",
             (f"python -m pip install --force-reinstall {dist}", f"python -m pip uninstall {dist}")),),
        Area.PLUGINS.value)


def builtin_registry() -> Registry:
    """A fresh registry of the built-in checks only."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    registry = Registry()
    for chk in BUILTIN:
        registry.add(chk)
    return registry


_DEFAULT: Registry | None = None


def load_all() -> Registry:
    """The default registry: the built-in checks, then the `tfgpu.checks` entry points (built once)."""
    global _DEFAULT
    if _DEFAULT is None:
        registry = builtin_registry()
        registry.load_plugins(discover("tfgpu.checks"))
        _DEFAULT = registry
    return _DEFAULT


def run_checks(facts: Mapping[str, Any], matrix: Matrix | None, only: list[str] | None,
               options: RunOptions | None = None,
               registry: Registry | None = None) -> tuple[list[Finding], list[str]]:
    """Run the selected checks of `registry` (the default one if None)."""
    return (registry or load_all()).run(facts, matrix, only, options)
