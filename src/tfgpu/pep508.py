"""Dependency specifiers (PEP 508) as wheels write them in `Requires-Dist`, read without importing
`packaging.requirements`.

Why: every doctor run judges TensorFlow's Requires-Dist lines (its [and-cuda] pins, the nvidia-*
wheels other packages pin). `packaging.requirements` and `packaging.markers` bring in their
tokenizer's regular expressions, `packaging.tags`, `logging`, `sysconfig` and `platform`: 20-35 ms
of a `--fast` run's critical path, more than the parsing they are used for (bench/bench_doctor.py).

What it reads itself: `name [extras] specifiers ; marker` where the specifiers are a plain list
(`<13.0,>=12.5.82`, optionally in parentheses) and the marker combines, with `and`, `or` and
parentheses, comparisons of one environment variable with one quoted literal: `extra == "and-cuda"`,
`sys_platform != "win32"`, `python_version < "3.13"`, `platform_machine == "x86_64"`. The answers
are packaging's: the specifiers are packaging's own `SpecifierSet`, and a comparison is evaluated
as packaging evaluates it (a version comparison through packaging's `Specifier` where the variable
is a version, PEP 685 normalisation of extra names, a string comparison otherwise).

Anything else is handed to packaging itself, imported only then, with its errors turned into this
module's: a URL requirement, `in`/`not in`, `===`, a literal on the left, a variable outside that
set, a literal with a backslash or a character that is not printable (packaging decodes escapes),
a version literal packaging would not take, a version-like literal on a name variable (packaging
before 26 compares those as versions), parentheses more than 32 deep, an environment without the
variable or with a python_full_version ending in `+`.
tests/test_pep508.py checks the equality with packaging on generated lines and environments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet

from tfgpu.versions import normalize_name

__all__ = ["InvalidRequirement", "Marker", "MarkerError", "Requirement", "normalize_name"]


class InvalidRequirement(ValueError):
    """A line that is not a dependency specifier."""


class MarkerError(ValueError):
    """A marker that cannot be evaluated: malformed, a comparison PEP 508 leaves undefined, or a
    variable the environment lacks (packaging's InvalidMarker, UndefinedComparison and
    UndefinedEnvironmentName)."""


_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_OP = r"(?:~=|==|!=|<=|>=|<|>)"
_WS = r"[ \t]*"  # packaging's whitespace: not the other characters str.isspace() takes
_ONE_SPEC = rf"{_OP}{_WS}[A-Za-z0-9_.*+!-]+"
_SPECS = rf"{_ONE_SPEC}(?:{_WS},{_WS}{_ONE_SPEC})*"
_REQUIREMENT = re.compile(
    rf"{_WS}(?P<name>{_NAME}){_WS}(?:\[{_WS}(?P<extras>{_NAME}(?:{_WS},{_WS}{_NAME})*)?{_WS}\])?{_WS}"
    rf"(?:\({_WS}(?P<pspecs>{_SPECS}){_WS}\)|(?P<specs>{_SPECS}))?{_WS}(?:;(?P<marker>.*))?{_WS}\Z", re.DOTALL)

#: The variables this module evaluates; those packaging compares as versions.
_VARIABLES = frozenset({"python_version", "python_full_version", "sys_platform", "platform_system",
                        "platform_machine", "os_name", "implementation_name", "platform_python_implementation",
                        "extra"})
_VERSION_VARIABLES = frozenset({"python_version", "python_full_version"})
_TOKEN = re.compile(r"[ \t]*(?:(?P<paren>[()])|(?P<op>==|!=|<=|>=|~=|<|>)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
                    r"|'(?P<sq>[^']*)'|\"(?P<dq>[^\"]*)\")")


class _Unsupported(Exception):
    """Outside this module's subset: packaging decides."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip(" \t")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _Unsupported
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind in ("sq", "dq"):
            if "\\" in value or not value.isprintable():
                raise _Unsupported  # packaging decodes escapes and refuses line breaks in a literal
            out.append(("str", value))
        elif kind == "word" and value in ("and", "or"):
            out.append((value, value))
        else:
            out.append((kind, value))
    return out


# A parsed marker: ("cmp", variable, op, literal, Specifier or None) | ("and", [node, ...]) | ("or", [node, ...]).
_Node = tuple[Any, ...]
#: Deeper parentheses than this go to packaging (which refuses more than 200 levels itself).
_MAX_DEPTH = 32


def _parse_marker(text: str) -> _Node:
    tokens = _tokens(text)
    node, pos = _parse_or(tokens, 0)
    if pos != len(tokens):
        raise _Unsupported
    return node


_BINDING = ("or", "and")  # loosest first: `a or b and c` is `a or (b and c)`


def _parse_or(tokens: list[tuple[str, str]], pos: int, level: int = 0, depth: int = 0) -> tuple[_Node, int]:
    """An `or` of `and`s of atoms (level 0), an `and` of atoms (level 1)."""
    def operand(at: int) -> tuple[_Node, int]:
        if level + 1 < len(_BINDING):
            return _parse_or(tokens, at, level + 1, depth)
        return _parse_atom(tokens, at, depth)

    word = _BINDING[level]
    first, pos = operand(pos)
    items = [first]
    while pos < len(tokens) and tokens[pos][0] == word:
        item, pos = operand(pos + 1)
        items.append(item)
    return (first if len(items) == 1 else (word, items)), pos


def _parse_atom(tokens: list[tuple[str, str]], pos: int, depth: int) -> tuple[_Node, int]:
    if pos < len(tokens) and tokens[pos] == ("paren", "("):
        if depth >= _MAX_DEPTH:
            raise _Unsupported
        node, pos = _parse_or(tokens, pos + 1, 0, depth + 1)
        if pos >= len(tokens) or tokens[pos] != ("paren", ")"):
            raise _Unsupported
        return node, pos + 1
    if pos + 3 > len(tokens):
        raise _Unsupported
    (k1, variable), (k2, op), (k3, literal) = tokens[pos:pos + 3]
    if k1 != "word" or variable not in _VARIABLES or k2 != "op" or k3 != "str":
        raise _Unsupported
    spec = None
    try:
        spec = Specifier(f"{op}{literal}")
    except InvalidSpecifier:
        if variable in _VERSION_VARIABLES:
            raise _Unsupported from None  # packaging then compares strings, or refuses
    else:
        if variable not in _VERSION_VARIABLES:
            # A version-like literal on a name variable: packaging before 26 compares such pairs as
            # versions, 26 as strings. Rare, and packaging's to decide.
            raise _Unsupported
    if variable not in _VERSION_VARIABLES and op not in ("==", "!="):
        raise _Unsupported
    if variable == "extra":
        literal = normalize_name(literal)
    return ("cmp", variable, op, literal, spec), pos + 3


def _evaluate(node: _Node, env: Mapping[str, str]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(_evaluate(item, env) for item in node[1])
    if kind == "or":
        return any(_evaluate(item, env) for item in node[1])
    _cmp, variable, op, literal, spec = node
    value = env[variable]
    if spec is not None:
        return bool(spec.contains(value, prereleases=True))
    return value == literal if op == "==" else value != literal


def _variables(node: _Node) -> set[str]:
    if node[0] == "cmp":
        return {node[1]}
    return set().union(*(_variables(item) for item in node[1]))


class Marker:
    """A requirement's environment marker; `evaluate` says whether it holds in an environment."""

    def __init__(self, text: str) -> None:
        self._text = text.strip(" \t")
        try:
            self._node: _Node | None = _parse_marker(self._text)
        except _Unsupported:
            self._node = None
        self._packaging: Any = None
        if self._node is None:
            self._packaging = _packaging_marker(self._text)

    @classmethod
    def of_packaging(cls, marker: Any) -> Marker:
        """The Marker of a marker packaging has read (a requirement it parsed)."""
        out = cls.__new__(cls)
        out._text, out._node, out._packaging = str(marker), None, marker
        return out

    def __str__(self) -> str:
        return str(self._packaging) if self._packaging is not None else self._text

    def __repr__(self) -> str:
        return f"<Marker({str(self)!r})>"

    def evaluate(self, environment: Mapping[str, str]) -> bool:
        """Whether the marker holds where the variables have the values of `environment`.
        Raises MarkerError where it cannot be decided."""
        env = _prepared(environment)
        if self._node is not None and env is not None and _variables(self._node) <= env.keys():
            return _evaluate(self._node, env)
        marker = self._packaging if self._packaging is not None else _packaging_marker(self._text)
        from packaging.markers import UndefinedComparison, UndefinedEnvironmentName

        try:
            return bool(marker.evaluate(dict(environment)))
        except (UndefinedComparison, UndefinedEnvironmentName) as exc:
            raise MarkerError(str(exc)) from None


def _prepared(environment: Mapping[str, str]) -> dict[str, str] | None:
    """The environment as packaging's Marker.evaluate sees it (the extra name normalised), or None
    where packaging has to decide: a value that is not a string, a python_full_version ending in +."""
    env = dict(environment)
    if any(not isinstance(v, str) for v in env.values()):
        return None
    if "extra" in env:
        env["extra"] = normalize_name(env["extra"])
    if env.get("python_full_version", "").endswith("+"):
        return None  # a build from a checkout: packaging repairs it (26) or refuses it (older)
    return env


def _packaging_marker(text: str) -> Any:
    from packaging.markers import InvalidMarker
    from packaging.markers import Marker as PackagingMarker

    try:
        return PackagingMarker(text)
    except InvalidMarker as exc:
        raise MarkerError(str(exc)) from None


class Requirement:
    """One dependency specifier: `name`, `extras` (as written), `specifier` (packaging's
    SpecifierSet), `marker` (a Marker or None) and `url` (None unless `name @ url`)."""

    __slots__ = ("extras", "marker", "name", "specifier", "url")

    def __init__(self, line: str) -> None:
        m = _REQUIREMENT.match(line)
        if m is not None and (m.group("marker") is None or m.group("marker").strip(" \t")):
            try:
                specifier = SpecifierSet(m.group("pspecs") or m.group("specs") or "")
            except InvalidSpecifier:
                pass
            else:
                text = m.group("marker")
                try:
                    marker = Marker(text) if text is not None else None
                except MarkerError as exc:
                    raise InvalidRequirement(str(exc)) from None
                self.name: str = m.group("name")
                extras = m.group("extras")
                self.extras: set[str] = {e.strip(" \t") for e in extras.split(",")} if extras else set()
                self.specifier: SpecifierSet = specifier
                self.marker: Marker | None = marker
                self.url: str | None = None
                return
        self._from_packaging(line)

    def _from_packaging(self, line: str) -> None:
        from packaging.requirements import InvalidRequirement as PackagingInvalid
        from packaging.requirements import Requirement as PackagingRequirement

        try:
            req = PackagingRequirement(line)
        except PackagingInvalid as exc:
            raise InvalidRequirement(str(exc)) from None
        self.name = req.name
        self.extras = set(req.extras)
        self.specifier = req.specifier
        self.url = req.url
        self.marker = Marker.of_packaging(req.marker) if req.marker is not None else None

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        at = f" @ {self.url}" if self.url else ""
        marker = f"; {self.marker}" if self.marker is not None else ""
        return f"{self.name}{extras}{self.specifier}{at}{' ' if at and marker else ''}{marker}"

    def __repr__(self) -> str:
        return f"<Requirement({str(self)!r})>"
