"""Reading per-node reports: files, directories and streams of JSON documents, one document at a
time (parse it, keep its NodeSummary, drop it).

A stream may carry several documents, pretty-printed or one per line, with log lines between them
(a Slurm `.out` file, `kubectl logs`). A document starts on a line that begins with `{` and, printed
by `tfgpu doctor --json`, ends on a line that is `}`. Lines prefixed the way `kubectl logs --prefix`
writes them (`[pod/NAME/CONTAINER] ...`) are put back together per prefix, so interleaved output of
many pods still yields whole documents; the pod name is the node's name where the report has none.
The time `kubectl logs --timestamps` adds to each line is dropped.

What cannot be merged becomes a Problem (one line why), never an exception.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable, Iterator, NamedTuple, Union

from tfgpu.fleet.fingerprint import NodeSummary, ReportProblem, summarise
from tfgpu.safeio import BadInput, printable, read_bytes

__all__ = ["Item", "Problem", "StreamReader", "directory_files", "read_file", "read_files", "REPORT_SUFFIXES"]

#: The files of a directory that are read as node reports (a Slurm run writes NODE.json or NODE.out).
REPORT_SUFFIXES = (".json", ".out")


class Problem(NamedTuple):
    """A node (or input) whose report cannot be merged."""

    node: str
    source: str
    reason: str
    #: "broken" (not a report this tfgpu reads), "unreadable", "no_report" (no JSON document in
    #: it: a log, an empty file), "duplicate" (a second report for a node), "missing" (expected,
    #: never reported).
    kind: str


Item = Union[NodeSummary, Problem]

_PREFIX = re.compile(r"^\[(pod/[^\]\s/]+(?:/[^\]\s]*)?)\] ?")
#: What `kubectl logs --timestamps` puts before each line (after the --prefix): an RFC 3339 time.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) ")


def _json_error(exc: ValueError, text: str, first_line: int) -> str:
    if isinstance(exc, json.JSONDecodeError):
        rest = text[exc.pos:].rstrip()
        if not rest or (exc.msg.startswith("Unterminated string") and "\n" not in rest):
            return f"truncated JSON (the document from line {first_line} ends before it is complete)"
        where = f"line {exc.lineno}" if first_line == 1 else f"line {exc.lineno} of the document from line {first_line}"
        return f"not valid JSON at {where}: {exc.msg}"
    return f"not valid JSON ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})"


def _parse(text: str, first_line: int) -> Any:
    """One JSON document; ReportProblem saying what is wrong otherwise."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ReportProblem("JSON nested too deeply") from None
    except MemoryError:
        raise ReportProblem("JSON too large to read") from None
    except ValueError as exc:
        raise ReportProblem(_json_error(exc, text, first_line)) from None


class _Splitter:
    """Cuts a line stream into JSON documents (see the module's docstring)."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.start = 0
        self.last_other = ""  # the last line outside any document (a log line), for messages
        self.documents = 0
        #: Whether this stream's lines start with a time (kubectl logs --timestamps); None: not seen yet.
        self.stamped: bool | None = None

    def _flush(self) -> Any:
        text, start = "\n".join(self.buf), self.start
        self.buf = []
        self.documents += 1
        try:
            return _parse(text, start)
        except ReportProblem as exc:
            return exc

    def feed(self, line: str, lineno: int) -> list[Any] | None:
        """Documents (parsed data, or ReportProblem) completed by this line; None for none (the
        common case, kept cheap: a stream is fed line by line)."""
        buf = self.buf
        if line.startswith("{"):
            out = [self._flush()] if buf else []
            self.buf, self.start = [line], lineno
            if line.rstrip().endswith("}"):
                done = self._try()
                if done is not None:
                    out.append(done)
            return out or None
        if buf:
            buf.append(line)
            if line == "}" or (line[:1] == "}" and line.rstrip() == "}"):
                done = self._try()
                if done is not None:
                    return [done]
            return None
        if line and not line.isspace():
            self.last_other = line.strip()
        return None

    def _try(self) -> Any:
        """The document in the buffer if it is complete JSON now, else None (keep reading)."""
        try:
            data = json.loads("\n".join(self.buf))
        except (ValueError, RecursionError, MemoryError):
            return None
        self.buf = []
        self.documents += 1
        return data

    def close(self) -> list[Any]:
        return [self._flush()] if self.buf else []


class StreamReader:
    """Reads a text stream of documents, line by line: `feed` each line, then `close`. Yields Items."""

    def __init__(self, source: str, default_name: str) -> None:
        self.source, self.default_name = source, default_name
        self.splitters: dict[str | None, _Splitter] = {}
        self.known: dict[str, tuple[str | None, int, _Splitter]] = {}
        self.counts: dict[str | None, int] = {}
        self.lineno = 0

    def _name(self, prefix: str | None) -> str:
        if prefix is None:
            base = self.default_name
        else:
            parts = prefix.split("/")
            base = parts[1] if len(parts) > 1 and parts[1] else prefix
        n = self.counts.get(prefix, 0) + 1
        self.counts[prefix] = n
        return base if n == 1 else f"{base}#{n}"

    def _items(self, prefix: str | None, docs: list[Any]) -> Iterator[Item]:
        for doc in docs:
            name = self._name(prefix)
            where = self.source if prefix is None else f"{self.source} [{prefix}]"
            if isinstance(doc, ReportProblem):
                yield Problem(name, where, str(doc), "broken")
                continue
            try:
                yield summarise(doc, name, where)
            except ReportProblem as exc:
                yield Problem(name, where, str(exc), "broken")

    def feed(self, line: str) -> Iterator[Item]:
        """The Items completed by one more line of the stream."""
        return self.read((line,), close=False)

    def close(self) -> Iterator[Item]:
        for prefix, splitter in self.splitters.items():
            yield from self._items(prefix, splitter.close())
        for prefix, splitter in self.splitters.items():
            if splitter.documents == 0 and (prefix is not None or len(self.splitters) == 1):
                name = self.default_name if prefix is None else self._name(prefix)
                last = f" (its last line: {printable(splitter.last_other)[:160]})" if splitter.last_other else ""
                where = self.source if prefix is None else f"{self.source} [{prefix}]"
                yield Problem(name, where, f"no JSON report in it{last}", "no_report")

    def read(self, lines: Iterable[str], close: bool = True) -> Iterator[Item]:
        """The Items of `lines` (then of the stream's end, unless `close` is False). One loop with
        little work per line (a stream of many reports is millions of lines): a prefix is checked
        once, then known by its text."""
        splitters = self.splitters
        known: dict[str, tuple[str | None, int, _Splitter]] = self.known  # "[pod/a/b]" -> prefix, cut, splitter
        lineno = self.lineno
        for line in lines:
            lineno += 1
            if line.startswith("[pod/"):
                head = line[: line.find("]") + 1]
                entry = known.get(head)
                if entry is None:
                    match = _PREFIX.match(line)
                    prefix = match.group(1) if match else None
                    splitter = splitters.get(prefix)
                    if splitter is None:
                        splitter = splitters[prefix] = _Splitter()
                    entry = known[head] = (prefix, len(head) if match else 0, splitter)
                prefix, cut, splitter = entry
                if cut:
                    line = line[cut + 1:] if line[cut:cut + 1] == " " else line[cut:]
            else:
                prefix = None
                splitter = splitters.get(None) or splitters.setdefault(None, _Splitter())
            if splitter.stamped is None:  # `kubectl logs --timestamps`: seen on a stream's first line
                splitter.stamped = _TIMESTAMP.match(line) is not None
            if splitter.stamped:
                stamp = _TIMESTAMP.match(line)
                if stamp:
                    line = line[stamp.end():]
            docs = splitter.feed(line.rstrip("\r\n") if line.endswith(("\n", "\r")) else line, lineno)
            if docs:
                self.lineno = lineno
                yield from self._items(prefix, docs)
        self.lineno = lineno
        if close:
            yield from self.close()


def _stem(path: str) -> str:
    base = os.path.basename(path.rstrip("/")) or path
    for suffix in REPORT_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def read_file(path: str) -> list[Item]:
    """The Items of one file: usually one report; a log or stream file may hold several."""
    name = printable(_stem(path))
    shown = printable(path)
    try:
        raw = read_bytes(path, "report")
    except BadInput as exc:
        return [Problem(name, shown, exc.problem, "unreadable")]
    if not raw or raw.isspace():
        return [Problem(name, shown, "an empty file", "no_report")]
    if raw.startswith(b"{"):  # the common case: the file is one report (parsed from the bytes: faster)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError, MemoryError):
            data = None
        if data is not None:
            try:
                return [summarise(data, name, shown)]
            except ReportProblem as exc:
                return [Problem(name, shown, str(exc), "broken")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(name, shown, f"not UTF-8 text (byte {exc.start})", "broken")]
    del raw
    reader = StreamReader(shown, name)
    return list(reader.read(text.splitlines()))


def read_files(paths: list[str]) -> list[Item]:
    """read_file over a chunk of paths (what a worker process runs)."""
    out: list[Item] = []
    for path in paths:
        out.extend(read_file(path))
    return out


def directory_files(path: str) -> list[str]:
    """The report files directly in directory `path` (*.json, *.out), sorted; OSError if unreadable."""
    with os.scandir(path) as entries:
        found = [e.path for e in entries if e.name.endswith(REPORT_SUFFIXES) and not e.name.startswith(".")]
    return sorted(found)
