"""Matching log lines against the signatures: one pass, linear in the log, bounded memory. Pure.

Every pattern has a literal pre-filter: the literal is searched with `str.find` (a C substring
search over a batch of lines) and the regex runs only on lines that contain it. What is kept per signature is
bounded: a count, the first few matching lines, and a few distinct values per capture.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterable, Sequence

from tfgpu.explain.knowledge import Knowledge, Pattern
from tfgpu.versions import driver_at_least

#: Matching lines kept as evidence per finding (the count covers all of them).
MAX_EVIDENCE_LINES = 5
#: Distinct values kept per captured name.
MAX_VALUES = 12
#: Distinct unrecognised error messages kept.
MAX_UNRECOGNIZED = 20
#: Characters of a line kept in evidence.
MAX_EVIDENCE_CHARS = 600

# Lines that look like errors, whoever printed them (checked only after the cheap gates below).
_TF_ERROR_RE = re.compile(r"\d\d:\d\d:\d\d\.\d{1,9}: [EF] \S{1,300}:\d{1,6}\] ?")
_ABSL_ERROR_RE = re.compile(r"^[EF]\d{4} \d\d:\d\d:\d\d\.\d{1,9} {1,12}\d{1,12} \S{1,300}:\d{1,6}\] ?")
_PY_ERROR_RE = re.compile(r"^\s{0,8}(?:[A-Za-z_][\w.]{0,200}\.)?[A-Z]\w{0,80}(?:Error|Exception|Exhausted)(?::|$)")
_MISC_ERROR_LITERALS = ("Check failed:", "Segmentation fault", "core dumped", "Fatal Python error")


@dataclass(frozen=True)
class EvidenceLine:
    line: int
    text: str


@dataclass
class SignatureHits:
    """What one signature matched: how often, where first, and the values it carried."""

    count: int = 0
    lines: list[EvidenceLine] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, line_no: int, text: str, values: dict[str, str]) -> None:
        self.count += 1
        if len(self.lines) < MAX_EVIDENCE_LINES and not any(e.line == line_no for e in self.lines):
            self.lines.append(EvidenceLine(line_no, text[:MAX_EVIDENCE_CHARS]))
        for name, value in values.items():
            if value is None:
                continue
            kept = self.values.setdefault(name, [])
            if value not in kept and len(kept) < MAX_VALUES:
                kept.append(value)


@dataclass
class ScanResult:
    """Everything the report is built from; independent of the log's size."""

    lines_read: int = 0
    hits: dict[str, SignatureHits] = field(default_factory=dict)
    facts: dict[str, list[str]] = field(default_factory=dict)
    fact_lines: dict[str, EvidenceLine] = field(default_factory=dict)
    unrecognized: list[EvidenceLine] = field(default_factory=list)
    unrecognized_count: int = 0
    _unrecognized_keys: set[str] = field(default_factory=set)


def _error_like(line: str) -> str | None:
    """The message of a line that reads as an error, or None."""
    if ": E " in line or ": F " in line:
        m = _TF_ERROR_RE.search(line)
        if m:
            return line[m.end():]
    if line[:1] in ("E", "F") and line[1:2].isdigit():
        m = _ABSL_ERROR_RE.match(line)
        if m:
            return line[m.end():]
    if "Error" in line or "Exception" in line or "Exhausted" in line:
        if _PY_ERROR_RE.match(line):
            return line.strip()
    for literal in _MISC_ERROR_LITERALS:
        if literal in line:
            return line.strip()
    return None


def _match(pattern: Pattern, line: str, prev: str) -> dict[str, str] | None:
    if pattern.prev is not None and (prev.strip() != pattern.prev if pattern.prev_exact else pattern.prev not in prev):
        return None
    for veto in pattern.unless:
        if veto in line:
            return None
    if pattern.unless_regex is not None and pattern.unless_regex.search(line):
        return None
    if pattern.regex is None:
        return {}
    m = pattern.regex.search(line)
    if m is None:
        return None
    values = {k: v for k, v in m.groupdict().items() if v is not None}
    if pattern.guard_older is not None:
        older, newer = (values.get(n) for n in pattern.guard_older)
        if older is None or newer is None or driver_at_least(older, newer):
            return None
    return values


#: Lines matched per batch: the batch is joined and each literal is found with str.find, so
#: the per-line Python work is paid only by lines that contain some literal.
BATCH_LINES = 4096
_ERROR_GATES = (": E ", ": F ", "Error", "Exception", "Exhausted", "\nE", "\nF") + _MISC_ERROR_LITERALS


class Scanner:
    """Feeds batches of lines; keeps only bounded state. No I/O.

    Each distinct search key (a literal that holds no other literal) is searched in
    the joined batch with `str.find` (C speed, linear); a hit maps back to its line by bisection,
    and only then do the regexes of that line's literals run. A fact pattern with a constant value
    is retired once its value and first line are recorded: later lines could add nothing.
    """

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        # literal -> [(pattern, signature id or None, (fact name, constant) or None)]
        table: dict[str, list[tuple[Pattern, str | None, tuple[str, str | None] | None]]] = {}
        for sig in knowledge.signatures:
            for p in sig.patterns:
                table.setdefault(p.literal, []).append((p, sig.id, None))
        for fact in knowledge.facts:
            for i, p in enumerate(fact.patterns):
                const = fact.values[i] if i < len(fact.values) else None
                table.setdefault(p.literal, []).append((p, None, (fact.name, const)))
        self._table = tuple((lit, tuple(entries)) for lit, entries in table.items())
        self._needs_prev = tuple(any(p.prev is not None for p, _s, _f in entries) for _lit, entries in self._table)
        #: literal index -> the constant facts it can still add; retired with the literal once recorded.
        self._constant_only = {j for j, (_lit, entries) in enumerate(self._table)
                               if all(sig is None and fact is not None and fact[1] is not None
                                      for _p, sig, fact in entries)}
        self._retired: set[int] = set()
        self._build_keys()
        self.result = ScanResult()
        self._prev = ""

    def _build_keys(self) -> None:
        """Search keys of the live literals: [(key, literal indices, whether the key is the literal)].

        A literal that contains another live literal is searched through it: it can only be on the
        lines where the shorter one is, and each search is a pass over the whole batch (a pass
        costs about the batch's length over the key's, so keys stay whole literals)."""
        live = [j for j in range(len(self._table)) if j not in self._retired]
        lits = {j: self._table[j][0] for j in live}
        roots = [j for j in live if not any(k != j and lits[k] in lits[j] for k in live)]
        groups: dict[int, list[int]] = {r: [r] for r in roots}
        for j in live:
            if j not in groups:
                inside = [r for r in roots if lits[r] in lits[j]]
                groups[max(inside, key=lambda r: len(lits[r]))].append(j)
        self._keys = tuple((lits[r], tuple(idx), len(idx) == 1) for r, idx in groups.items())

    def _retire_recorded_constants(self) -> None:
        """Drop literals whose every entry is a constant fact already recorded (value and line)."""
        facts, lines = self.result.facts, self.result.fact_lines
        done = set()
        for j in self._constant_only - self._retired:
            if all(fact is not None and fact[0] in lines
                   and (fact[1] in facts.get(fact[0], ()) or len(facts.get(fact[0], ())) >= MAX_VALUES)
                   for _p, _s, fact in self._table[j][1]):
                done.add(j)
        if done:
            self._retired |= done
            self._build_keys()

    def feed_batch(self, lines: list[str]) -> None:
        """Match a batch of consecutive lines (no newlines inside).

        Logs repeat themselves, so the literal search runs over the batch's distinct lines only;
        each occurrence then reuses its distinct line's outcome (keyed with the previous line
        when a two-line pattern is involved), in order, so evidence and counts stay exact. Only
        the lines that hold a literal or an error gate are visited one by one.
        """
        if not lines:
            return
        ulines = list(dict.fromkeys(lines))
        candidates: dict[int, list[int]] = {}
        error_lines: set[int] = set()
        # One non-ASCII character makes a joined text a wide string, which str.find searches
        # several times slower: the ASCII lines (nearly all of a log) are searched on their own.
        narrow = [i for i, line in enumerate(ulines) if line.isascii()]
        if len(narrow) == len(ulines):
            self._search(ulines, range(len(ulines)), candidates, error_lines)
        else:
            wide = [i for i, line in enumerate(ulines) if not line.isascii()]
            for ids in (narrow, wide):
                if ids:
                    self._search([ulines[i] for i in ids], ids, candidates, error_lines)
        hot = error_lines.union(candidates)
        if len(ulines) == len(lines):
            # Every line distinct (the usual case with timestamps): line i is distinct line i.
            visit: list[int] = sorted(hot)
            of = None
        else:
            index = {line: i for i, line in enumerate(ulines)}
            of = list(map(index.__getitem__, lines))
            visit = [k for k, u in enumerate(of) if u in hot]
        memo: dict[tuple[str, str], tuple[list[tuple[str, dict[str, str]]], list[tuple[str, str]]]] = {}
        base = self.result.lines_read
        for k in visit:
            line = lines[k]
            prev = lines[k - 1] if k else self._prev
            u = k if of is None else of[k]
            lit_indices = candidates.get(u)
            sig_hits: list[tuple[str, dict[str, str]]] = []
            if lit_indices is not None:
                key = (line, prev if any(self._needs_prev[j] for j in lit_indices) else "")
                outcome = memo.get(key)
                if outcome is None:
                    # In the signature file's order: the first pattern of a signature that matches wins.
                    outcome = self._evaluate(line, prev, sorted(lit_indices))
                    memo[key] = outcome
                sig_hits, fact_hits = outcome
                self._apply(line, base + k + 1, sig_hits, fact_hits)
            if not sig_hits and u in error_lines:
                self._check_unrecognized(line, base + k + 1)
        self.result.lines_read += len(lines)
        self._prev = lines[-1]
        if self._constant_only - self._retired:
            self._retire_recorded_constants()

    def _search(self, part: list[str], ids: Sequence[int], candidates: dict[int, list[int]],
                error_lines: set[int]) -> None:
        """Find the search keys and error gates in `part` (distinct lines whose batch indices are
        `ids`): the literal indices each line holds go to `candidates`, error-like lines to
        `error_lines`."""
        text = "\n".join(part)
        starts = [0] * len(part)
        pos = 0
        for i, line in enumerate(part):
            starts[i] = pos
            pos += len(line) + 1
        n = len(part)
        find = text.find
        table = self._table
        for key, lit_indices, exact in self._keys:
            at = find(key)
            while at != -1:
                i = bisect_right(starts, at) - 1
                if exact:
                    candidates.setdefault(ids[i], []).append(lit_indices[0])
                else:
                    line = part[i]
                    for j in lit_indices:
                        if table[j][0] in line:
                            candidates.setdefault(ids[i], []).append(j)
                if i + 1 >= n:
                    break
                at = find(key, starts[i + 1])
        if part[0][:1] in ("E", "F"):
            error_lines.add(ids[0])
        for gate in _ERROR_GATES:
            shift = 1 if gate[0] == "\n" else 0
            at = find(gate)
            while at != -1:
                i = bisect_right(starts, at + shift) - 1
                error_lines.add(ids[i])
                if i + 1 >= n:
                    break
                at = find(gate, starts[i + 1] - shift)

    def _evaluate(self, line: str, prev: str, lit_indices: list[int]
                  ) -> tuple[list[tuple[str, dict[str, str]]], list[tuple[str, str]]]:
        """Which signatures and facts one line matches (given the line before it). Pure."""
        sig_hits: list[tuple[str, dict[str, str]]] = []
        fact_hits: list[tuple[str, str]] = []
        matched: set[str] = set()
        for lit_index in lit_indices:
            for pattern, sig_id, fact in self._table[lit_index][1]:
                if sig_id is not None and sig_id in matched:
                    continue
                values = _match(pattern, line, prev)
                if values is None:
                    continue
                if sig_id is not None:
                    matched.add(sig_id)
                    sig_hits.append((sig_id, values))
                elif fact is not None:
                    name, const = fact
                    value = const if const is not None else values.get(name)
                    if value is None and f"{name}_major" in values and f"{name}_minor" in values:
                        value = f"{values[name + '_major']}.{values[name + '_minor']}"
                    if value is not None:
                        fact_hits.append((name, value))
        return sig_hits, fact_hits

    def _apply(self, line: str, line_no: int, sig_hits: list[tuple[str, dict[str, str]]],
               fact_hits: list[tuple[str, str]]) -> None:
        result = self.result
        for sig_id, values in sig_hits:
            hits = result.hits.get(sig_id)
            if hits is None:
                hits = result.hits[sig_id] = SignatureHits()
            hits.add(line_no, line, values)
        for name, value in fact_hits:
            kept = result.facts.setdefault(name, [])
            if value not in kept and len(kept) < MAX_VALUES:
                kept.append(value)
            if name not in result.fact_lines:
                result.fact_lines[name] = EvidenceLine(line_no, line[:MAX_EVIDENCE_CHARS])

    def _check_unrecognized(self, line: str, line_no: int) -> None:
        message = _error_like(line)
        if message is None or any(w in line for w in self.knowledge.error_wrappers):
            return
        result = self.result
        result.unrecognized_count += 1
        key = message.strip()[:200]
        if key not in result._unrecognized_keys and len(result.unrecognized) < MAX_UNRECOGNIZED:
            result._unrecognized_keys.add(key)
            result.unrecognized.append(EvidenceLine(line_no, line[:MAX_EVIDENCE_CHARS]))

    def feed(self, line: str) -> None:
        """Match one line (convenience; `scan` batches for speed)."""
        self.feed_batch([line])


def scan(lines: Iterable[str], knowledge: Knowledge, batch_lines: int = BATCH_LINES) -> ScanResult:
    """Match every line, in batches of `batch_lines`; return the bounded result."""
    scanner = Scanner(knowledge)
    it = iter(lines)
    while True:
        batch = list(islice(it, batch_lines))
        if not batch:
            break
        scanner.feed_batch(batch)
    return scanner.result
