"""tfgpu.records.dataclass behaves as the standard library's dataclass for the subset tfgpu uses.

The same generated class body is made twice, once by `dataclasses.dataclass` and once by
`tfgpu.records.dataclass`, and the two are compared on everything a caller can see: the
constructor's signature, arguments and errors, the stored values, fresh default_factory values,
repr, equality, hashing, the frozen guard, `dataclasses.replace/asdict/fields`, `__match_args__`,
pickling. Options outside the subset are refused when the class is made, not silently dropped.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import pickle
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfgpu import records

SRC = Path(__file__).resolve().parent.parent / "src" / "tfgpu"

_DEFAULTS: list[Any] = [0, 7, "", "x", None, (), (1, "a"), 2.5, True]
_FACTORIES: list[Any] = [list, dict, tuple, set, frozenset]


@st.composite
def specs(draw: Any) -> tuple[bool, list[tuple[str, str, Any]]]:
    """(frozen, [(name, kind, value)]): required fields first, then defaults and factories mixed."""
    frozen = draw(st.booleans())
    n_required = draw(st.integers(0, 4))
    n_optional = draw(st.integers(0, 4))
    fields: list[tuple[str, str, Any]] = [(f"r{i}", "required", None) for i in range(n_required)]
    for i in range(n_optional):
        if draw(st.booleans()):
            fields.append((f"d{i}", "default", draw(st.sampled_from(_DEFAULTS))))
        else:
            fields.append((f"f{i}", "factory", draw(st.sampled_from(_FACTORIES))))
    return frozen, fields


def _body(fields: list[tuple[str, str, Any]]) -> dict[str, Any]:
    ns: dict[str, Any] = {"__annotations__": {}, "__module__": __name__, "__qualname__": "Rec"}
    for name, kind, value in fields:
        ns["__annotations__"][name] = "Any"
        if kind == "default":
            ns[name] = value
        elif kind == "factory":
            ns[name] = dataclasses.field(default_factory=value)
    return ns


def _pair(frozen: bool, fields: list[tuple[str, str, Any]]) -> tuple[type, type]:
    std = dataclasses.dataclass(frozen=frozen)(type("Rec", (), _body(fields)))
    ours = records.dataclass(frozen=frozen)(type("Rec", (), _body(fields)))
    return std, ours


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # the comparison is of which error, with which message
        return (type(exc).__name__, str(exc))


@settings(max_examples=150, deadline=None)
@given(spec=specs(), data=st.data())
def test_behaves_as_the_standard_dataclass(spec: tuple[bool, list[tuple[str, str, Any]]], data: Any) -> None:
    frozen, fields = spec
    std, ours = _pair(frozen, fields)
    assert str(inspect.signature(std)) == str(inspect.signature(ours))
    assert std.__doc__ == ours.__doc__
    assert std.__match_args__ == ours.__match_args__
    assert [f.name for f in dataclasses.fields(std)] == [f.name for f in dataclasses.fields(ours)]
    assert dataclasses.is_dataclass(ours)
    assert (std.__hash__ is None) == (ours.__hash__ is None) == (not frozen)

    n_args = data.draw(st.integers(0, len(fields) + 1))
    args = [data.draw(st.sampled_from([1, "s", (2,), None])) for _ in range(n_args)]
    made_std, made_ours = _outcome(lambda: std(*args)), _outcome(lambda: ours(*args))
    assert made_std[0] == made_ours[0]
    if made_std[0] != "ok":
        assert made_std[1] == made_ours[1]
        return
    a, b = made_std[1], made_ours[1]
    assert repr(a) == repr(b)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert b == ours(*args) and not (b != ours(*args))
    assert (b == a) is False  # another class, as between two dataclasses
    assert b.__eq__(object()) is NotImplemented
    if frozen:
        assert _outcome(lambda: hash(a)) == _outcome(lambda: hash(b))
    for i, (name, kind, _value) in enumerate(fields):
        if kind == "factory" and i >= n_args:  # made by the factory: a fresh one for each instance
            assert getattr(b, name) == getattr(a, name)
            fresh = getattr(ours(*args), name)
            assert fresh is not getattr(b, name) or isinstance(fresh, (tuple, frozenset))  # those two are shared
    if fields:
        name = fields[0][0]
        assert _outcome(lambda: setattr(a, name, 5)) == _outcome(lambda: setattr(b, name, 5))
        assert repr(a) == repr(b)
        changed = dataclasses.replace(b, **{name: 9})
        assert getattr(changed, name) == 9 and type(changed) is ours
        assert _outcome(lambda: delattr(a, name)) == _outcome(lambda: delattr(b, name))
        assert _outcome(lambda: repr(a)) == _outcome(lambda: repr(b))
    assert _outcome(lambda: setattr(b, "other", 1))[0] == ("FrozenInstanceError" if frozen else "ok")
    if frozen:
        global Rec  # pickle finds classes by module and name
        Rec = ours
        try:
            assert pickle.loads(pickle.dumps(b)) == b
        finally:
            del Rec


def test_a_required_field_after_a_default_is_refused_as_by_dataclasses() -> None:
    fields: list[tuple[str, str, Any]] = [("a", "default", 1), ("b", "required", None)]
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        records.dataclass(frozen=True)(type("Rec", (), _body(fields)))


def test_repr_of_a_record_holding_itself_ends() -> None:
    @records.dataclass
    class Node:
        items: list[Any] = dataclasses.field(default_factory=list)

    node = Node()
    node.items.append(node)
    assert repr(node) == "test_repr_of_a_record_holding_itself_ends.<locals>.Node(items=[...])"


@pytest.mark.parametrize("body", [
    "x: int = dataclasses.field(default=1, repr=False)",
    "x: int = dataclasses.field(default=1, compare=False)",
    "x: int = dataclasses.field(default=1, metadata={'k': 1})",
    "x: ClassVar[int] = 1",
    "x: int = 0\n    def __post_init__(self):\n        pass",
    "x: int = 0\n    def __repr__(self):\n        return 'mine'",
    "x: int = 0\n    def __eq__(self, other):\n        return True",
    "x: int = 0\n    __hash__ = None",
])
def test_options_outside_the_subset_are_refused(body: str) -> None:
    space: dict[str, Any] = {"dataclasses": dataclasses, "ClassVar": ClassVar, "records": records, "__name__": __name__}
    with pytest.raises(TypeError, match="record"):
        exec(f"@records.dataclass(frozen=True)\nclass R:\n    {body}\n", space)  # noqa: S102 - test text


def test_an_inherited_post_init_is_refused() -> None:
    class Base:
        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="__post_init__"):
        records.dataclass(type("R", (Base,), {"__annotations__": {"b": "int"}, "b": 1}))


def test_unknown_decorator_options_are_refused() -> None:
    with pytest.raises(TypeError):
        records.dataclass(order=True)  # type: ignore[call-overload]


def test_a_dataclass_base_is_refused() -> None:
    @dataclasses.dataclass
    class Base:
        a: int = 0

    with pytest.raises(TypeError, match="cannot derive"):
        records.dataclass(type("R", (Base,), {"__annotations__": {"b": "int"}, "b": 1}))


def test_tfgpu_makes_its_dataclasses_through_records() -> None:
    """A module that imported the standard decorator would silently pay ~1.3 ms per class on every
    start (the reason records exists); the fields helpers (field, replace, asdict) are fine."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "records.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "dataclasses":
                offenders += [f"{path.relative_to(SRC)}: from dataclasses import dataclass"
                              for alias in node.names if alias.name == "dataclass"]
            if isinstance(node, ast.Attribute) and node.attr == "dataclass" and \
                    isinstance(node.value, ast.Name) and node.value.id == "dataclasses":
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: dataclasses.dataclass")
    assert offenders == []
