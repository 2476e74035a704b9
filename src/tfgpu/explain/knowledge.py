"""Loading and validating the log-signature knowledge file (`tfgpu/knowledge/signatures.yaml`)."""

from __future__ import annotations

import re
from dataclasses import field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tfgpu.model import Severity
from tfgpu.records import dataclass

ROLES = ("cause", "consequence", "noise")
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
#: A quantified group that itself holds a quantifier, e.g. "(a+)*" or "(?:x\\w+)+": the shape
#: behind catastrophic backtracking. Signatures must not contain it.
NESTED_QUANTIFIER_RE = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")
_ESCAPE_RE = re.compile(r"\\(.)")
WHEN_KEYS = {"platform", "tf_below", "tf_at_least", "value", "missing", "code_in"}


class KnowledgeError(ValueError):
    """A signature file that cannot be used, naming the entry and the problem."""


@dataclass(frozen=True)
class Pattern:
    """One way a signature shows in a line: a required substring, then an optional regex."""

    literal: str
    regex: re.Pattern[str] | None = None
    prev: str | None = None
    unless: tuple[str, ...] = ()
    guard_older: tuple[str, str] | None = None
    #: `prev` is the whole previous line (stripped), not a substring of it.
    prev_exact: bool = False
    #: A regex that vetoes the match where `unless` substrings cannot say it ("tensorflow-gpu==2.11"
    #: and later, but not 2.1.0).
    unless_regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class FixTemplate:
    summary: str
    commands: tuple[str, ...]
    when: dict[str, Any] = field(default_factory=dict)
    #: Where the steps come from (https:// pages), shown with the fix.
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signature:
    id: str
    role: str
    severity: Severity
    summary: str
    detail: str
    patterns: tuple[Pattern, ...]
    fixes: tuple[FixTemplate, ...]
    threads: tuple[str, ...]
    follows: tuple[str, ...] = ()
    implies: dict[str, str] = field(default_factory=dict)
    #: The kind of failure report it belongs to (FAILURE_CLASSES); explain says which it decided.
    failure_class: str = "linux-libraries"
    #: A rule over the matrix (REQUIRES_RULES) that a hit's values must pass to count (the version a
    #: line names is judged by the matrix, not by a version list in the regex).
    requires: str | None = None


#: The matrix rules a signature may name in `requires` (applied by tfgpu.explain.report).
REQUIRES_RULES = ("plain-tensorflow-cpu-only",)


#: The kinds of report people paste, as `tfgpu explain` names them (`class:` of a signature).
FAILURE_CLASSES = (
    "windows",  # native Windows: no GPU after 2.10, DLL names
    "macos",  # no CUDA on macOS: tensorflow-metal
    "packages",  # wrong or mixed TensorFlow distributions in one environment
    "pip-install",  # pip cannot find a wheel for this Python / platform / architecture
    "python-version",  # a Python too new or too old for the release
    "docker",  # containers without GPU access, the NVIDIA Container Toolkit
    "wsl",  # WSL1, WSL2's library path, a Linux driver inside WSL2
    "conda",  # conda CUDA/cuDNN not on the loader path, conda builds
    "loader",  # the dynamic loader's own errors, toolkit stubs
    "linux-libraries",  # CUDA/cuDNN libraries missing, shadowed or of the wrong version
    "kernels",  # no kernel image, PTX errors, GPUs newer than the build
    "driver",  # NVML and driver failures, versions, mismatches
    "runtime",  # errors while running on a working GPU (OOM, illegal address, ...)
    "success",  # the GPU was found and used
    "pasted-output",  # nvidia-smi, nvcc, pip list, conda list, build info pasted as text
    "shared-env",  # PyTorch/JAX/ONNX Runtime pins other nvidia-* wheels in the same env
    "noise",  # harmless lines
)


@dataclass(frozen=True)
class FactRule:
    """Patterns that read one value (a version, the platform) from the log."""

    name: str
    patterns: tuple[Pattern, ...]
    #: Per pattern: a constant value the fact takes when the pattern matches (None: the capture).
    values: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class LibraryInfo:
    """What a soname prefix is. Its CUDA, releases and wheel come from the matrix
    (tfgpu.explain.sonames); `cuda` and `pip` only for names no matrix row dlopen()s."""

    prefix: str
    what: str
    cuda: str | None = None
    pip: str | None = None
    windows: bool = False
    #: the NVIDIA wheel family without its -cuXX suffix ("nvidia-cusolver").
    wheel: str | None = None


@dataclass(frozen=True)
class CuInitCode:
    name: str
    number: int
    meaning: str


@dataclass(frozen=True)
class Knowledge:
    signatures: tuple[Signature, ...]
    facts: tuple[FactRule, ...]
    libraries: tuple[LibraryInfo, ...]
    cuinit_codes: dict[str, CuInitCode]
    path: str = ""
    #: Substrings of exception lines that merely wrap an error reported elsewhere.
    error_wrappers: tuple[str, ...] = ()
    #: {channel: {package: versions}} that conda fixes may name (tfgpu.fixes.command_problems).
    conda: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def signature(self, sig_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.id == sig_id), None)

    def library(self, soname: str) -> LibraryInfo | None:
        """The longest-prefix record for a soname or DLL name."""
        best: LibraryInfo | None = None
        for lib in self.libraries:
            if soname.startswith(lib.prefix) and (best is None or len(lib.prefix) > len(best.prefix)):
                best = lib
        return best

    def cuinit_code(self, text: str) -> CuInitCode | None:
        """'CUDA_ERROR_NO_DEVICE', 'UNKNOWN ERROR (303)' or 'CUresult(-1)' → its record, if known."""
        if text in self.cuinit_codes:
            return self.cuinit_codes[text]
        m = re.search(r"-?\d+", text)
        if m:
            number = int(m.group())
            for code in self.cuinit_codes.values():
                if code.number == number:
                    return code
        return None


def _fail(where: str, problem: str) -> KnowledgeError:
    return KnowledgeError(f"{where}: {problem}")


def _check_requirement(text: str, where: str) -> None:
    """A library's pip entry must be a plain requirement (a name, optionally version specifiers):
    it is printed into `pip install` commands."""
    from tfgpu.pep508 import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise _fail(where, f"pip {text!r} is not a requirement: {exc}") from None
    if req.marker is not None or req.url or req.extras or "'" in text:
        raise _fail(where, f"pip {text!r} must be a name with optional version specifiers only")


def _unescaped(regex: str) -> str:
    """The regex with group syntax removed and escapes undone: where a required literal must show."""
    bare = re.sub(r"\(\?P<\w+>|\(\?:|(?<!\\)[()]", "", regex)
    return _ESCAPE_RE.sub(r"\1", bare)


def _pattern(raw: Any, where: str) -> Pattern:
    if isinstance(raw, str):
        raw = {"literal": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("literal"), str) or not raw["literal"]:
        raise _fail(where, "a pattern needs a non-empty 'literal'")
    literal = raw["literal"]
    regex = None
    if raw.get("regex") is not None:
        source = raw["regex"]
        if not isinstance(source, str):
            raise _fail(where, "'regex' must be a string")
        if NESTED_QUANTIFIER_RE.search(source):
            raise _fail(where, f"regex {source!r} nests quantifiers (catastrophic backtracking risk)")
        if literal not in _unescaped(source):
            # The pre-filter must be text every match contains; the simplest check is that the
            # regex spells it out.
            raise _fail(where, f"literal {literal!r} does not occur in regex {source!r}")
        try:
            regex = re.compile(source)
        except re.error as exc:
            raise _fail(where, f"bad regex {source!r}: {exc}") from None
    guard = raw.get("guard")
    older = None
    if guard is not None:
        pair = guard.get("older") if isinstance(guard, dict) else None
        if not (isinstance(pair, list) and len(pair) == 2 and regex is not None
                and all(name in regex.groupindex for name in pair)):
            raise _fail(where, "guard must be {older: [group, group]} naming two groups of the regex")
        older = (str(pair[0]), str(pair[1]))
    unless = raw.get("unless") or []
    if not isinstance(unless, list) or not all(isinstance(u, str) and u for u in unless):
        raise _fail(where, "'unless' must be a list of substrings")
    prev = raw.get("prev")
    if prev is not None and not (isinstance(prev, str) and prev):
        raise _fail(where, "'prev' must be a non-empty substring")
    prev_exact = raw.get("prev_exact", False)
    if not isinstance(prev_exact, bool) or (prev_exact and prev is None):
        raise _fail(where, "'prev_exact' is true or false, and needs 'prev'")
    unless_regex = None
    if raw.get("unless_regex") is not None:
        veto = raw["unless_regex"]
        if not isinstance(veto, str) or not veto or NESTED_QUANTIFIER_RE.search(veto):
            raise _fail(where, "'unless_regex' must be a non-empty regex without nested quantifiers")
        try:
            unless_regex = re.compile(veto)
        except re.error as exc:
            raise _fail(where, f"bad unless_regex {veto!r}: {exc}") from None
    return Pattern(literal, regex, prev, tuple(unless), older, prev_exact, unless_regex)


def _fix(raw: Any, where: str, shared: dict[str, Any] | None = None) -> FixTemplate:
    if isinstance(raw, dict) and set(raw) == {"use"}:
        # A fix kept once under the main file's `shared_fixes` (the WSL2 steps), used by several signatures.
        if not shared or raw["use"] not in shared:
            raise _fail(where, f"'use' names no shared fix: {raw['use']!r}")
        raw = shared[raw["use"]]
    if not isinstance(raw, dict) or not isinstance(raw.get("summary"), str) or not raw["summary"]:
        raise _fail(where, "a fix needs a 'summary'")
    commands = raw.get("commands") or []
    if not isinstance(commands, list) or not all(isinstance(c, str) and c for c in commands):
        raise _fail(where, "'commands' must be a list of non-empty strings")
    when = raw.get("when") or {}
    if not isinstance(when, dict) or set(when) - WHEN_KEYS:
        raise _fail(where, f"'when' keys must be among {sorted(WHEN_KEYS)}")
    links = raw.get("links") or []
    if not isinstance(links, list) or not all(isinstance(u, str) and u.startswith("https://") for u in links):
        raise _fail(where, "'links' must list https:// pages")
    return FixTemplate(raw["summary"], tuple(commands), dict(when), tuple(links))


def parse_knowledge(data: Any, path: str = "<signatures>") -> Knowledge:
    """Validate the parsed YAML and build the knowledge records; raise KnowledgeError."""
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise _fail(path, "expected a mapping with schema_version: 1")
    sigs: list[Signature] = []
    seen: set[str] = set()
    shared = data.get("shared_fixes") or {}
    if not isinstance(shared, dict):
        raise _fail(path, "'shared_fixes' must map names to fixes")
    for i, raw in enumerate(data.get("signatures") or []):
        sid = raw.get("id") if isinstance(raw, dict) else None
        where = f"{path}: signatures[{sid or i}]"
        if not isinstance(sid, str) or not ID_RE.match(sid):
            raise _fail(where, "'id' must be kebab-case")
        if sid in seen:
            raise _fail(where, "duplicate id")
        seen.add(sid)
        role = raw.get("role")
        if role not in ROLES:
            raise _fail(where, f"'role' must be one of {ROLES}")
        if role == "noise":
            severity = Severity.INFO
            if not str(raw.get("summary", "")).startswith("Harmless"):
                raise _fail(where, "a noise summary starts with 'Harmless'")
        else:
            try:
                severity = Severity(raw.get("severity"))
            except ValueError:
                raise _fail(where, "'severity' must be error, warning or info") from None
        patterns = tuple(_pattern(p, f"{where}.patterns[{j}]") for j, p in enumerate(raw.get("patterns") or []))
        if not patterns:
            raise _fail(where, "no patterns")
        fixes = tuple(_fix(f, f"{where}.fixes[{j}]", shared) for j, f in enumerate(raw.get("fixes") or []))
        threads = tuple(str(t) for t in raw.get("threads") or [])
        if not threads or not all(t.startswith("https://") for t in threads):
            raise _fail(where, "'threads' must list the public https:// places it was seen")
        if not isinstance(raw.get("summary"), str) or not raw["summary"]:
            raise _fail(where, "missing 'summary'")
        requires = raw.get("requires")
        if requires is not None and requires not in REQUIRES_RULES:
            raise _fail(where, f"'requires' must be one of {list(REQUIRES_RULES)}")
        klass = raw.get("class", "noise" if role == "noise" else "linux-libraries")
        if klass not in FAILURE_CLASSES:
            raise _fail(where, f"'class' must be one of {list(FAILURE_CLASSES)}")
        sigs.append(Signature(
            id=sid, role=role, severity=severity, summary=raw["summary"],
            detail=" ".join(str(raw.get("detail", "")).split()), patterns=patterns, fixes=fixes,
            threads=threads, follows=tuple(raw.get("follows") or ()),
            implies={str(k): str(v) for k, v in (raw.get("implies") or {}).items()},
            failure_class=klass, requires=requires,
        ))
    for sig in sigs:
        for dep in sig.follows:
            if dep not in seen:
                raise _fail(f"{path}: signatures[{sig.id}]", f"'follows' names unknown id {dep!r}")
    facts = []
    for i, raw in enumerate(data.get("facts") or []):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{path}: facts[{name or i}]"
        if not isinstance(name, str):
            raise _fail(where, "missing 'name'")
        raw_pats = raw.get("patterns") or []
        pats = tuple(_pattern(p, f"{where}.patterns[{j}]") for j, p in enumerate(raw_pats))
        consts = tuple(str(p["value"]) if isinstance(p, dict) and p.get("value") is not None else None
                       for p in raw_pats)
        for p, const in zip(pats, consts):
            groups = p.regex.groupindex if p.regex is not None else {}
            split = f"{name}_major" in groups and f"{name}_minor" in groups
            if const is None and name not in groups and not split:
                raise _fail(where, f"a fact pattern needs a 'value', a regex with the group (?P<{name}>...), "
                                   f"or the groups {name}_major and {name}_minor (joined with a dot)")
        facts.append(FactRule(name, pats, consts))
    libs = []
    for i, raw in enumerate(data.get("libraries") or []):
        if not isinstance(raw, dict) or not raw.get("prefix") or not raw.get("what"):
            raise _fail(f"{path}: libraries[{i}]", "needs 'prefix' and 'what'")
        if raw.get("pip"):
            _check_requirement(str(raw["pip"]), f"{path}: libraries[{raw['prefix']}]")
        wheel = raw.get("wheel")
        if wheel is not None and not (isinstance(wheel, str) and re.match(r"^nvidia-[a-z0-9-]+[a-z]$", wheel)):
            raise _fail(f"{path}: libraries[{raw['prefix']}]", "'wheel' is an NVIDIA wheel family without -cuXX")
        libs.append(LibraryInfo(str(raw["prefix"]), str(raw["what"]), raw.get("cuda"), raw.get("pip"),
                                bool(raw.get("windows", False)), wheel))
    codes = {}
    for name, raw in (data.get("cuinit_codes") or {}).items():
        if not isinstance(raw, dict) or not isinstance(raw.get("number"), int) or not raw.get("meaning"):
            raise _fail(f"{path}: cuinit_codes[{name}]", "needs 'number' and 'meaning'")
        codes[str(name)] = CuInitCode(str(name), raw["number"], str(raw["meaning"]))
    wrappers = data.get("error_wrappers") or []
    if not isinstance(wrappers, list) or not all(isinstance(w, str) and w for w in wrappers):
        raise _fail(f"{path}: error_wrappers", "must be a list of non-empty substrings")
    conda: dict[str, dict[str, tuple[str, ...]]] = {}
    for i, raw in enumerate(data.get("conda_packages") or []):
        ok = (isinstance(raw, dict) and all(isinstance(raw.get(k), str) and raw[k] for k in ("channel", "name"))
              and str(raw.get("source", "")).startswith("https://") and isinstance(raw.get("versions"), list)
              and raw["versions"] and all(isinstance(v, str) for v in raw["versions"]))
        if not ok:
            raise _fail(f"{path}: conda_packages[{i}]", "needs 'channel', 'name', an https:// 'source' and 'versions'")
        conda.setdefault(raw["channel"], {})[raw["name"]] = tuple(raw["versions"])
    return Knowledge(tuple(sigs), tuple(facts), tuple(libs), codes, path, tuple(wrappers), conda)


def load_knowledge(path: str | None = None) -> Knowledge:
    """Load the shipped signature file (or `path`), validated; cached per path."""
    from tfgpu.knowledge import SIGNATURES_PATH

    return _load_cached(str(Path(path).resolve()) if path else str(SIGNATURES_PATH))


#: The lists a signature pack may add to (a pack holds one class of failure: its facts, signatures
#: and library names), merged in file-name order after the main file's.
PACK_KEYS = ("facts", "signatures", "libraries", "error_wrappers")


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc}") from None


def _parse_yaml(path: str, content: bytes) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(content.decode("utf-8"), Loader=loader)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KnowledgeError(f"{path}: cannot read: {exc}") from None


def merge_packs(data: Any, packs: list[tuple[str, Any]]) -> Any:
    """The main file's data with each pack's lists appended (a pack may hold only PACK_KEYS)."""
    if not isinstance(data, dict):
        return data
    merged = dict(data)
    for pack_path, pack in packs:
        if not isinstance(pack, dict) or set(pack) - set(PACK_KEYS):
            raise _fail(pack_path, f"a signature pack holds only {list(PACK_KEYS)}")
        for key in PACK_KEYS:
            extra = pack.get(key) or []
            if not isinstance(extra, list):
                raise _fail(f"{pack_path}: {key}", "must be a list")
            merged[key] = list(merged.get(key) or []) + extra
    return merged


#: The knowledge cache's tag (first line of a cache file) and format (part of its key).
_CACHE_TAG = "tfgpu-knowledge-cache"
_CACHE_FORMAT = "knowledge|1"


@lru_cache(maxsize=4)
def _load_cached(path: str) -> Knowledge:
    """The main file and its packs, parsed (from the parsed-YAML cache where the files are unchanged:
    a warm run imports no YAML), then merged and validated every time."""
    from tfgpu.yamlcache import load_yaml_cached

    pack_dir = Path(path).with_suffix(".d")
    names = [path] + ([str(p) for p in sorted(pack_dir.glob("*.yaml"))] if pack_dir.is_dir() else [])
    files = [(name, _read_bytes(name)) for name in names]

    def check(parsed: list[Any]) -> Knowledge:
        return parse_knowledge(merge_packs(parsed[0], list(zip(names[1:], parsed[1:]))), path)

    return load_yaml_cached(files, _parse_yaml, check, prefix="knowledge", tag=_CACHE_TAG, fmt=_CACHE_FORMAT,
                            errors=(KnowledgeError,))
