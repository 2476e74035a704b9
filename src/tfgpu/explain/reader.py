"""Reading a log of any size and encoding as a stream of bounded text lines (the only I/O of explain).

Lines are read in binary with a length limit, so one 100 MB line costs no more memory than a
short one; bytes that are not UTF-8 become U+FFFD; a UTF-16 log (PowerShell's `>` writes one)
is recognised by its byte-order mark; ANSI colour codes are removed. A line ends at a newline, a
carriage return (old Mac logs, and progress bars that redraw a line) or both together (Windows).
Lines come a chunk at a time (a list per chunk), so no per-line Python work is spent on reading.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
from itertools import chain, islice
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
    """Decode lines from a binary stream, keeping at most `max_chars` characters of each."""
    return chain.from_iterable(iter_binary_batches(stream, max_chars))


#: Lines per list from a UTF-16 log (read line by line by the text layer).
_TEXT_BATCH = 4096


def iter_binary_batches(stream: BinaryIO, max_chars: int = MAX_LINE_CHARS) -> Iterator[list[str]]:
    """The lines of a binary stream as lists of consecutive lines (one list per chunk read)."""
    head = stream.read(256)
    # A UTF-16 byte-order mark, followed by text that looks like UTF-16 (mostly ASCII, so every
    # other byte is zero); random bytes that merely start with FF FE stay on the UTF-8 path.
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and head[2:].count(0) * 3 >= len(head[2:]):
        text = io.TextIOWrapper(io.BufferedReader(_Prepend(head, stream)), encoding="utf-16", errors="replace", newline=None)
        lines = _iter_text_lines(text, max_chars)
        while batch := list(islice(lines, _TEXT_BATCH)):
            yield batch
        return
    yield from _iter_utf8_batches(head, stream, max_chars)


#: Bytes read at a time: lines are split and decoded a chunk at a time, not one by one.
CHUNK_BYTES = 1 << 20


def _last_break(data: bytes) -> int:
    """The index of the last line break of `data` that is surely complete, or -1. A carriage
    return at the very end may be the first half of CR LF, so it is left for the next chunk."""
    cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
    if cut == len(data) - 1 and data.endswith(b"\r"):
        cut = max(data.rfind(b"\n", 0, cut), data.rfind(b"\r", 0, cut))
    return cut


def _iter_utf8_batches(head: bytes, stream: BinaryIO, max_chars: int) -> Iterator[list[str]]:
    """UTF-8 lines, read a chunk at a time. The unfinished line carried to the next chunk is cut
    at 4 x `max_chars` bytes (at least `max_chars` characters), so one endless line costs no more
    memory than a chunk."""
    carry = head[len(codecs.BOM_UTF8):] if head.startswith(codecs.BOM_UTF8) else head
    cap = 4 * max_chars
    while True:
        chunk = stream.read(CHUNK_BYTES)
        data = carry + chunk if carry else chunk
        if not chunk:
            if data:
                # The final line break ends the last line; it does not start an empty one.
                end = 2 if data.endswith(b"\r\n") else 1 if data.endswith((b"\n", b"\r")) else 0
                yield _decoded_lines(data[:len(data) - end], max_chars)
            return
        cut = _last_break(data)
        if cut == -1:
            carry = data[:cap]
            continue
        carry = data[cut + 1:]
        if len(carry) > cap:
            carry = carry[:cap]
        # A CR LF break is one break: its CR does not end a line of its own.
        yield _decoded_lines(data[:cut - 1 if data[cut - 1:cut + 1] == b"\r\n" else cut], max_chars)


def _decoded_lines(data: bytes, max_chars: int) -> list[str]:
    """The lines of `data` (complete lines, joined by line breaks: LF, CR or CR LF), decoded,
    cleaned and capped."""
    text = data.decode("utf-8", errors="replace")
    if "\x1b" in text:
        text = _ANSI_RE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if len(text) > max_chars and max(map(len, lines)) > max_chars:
        lines = [line[:max_chars] for line in lines]
    return lines


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


#: The most a paste into a terminal is read up to (a pasted log is human-sized).
TERMINAL_CAP = 64 << 20


def _read_terminal(fd: int) -> bytes:
    """What was pasted into a terminal, up to the first end of input (one Ctrl-D). A buffered read
    would go on after it, so that the user had to press Ctrl-D twice."""
    parts: list[bytes] = []
    size = 0
    while size < TERMINAL_CAP:
        part = os.read(fd, 65536)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def iter_log_lines(path: str | None) -> Iterator[str]:
    """Lines of the log at `path`, or of standard input when `path` is None. Lazy: the file is
    opened, and open or read errors raised, when the first line is asked for."""
    return chain.from_iterable(iter_log_batches(path))


def iter_log_batches(path: str | None) -> Iterator[list[str]]:
    """The lines of `iter_log_lines`, as lists of consecutive lines."""
    if path is None:
        try:
            terminal = sys.stdin.isatty()
        except (ValueError, OSError, AttributeError):
            terminal = False
        if terminal:
            yield from iter_binary_batches(io.BytesIO(_read_terminal(sys.stdin.fileno())))
        else:
            yield from iter_binary_batches(sys.stdin.buffer)
        return
    with open(path, "rb", buffering=0) as fh:
        yield from iter_binary_batches(fh)
