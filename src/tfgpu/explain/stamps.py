"""Timestamps at the start of log lines, and which patterns cannot see them. Pure.

Logs repeat a message many times, each time under a new timestamp. A pattern is *stamp-blind*
when no match of it can begin inside the leading timestamp: its literal, its vetoes and every
match of its regexes begin with a character a timestamp does not contain (a timestamp is made of
digits, "-", ":", "." and spaces), and its regexes look at no text before their own start
(no lookbehind). The outcome of such patterns on `<stamp><rest>` then depends on `<rest>` only
(the one character before `<rest>` is a digit in every stamp, so a word boundary at its start
reads the same), and the scanner can reuse it for every line with the same rest.

The regex is read with the standard library's own parser (`re._parser`, `sre_parse` before
Python 3.11); anything the reading below does not know makes a pattern not blind.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from typing import Any

#: The timestamp TensorFlow's Python-side log lines begin with ("2024-05-01 12:00:00.123456").
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
STAMP_LEN = 26
STAMP_CHARS = frozenset("0123456789-:. ")


def _parser() -> Any:
    try:
        return importlib.import_module("re._parser")
    except ImportError:  # Python 3.10
        return importlib.import_module("sre_parse")


_SPACE = " \t\n\r\f\v"
_CATEGORIES = {
    "CATEGORY_DIGIT": str.isdigit,
    "CATEGORY_NOT_DIGIT": lambda c: not c.isdigit(),
    "CATEGORY_SPACE": lambda c: c in _SPACE,
    "CATEGORY_NOT_SPACE": lambda c: c not in _SPACE,
    "CATEGORY_WORD": lambda c: c.isalnum() or c == "_",
    "CATEGORY_NOT_WORD": lambda c: not (c.isalnum() or c == "_"),
}


def _class_accepts(items: Any, ch: str) -> bool:
    """Whether a parsed character class accepts `ch` (True where it cannot tell)."""
    negate = False
    hit = False
    for op, av in items:
        name = op.name
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            hit = hit or ch == chr(av)
        elif name == "RANGE":
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif name == "CATEGORY" and av.name in _CATEGORIES:
            hit = hit or bool(_CATEGORIES[av.name](ch))
        else:
            return True
    return hit != negate


class _Unknown(Exception):
    """A construct the reading below does not follow: the pattern is not blind."""


def _first(items: Any) -> bool:
    """Whether the sequence can match the empty text; raises _Unknown if a match of it could
    begin with a timestamp character."""
    for op, av in items:
        if not _item_nullable(op.name, av):
            return False
    return True


def _item_nullable(name: str, av: Any) -> bool:
    """Like `_first`, for one parsed item."""
    if name == "LITERAL":
        if chr(av) in STAMP_CHARS:
            raise _Unknown
        return False
    if name == "IN":
        if any(_class_accepts(av, ch) for ch in STAMP_CHARS):
            raise _Unknown
        return False
    if name == "AT":
        return True
    if name == "SUBPATTERN":
        return _first(av[-1])
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        return _first(av[2]) or av[0] == 0
    if name == "BRANCH":
        return any([_first(branch) for branch in av[1]])
    if name in ("ASSERT", "ASSERT_NOT") and av[0] == 1:  # a lookahead reads ahead, not behind
        return True
    raise _Unknown


def _looks_behind(items: Any) -> bool:
    for op, av in items:
        name = op.name
        if name in ("ASSERT", "ASSERT_NOT"):
            if av[0] != 1 or _looks_behind(av[1]):
                return True
        elif name == "SUBPATTERN" and _looks_behind(av[-1]):
            return True
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and _looks_behind(av[2]):
            return True
        elif name == "BRANCH" and any(_looks_behind(branch) for branch in av[1]):
            return True
        elif name in ("GROUPREF", "GROUPREF_EXISTS", "ATOMIC_GROUP"):
            return True
    return False


@lru_cache(maxsize=4096)
def regex_is_blind(pattern: str) -> bool:
    """Whether no match of the regex can begin with a timestamp character, nor look behind its start."""
    try:
        items = _parser().parse(pattern)
        return not _looks_behind(items) and not _first(items)
    except Exception:  # _Unknown, or a tree this reading does not expect
        return False


def text_is_blind(text: str) -> bool:
    """Whether an occurrence of `text` cannot begin inside a timestamp."""
    return bool(text) and text[0] not in STAMP_CHARS
