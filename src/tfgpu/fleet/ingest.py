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
#: The same at the start of every line of a block of lines (StreamReader.read_blocks).
_TIMESTAMPS = re.compile(_TIMESTAMP.pattern, re.M)
#: In a block of lines: the next line that has a kubectl prefix.
_NEXT_PREFIXED = re.compile(r"\n(?=\[pod/)")
#: Characters read from a stream per block (StreamReader.read_blocks).
BLOCK = 1 << 20


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

    def feed_block(self, text: str, lineno: int) -> list[Any]:
        """What `feed` gives for each line of `text` (whole lines, each ending with a newline; its
        first is line `lineno`), with the work done per document rather than per line: only the
        lines where a document may start or end (_MARK) go through `feed`, the lines between them
        join the buffer as one piece (the buffer is joined with newlines) or, outside a document,
        only their last non-blank line is kept (last_other)."""
        out: list[Any] = []
        pos = 0
        for start, end in _mark_lines(text):
            lineno += text.count("\n", pos, start)  # now the mark's line
            if start > pos:
                self._between(text, pos, start - 1)
            docs = self.feed(text[start:end], lineno)
            lineno += 1
            if docs:
                out.extend(docs)
            pos = end + 1
        if pos < len(text):
            self._between(text, pos, len(text) - 1 if text.endswith("\n") else len(text))
        return out

    def _between(self, text: str, start: int, end: int) -> None:
        """Lines text[start:end] (no trailing newline), none of them a _MARK line."""
        if self.buf:
            self.buf.append(text[start:end])
            return
        chunk = text[start:end]
        if chunk and not chunk.isspace():
            for line in reversed(chunk.split("\n")):
                if line and not line.isspace():
                    self.last_other = line.strip()
                    break


def _mark_lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of `text` where a document may start or end (_Splitter.feed's two
    cases: a line that starts with `{`, a line that is `}` and white space), found with str.find;
    every other line only joins the document being read or is a log line."""
    size = len(text)

    def following(char: str, frm: int) -> int:
        """The first line start at or after `frm` whose line begins with `char`; else size."""
        if frm == 0 and text.startswith(char):
            return 0
        at = text.find("\n" + char, max(frm - 1, 0))
        return size if at < 0 else at + 1

    opening, closing = following("{", 0), following("}", 0)
    while True:
        start = min(opening, closing)
        if start >= size:
            return
        end = text.find("\n", start)
        end = size if end < 0 else end
        if start == opening:
            yield start, end
            opening = following("{", end + 1)
        else:
            if not text[start + 1:end].strip():
                yield start, end
            closing = following("}", end + 1)


class StreamReader:
    """Reads a text stream of documents: `read` its lines, or `read_blocks` of a stream. Yields Items."""

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

    def read_blocks(self, stream: Any, size: int = BLOCK) -> Iterator[Item]:
        """The Items of a text stream (its `read(n)`), as `read` of its lines would give them when
        its lines end with "\\n" only (universal newlines: a TextIOWrapper with newline=None), but
        with the work done per run of lines under one prefix and per document, not per line."""
        return _read_blocks_of(self, stream, size)


def _read_blocks_of(reader: "StreamReader", stream: Any, size: int) -> Iterator[Item]:
    """StreamReader.read_blocks (see there)."""
    rest = ""
    while True:
        data = stream.read(size)
        if not data:
            break
        cut = data.rfind("\n")
        if cut < 0:
            rest += data
            continue
        block, rest = rest + data[: cut + 1], data[cut + 1:]
        yield from _block_items(reader, block)
    if rest:
        yield from _block_items(reader, rest)
    yield from reader.close()


def _block_items(reader: "StreamReader", block: str) -> Iterator[Item]:
    """The Items of `block` (whole lines; the last may lack its newline only at the stream's
    end): runs of lines under one kubectl prefix, or without one, each fed as a block; a line the
    fast path does not cover (an unusual prefix, or a stream's first line deciding on timestamps)
    goes through the per-line reader."""
    pos, size = 0, len(block)
    while pos < size:
        line_end = block.find("\n", pos)
        line_end = size if line_end < 0 else line_end + 1
        if block.startswith("[pod/", pos):
            close = block.find("]", pos, line_end)
            head = block[pos: close + 2] if close >= 0 else ""
            entry = reader.known.get(head[:-1]) if head.endswith(" ") else None
            if entry is None or not entry[1] or entry[2].stamped is None:
                yield from reader.read((block[pos:line_end],), close=False)  # learns the prefix
                pos = line_end
                continue
            prefix, _cut, splitter = entry
            # The run: the lines that follow with this prefix (`kubectl logs -l` without -f writes
            # one pod's log after the other), taken a window at a time where every line of the
            # window has it (counted in C), the window growing while they do, shrinking where
            # they do not, and one line at a time at the run's end.
            end, step, marked = line_end, 4096, "\n" + head
            while end < size and block.startswith(head, end):
                stop = block.find("\n", min(end + step, size) - 1) + 1 or size
                if block.count(marked, end, stop) == block.count("\n", end, stop) - (block[stop - 1] == "\n"):
                    end, step = stop, step * 2
                elif step > 512:
                    step //= 8
                else:
                    end = block.find("\n", end) + 1 or size
            body = block[pos + len(head): end].replace("\n" + head, "\n")
        else:
            plain = reader.splitters.get(None)
            if plain is None or plain.stamped is None:
                yield from reader.read((block[pos:line_end],), close=False)
                pos = line_end
                continue
            prefix, splitter = None, plain
            found = _NEXT_PREFIXED.search(block, pos, size - 1) if line_end < size else None
            end = found.end() if found else size
            body = block[pos:end]
        if splitter.stamped:
            body = _TIMESTAMPS.sub("", body)
        first = reader.lineno + 1
        reader.lineno += block.count("\n", pos, end) + (0 if block.endswith("\n", pos, end) else 1)
        docs = splitter.feed_block(body, first)
        if docs:
            yield from reader._items(prefix, docs)
        pos = end


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
