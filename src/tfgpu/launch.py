"""Where a `tfgpu` process starts and ends (the console script and `python -m tfgpu`).

It sets up what every command shares (signals, streams that may be closed, no UnicodeEncodeError
under LC_ALL=C), then runs the command. A plain `tfgpu doctor ...` command line (nothing but the
doctor's own options, each in a form that Typer reads one way only) is read here with
tfgpu.doctor_argv, a table generated from tfgpu.cli's declaration of the command, and goes straight
to tfgpu.doctor: the commonest run does not import Typer (~110 ms, a third of `doctor --fast`). Any
other command line, `--help` and every malformed one included, goes to Typer (tfgpu.cli), which
answers it as it always has. tests/test_launch.py holds the two readings to each other.

Two costs of a short-lived Python process are also avoided (bench/bench_doctor.py):
- the cyclic garbage collector is off while tfgpu starts (its imports and the matrix allocate
  hundreds of thousands of objects, none of them garbage; collecting them cost ~100 ms) and, for
  `doctor`, for its whole run: a bounded amount of work whose objects are freed by reference
  counting. Other commands (whose work grows with their input: explain's logs, fleet's reports)
  freeze what start-up made and collect again from there.
- at the end, after stdout and stderr are flushed and the atexit functions (tfgpu.proc kills any
  child still running) have run, the process leaves with os._exit: tearing down every module and
  object one by one takes tens of milliseconds and changes nothing on the machine.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import sys
from typing import Any, NoReturn, Optional

from tfgpu.console import EXIT_INTERNAL, EXIT_OK, OutputFailed, err

#: How each ending signal is said, and its conventional exit code (128 + the signal's number). Native
#: Windows has no SIGHUP: only the signals this platform has (tfgpu must start there to say why
#: TensorFlow after 2.10 has no GPU on it).
_ENDINGS = {getattr(signal, name): word for name, word in
            (("SIGINT", "interrupted"), ("SIGTERM", "terminated"), ("SIGHUP", "hung up")) if hasattr(signal, name)}

#: How a write to a broken stdout fails (a full disk, a device error, a file too large, a closed descriptor).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF, errno.EROFS}


def main() -> NoReturn:
    gc.disable()
    for ending in _ENDINGS:
        signal.signal(ending, _interrupted)
    if sys.stderr is None:
        _stderr_to_devnull()
    if sys.stdout is None:  # started with stdout closed: nothing any command says could arrive
        err("standard output is closed")
        _finish(EXIT_INTERNAL)
    # Never a UnicodeEncodeError under LC_ALL=C: unencodable symbols degrade, the report stays.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass
    _finish(run(sys.argv[1:]))


def run(argv: list[str]) -> Any:
    """Run one command line (the words after `tfgpu`) in this process; return its exit code, or
    what a SystemExit carried. main() is this plus the process's edges."""
    params = None if os.environ.get("_TFGPU_COMPLETE") else doctor_params(argv)
    try:
        if params is not None:
            from tfgpu import doctor

            return doctor.run(**params)
        return _run_app(argv)
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except OutputFailed as exc:
        return _stdout_failed(str(exc))
    except OSError as exc:  # help text (Click's own writing) to a full disk or a broken device
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        return _stdout_failed(f"cannot write to standard output: {exc.strerror or exc}")
    except SystemExit as exc:
        return EXIT_OK if exc.code == 1 and _reader_went_away(exc) else exc.code


def _run_app(argv: list[str]) -> Any:
    """Every command line but a plain doctor run: Typer's app, with the collector back on."""
    if os.environ.get("_TFGPU_COMPLETE"):
        # A shell asks for completions (the script of `tfgpu completion SHELL`): Typer's shell classes
        # answer, loaded only here, so that no other run pays for them (Typer's own
        # --install-completion would, on every start: bench/bench_completion.py).
        from typer.completion import completion_init

        completion_init()
    from tfgpu.cli import app

    gc.freeze()  # what start-up made is never garbage: later collections skip it
    gc.enable()
    app(argv, standalone_mode=True)
    return EXIT_OK


# --- reading a plain `tfgpu doctor ...` -------------------------------------------------------------


def doctor_params(argv: list[str]) -> Optional[dict[str, Any]]:
    """The keyword arguments Typer would pass to `tfgpu doctor` for `argv` (the words after
    `tfgpu`), or None where this reader does not take the command line on (another command, help,
    a malformed or unusual one): Typer then reads it, and says what is wrong where something is."""
    from tfgpu.doctor_argv import ARGUMENT, DEFAULTS, MULTIPLE, OPTIONS

    if not argv or argv[0] != "doctor":
        return None
    params: dict[str, Any] = dict(DEFAULTS)
    lists: dict[str, list[Any]] = {}
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            if not word:
                return None
            lists.setdefault(ARGUMENT, []).append(word)
            continue
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        spec = OPTIONS.get(name)
        if spec is None:
            return None
        dest, kind, minimum = spec
        if kind == "flag":
            if eq:
                return None
            params[dest] = True
            continue
        if not eq:
            value = next(words, "-")
            if value.startswith("-"):  # a missing value, or one Typer might read as an option
                return None
        converted = _convert(kind, minimum, value)
        if converted is None:
            return None
        if dest in MULTIPLE:
            lists.setdefault(dest, []).append(converted)
        else:
            params[dest] = converted
    params.update(lists)
    return params


def _convert(kind: str, minimum: Optional[float], value: str) -> Any:
    """`value` as Typer converts it for an option of `kind`; None where this reader leaves the
    value to Typer (anything but plain digits for a number, an empty path, a number below the
    option's minimum)."""
    if kind == "str":
        return value
    if kind == "path":
        if not value:
            return None
        from pathlib import Path

        return Path(value)
    sign, digits = ("-", value[1:]) if value.startswith("-") else ("", value)
    whole, dot, frac = digits.partition(".")
    if not whole.isascii() or not whole.isdigit() or len(whole) > 15:
        return None
    if kind == "int":
        return None if dot else int(sign + whole)
    if dot and not (frac.isascii() and frac.isdigit() and len(frac) <= 15):
        return None
    number = float(sign + digits)
    if minimum is not None and number < minimum:
        return None
    return number


# --- the process's edges --------------------------------------------------------------------------


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C, SIGTERM or SIGHUP: the children run in sessions of their own (a terminal's or a job
    scheduler's signal to tfgpu does not reach them), so kill their process groups now, say so in one
    line, and end with 128 + the signal's number (130 for Ctrl-C)."""
    from tfgpu import proc

    proc.kill_running()
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h\n")  # the spinner hid the cursor: show it again
    except (OSError, ValueError, AttributeError):
        pass
    err(_ENDINGS.get(signal.Signals(signum), "interrupted"))
    os._exit(128 + int(signum))


def _stderr_to_devnull() -> None:
    """Started with stderr closed: messages go to /dev/null instead (a closed stderr never hides
    stdout), and fd 2 is taken, so no file or pipe opened later can land on it."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:
            os.dup2(fd, 2)
            os.close(fd)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    except OSError:
        pass


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null: the unwritten rest of the output goes nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _stdout_failed(message: str) -> int:
    """stdout cannot take what a command wrote: one line, exit 3."""
    err(message)
    _silence_stdout()
    return EXIT_INTERNAL


def _reader_went_away(exc: SystemExit) -> bool:
    """Whether an exit 1 is how Click or rich answered a reader that went away (| head) during the
    help text, having silenced stdout: not an error here, as for every report (console.emit)."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # Click's
        return True
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "on_broken_pipe":  # rich's Console, which draws the help
            return True
        tb = tb.tb_next
    return False


def _exit_status(code: Any) -> int:
    """A SystemExit code as the interpreter turns it into a status: None is 0, a number itself, any
    other value is said on stderr and is 1."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code & 0xFF  # what the interpreter's own exit makes of it (256 is 0, -1 is 255)
    try:
        sys.stderr.write(f"{code}\n")
    except (OSError, ValueError, AttributeError):
        pass
    return 1


def _finish(code: Any) -> NoReturn:
    """Flush what was written, run the atexit functions, and leave without tearing the interpreter
    down (see the module's docstring). A stdout that cannot take the last of the output is exit 3,
    a reader that went away is not an error, as everywhere else (tfgpu.console.emit)."""
    status = _exit_status(code)
    stdout = sys.stdout
    try:
        if stdout is not None:
            stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except (OSError, ValueError) as exc:
        status = _stdout_failed(f"cannot write to standard output: {getattr(exc, 'strerror', None) or exc}")
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    import atexit

    atexit._run_exitfuncs()
    os._exit(status)


if __name__ == "__main__":
    main()
