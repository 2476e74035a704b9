"""`dataclass`: the standard library's `@dataclass` / `@dataclass(frozen=True)`, made ~7x cheaper
to create, for the subset of it tfgpu uses.

Why: tfgpu defines ~85 dataclasses, and `tfgpu doctor --fast` imports most of them on its critical
path. On CPython 3.10-3.12 `dataclasses.dataclass(frozen=True)` compiles six methods per class
with `exec` (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__): ~1.3 ms per class
on a CI core, ~25% of tfgpu's own import time (bench/bench_doctor.py). Here the standard library
still does all the field processing (`__dataclass_fields__`, so `dataclasses.fields`, `replace`,
`asdict` and `is_dataclass` work as before, and `__match_args__`); only `__init__` is compiled
(one `exec` per class: argument checking and signatures exactly as a dataclass has them), and
equality, hashing, repr and the frozen guard are shared functions that read the class's fields.

For type checkers this module *is* `dataclasses.dataclass` (see the TYPE_CHECKING branch), so mypy
checks every record as the dataclass it behaves as. tests/test_records.py compares the behaviour
with `dataclasses.dataclass` on generated classes.

The subset: `@dataclass` and `@dataclass(frozen=True)` with no other options, fields with a
default or a `field(default_factory=...)` (other `field()` options than the default, a
`__post_init__`, `InitVar`, `kw_only`, a class body defining `__init__`, `__eq__`, `__hash__`,
`__repr__`, `__setattr__` or `__delattr__`, and base classes that are dataclasses are refused with
a TypeError at import time, where a test sees it). Not reproduced: `__dataclass_params__` describes
what the standard library was asked to do (no `__init__`, `__eq__`, `__repr__`), and records are
not meant to be subclassed (the frozen guard does not let a subclass add attributes).
"""

from __future__ import annotations

import dataclasses
import inspect
import reprlib
from typing import TYPE_CHECKING, Any

__all__ = ["dataclass"]

if TYPE_CHECKING:
    from dataclasses import dataclass
else:

    def dataclass(cls: type | None = None, /, *, frozen: bool = False) -> Any:
        """`@dataclass` or `@dataclass(frozen=True)` (see the module's text)."""
        if cls is None:
            return lambda c: _make(c, frozen)
        return _make(cls, frozen)


def _make(cls: type, frozen: bool) -> type:
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            raise TypeError(f"{cls.__qualname__}: a record cannot derive from the dataclass {base.__qualname__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: records do not run __post_init__")
    own = sorted(set(cls.__dict__) & {"__init__", "__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__"})
    if own:
        raise TypeError(f"{cls.__qualname__}: a record makes its own {', '.join(own)}")
    had_doc = cls.__dict__.get("__doc__") is not None
    if not had_doc:
        cls.__doc__ = "-"  # else the standard library builds it from a signature the class has not got yet
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    fields = dataclasses.fields(cls)
    for f in fields:
        plain = f.init and f.repr and f.hash is None and f.compare and not f.metadata and not f.kw_only
        if not plain:
            raise TypeError(f"{cls.__qualname__}.{f.name}: records take field(default_factory=...) only")
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__qualname__}: records have no ClassVar or InitVar fields")
    names = tuple(f.name for f in fields)
    cls.__init__ = _init(cls, fields, frozen)  # type: ignore[misc]
    cls.__repr__ = _repr  # type: ignore[assignment,method-assign]
    cls.__eq__ = _eq  # type: ignore[assignment,method-assign]
    cls.__tfgpu_names__ = names  # type: ignore[attr-defined]
    if frozen:
        cls.__hash__ = _hash  # type: ignore[assignment,method-assign]
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment,method-assign]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment,method-assign]
    else:
        cls.__hash__ = None  # type: ignore[assignment]  # as a dataclass with eq and not frozen
    if not had_doc:
        try:  # as the standard library writes it
            cls.__doc__ = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            cls.__doc__ = cls.__name__
    return cls


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool) -> Any:
    """Compile `__init__` once: positional-or-keyword parameters in field order, defaults bound as
    names (never as their repr), a factory called for each instance that gets no argument."""
    env: dict[str, Any] = {"__set": object.__setattr__, "__FACTORY": _FACTORY}
    params, body = [], []
    for i, f in enumerate(fields):
        name = f.name
        value = name
        if f.default_factory is not dataclasses.MISSING:
            env[f"__f{i}"] = f.default_factory
            params.append(f"{name}=__FACTORY")
            value = f"__f{i}() if {name} is __FACTORY else {name}"
        elif f.default is not dataclasses.MISSING:
            env[f"__d{i}"] = f.default
            params.append(f"{name}=__d{i}")
        else:
            if params and "=" in params[-1]:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            params.append(name)
        body.append(f"  __set(self, {name!r}, {value})" if frozen else f"  self.{name} = {value}")
    source = f"def __init__({', '.join(['self', *params])}):\n" + ("\n".join(body) or "  pass") + "\n"
    space: dict[str, Any] = {}
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), env, space)  # noqa: S102 - our own text
    init = space["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _values(self: Any) -> tuple[Any, ...]:
    return tuple([getattr(self, name) for name in self.__tfgpu_names__])


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    inner = ", ".join([f"{name}={getattr(self, name)!r}" for name in self.__tfgpu_names__])
    return f"{self.__class__.__qualname__}({inner})"


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
