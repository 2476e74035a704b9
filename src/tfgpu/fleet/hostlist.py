"""Slurm host lists: `gpu[001-064,070],login1` <-> the node names it stands for.

`compress` writes a list of names the way Slurm's `scontrol show hostlist` does: names that end in
digits and share the text before them become one bracket of ranges; a range keeps its numbers' zero
padding (`gpu[001-064]`, `n[9-10]`, `gpu[099-100]`), and numbers that cannot share a padding stay
in separate ranges (`n[1,01]`). `expand` reads such a list back (several brackets in one name too:
`rack[1-2]-gpu[1-4]`), so that `expand(compress(names)) == sorted(set(names))` up to order.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["HostlistError", "MAX_EXPANDED", "compress", "expand"]

#: The most names one host list may expand to (a typo like `n[1-999999999]` is refused, not built).
MAX_EXPANDED = 1_000_000


class HostlistError(ValueError):
    """A host list that cannot be read (one line saying where)."""


_DIGITS = "0123456789"


def _split(name: str) -> tuple[str, str | None]:
    head = name.rstrip(_DIGITS)
    if len(head) == len(name) or "[" in name or "]" in name or "," in name:
        return name, None
    return head, name[len(head):]


def _fits(number: int, digits: str, width: int) -> bool:
    """Whether `digits` is how a range whose first number has `width` digits writes `number`."""
    return f"{number:0{width}d}" == digits


def _ranges(numbers: set[str]) -> list[list[str]]:
    """Digit strings joined into ranges [first, last] that expand back to exactly them."""
    ranges: list[list[str]] = []  # [first digits, last digits]
    open_ranges: dict[tuple[int, int], int] = {}  # (last value, width of its first) -> index
    last_value, last_width = -2, 0  # of the range extended or started last (the common case)
    for value, width, digits in sorted((int(d), len(d), d) for d in numbers):
        key = (last_value, last_width)
        if value == last_value + 1 and key in open_ranges and (width == last_width or _fits(value, digits, last_width)):
            at = open_ranges.pop(key)
            ranges[at][1] = digits
            open_ranges[(value, last_width)] = at
            last_value = value
            continue
        for w in range(width, 0, -1):  # a range of its own width, or a narrower one's (9, 10, 11)
            joined = open_ranges.get((value - 1, w))
            if joined is not None and _fits(value, digits, w):
                del open_ranges[(value - 1, w)]
                ranges[joined][1] = digits
                open_ranges[(value, w)] = joined
                last_value, last_width = value, w
                break
        else:
            open_ranges[(value, width)] = len(ranges)
            ranges.append([digits, digits])
            last_value, last_width = value, width
    return ranges


def compress(names: Iterable[str]) -> str:
    """The shortest Slurm host list of `names` (duplicates dropped; prefixes in sorted order)."""
    by_prefix: dict[str, set[str]] = {}
    plain: set[str] = set()
    for name in names:
        prefix, digits = _split(name)
        if digits is None:
            plain.add(name)
        else:
            numbers = by_prefix.get(prefix)
            if numbers is None:
                numbers = by_prefix[prefix] = set()
            numbers.add(digits)
    parts: list[tuple[str, str]] = [(name, name) for name in plain]
    for prefix, numbers in by_prefix.items():
        ranges = _ranges(numbers)
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
