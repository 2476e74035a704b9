"""Turning fact records into JSON-ready data and back (for `--json` and `--from-facts`).

Fact records are frozen dataclasses built from str/int/float/bool, enums, tuples, dicts,
Optional and nested dataclasses. This codec handles exactly that, and nothing more.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Union


def to_jsonable(value: Any) -> Any:
    """Convert a fact record (or any value inside one) to JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


class DecodeError(ValueError):
    """Saved facts that do not fit the record they claim to be."""


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS_CACHE.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS_CACHE[cls] = hints
    return hints


def from_jsonable(tp: Any, data: Any, where: str = "$") -> Any:
    """Rebuild a value of type `tp` from JSON data; raise DecodeError naming the path."""
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin is Union or (hasattr(types, "UnionType") and origin is getattr(types, "UnionType")):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return from_jsonable(arg, data, where)
            except DecodeError as exc:
                errors.append(str(exc))
        raise DecodeError(f"{where}: no alternative fits ({'; '.join(errors)})")
    if origin in (tuple, list):
        if not isinstance(data, list):
            raise DecodeError(f"{where}: expected a list, got {type(data).__name__}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [from_jsonable(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(data, dict):
            raise DecodeError(f"{where}: expected an object, got {type(data).__name__}")
        args = typing.get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {k: from_jsonable(vt, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise DecodeError(f"{where}: expected an object for {tp.__name__}")
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = from_jsonable(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{where}: {tp.__name__} needs '{f.name}'")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise DecodeError(f"{where}: {data!r} is not a {tp.__name__}") from None
    if tp is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if isinstance(tp, type) and tp in (str, int, float, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise DecodeError(f"{where}: expected {tp.__name__}, got {data!r}")
        return data
    if tp is type(None):
        if data is not None:
            raise DecodeError(f"{where}: expected null")
        return None
    return data


# --- reading a saved report (`--from-facts`) ------------------------------------------------------

#: The report format this tfgpu writes (the JSON report's `schema_version`). Older reports are read;
#: a newer one is refused with its version.
REPORT_SCHEMA_VERSION = 1
#: Integers longer than this in a report are refused (int() of more than 4300 digits raises).
_MAX_INT_DIGITS = 40


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise DecodeError(f"an integer of {len(text)} digits")
    return int(text)


def _parse_constant(name: str) -> Any:
    raise DecodeError(f"{name} is not JSON")


def load_report(path: str) -> dict[str, Any]:
    """The saved JSON report at `path` for `--from-facts`, checked to be one this tfgpu can read:
    a regular file within the report cap (tfgpu.safeio), UTF-8 JSON, an object with `facts`, a
    `schema_version` no newer than REPORT_SCHEMA_VERSION, and every fact entry shaped as tfgpu
    writes it. Raises DecodeError (a ValueError) with one line naming the problem, and nothing
    else: the CLI prints `--from-facts PATH: <message>` and exits 2."""
    import json

    from tfgpu.safeio import BadInput, read_bytes

    try:
        raw = read_bytes(path, "report")
    except BadInput as exc:
        raise DecodeError(exc.problem) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not a JSON report (not UTF-8 text, byte {exc.start})") from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except DecodeError as exc:
        raise DecodeError(f"not a JSON report ({exc})") from None
    except ValueError as exc:
        raise DecodeError(f"not a JSON report ({str(exc).splitlines()[0][:200]})") from None
    except RecursionError:
        raise DecodeError("not a JSON report (nested too deeply)") from None
    except MemoryError:
        raise DecodeError("not a JSON report (too large to read)") from None
    data = _visible(data)
    check_report(data)
    return data


#: Objects and lists nested deeper than this are refused (a report nests about six levels).
MAX_DEPTH = 64


def _visible(data: Any) -> Any:
    """`data` with every string (keys included) made safe to print (control characters shown as
    escapes, `tfgpu.safeio.printable`); DecodeError where it nests deeper than MAX_DEPTH. Iterative:
    no recursion to overflow."""
    from tfgpu.safeio import printable

    def fix(value: Any) -> Any:
        return printable(value) if isinstance(value, str) else value

    root: list[Any] = [data]
    todo: list[tuple[Any, int]] = [(root, 0)]
    while todo:
        container, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise DecodeError(f"not a JSON report (nested more than {MAX_DEPTH} levels deep)")
        if isinstance(container, dict):
            items = list(container.items())
            container.clear()
            for key, value in items:
                container[fix(key)] = value = fix(value)
                if isinstance(value, (dict, list)):
                    todo.append((value, depth + 1))
        else:
            for i, value in enumerate(container):
                container[i] = value = fix(value)
                if isinstance(value, (dict, list)):
                    todo.append((value, depth + 1))
    return root[0]


def check_report(data: Any) -> None:
    """The shape `load_report` requires of parsed report data; DecodeError where it is wrong."""
    if not isinstance(data, dict) or "facts" not in data:
        raise DecodeError("no 'facts' in this JSON (save one with 'tfgpu doctor --json')")
    version = data.get("schema_version", REPORT_SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DecodeError(f"schema_version {version!r} is not a report format version (a whole number from 1)")
    if version > REPORT_SCHEMA_VERSION:
        raise DecodeError(f"schema_version {version} is newer than this tfgpu reads ({REPORT_SCHEMA_VERSION}): "
                          "update tfgpu, or save the report with this one")
    facts = data["facts"]
    if not isinstance(facts, dict):
        raise DecodeError(f"$.facts: expected an object, got {_type_name(facts)}")
    for name, entry in facts.items():
        where = f"$.facts.{name}"
        if not isinstance(entry, dict):
            raise DecodeError(f"{where}: expected an object, got {_type_name(entry)}")
        status = entry.get("status")
        if not isinstance(status, str):
            raise DecodeError(f"{where}.status: expected a string, got {_type_name(status)}")
        if status == "ok":
            continue
        message = entry.get("message", "")
        if not isinstance(message, str):
            raise DecodeError(f"{where}.message: expected a string, got {_type_name(message)}")
        evidence = entry.get("evidence")
        if evidence is not None and not isinstance(evidence, dict):
            raise DecodeError(f"{where}.evidence: expected an object, got {_type_name(evidence)}")


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
