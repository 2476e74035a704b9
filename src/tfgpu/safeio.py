"""Reading the files a user hands tfgpu (or that tfgpu finds), with bounds.

Every input is read the same way: `stat()` first, and only a regular file is opened (a FIFO,
a character device such as /dev/zero, a socket or a directory is refused before anything could
block or stream forever); the open itself uses O_NONBLOCK, so a file swapped for a FIFO between
the stat and the open cannot block it either, and the opened descriptor is checked again; at most
the cap of the input's kind is read, one byte more telling that the file is larger.

Two kinds of caller:

- inputs the user names (`--matrix`, `--from-facts`, the matrix cache) use `read_bytes` /
  `read_text`, which raise `BadInput` (a ValueError) with one line saying what is wrong; the CLI
  turns it into exit 2.
- probes reading files they found (headers, RECORD, METADATA, build_info.py) use `read_head`,
  which never raises: None where the file cannot be read, else at most `limit` bytes.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import BinaryIO

__all__ = ["LIMITS", "BadInput", "check_regular", "open_regular", "printable", "read_bytes", "read_head", "read_text"]

#: The most bytes read of each kind of input. The shipped matrix is ~150 KiB and a doctor report
#: ~100 KiB; these leave room for growth while keeping a bad input to seconds and tens of MB.
LIMITS = {
    "matrix": 4 * 1024 * 1024,
    "cache": 8 * 1024 * 1024,
    "report": 16 * 1024 * 1024,
    "interpreter": 256,  # the first line of --python (a #! line), never more
    "build_info": 1024 * 1024,
    "metadata": 1024 * 1024,
    "record": 4 * 1024 * 1024,
    "header": 96 * 1024,
}


class BadInput(ValueError):
    """An input that cannot be used: not a regular file, too large, unreadable, not text."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: str) -> os.stat_result:
    """stat() `path` (following links) and require a regular file; raise BadInput otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except NotADirectoryError:
        raise BadInput(path, "no such file (a part of the path is not a directory)") from None
    except PermissionError:
        raise BadInput(path, "permission denied") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise BadInput(path, f"cannot read: {_why(exc)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(path, f"is {_kind_of(st.st_mode)}, not a regular file")
    return st


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _open(path: str) -> int:
    """A read-only descriptor of the regular file `path` (O_NONBLOCK: a FIFO put there after the
    stat does not block the open; the descriptor is checked to be a regular file)."""
    check_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except PermissionError:
        raise BadInput(path, "permission denied") from None
    except (OSError, ValueError) as exc:
        raise BadInput(path, f"cannot read: {_why(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(path, f"is {_kind_of(st.st_mode)}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str) -> BinaryIO:
    """The regular file `path` opened for binary reading (stat first, O_NONBLOCK open, checked
    again); BadInput where it is not one or cannot be opened. For readers that seek (ELF)."""
    return os.fdopen(_open(path), "rb")


def _read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes of `fd` (fewer only at the end of the file)."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        try:
            chunk = os.read(fd, min(left, 1024 * 1024))
        except InterruptedError:
            continue
        except BlockingIOError:  # a regular file never says EAGAIN; be safe, stop
            break
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def read_bytes(path: str, kind: str, limit: int | None = None) -> bytes:
    """The whole of the regular file `path`, at most the cap of `kind` (see LIMITS); BadInput
    where it is not a regular file, cannot be read, or is larger than the cap."""
    cap = limit if limit is not None else LIMITS[kind]
    fd = _open(path)
    try:
        data = _read_fd(fd, cap + 1)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise BadInput(path, "is a directory, not a regular file") from None
        raise BadInput(path, f"cannot read: {_why(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > cap:
        raise BadInput(path, f"larger than {_size_text(cap)}, the most tfgpu reads of a {kind} file")
    return data


def read_text(path: str, kind: str, limit: int | None = None) -> str:
    """`read_bytes` decoded as UTF-8 (a BOM allowed); BadInput where it is not UTF-8 text."""
    data = read_bytes(path, kind, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(path, f"is not UTF-8 text (byte {exc.start})") from None


def read_head(path: str, limit: int) -> bytes | None:
    """At most `limit` bytes from the start of the regular file `path`; None where it is not a
    regular file or cannot be read. Never raises, never blocks."""
    try:
        fd = _open(path)
    except BadInput:
        return None
    try:
        return _read_fd(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str, keep: str = "\t\n") -> str:
    """`text` with every control character (C0, DEL, C1: ESC, BEL, CSI and the rest) but those in
    `keep` shown as a visible escape (`\\x1b`), so a value read from a file can never drive the
    terminal (set its title, write a hyperlink, move the cursor) when it is printed."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in keep else f"\\x{ord(m.group(0)):02x}", text)
