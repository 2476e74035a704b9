"""What every command shares to talk to the user: the exit codes, one-line errors on stderr, the
report on stdout (a reader that went away is not an error, a broken stdout is), and how text is
drawn for this stdout (width, colour, Unicode). Only tfgpu's command modules (tfgpu.cli,
tfgpu.fleet) call it.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

#: 0 no error finding; 1 an error finding (or a warning with --strict/--fail-on warning); 2 usage
#: error or bad input; 3 the doctor itself failed.
EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def err(message: str) -> None:
    try:
        sys.stderr.write(f"tfgpu: {message}\n")
    except (OSError, ValueError, AttributeError):
        pass


def swap_stdout(make):
    """Make `make(current stdout)` sys.stdout and return the stream it replaces: tfgpu.runner keeps
    what checks print off the report with it (this module decides who writes to stdout)."""
    previous = sys.stdout
    sys.stdout = make(previous)
    return previous


class OutputFailed(Exception):
    """stdout could not take the report (closed, disk full): the doctor failed, exit 3."""


def emit(text: str) -> None:
    """Write to stdout; a reader that went away (| head) is not an error, a broken stdout is."""
    stream = sys.stdout
    if stream is None:
        raise OutputFailed("standard output is closed")
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # Silence the interpreter's own flush at exit, too.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass
    except (OSError, ValueError) as exc:
        raise OutputFailed(f"cannot write the report to standard output: {exc}") from None


def unicode_ok(stream) -> bool:
    """Whether the output can carry the report's symbols (not under LC_ALL=C, say)."""
    try:
        "✔✘→–…│━".encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def use_color(stream) -> bool:
    if stream is None or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def width() -> Optional[int]:
    """The terminal's width; None (never wrap) when stdout is a pipe or file and COLUMNS is unset:
    text that goes to a file or another program is not hard-wrapped by tfgpu."""
    try:
        columns = int(os.environ.get("COLUMNS", "0") or 0)
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            if not sys.stdout.isatty():
                return None
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return None
    return max(40, columns)


def table_width() -> int:
    """A width for views drawn as tables (matrix, recommend): the terminal's, else 100."""
    return width() or 100




def text_style(table: bool = False) -> dict:
    """How text views are drawn for this stdout: its width (None: do not wrap; `table`: views that
    need one, the terminal's or 100), colour, and whether it takes Unicode."""
    return {"width": table_width() if table else width(), "color": use_color(sys.stdout),
            "ascii_only": not unicode_ok(sys.stdout)}
