"""Reading a log of any size and encoding as a stream of bounded text lines (the only I/O of explain).

Lines are read in binary with a length limit, so one 100 MB line costs no more memory than a
short one; bytes that are not UTF-8 become U+FFFD; a UTF-16 log (PowerShell's `>` writes one)
is recognised by its byte-order mark; ANSI colour codes are removed.
"""

from __future__ import annotations

import codecs
import io
import re
import sys
from typing import Any, BinaryIO, Iterator

#: Characters kept from one line; the rest of an overlong line is skipped, not stored.
MAX_LINE_CHARS = 4096
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]{0,32}[A-Za-z]")


def _clean(text: str) -> str:
    text = text.rstrip("\r\n")
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    return text


def iter_binary_lines(stream: BinaryIO, max_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Decode lines from a binary stream, keeping at most `max_chars` bytes' worth of each."""
    head = stream.read(256)
    # A UTF-16 byte-order mark, followed by text that looks like UTF-16 (mostly ASCII, so every
    # other byte is zero); random bytes that merely start with FF FE stay on the UTF-8 path.
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and head[2:].count(0) * 3 >= len(head[2:]):
        text = io.TextIOWrapper(io.BufferedReader(_Prepend(head, stream)), encoding="utf-16", errors="replace", newline=None)
        yield from _iter_text_lines(text, max_chars)
        return
    stream = _Prepend(head, stream) if head else stream  # type: ignore[assignment]  # a BinaryIO reader
    limit = max_chars
    first = True
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            return
        if first and chunk.startswith(codecs.BOM_UTF8):
            chunk = chunk[len(codecs.BOM_UTF8):]
        first = False
        if not chunk.endswith(b"\n") and len(chunk) >= limit:
            # Too long: keep the head, skip the tail up to the next newline without storing it.
            while True:
                rest = stream.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
        yield _clean(chunk.decode("utf-8", errors="replace"))


def _iter_text_lines(text: io.TextIOBase, max_chars: int) -> Iterator[str]:
    while True:
        line = text.readline(max_chars)
        if not line:
            return
        if not line.endswith("\n") and len(line) >= max_chars:
            while True:
                rest = text.readline(max_chars)
                if not rest or rest.endswith("\n"):
                    break
        yield _clean(line)


class _Prepend(io.RawIOBase):
    """A readable stream that first returns `head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def readline(self, size: int | None = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            if b"\n" in head:
                cut = head.index(b"\n") + 1
                self._head = head[cut:]
                return head[:cut]
            if size is not None and size >= 0:
                return head + self._stream.readline(max(0, size - len(head)))
            return head + self._stream.readline()
        return self._stream.readline(size if size is not None else -1)


def iter_log_lines(path: str | None) -> Iterator[str]:
    """Lines of the log at `path`, or of standard input when `path` is None."""
    if path is None:
        yield from iter_binary_lines(sys.stdin.buffer)
        return
    with open(path, "rb", buffering=1024 * 1024) as fh:
        yield from iter_binary_lines(fh)
