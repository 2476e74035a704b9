"""CI outputs and native CI integration for `tfgpu doctor`.

- Report files (`--junit`, `--markdown`, `--output-json`): checked before the probes run (a
  missing folder, a directory) and written atomically (a temporary file beside the target, then
  renamed over it), so a CI step never reads half a report.
- GitHub Actions (`GITHUB_ACTIONS=true`): the Markdown report is appended to the file named by
  `$GITHUB_STEP_SUMMARY` (the run's summary page); every error and warning the policy does not
  ignore is also printed as a workflow command (`::error title=<id>::<summary>`, an annotation on
  the step), escaped as GitHub documents; the human report is folded in `::group::` ... `::endgroup::`,
  with GitHub's command processing stopped inside it, so no line of a log it quotes can act as a
  workflow command. Under `--json`, stdout stays one JSON document: the workflow commands go to
  stderr, which the runner reads for commands as well.
- GitLab CI (`GITLAB_CI=true`): the human report is folded in a collapsed section.

Integration is detected, never required, and off with `--no-ci-integration`; without these
variables nothing here changes a byte of the output. Only the command modules write to stdout:
this module returns the text to print.
"""

from __future__ import annotations

import os
import stat
from typing import Mapping

from tfgpu.model import Report, Severity
from tfgpu.safeio import printable

GITHUB, GITLAB = "github", "gitlab"
#: The title of the folded report (GitHub group, GitLab section).
FOLD_TITLE = "tfgpu doctor report"
#: The GitLab section's name (letters, digits, _ . -) and its options.
GITLAB_SECTION = "tfgpu"
#: GitHub refuses a step summary over 1 MiB; a longer report is cut, with a note.
SUMMARY_LIMIT = 1024 * 1024


def detect(environ: Mapping[str, str]) -> str:
    """The CI system this run is in ("github", "gitlab"), or "" (a terminal, or one tfgpu does not integrate with)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return GITHUB
    if environ.get("GITLAB_CI") == "true":
        return GITLAB
    return ""


# --- GitHub workflow commands -------------------------------------------------------------------

def escape_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub documents: % CR LF as %25 %0D %0A."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (title=...): as data, and : , as %3A %2C."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """One workflow command line, `::command key=value,...::message`, everything escaped (control
    characters other than CR and LF shown as visible escapes first)."""
    props = ",".join(f"{k}={escape_property(printable(v, keep=''))}" for k, v in properties.items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(printable(message, keep=chr(10) + chr(13)))}\n"


def workflow_annotations(report: Report) -> str:
    """An `::error` line per error finding and a `::warning` line per warning, the ignored ones not;
    an `::error` too for a check that itself failed (a skipped row, but it fails the run, exit 3)."""
    lines = []
    for f in report.findings:
        if f.ignored:
            continue
        if f.severity is Severity.ERROR or f.id == "check-crashed":
            lines.append(workflow_command("error", f.summary, title=f.id))
        elif f.severity is Severity.WARNING:
            lines.append(workflow_command("warning", f.summary, title=f.id))
    return "".join(lines)


def github_group(text: str) -> str:
    """`text` folded in a group; command processing is stopped inside it, with a token derived from
    the text itself (so no text can contain the line that resumes it)."""
    import hashlib  # here, not at the top: a run outside CI never needs it (bench/bench_doctor.py)

    token = "tfgpu-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"::group::{FOLD_TITLE}\n::stop-commands::{token}\n{body}::{token}::\n::endgroup::\n"


# --- GitLab collapsible sections ----------------------------------------------------------------

def gitlab_section(text: str, now: float) -> str:
    """`text` in a collapsed GitLab CI section (`now`: the Unix time that opens and closes it)."""
    stamp = int(now)
    body = text if text.endswith("\n") or not text else text + "\n"
    return (f"\x1b[0Ksection_start:{stamp}:{GITLAB_SECTION}[collapsed=true]\r\x1b[0K{FOLD_TITLE}\n"
            f"{body}\x1b[0Ksection_end:{stamp}:{GITLAB_SECTION}\r\x1b[0K\n")


def fold(ci: str, text: str, now: float) -> str:
    """The human report as the CI system `ci` shows it; unchanged outside CI."""
    if ci == GITHUB:
        return github_group(text)
    if ci == GITLAB:
        return gitlab_section(text, now)
    return text


# --- Files ---------------------------------------------------------------------------------------

def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def output_problem(path: str) -> str:
    """Why a report cannot be written to `path`, where that can be known before the run ("" if it can)."""
    if not path:
        return "an empty path"
    if os.path.isdir(path):
        return "is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"{parent} is not a folder" if os.path.exists(parent) else f"its folder {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its folder {parent} is not writable"
    return ""


def _umask() -> int:
    """This process's umask, read without changing it (Linux), else the usual 022."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_atomic(path: str, text: str) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file in the same folder renamed over it;
    an existing file keeps its permissions, a new one gets the umask's, a symbolic link is followed.
    Something that exists and is no regular file (/dev/null, a FIFO) is written in place, never
    replaced. Raises OSError."""
    target = os.path.realpath(os.path.abspath(path))
    folder = os.path.dirname(target)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    else:
        if not stat.S_ISREG(st.st_mode):
            _write_in_place(target, text.encode("utf-8", "surrogateescape"))
            return
        mode = st.st_mode & 0o7777
    import tempfile  # here, not at the top: only runs that write report files need it

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            out.write(text)  # no fsync: the rename is what readers need (all or nothing), not durability
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_in_place(path: str, data: bytes, append: bool = False) -> None:
    """Write `data` to an open-able path in place, without a temporary file: never blocks (a FIFO
    with no reader is an error), every byte written or OSError."""
    flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | (os.O_APPEND | os.O_CREAT if append else 0)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def append_step_summary(environ: Mapping[str, str], markdown: str) -> str:
    """Append the Markdown report to `$GITHUB_STEP_SUMMARY`; "" when done (or not asked for), else
    one line saying why not (the run never fails for it)."""
    path = environ.get("GITHUB_STEP_SUMMARY", "")
    if not path:
        return ""
    data = markdown.encode("utf-8", "replace")
    if len(data) > SUMMARY_LIMIT:
        note = "\n\n*(cut: GitHub takes at most 1 MiB of step summary; the full report is in the --markdown/--output-json files)*\n"
        data = data[: SUMMARY_LIMIT - len(note.encode())].decode("utf-8", "ignore").encode("utf-8") + note.encode()
    try:
        _write_in_place(path, data if data.endswith(b"\n") else data + b"\n", append=True)
    except OSError as exc:
        return f"GITHUB_STEP_SUMMARY {path}: not written ({_why(exc)})"
    return ""
