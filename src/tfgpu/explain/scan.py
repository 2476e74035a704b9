"""Matching log lines against the signatures: one pass, linear in the log, bounded memory. Pure.

Every pattern has a literal pre-filter: the literal is searched with `str.find` (a C substring
search over a batch of lines) and the regex runs only on lines that contain it. What is kept per signature is
bounded: a count, the first few matching lines, and a few distinct values per capture.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import field
from itertools import accumulate, compress, islice
from operator import ne, not_
from typing import Iterable, Sequence

from tfgpu.explain.knowledge import Knowledge, Pattern
from tfgpu.explain.stamps import STAMP_LEN, STAMP_RE, regex_is_blind, text_is_blind
from tfgpu.records import dataclass
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


def _regex_alone(pattern: Pattern) -> bool:
    """Whether a match of the pattern's regex is all it takes (its outcome is then read directly)."""
    return (pattern.regex is not None and pattern.prev is None and not pattern.unless
            and pattern.unless_regex is None and pattern.guard_older is None)


def _locate(lines: list[str], keys: tuple[_Key, ...], gates: tuple[str, ...], table: Sequence[tuple[str, object]],
            candidates: dict[int, list[int]], error_lines: set[int], text: str | None = None) -> None:
    """Find the search keys and error gates in distinct `lines`: the literal indices each line
    holds go to `candidates` (by line index), error-like lines to `error_lines`.

    One non-ASCII character makes a joined text a wide string, which str.find searches several
    times slower: the ASCII lines (nearly all of a log) are searched on their own."""
    if not lines:
        return
    if text is None:
        text = "\n".join(lines)
    if text.isascii():
        _search(lines, range(len(lines)), text, keys, gates, table, candidates, error_lines)
        return
    ascii_flags = list(map(str.isascii, lines))
    narrow = list(compress(range(len(lines)), ascii_flags))
    wide = list(compress(range(len(lines)), map(not_, ascii_flags)))
    for ids in (narrow, wide):
        if ids:
            part = [lines[i] for i in ids]
            _search(part, ids, "\n".join(part), keys, gates, table, candidates, error_lines)


def _search(part: list[str], ids: Sequence[int], text: str, keys: tuple[_Key, ...], gates: tuple[str, ...],
            table: Sequence[tuple[str, object]], candidates: dict[int, list[int]], error_lines: set[int]) -> None:
    """`_locate` for the lines `part` (indices `ids`), joined by newlines in `text`.

    Each key is searched with `str.find` (C speed, linear), unless the text lacks the key's
    rarest character; a hit maps back to its line by bisection, and the search goes on from the
    next line."""
    # Where each line starts in `text`.
    starts = list(accumulate(map((1).__add__, map(len, part[:-1])), initial=0))
    n = len(part)
    find = text.find
    present: dict[str, bool] = {}
    for key, lit_indices, exact, rare in keys:
        # One character looked for (a C scan that stops at the first one) can spare the search.
        there = present.get(rare)
        if there is None:
            there = present[rare] = rare in text
        if not there:
            continue
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
    if "\nE" in gates and part[0][:1] in ("E", "F"):
        error_lines.add(ids[0])
    for gate in gates:
        shift = 1 if gate[0] == "\n" else 0
        at = find(gate)
        while at != -1:
            i = bisect_right(starts, at + shift) - 1
            error_lines.add(ids[i])
            if i + 1 >= n:
                break
            at = find(gate, starts[i + 1] - shift)


def _stamp_blind(pattern: Pattern) -> bool:
    """Whether the pattern's outcome on a line does not depend on the line's leading timestamp
    (tfgpu.explain.stamps)."""
    return (pattern.prev is None and text_is_blind(pattern.literal) and all(map(text_is_blind, pattern.unless))
            and all(regex_is_blind(rx.pattern) for rx in (pattern.regex, pattern.unless_regex) if rx is not None))


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


#: A timestamp at the start of a line (tfgpu.explain.stamps), in a text of lines that begins with a
#: newline (a pattern that begins with a literal is searched several times faster than one with "^").
_STAMPS_AFTER_NEWLINES = re.compile("\n" + STAMP_RE.pattern)
#: Line outcomes remembered across batches (the memo is emptied when it grows past this).
MAX_MEMO = 1 << 13
#: Lines matched per batch: the batch is joined and each literal is found with str.find, so
#: the per-line Python work is paid only by lines that contain some literal.
BATCH_LINES = 4096
#: Error gates that cannot begin inside a leading timestamp (searched in the text after it), and
#: the rest (searched in whole lines; "\nE" is a line that starts with E).
_REST_GATES = ("Error", "Exception", "Exhausted") + _MISC_ERROR_LITERALS
_LINE_GATES = (": E ", ": F ", "\nE", "\nF")
#: A search key: the text searched, the literal indices it stands for, whether it is their only literal.
_Key = tuple[str, tuple[int, ...], bool, str]
#: Characters of log text from the most common on (counted in the corpus, tests/data/logs); a key
#: is first checked for its character that comes last here (or is not here at all): a text
#: without it cannot hold the key.
_COMMON_CHARS = " eortinascldu./0:1p2m-f_hgbw3y4v,658=79xI*]NRAkCUDT(E)PF\"'SML\\OG>V[BqW"


def _rarest_char(key: str) -> str:
    return max(key, key=lambda c: _COMMON_CHARS.find(c) % (len(_COMMON_CHARS) + 1))


class _Outcome:
    """A line's signature hits and fact hits, remembered; `saturated` once applying them again can
    only add to the signatures' counts (their evidence and values are full or hold these)."""

    __slots__ = ("sig_hits", "fact_hits", "saturated")

    def __init__(self, sig_hits: list[tuple[str, dict[str, str]]], fact_hits: list[tuple[str, str]]) -> None:
        self.sig_hits = sig_hits
        self.fact_hits = fact_hits
        self.saturated = False


class Scanner:
    """Feeds batches of lines; keeps only bounded state. No I/O.

    Each distinct search key (a literal that holds no other literal) is searched in
    the joined batch with `str.find` (C speed, linear); a hit maps back to its line by bisection,
    and only then do the regexes of that line's literals run. A fact pattern with a constant value
    is retired once its value and first line are recorded: later lines could add nothing. Every
    regex is linear on any line (tests/test_explain_units.py searches each in adversarial lines).
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
        #: Literal indices with a two-line pattern: a line's outcome then depends on the line before.
        self._prev_literals = frozenset(j for j, (_lit, entries) in enumerate(self._table)
                                        if any(p.prev is not None for p, _s, _f in entries))
        #: Per literal index, its entries as (pattern, the regex when the regex alone decides (no veto,
        #: no previous line, no guard), signature id, fact name, fact constant).
        self._entries = tuple(tuple((p, p.regex if _regex_alone(p) else None, sig, fact[0] if fact else None,
                                     fact[1] if fact else None) for p, sig, fact in entries)
                              for _lit, entries in self._table)
        #: Literal indices whose every pattern is stamp-blind: a line holding only these has the outcome
        #: of any line with the same text after the timestamp.
        self._blind = frozenset(j for j, (_lit, entries) in enumerate(self._table)
                                if all(_stamp_blind(p) for p, _s, _f in entries))
        #: Outcomes of lines already evaluated (see feed_batch); emptied when the search keys change.
        self._memo: dict[object, _Outcome] = {}
        #: literal index -> the constant facts it can still add; retired with the literal once recorded.
        self._constant_only = {j for j, (_lit, entries) in enumerate(self._table)
                               if all(sig is None and fact is not None and fact[1] is not None
                                      for _p, sig, fact in entries)}
        self._retired: set[int] = set()
        self._build_keys()
        self.result = ScanResult()
        self._prev = ""

    def _build_keys(self) -> None:
        """Search keys of the live literals, the stamp-blind ones (searched in the text after each
        line's timestamp) and the others (searched in whole lines)."""
        live = [j for j in range(len(self._table)) if j not in self._retired]
        self._blind_keys = self._keys_of([j for j in live if j in self._blind])
        self._line_keys = self._keys_of([j for j in live if j not in self._blind])

    def _keys_of(self, live: list[int]) -> tuple[_Key, ...]:
        """[(key, literal indices, whether the key is the literal)] for these literals.

        A literal that contains another one is searched through it: it can only be on the
        lines where the shorter one is, and each search is a pass over the whole batch (a pass
        costs about the batch's length over the key's, so keys stay whole literals)."""
        lits = {j: self._table[j][0] for j in live}
        roots = [j for j in live if not any(k != j and lits[k] in lits[j] for k in live)]
        groups: dict[int, list[int]] = {r: [r] for r in roots}
        for j in live:
            if j not in groups:
                inside = [r for r in roots if lits[r] in lits[j]]
                groups[max(inside, key=lambda r: len(lits[r]))].append(j)
        return tuple((lits[r], tuple(idx), len(idx) == 1, _rarest_char(lits[r])) for r, idx in groups.items())

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
            self._memo.clear()

    def feed_batch(self, lines: list[str]) -> None:
        """Match a batch of consecutive lines (no newlines inside).

        Logs repeat themselves, so the literal search runs over the batch's distinct lines only,
        and for the stamp-blind literals over the distinct texts after the lines' timestamps;
        each occurrence then reuses its outcome (remembered across batches, keyed by the line, by
        the line and the one before it when a two-line pattern is involved, or by the text after
        the timestamp), in order, so evidence and counts stay exact. Only the lines that hold a
        literal or an error gate are visited one by one, and an outcome whose evidence and values
        are full only adds to counts.
        """
        if not lines:
            return
        ulines = list(dict.fromkeys(lines))
        n = len(ulines)
        text = "\n".join(ulines)
        # The text after each distinct line's leading timestamp (the line itself where it has none).
        rests = _STAMPS_AFTER_NEWLINES.sub("\n", "\n" + text)[1:].split("\n") if "-" in text else ulines
        if len(rests) != n:  # a line with a newline inside: take each line on its own
            rests = [line[STAMP_LEN:] if STAMP_RE.match(line) else line for line in ulines]
        stamped = list(map(ne, map(len, rests), map(len, ulines)))
        # The stamp-blind literals and gates are searched in the distinct rests (a message repeated
        # under new timestamps is searched once; a line without a timestamp shares the search of
        # the stamped lines whose rest it equals: the blind literals are in both or in neither),
        # the others in whole lines.
        urests = list(dict.fromkeys(rests))
        rest_index = {rest: r for r, rest in enumerate(urests)}
        rest_of = list(map(rest_index.__getitem__, rests))
        rest_candidates: dict[int, list[int]] = {}
        rest_errors: set[int] = set()
        _locate(urests, self._blind_keys, _REST_GATES, self._table, rest_candidates, rest_errors)
        candidates: dict[int, list[int]] = {}
        error_lines: set[int] = set()
        _locate(ulines, self._line_keys, _LINE_GATES, self._table, candidates, error_lines, text)
        hot_rests = rest_errors.union(rest_candidates)
        hot = set(compress(range(n), map(hot_rests.__contains__, rest_of)))
        hot.update(error_lines, candidates)
        if n == len(lines):
            # Every line distinct (the usual case with timestamps): line i is distinct line i.
            visit: list[int] = sorted(hot)
            of = None
        else:
            index = {line: i for i, line in enumerate(ulines)}
            of = list(map(index.__getitem__, lines))
            visit = list(compress(range(len(lines)), map(hot.__contains__, of)))
        # A line's outcome, keyed by the line; by the line and the line before it when a two-line
        # pattern is among its literals; by the text after its timestamp when all its literals'
        # patterns are stamp-blind (the same message under another timestamp has the same outcome).
        memo = self._memo
        if len(memo) > MAX_MEMO:
            memo.clear()
        prev_literals, blind = self._prev_literals, self._blind
        evaluate, apply, hits_of = self._evaluate, self._apply, self.result.hits
        base = self.result.lines_read + 1
        for k in visit:
            line = lines[k]
            u = k if of is None else of[k]
            found = rest_candidates.get(rest_of[u])
            more = candidates.get(u)
            lit_indices = found if more is None else more if found is None else found + more
            if lit_indices is not None:
                prev = lines[k - 1] if k else self._prev
                key: object = line
                if not prev_literals.isdisjoint(lit_indices):
                    key = (line, prev)
                elif stamped[u] and blind.issuperset(lit_indices):
                    key = (rests[u],)
                entry = memo.get(key)
                if entry is None:
                    # In the signature file's order: the first pattern of a signature that matches wins.
                    entry = memo[key] = _Outcome(*evaluate(line, prev, sorted(lit_indices)))
                sig_hits = entry.sig_hits
                if entry.saturated:
                    for sig_id, _values in sig_hits:
                        hits_of[sig_id].count += 1
                elif sig_hits or entry.fact_hits:
                    apply(line, base + k, sig_hits, entry.fact_hits)
                    entry.saturated = self._saturated(sig_hits, entry.fact_hits)
                if sig_hits:
                    continue
            if u in error_lines or rest_of[u] in rest_errors:
                self._check_unrecognized(line, base + k)
        self.result.lines_read += len(lines)
        self._prev = lines[-1]
        if self._constant_only - self._retired:
            self._retire_recorded_constants()

    def _evaluate(self, line: str, prev: str, lit_indices: list[int]
                  ) -> tuple[list[tuple[str, dict[str, str]]], list[tuple[str, str]]]:
        """Which signatures and facts one line matches (given the line before it). Pure."""
        sig_hits: list[tuple[str, dict[str, str]]] = []
        fact_hits: list[tuple[str, str]] = []
        matched: set[str] = set()
        entries = self._entries
        for lit_index in lit_indices:
            for pattern, regex, sig_id, name, const in entries[lit_index]:
                if sig_id is not None and sig_id in matched:
                    continue
                if regex is not None:
                    m = regex.search(line)
                    if m is None:
                        continue
                    values = {k: v for k, v in m.groupdict().items() if v is not None} if regex.groupindex else {}
                else:
                    found = _match(pattern, line, prev)
                    if found is None:
                        continue
                    values = found
                if sig_id is not None:
                    matched.add(sig_id)
                    sig_hits.append((sig_id, values))
                elif name is not None:
                    value = const if const is not None else values.get(name)
                    if value is None and f"{name}_major" in values and f"{name}_minor" in values:
                        value = f"{values[name + '_major']}.{values[name + '_minor']}"
                    if value is not None:
                        fact_hits.append((name, value))
        return sig_hits, fact_hits

    def _saturated(self, sig_hits: list[tuple[str, dict[str, str]]], fact_hits: list[tuple[str, str]]) -> bool:
        """Whether applying these hits again would only add to the signatures' counts."""
        result = self.result
        for sig_id, values in sig_hits:
            hits = result.hits[sig_id]
            if len(hits.lines) < MAX_EVIDENCE_LINES:
                return False
            for name, value in values.items():
                kept = hits.values.get(name)
                if kept is None or (value not in kept and len(kept) < MAX_VALUES):
                    return False
        for name, value in fact_hits:
            kept = result.facts.get(name)
            if name not in result.fact_lines or kept is None or (value not in kept and len(kept) < MAX_VALUES):
                return False
        return True

    def _apply(self, line: str, line_no: int, sig_hits: list[tuple[str, dict[str, str]]],
               fact_hits: list[tuple[str, str]]) -> None:
        result = self.result
        for sig_id, values in sig_hits:
            hits = result.hits.get(sig_id)
            if hits is None:
                hits = result.hits[sig_id] = SignatureHits()
            if values or len(hits.lines) < MAX_EVIDENCE_LINES:
                hits.add(line_no, line, values)
            else:
                hits.count += 1
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
