"""The tfgpu commands a report suggests ("run again with --live-timeout 300", "save the report
with --json"), rebuilt from the invocation that made the report so that pasting one diagnoses the
same environment with the same flags. Pure: the invocation travels in `RunOptions.argv`."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Any

#: doctor's flags that take a value (the CLI records the invocation in this long form).
VALUE_FLAGS = frozenset({"--python", "--timeout", "--live-timeout", "--matrix", "--from-facts", "--require-gpus",
                         "--require-vram", "--require-cc", "--require-tf", "--ignore", "--config", "--fail-on"})
#: Flags that only choose how the report is shown: a suggested command decides its own.
VIEW_FLAGS = frozenset({"--json", "-q", "--quiet", "-v", "--verbose", "--list"})


def _parse(argv: Iterable[str]) -> tuple[list[str], list[tuple[str, str | None]]]:
    """(positional words after the command, flags in order with their values)."""
    words: list[str] = []
    flags: list[tuple[str, str | None]] = []
    items = list(argv)
    i = 0
    while i < len(items):
        tok = items[i]
        if tok.startswith("-") and "=" in tok and tok.split("=", 1)[0] in VALUE_FLAGS:
            name, value = tok.split("=", 1)
            flags.append((name, value))
        elif tok in VALUE_FLAGS and i + 1 < len(items):
            flags.append((tok, items[i + 1]))
            i += 1
        elif tok.startswith("-"):
            flags.append((tok, None))
        else:
            words.append(tok)
        i += 1
    return words, flags


def doctor_command(options: Any = None, set_flags: Mapping[str, str | None] | None = None,
                   drop: Iterable[str] = (), redirect: str | None = None) -> str:
    """`tfgpu doctor` as this run was invoked (its target and flags), with `set_flags` replacing
    or adding flags (a value of None: a switch such as --json), `drop` removing flags, and the
    output redirected to the file `redirect` if given; every word quoted for a POSIX shell."""
    argv = tuple(getattr(options, "argv", ()) or ()) or ("doctor",)
    words, flags = _parse(argv)
    command = words[0] if words else "doctor"
    set_flags = dict(set_flags or {})
    gone = set(drop) | set(set_flags) | VIEW_FLAGS
    out = ["tfgpu", command, *words[1:]]
    for name, value in flags:
        if name in gone:
            continue
        out.append(name)
        if value is not None:
            out.append(value)
    for name, value in set_flags.items():
        out.append(name)
        if value is not None:
            out.append(value)
    text = " ".join(shlex.quote(w) for w in out)
    return f"{text} > {shlex.quote(redirect)}" if redirect else text
