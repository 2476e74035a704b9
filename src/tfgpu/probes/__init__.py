"""Probes: the only code that touches the machine. Each returns a frozen fact record or a
`ProbeFailure`; the registry below lists them, and `tfgpu.runner` runs them concurrently.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import sys
import threading
from dataclasses import field
from typing import Any, Callable, Mapping, Sequence

from tfgpu import proc
from tfgpu.model import ProbeFailure, ProbeStatus
from tfgpu.probes import _children
from tfgpu.records import dataclass


class FactEnum(str, enum.Enum):
    """An enumerated value in a fact record: equal to its string value (`status == "loaded"` holds),
    and formatted and serialised as that value."""

    def __str__(self) -> str:
        return str(self.value)


class Pending:
    """A value another thread is still making: the bundled matrix, which tfgpu.doctor loads while
    the probes start (the libraries probe, the one that reads it, waits for it)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._problem = ""

    def settle(self, value: Any, problem: str) -> None:
        """Give the value; `problem` says why there is none, where `value` is None."""
        if not self._done.is_set():
            self._value, self._problem = value, problem
            self._done.set()

    def get(self) -> Any:
        """The value, once settled; RuntimeError(problem) where it never came."""
        self._done.wait()
        if self._value is None:
            raise RuntimeError(self._problem)
        return self._value


@dataclass
class ProbeContext:
    """What a probe may use: the target interpreter, the user's environment, limits, and the
    results of the probes it declared it needs."""

    python: str
    environ: Mapping[str, str]
    timeout: float
    #: The compatibility matrix: a Matrix, a Pending one (get_matrix waits for it), or None.
    matrix: Any = None
    #: The run's options: a mapping, or an object with the options as attributes.
    options: Any = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    run_command: Callable[..., proc.CommandResult] = proc.run

    def fact(self, name: str) -> Any | None:
        """The fact record of probe `name`, or None where it failed or did not run."""
        value = self.results.get(name)
        return None if value is None or isinstance(value, ProbeFailure) else value

    def get_matrix(self) -> Any:
        """The compatibility matrix, waited for where it is still loading; None where there is none."""
        matrix = self.matrix
        return matrix.get() if isinstance(matrix, Pending) else matrix

    def option(self, name: str, default: Any = None) -> Any:
        """One run option (`fast`, `smoke`, `live_timeout`, ...), whichever form `options` has."""
        if isinstance(self.options, Mapping):
            value = self.options.get(name, default)
        else:
            value = getattr(self.options, name, default)
        return default if value is None else value

    def run_child(self, name: str, *, timeout: float, python: str | None = None, isolated: bool = True,
                  site: bool = True, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                  stdin_data: bytes | None = None, cwd: str | None = None) -> proc.CommandResult:
        """Run the child script `name` (see `tfgpu.probes._children`) in `python` (tfgpu's own
        interpreter by default), the one way every probe starts a Python child."""
        argv = proc.python_command(python or sys.executable, _children.source(name), args, isolated=isolated, site=site)
        return self.run_command(argv, timeout=timeout, env=env, stdin_data=stdin_data, cwd=cwd)


@dataclass(frozen=True)
class Probe:
    name: str
    title: str
    fact_type: type
    func: Callable[[ProbeContext], Any]
    needs: tuple[str, ...] = ()
    #: Seconds; None means the run's default (`--timeout`).
    timeout: float | None = None
    #: Not run with --fast (it imports TensorFlow or does real GPU work).
    slow: bool = False


PROBES: dict[str, Probe] = {}


def probe(
    name: str,
    title: str,
    fact_type: type,
    needs: tuple[str, ...] = (),
    timeout: float | None = None,
    slow: bool = False,
) -> Callable[[Callable[[ProbeContext], Any]], Callable[[ProbeContext], Any]]:
    """Register a probe function under `name`."""

    def register(func: Callable[[ProbeContext], Any]) -> Callable[[ProbeContext], Any]:
        PROBES[name] = Probe(name, title, fact_type, func, tuple(needs), timeout, slow)
        return func

    return register


def failure(name: str, status: ProbeStatus, message: str, **evidence: Any) -> ProbeFailure:
    return ProbeFailure(name, status, message, dict(evidence))


_LOADED = False


def load_all() -> dict[str, Probe]:
    """Import every module of this package so that each registers its probes."""
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    return PROBES
