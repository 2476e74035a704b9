"""Slurm host lists: `gpu[001-064,070],login1` <-> the node names it stands for.

`compress` writes a list of names the way Slurm's `scontrol show hostlist` does: names that end in
digits and share the text before them become one bracket of ranges; a range keeps its numbers' zero
padding (`gpu[001-064]`, `n[9-10]`, `gpu[099-100]`), and numbers that cannot share a padding stay
in separate ranges (`n[1,01]`). `expand` reads such a list back (several brackets in one name too:
`rack[1-2]-gpu[1-4]`), so that `expand(compress(names)) == sorted(set(names))` up to order.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["HostlistError", "MAX_EXPANDED", "compress", "expand"]

#: The most names one host list may expand to (a typo like `n[1-999999999]` is refused, not built).
MAX_EXPANDED = 1_000_000

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")


class HostlistError(ValueError):
    """A host list that cannot be read (one line saying where)."""


def _split(name: str) -> tuple[str, str | None]:
    match = _TRAILING_DIGITS.match(name)
    if match is None or "[" in name or "]" in name or "," in name:
        return name, None
    return match.group(1), match.group(2)


def _fits(number: int, digits: str, width: int) -> bool:
    """Whether `digits` is how a range whose first number has `width` digits writes `number`."""
    return f"{number:0{width}d}" == digits


def compress(names: Iterable[str]) -> str:
    """The shortest Slurm host list of `names` (duplicates dropped; prefixes in sorted order)."""
    by_prefix: dict[str, set[str]] = {}
    plain: set[str] = set()
    for name in names:
        prefix, digits = _split(name)
        if digits is None:
            plain.add(name)
        else:
            by_prefix.setdefault(prefix, set()).add(digits)
    parts: list[tuple[str, str]] = [(name, name) for name in plain]
    for prefix, numbers in by_prefix.items():
        ranges: list[list[str]] = []  # [first digits, last digits]
        open_ranges: dict[tuple[int, int], int] = {}  # (last value, width of its first) -> index
        for digits in sorted(numbers, key=lambda d: (int(d), len(d))):
            value = int(digits)
            for width in range(len(digits), 0, -1):  # its own width, or a narrower range's (9, 10, 11)
                at = open_ranges.pop((value - 1, width), None)
                if at is not None and _fits(value, digits, width):
                    ranges[at][1] = digits
                    open_ranges[(value, width)] = at
                    break
                if at is not None:
                    open_ranges[(value - 1, width)] = at
            else:
                open_ranges[(value, len(digits))] = len(ranges)
                ranges.append([digits, digits])
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            parts.append((prefix, prefix + ranges[0][0]))
            continue
        inner = ",".join(lo if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
        parts.append((prefix, f"{prefix}[{inner}]"))
    return ",".join(text for _key, text in sorted(parts))


def _top_level_split(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"'{text}': a bracket inside a bracket")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"'{text}': a ']' without its '['")
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"'{text}': a '[' without its ']'")
    items.append(text[start:])
    return items


def _numbers(spec: str, item: str) -> list[str]:
    out: list[str] = []
    for part in spec.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise HostlistError(f"'{item}': '{part}' is not a number or a range of numbers")
        if not sep:
            out.append(lo)
            continue
        first, last = int(lo), int(hi)
        if last < first:
            raise HostlistError(f"'{item}': the range {part} runs backwards")
        if last - first + 1 > MAX_EXPANDED:
            raise HostlistError(f"'{item}': the range {part} has more than {MAX_EXPANDED} names")
        out.extend(f"{n:0{len(lo)}d}" for n in range(first, last + 1))
    return out


def _expand_item(item: str) -> list[str]:
    names = [""]
    rest = item
    while rest:
        open_at = rest.find("[")
        if open_at < 0:
            names = [n + rest for n in names]
            break
        close_at = rest.index("]", open_at)
        head, spec, rest = rest[:open_at], rest[open_at + 1:close_at], rest[close_at + 1:]
        numbers = _numbers(spec, item)
        if len(names) * len(numbers) > MAX_EXPANDED:
            raise HostlistError(f"'{item}' has more than {MAX_EXPANDED} names")
        names = [n + head + number for n in names for number in numbers]
    return names


def expand(hostlist: str) -> list[str]:
    """The node names of a Slurm host list, in the order written (duplicates kept once)."""
    seen: dict[str, None] = {}
    for item in _top_level_split(hostlist.strip()):
        item = item.strip()
        if not item:
            continue
        for name in _expand_item(item):
            seen.setdefault(name, None)
            if len(seen) > MAX_EXPANDED:
                raise HostlistError(f"the host list has more than {MAX_EXPANDED} names")
    return list(seen)
