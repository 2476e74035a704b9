"""From scan results to a Report: findings with evidence and fixes, matrix cross-checks, the verdict. Pure."""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any, Iterable

from packaging.version import Version

from tfgpu.explain.knowledge import FixTemplate, Knowledge, Signature
from tfgpu.explain.scan import ScanResult, SignatureHits
from tfgpu.explain.sonames import candidate_rows, cuda_text, known_soname, linux_soname, resolve, span, wheel_for
from tfgpu.fixes import checked_fixes, install_tf, tf_requirement
from tfgpu.model import Area, Finding, Fix, Report, Severity, Verdict, VerdictStatus
from tfgpu.records import dataclass
from tfgpu.rules import (
    CCFit,
    CCSupport,
    DriverVerdict,
    built_cudnn,
    cc_support,
    cudnn_problem,
    driver_floor,
    driver_minor_compat_text,
    driver_too_old_text,
    judge_driver,
    last_tf_for_cc,
    machine_os,
    ptx_jit_needs_driver_text,
    toolkit_gap,
    toolkit_gap_text,
    windows_gpu_last,
)
from tfgpu.versions import cc_pair, cudnn_from_number, numeric_key, pep440

CHECK = "explain"
#: Findings read from TensorFlow's own log belong where the doctor puts that log: its live check.
LOG_AREA = Area.LIVE.value
#: The area of each matrix cross-check, as the doctor's check for the same rule has it.
RULE_AREAS = {"driver-too-old": Area.DRIVER.value, "driver-minor-compat": Area.DRIVER.value,
              "gpu-ptx-jit": Area.GPU.value, "gpu-cc-unsupported": Area.GPU.value,
              "cudnn-version-mismatch": Area.LIBRARIES.value}
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
_ROLE_ORDER = {"cause": 0, "consequence": 1, "unrecognized": 2, "noise": 3}


@dataclass(frozen=True)
class LogFacts:
    """What the log itself said about the machine (each value as printed, first seen first)."""

    source: str
    lines_read: int
    values: dict[str, list[str]] = field(default_factory=dict)
    #: Which kind of report explain decided (FAILURE_CLASSES) and the log lines that decided it:
    #: {"class": str | None, "why": str, "decided_by": [{"line", "text"}], "notes": [str]}.
    decision: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Context:
    """Values that shape fixes: platform, TensorFlow version, CUDA major, and the releases the log
    can come from (the log's own release, else those whose libraries match the log's)."""

    platform: str | None
    tf_version: str | None
    tf_min: str | None
    cuda_major: str | None
    tf_row: Any | None
    matrix: Any | None = None
    #: matrix rows the log can come from; None where nothing in the log narrows them.
    candidates: list[Any] | None = None
    #: the one CUDA release the log's TensorFlow was built with, where that is known.
    cuda: str | None = None
    conda: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    #: The newest release that still runs on every GPU the log shows, where the newest release
    #: does not (a K40c, compute capability 3.5): fixes pin it instead of an unpinned install.
    cc_last: str | None = None
    #: python_pair's answers, per (Python, series): the same for every finding of a log.
    pairs: dict[tuple[str | None, str | None], str | None] = field(default_factory=dict)


def _first(values: dict[str, list[str]], name: str) -> str | None:
    got = values.get(name)
    return got[0] if got else None


def _shell_requirement(req: str) -> str:
    """A pip requirement as one shell word: quoted when it carries a version specifier."""
    return f"'{req}'" if re.search(r"[<>=!~*,;\s]", req) else req


def cudnn_wheel(major: int, cuda_major: str) -> str:
    """The nvidia-cudnn wheel requirement for cuDNN `major`, bounded below the next major.

    nvidia-cudnn-cu11 and -cu12 moved from cuDNN 8 to 9 under the same name (their newest releases
    ship libcudnn.so.9), so an unbounded requirement installs the wrong major."""
    return f"nvidia-cudnn-cu{cuda_major}>={major},<{major + 1}"


def _cudnn_major(text: str | None) -> tuple[int, str] | None:
    """'8.1.0' / '8600' / '90300' / '9' → (major, dotted version); None if unreadable."""
    if not text:
        return None
    version = cudnn_from_number(text) if text.isdigit() and len(text) >= 4 else text
    if not version or not re.match(r"^\d+(?:\.\d+){0,3}$", version):
        return None
    return int(version.split(".")[0]), version


def cudnn_fix_values(compiled: str | None, cuda_major: str | None) -> dict[str, str]:
    """{cudnn_cuda}, {cudnn_at_least}, {cudnn_next_major} for a cuDNN the build was compiled with.

    Empty for cuDNN 7 and older (no pip wheels). Without a CUDA major from the log: cuDNN 8 before
    8.9 was only built into CUDA 11 TensorFlow, 8.9 and 9 into CUDA 12."""
    got = _cudnn_major(compiled)
    if got is None or got[0] < 8:
        return {}
    major, version = got
    cuda = cuda_major or ("11" if major == 8 and (pep440(version) or Version("8")) < Version("8.9") else "12")
    return {"cudnn_cuda": cuda, "cudnn_at_least": version, "cudnn_next_major": str(major + 1)}


def _log_sonames(scan: ScanResult) -> list[str]:
    """Every library name the log shows, failed or opened."""
    names: list[str] = []
    for sig_id in ("cuda-lib-missing", "cudnn-missing"):
        hits = scan.hits.get(sig_id)
        names += hits.values.get("soname", []) if hits else []
    # A Windows DLL name stands for a Linux soname of the same CUDA (sonames.linux_soname).
    names = [linux_soname(n) or n if n.endswith(".dll") else n for n in names]
    return names + list(scan.facts.get("loaded_soname", []))


def _context(scan: ScanResult, knowledge: Knowledge, matrix: Any | None) -> _Context:
    facts = scan.facts
    platform = "windows" if facts.get("platform") else None
    for name in ("cuda-lib-missing", "cudnn-missing"):
        hits = scan.hits.get(name)
        if hits and any(getattr(knowledge.library(s), "windows", False) for s in hits.values.get("soname", [])):
            platform = "windows"
    tf_version = _first(facts, "tf_version")
    tf_min = None
    for sig_id in scan.hits:
        sig = knowledge.signature(sig_id)
        if sig and "tf_at_least" in sig.implies:
            tf_min = sig.implies["tf_at_least"]
    tf_row = None
    if matrix is not None and tf_version:
        try:
            tf_row = matrix.tf_row(tf_version)
        except Exception:  # a partial matrix must not break explain
            tf_row = None
    candidates: list[Any] | None = None
    if tf_row is not None:
        candidates = [tf_row]
    elif matrix is not None and getattr(matrix, "tensorflow", None):
        sonames = [s for s in _log_sonames(scan) if known_soname(matrix, s)]
        eras = list(facts.get("tf_era", [])) + ([f">={tf_min}"] if tf_min else [])
        if platform == "windows":
            # Native Windows loads CUDA DLLs only up to its last GPU release (rules.windows_gpu_last).
            last = windows_gpu_last(matrix).split(".")
            if len(last) >= 2 and last[1].isdigit():
                eras.append(f"<{last[0]}.{int(last[1]) + 1}")
        if sonames or eras:
            candidates = candidate_rows(matrix, sonames, eras)
        # "source was compiled with: 8.1.0": only releases built with that cuDNN major.
        mismatch = scan.hits.get("cudnn-version-mismatch")
        compiled = mismatch.values.get("compiled") if mismatch else None
        built = _cudnn_major(compiled[0]) if compiled else None
        if built is not None:
            pool = candidates if candidates is not None else list(matrix.tensorflow)
            same = [r for r in pool if str(getattr(r, "cudnn", "") or "").split(".")[0] == str(built[0])]
            candidates = same or candidates
    cudas = list(dict.fromkeys(str(r.cuda) for r in candidates or () if getattr(r, "cuda", None)))
    majors = list(dict.fromkeys(c.split(".")[0] for c in cudas))
    cuda_major = None
    if tf_row is not None and getattr(tf_row, "cuda", None):
        cuda_major = str(tf_row.cuda).split(".")[0]
    elif cuda_seen := _first(facts, "cuda_version"):
        cuda_major = cuda_seen.split(".")[0]
    elif len(majors) == 1:
        cuda_major = majors[0]
    else:
        hits = scan.hits.get("cuda-lib-missing")
        for soname in (hits.values.get("soname", []) if hits else []):
            lib = knowledge.library(soname)
            if lib and lib.cuda and lib.pip:
                cuda_major = lib.cuda
                break
    return _Context(platform, tf_version, tf_min, cuda_major, tf_row, matrix, candidates,
                    cudas[0] if len(cudas) == 1 else None, knowledge.conda, _cc_last(facts, matrix))


def _cc_last(facts: dict[str, list[str]], matrix: Any | None) -> str | None:
    """The newest release that runs on every GPU in the log, when the newest release does not
    (rules.last_tf_for_cc); None when the newest release serves them all or nothing is known."""
    if matrix is None or not facts.get("compute_capability"):
        return None
    last: str | None = None
    try:
        newest = matrix.tf_rows_newest_first()[0]
        for text in facts["compute_capability"]:
            cc = cc_pair(text)
            if cc is None:
                continue
            fit = cc_support(cc, tuple(newest.compute_capabilities or ()))
            if fit.runs and not (newest.cuda and toolkit_gap(matrix, newest.cuda, cc)):
                continue
            got = last_tf_for_cc(matrix, cc)
            if got is None:
                continue
            release = str(got[0].release)
            if last is None or (pep440(release) or Version("0")) < (pep440(last) or Version("0")):
                last = release
    except (AttributeError, IndexError, TypeError, ValueError):  # a partial matrix must not break explain
        return None
    return last


def _library_values(sonames: list[str], knowledge: Knowledge, ctx: _Context) -> dict[str, str]:
    """Derived placeholders for library findings, each name resolved through the matrix rows
    (tfgpu.explain.sonames): the pip wheels that ship the names, the CUDA toolkit whose names no
    wheel ships, or, where the log fits several CUDA releases, the releases each name belongs to."""
    packages: list[str] = []
    old: list[str] = []
    ambiguous: list[str] = []
    matrix = ctx.matrix
    dlls: list[tuple[str, str]] = []
    for soname in sonames:
        lib = knowledge.library(soname)
        if lib is not None and lib.windows:
            # Resolved as the Linux name it stands for: its CUDA, for the text; no pip wheel (Windows).
            linux = linux_soname(soname)
            if matrix is not None and linux and known_soname(matrix, linux):
                use = resolve(matrix, linux, ctx.candidates)
                text = (f"CUDA {span(use.cudas)}, TensorFlow {span(use.series)}" if len(use.cuda_majors) == 1
                        else cuda_text(use, matrix))
                dlls.append((soname, text))
            continue
        if lib is None:
            continue
        if matrix is not None and known_soname(matrix, soname):
            use = resolve(matrix, soname, ctx.candidates)
            if len(use.cuda_majors) != 1:
                ambiguous.append(f"{soname} is {cuda_text(use, matrix)}")
                continue
            wheel = wheel_for(matrix, soname, use.cuda_majors[0], lib.wheel)
            if wheel:
                packages.append(_shell_requirement(wheel))
            elif len(use.cudas) == 1:
                old.append(use.cudas[0])
            else:
                ambiguous.append(f"{soname} is {cuda_text(use, matrix)}")
        elif lib.pip:
            packages.append(_shell_requirement(lib.pip))
        elif lib.cuda:
            old.append(lib.cuda)
    out = {}
    if packages:
        out["packages"] = " ".join(dict.fromkeys(packages))
    if old:
        out["old_cuda"] = max(set(old), key=lambda v: pep440(v) or Version("0"))
    if ambiguous:
        out["soname_cudas"] = "; ".join(ambiguous)
    if dlls:
        texts = list(dict.fromkeys(text for _name, text in dlls))
        out["dll_cuda"] = texts[0] if len(texts) == 1 else "; ".join(f"{n}: {t}" for n, t in dlls)
    return out


def _tf_and_cuda(ctx: _Context) -> str | None:
    """The `tensorflow[and-cuda]` requirement for the log's release, where it has that extra: the
    release's series, or the newest when the log fits a release of any series that has it."""
    if ctx.tf_row is not None:
        return tf_requirement(ctx.tf_version) if getattr(ctx.tf_row, "and_cuda", ()) else None
    if ctx.cc_last is not None:
        # The newest release no longer runs on this GPU: pin the last one that does, where it has the extra.
        row = ctx.matrix.tf_row(ctx.cc_last) if ctx.matrix is not None else None
        return tf_requirement(ctx.cc_last) if row is not None and bool(getattr(row, "and_cuda", ())) else None
    if ctx.candidates is not None and not any(getattr(r, "and_cuda", ()) for r in ctx.candidates):
        return None
    return tf_requirement()


def _log_cuda_text(ctx: _Context) -> str | None:
    """'CUDA 11.0, TensorFlow 2.4': the one CUDA release the log's TensorFlow was built with."""
    if ctx.cuda is None or not ctx.candidates:
        return None
    series = [str(r.series) for r in ctx.candidates]
    return f"CUDA {ctx.cuda}, TensorFlow {span(series)}"


def _py_key(py: str) -> tuple[int, ...]:
    return numeric_key(py)[:2]


def _requested_series(values: dict[str, list[str]], ctx: _Context) -> str | None:
    """The TensorFlow series the log asks for: a pinned requirement ("tensorflow-gpu==2.11",
    "tensorflow==2.12.0"), else the log's own release."""
    for req in values.get("requirement", []) + values.get("requested", []):
        m = re.search(r"==\s*(\d+\.\d+)", req)
        if m:
            return m.group(1)
    return ".".join(ctx.tf_version.split(".")[:2]) if ctx.tf_version else None


def python_pair(python: str | None, series: str | None, matrix: Any | None) -> str | None:
    """The Python/TensorFlow pair that works, from the matrix's per-release wheel tags (Linux x86_64
    wheels; the Windows and macOS wheels of a release cover the same Python versions):
    "Python 3.12: tensorflow 2.16.1 or newer; for TensorFlow 2.12: Python 3.8-3.11"."""
    if matrix is None or not hasattr(matrix, "tf_rows_newest_first"):
        return None
    try:
        rows = matrix.tf_rows_newest_first()
        parts = []
        py = ".".join(str(p) for p in _py_key(python)) if python and len(_py_key(python)) == 2 else None
        if py is not None:
            # The newest release with a wheel for this Python (matrix.newest_release_for_python) ...
            last = next((rel for row in rows if (rel := matrix.newest_release_for_python(row.series, py))), None)
            # ... and the oldest.
            first = next((rel for row in reversed(rows) for rel in row.releases
                          if py in (row.python_for(rel) or ())), None)
            newest = rows[0]
            if last is None:
                pys = sorted(newest.pythons(), key=_py_key)
                if pys and _py_key(py) > _py_key(pys[-1]):
                    parts.append(f"Python {py}: no TensorFlow release has a wheel for it yet (the newest, "
                                 f"{newest.release}, has wheels for Python {span(pys)})")
                else:
                    parts.append(f"Python {py}: no TensorFlow release in the matrix has a wheel for it")
            elif str(last) in newest.releases:
                parts.append(f"Python {py}: tensorflow {first} or newer")
            elif first is not None and first in rows[-1].releases:
                # The matrix starts at its oldest series: older releases may have wheels for it too.
                parts.append(f"Python {py}: tensorflow {last} or older (the last release with a wheel for it)")
            else:
                parts.append(f"Python {py}: tensorflow {first} to {last} (the last release with a wheel for it)")
        row = matrix.tf_row(series) if series else None
        if row is not None and row.pythons():
            pys = sorted(row.pythons(), key=_py_key)
            parts.append(f"for TensorFlow {row.series}: Python {span(pys)}")
        return "; ".join(parts) or None
    except (AttributeError, TypeError, ValueError):  # a partial matrix must not break explain
        return None


def _values_for(sig: Signature, hits: SignatureHits, scan: ScanResult, knowledge: Knowledge,
                ctx: _Context) -> dict[str, list[str]]:
    """Captured values plus the ones derived for this signature's templates."""
    values = {k: list(v) for k, v in hits.values.items()}
    derived: dict[str, str] = {}
    if ctx.tf_version:
        derived["tf_series"] = ".".join(ctx.tf_version.split(".")[:2])
    elif ctx.tf_min:
        derived["tf_series"] = ctx.tf_min
    if ctx.tf_version is None and ctx.cc_last is not None:
        last_row = ctx.matrix.tf_row(ctx.cc_last) if ctx.matrix is not None else None
        derived["tf_requirement"] = tf_requirement(ctx.cc_last, and_cuda=bool(getattr(last_row, "and_cuda", ())))
    else:
        derived["tf_requirement"] = tf_requirement(
            ctx.tf_version, and_cuda=ctx.tf_row is None or bool(getattr(ctx.tf_row, "and_cuda", ())))
    if (and_cuda := _tf_and_cuda(ctx)) is not None:
        derived["tf_and_cuda"] = and_cuda
    if ctx.cuda_major:
        derived["cuda_major"] = ctx.cuda_major
    if ctx.cuda_major is None or int(ctx.cuda_major) >= 11:
        # The CUDA compiler wheel of the build's CUDA major (none before CUDA 11).
        derived["nvcc_cuda"] = ctx.cuda_major or "12"
    if (log_cuda := _log_cuda_text(ctx)) is not None:
        derived["log_cuda"] = log_cuda
    sonames = values.get("soname", [])
    if sonames:
        derived.update(_library_values(sonames, knowledge, ctx))
        if "dll_cuda" in derived and "log_cuda" not in derived:
            # Windows DLL names: their CUDA and releases, read through the Linux names they stand for.
            derived["log_cuda"] = derived["dll_cuda"]
        derived["plural_y_ies"] = "y" if len(sonames) == 1 else "ies"
    elif sig.id == "cudnn-missing" and ctx.cuda_major:
        # No soname: the cuDNN major comes from the build (matrix), else CUDA 11 means cuDNN 8.
        built = _cudnn_major(str(getattr(ctx.tf_row, "cudnn", "") or "")) if ctx.tf_row is not None else None
        major = built[0] if built else (8 if ctx.cuda_major == "11" else None)
        if major is not None and major >= 8:
            derived["packages"] = _shell_requirement(cudnn_wheel(major, ctx.cuda_major))
    if sig.id == "cudnn-version-mismatch":
        derived.update(cudnn_fix_values(_first(values, "compiled"), ctx.cuda_major))
    if "code" in values:
        codes = []
        meanings = []
        for raw in values["code"]:
            rec = knowledge.cuinit_code(raw)
            codes.append(f"{rec.name} ({rec.number})" if rec else raw)
            if rec:
                meanings.append(rec.meaning)
        derived["code_display"] = ", ".join(codes)
        derived["cuinit_meaning"] = meanings[0] if meanings else "see the lines after it for the reason"
        values["code_name"] = [getattr(knowledge.cuinit_code(c), "name", c) for c in values["code"]]
    shown = [f"kernel module {values['kernel'][0]}" if "kernel" in values else "",
             f"library {values['dso'][0]}" if "dso" in values else ""]
    if any(shown):
        derived["versions"] = ", ".join(t for t in shown if t)
    if "cc" not in values and scan.facts.get("compute_capability"):
        values["cc"] = list(scan.facts["compute_capability"])
    # What the log says elsewhere (the platform, a conda env, a container, the Python) shapes fixes too:
    # facts fill the names a signature did not capture itself.
    for name, got in scan.facts.items():
        values.setdefault(name, list(got))
    key = (_first(scan.facts, "python_version"), _requested_series(values, ctx))
    if key not in ctx.pairs:
        ctx.pairs[key] = python_pair(key[0], key[1], ctx.matrix) if any(key) else None
    pair = ctx.pairs[key]
    if pair:
        derived["python_pair"] = pair
    out = {k: v for k, v in values.items()}
    for k, v in derived.items():
        out[k] = [v]
    return out


def _fill(template: str, values: dict[str, list[str]], strict: bool) -> str | None:
    """Fill {name}, {name_list} and {name_suffix}; a missing value drops the text when strict."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        for tail, fmt in (("_list", lambda v: ", ".join(v)), ("_suffix", lambda v: f" ({', '.join(v)})")):
            if name.endswith(tail):
                got = values.get(name[: -len(tail)])
                return fmt(got) if got else ""
        got = values.get(name)
        if not got:
            missing = True
            return ""
        return got[0]

    text = _PLACEHOLDER_RE.sub(sub, template)
    if missing and strict:
        return None
    return text


def _fix_applies(when: dict[str, Any], values: dict[str, list[str]], ctx: _Context) -> bool:
    platform = when.get("platform")
    if platform == "windows" and ctx.platform != "windows":
        return False
    if platform == "linux" and ctx.platform == "windows":
        return False
    tfv = pep440(ctx.tf_version)
    if "tf_below" in when and tfv is not None and not tfv < Version(str(when["tf_below"])):
        return False
    if "tf_at_least" in when and tfv is not None and not tfv >= Version(str(when["tf_at_least"])):
        return False
    if "value" in when and not values.get(str(when["value"])):
        return False
    if "missing" in when and values.get(str(when["missing"])):
        return False
    if "code_in" in when and not set(when["code_in"]) & set(values.get("code_name", [])):
        return False
    return True


_UNPINNED_AND_CUDA = "'tensorflow[and-cuda]'"


def _pin_for_gpu(command: str, ctx: _Context) -> str | None:
    """An unpinned `tensorflow[and-cuda]` install where the newest release no longer runs on the
    log's GPU: the last release that does, or no command when that release has no such extra."""
    if ctx.cc_last is None or _UNPINNED_AND_CUDA not in command:
        return command
    pinned = _tf_and_cuda(ctx)
    return command.replace(_UNPINNED_AND_CUDA, f"'{pinned}'") if pinned else None


def _fixes(templates: Iterable[FixTemplate], values: dict[str, list[str]], ctx: _Context) -> tuple[Fix, ...]:
    fixes = []
    for tpl in templates:
        if not _fix_applies(tpl.when, values, ctx):
            continue
        filled = (_fill(cmd, values, strict=True) for cmd in tpl.commands)
        commands = tuple(c for c in (_pin_for_gpu(c, ctx) if c else None for c in filled) if c)
        if tpl.commands and not commands:
            continue
        fixes.append(Fix(_fill(tpl.summary, values, strict=False) or tpl.summary, commands, tpl.links))
    # Nothing is offered that the matrix says cannot work (tfgpu.fixes.command_problems).
    return checked_fixes(fixes, ctx.matrix, tf_version=ctx.tf_version if ctx.tf_row is not None else None,
                         cuda=ctx.cuda, conda=ctx.conda)


def _evidence(sig: Signature, hits: SignatureHits, values: dict[str, list[str]]) -> dict[str, Any]:
    captured = {k: v for k, v in values.items() if k in hits.values}
    return {
        "role": sig.role,
        "matches": hits.count,
        "lines": [{"line": e.line, "text": e.text} for e in hits.lines],
        "values": captured,
        "threads": list(sig.threads),
    }


def _finding_for(sig: Signature, hits: SignatureHits, scan: ScanResult, knowledge: Knowledge,
                 ctx: _Context) -> Finding:
    values = _values_for(sig, hits, scan, knowledge, ctx)
    summary = _fill(sig.summary, values, strict=False) or sig.summary
    evidence = _evidence(sig, hits, values)
    if sig.follows:
        evidence["follows_from"] = [d for d in sig.follows if d in scan.hits]
    return Finding(sig.id, CHECK, sig.severity, summary, sig.detail, evidence, _fixes(sig.fixes, values, ctx),
                   LOG_AREA)


# --- cross-checks against the compatibility matrix -----------------------------------------------
#
# The rules are the doctor's own functions (tfgpu.checks.driver, tfgpu.checks.libraries,
# tfgpu.rules.cc_support), applied to fact records built from what the log showed, so that the
# doctor and explain reach the same verdict on the same facts.


def _matrix_findings(scan: ScanResult, knowledge: Knowledge, ctx: _Context, matrix: Any | None) -> list[Finding]:
    """Versions in the log checked against the matrix with the doctor's rules (`tfgpu.rules`): driver vs
    TensorFlow's CUDA (PTX JIT included), cuDNN version, compute capability."""
    out: list[Finding] = []
    facts = scan.facts
    row = ctx.tf_row
    tf_label = f"TensorFlow {ctx.tf_version}" if ctx.tf_version else "this TensorFlow"
    cuda = (str(row.cuda) if row is not None and getattr(row, "cuda", None) else None) or _first(facts, "cuda_version")
    os_name = machine_os("win32" if ctx.platform == "windows" else "linux",
                         _first(facts, "wsl") if ctx.platform != "windows" else None)

    def sig_finding(sig_id: str, summary: str, evidence: dict[str, Any], fact: str,
                    severity: Severity | None = None, fixes_of: str | None = None, detail: str | None = None) -> Finding:
        sig = knowledge.signature(sig_id)
        fix_sig = knowledge.signature(fixes_of) if fixes_of else sig
        line = scan.fact_lines.get(fact)
        ev = {"role": "cause", "matches": 1 if line else 0,
              "lines": [{"line": line.line, "text": line.text}] if line else [], "values": evidence,
              "source": "matrix", "threads": list(getattr(sig or fix_sig, "threads", ()))}
        values = {k: [str(v)] for k, v in evidence.items() if v is not None}
        if sig_id == "cudnn-version-mismatch":
            values.update({k: [v] for k, v in cudnn_fix_values(evidence.get("compiled"), ctx.cuda_major).items()})
        fixes = _fixes(fix_sig.fixes, values, ctx) if fix_sig else ()
        if detail is None:
            detail = sig.detail if sig else ""
        if severity is None:
            severity = sig.severity if sig else Severity.ERROR
        return Finding(sig_id, CHECK, severity, summary, detail, ev, fixes, RULE_AREAS.get(sig_id, LOG_AREA))

    # Compute capability: the doctor's gpu-compute-capability rule (rules.cc_support).
    supports: list[tuple[str, CCFit]] = []
    built_ccs = tuple(getattr(row, "compute_capabilities", None) or ()) if row is not None else ()
    if built_ccs:
        for text in facts.get("compute_capability", []):
            cc = cc_pair(text)
            if cc is None:
                continue
            how = cc_support(cc, built_ccs)
            ev = {"cc": text, "build": ", ".join(built_ccs), "tensorflow": ctx.tf_version}
            gap = toolkit_gap(matrix, cuda, cc) if how.runs and matrix is not None and cuda else None
            if gap is not None:
                # The build's toolkit cannot target this GPU: its PTX does not serve it (rules.toolkit_gap).
                supports.append((text, CCFit(CCSupport.NONE)))
                out.append(sig_finding("gpu-cc-unsupported", toolkit_gap_text(gap, tf_label),
                                       {**ev, "first_cuda": gap.first_cuda}, "compute_capability",
                                       detail=gap.failure))
                continue
            supports.append((text, how))
            if how.kind is CCSupport.PTX:
                out.append(sig_finding(
                    "gpu-ptx-jit",
                    f"{tf_label} has no machine code for compute capability {text}: the driver compiles its "
                    f"{how.entry} PTX at start-up (build targets: {ev['build']})", {**ev, "uses": how.entry},
                    "compute_capability"))
            elif how.kind is CCSupport.NONE:
                out.append(sig_finding(
                    "gpu-cc-unsupported",
                    f"{tf_label} has no code for compute capability {text} (build targets: {ev['build']})",
                    ev, "compute_capability"))

    # Driver: the doctor's driver-supports-tf-cuda rule (driver_fit, and PTX JIT needing the toolkit driver).
    driver = _first(facts, "driver_version")
    if matrix is not None and driver and cuda:
        judged = judge_driver(driver, cuda, matrix, os_name.value, supports)
        need = judged.need
        ev = {"driver": driver, "cuda": cuda, "tensorflow": ctx.tf_version, "driver_column": judged.column,
              "toolkit_driver": need.toolkit_min, "minor_compat_driver": need.minor_compat_min,
              "fit": judged.fit.value}
        if judged.verdict is DriverVerdict.TOO_OLD:
            out.append(sig_finding(
                "driver-too-old", driver_too_old_text(driver, need.minor_compat_min, cuda, need.toolkit_min),
                {**ev, "needed": driver_floor(need)}, "driver_version"))
        elif judged.verdict is DriverVerdict.PTX_JIT_TOO_OLD:
            ptx = judged.ptx
            gpus = (f"the GPU{'s' if len(ptx) != 1 else ''} of compute capability "
                    f"{', '.join(text for text, _ in ptx)}")
            out.append(sig_finding(
                "driver-too-old",
                ptx_jit_needs_driver_text(driver, ptx[0][1], gpus, len(ptx), need.toolkit_min or "?", cuda),
                {**ev, "needed": need.toolkit_min, "ptx": ptx[0][1]}, "driver_version",
                detail=(f"{tf_label} has no native kernels for this GPU, only {ptx[0][1]} PTX, which the driver must "
                        "JIT-compile. An older driver can run native code of a newer CUDA minor release, but it "
                        "cannot compile PTX from a newer toolkit: kernels fail with "
                        "CUDA_ERROR_UNSUPPORTED_PTX_VERSION.")))
        elif judged.verdict is DriverVerdict.MINOR_COMPAT:
            out.append(sig_finding(
                "driver-minor-compat",
                driver_minor_compat_text(driver, need.minor_compat_min or "?", cuda, need.toolkit_min or "?"),
                {**ev, "needed": need.toolkit_min}, "driver_version", severity=Severity.WARNING,
                fixes_of="driver-too-old",
                detail=("Native kernels run on this driver through CUDA minor-version compatibility, but code "
                        "JIT-compiled from the newer toolkit's PTX (XLA's kernels, libraries' PTX) can fail with "
                        "CUDA_ERROR_UNSUPPORTED_PTX_VERSION, and some features need the newer driver.")))
    driver_cuda = _first(facts, "driver_cuda")
    if driver_cuda and cuda and not driver:
        dv, cv = pep440(driver_cuda), pep440(cuda)
        if dv is not None and cv is not None and dv.major < cv.major:
            out.append(sig_finding(
                "driver-too-old",
                f"The NVIDIA driver supports CUDA up to {driver_cuda}, but {tf_label} needs CUDA {cuda}",
                {"driver_cuda": driver_cuda, "cuda": cuda, "tensorflow": ctx.tf_version}, "driver_cuda"))

    # cuDNN: the doctor's cudnn-version rule (same major, at least the minor the build was compiled with).
    loaded = _first(facts, "cudnn_loaded")
    version = cudnn_from_number(loaded) if loaded else None
    if row is not None and ctx.tf_version and version:
        built, _source = built_cudnn(matrix, ctx.tf_version, str(row.cudnn) if getattr(row, "cudnn", None) else None)
        problem = cudnn_problem(version, built)
        if problem and built:
            # One id for both cases (another major, an older minor), as the doctor names it.
            out.append(sig_finding(
                "cudnn-version-mismatch",
                f"cuDNN {version} was loaded but {tf_label} was built with cuDNN {built}: {problem}",
                {"loaded": version, "compiled": built, "tensorflow": ctx.tf_version}, "cudnn_loaded"))
    return out


def _windows_finding(scan: ScanResult, ctx: _Context, matrix: Any | None) -> Finding | None:
    """Native Windows with a TensorFlow after 2.10 (or a CPU-only build there) cannot use the GPU.

    A rule over facts rather than a line signature: the platform and the version come from
    different lines (a C:\\ path, the Python banner, a DLL name; the version or a Keras 3 error).
    """
    if ctx.platform != "windows":
        return None
    tfv = pep440(ctx.tf_version) or pep440(ctx.tf_min)
    cpu_only = "tf-cpu-only-build" in scan.hits
    last = windows_gpu_last(matrix)
    if not (cpu_only or (tfv is not None and tfv > Version(last))):
        return None
    line = scan.fact_lines.get("platform")
    shown = ctx.tf_version or (f"{ctx.tf_min}+" if ctx.tf_min else f"after {last}")
    return Finding(
        "windows-native-gpu-unsupported", CHECK, Severity.ERROR,
        f"Native Windows: TensorFlow {shown} has no GPU support here (it ended with {last})",
        f"After {last} the Windows wheels are CPU-only. Use WSL2, where the Linux wheel and the Windows "
        "NVIDIA driver work together.",
        {"role": "cause", "matches": 1, "lines": [{"line": line.line, "text": line.text}] if line else [],
         "values": {"platform": "windows", "tensorflow": ctx.tf_version or ctx.tf_min},
         "threads": ["https://github.com/tensorflow/tensorflow/issues/62080"]},
        (install_tf(None, "win32"),),
        Area.PLATFORM.value,
    )


def _unrecognized_finding(scan: ScanResult) -> Finding | None:
    if not scan.unrecognized:
        return None
    n = scan.unrecognized_count
    return Finding(
        "unrecognized-error", CHECK, Severity.WARNING,
        f"{n} error line{'s' if n != 1 else ''} that tfgpu does not recognise",
        "These lines report errors that match no known signature. They may be a consequence of the "
        "problems above, or something else entirely; `tfgpu doctor` run on the machine checks the "
        "whole setup.",
        {"role": "unrecognized", "matches": n,
         "lines": [{"line": e.line, "text": e.text} for e in scan.unrecognized]},
        (Fix("Run the doctor on the machine that produced this log", ("tfgpu doctor",)),),
        LOG_AREA,
    )


def _order_key(f: Finding) -> tuple[int, int, int]:
    role = f.evidence.get("role", "cause")
    lines = f.evidence.get("lines") or [{"line": 1 << 30}]
    return (_ROLE_ORDER.get(role, 0), -f.severity.rank, lines[0]["line"])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


#: Facts that show TensorFlow found or used a GPU, strongest first.
GPU_FACTS = ("gpu_created", "gpu_listed", "gpu_count", "gpu_visible", "gpu_found")
#: When findings of several classes are in one log, the class that explains the others: the
#: platform or environment first (native Windows explains a missing CUDA DLL), then packages, the
#: driver, the loader, libraries, kernels, and errors while running.
CLASS_PRECEDENCE = ("windows", "macos", "docker", "wsl", "packages", "shared-env", "pip-install", "python-version",
                    "conda", "driver", "loader", "linux-libraries", "kernels", "runtime", "pasted-output", "success")
#: Classes of the findings explain makes from rules rather than from a signature of the same id.
RULE_CLASSES = {"windows-native-gpu-unsupported": "windows", "driver-minor-compat": "driver"}
#: How the facts read from a log are named to the user (never the internal fact names).
FACT_LABELS = {
    "tf_version": "TensorFlow", "driver_version": "NVIDIA driver", "driver_cuda": "driver's newest CUDA",
    "cuda_version": "TensorFlow built with CUDA", "build_cudnn": "TensorFlow built with cuDNN",
    "toolkit_cuda": "nvcc's CUDA toolkit", "cudnn_loaded": "cuDNN loaded", "compute_capability": "compute capability",
    "platform": "platform", "wsl": "WSL", "loaded_soname": "libraries opened",
    "tf_era": "TensorFlow release (from the log's source paths)", "pasted": "pasted output",
    "gpu_memory_mb": "GPU memory given to TensorFlow (MB)", "gpu_listed": "GPUs listed", "gpu_visible": "visible GPUs",
    "gpu_found": "GPUs found", "gpu_count": "GPUs listed", "gpu_created": "GPU device created",
    "python_version": "Python", "container": "container", "conda_env": "conda environment",
}


def fact_label(name: str) -> str:
    """The user's name for a fact; a fact from a pack without a label is spelt out in words."""
    return FACT_LABELS.get(name) or name.replace("_", " ")


#: What each pasted output is, for the one line that says what explain read.
_PASTED_FACTS = ("driver_version", "driver_cuda", "cuda_version", "build_cudnn", "toolkit_cuda", "tf_version")


def _gpu_seen(scan: ScanResult) -> tuple[str, list[str]] | None:
    """(fact, values) of the strongest sign in the log that TensorFlow found or used a GPU."""
    for name in GPU_FACTS:
        got = scan.facts.get(name)
        if got:
            return name, got
    return None


def _gpu_text(scan: ScanResult) -> str:
    seen = _gpu_seen(scan)
    if seen is None:
        return ""
    name, got = seen
    if name == "gpu_created":
        mb = scan.facts.get("gpu_memory_mb")
        memory = f" with {mb[0]} MB of its memory" if mb else ""
        return f"TensorFlow found the GPU and created a device on it ({', '.join(got)}{memory}): the GPU is used"
    if name == "gpu_listed":
        return f"TensorFlow lists the GPU ({', '.join(got)}): it was found and can be used"
    if name == "gpu_count":
        return f"TensorFlow lists {got[0]} GPU{'s' if got[0] != '1' else ''}: they were found and can be used"
    if name == "gpu_visible":
        return f"TensorFlow found the GPU and made it visible (device {', '.join(got)})"
    return f"TensorFlow found the GPU (device {', '.join(got)})"


def _pasted_judgement(scan: ScanResult, ctx: _Context, matrix: Any | None) -> tuple[bool, str] | None:
    """(ok, text) for a driver from a pasted nvidia-smi against TensorFlow's CUDA (from a pasted
    get_build_info, or the release from pip/conda list), with the doctor's rule (rules.judge_driver)."""
    driver = _first(scan.facts, "driver_version")
    cuda = (str(ctx.tf_row.cuda) if ctx.tf_row is not None and getattr(ctx.tf_row, "cuda", None)
            else None) or _first(scan.facts, "cuda_version")
    if matrix is None or not driver or not cuda:
        return None
    os_name = machine_os("win32" if ctx.platform == "windows" else "linux",
                         _first(scan.facts, "wsl") if ctx.platform != "windows" else None)
    try:
        judged = judge_driver(driver, cuda, matrix, os_name.value)
    except (KeyError, ValueError, AttributeError):
        return None
    label = f"TensorFlow {ctx.tf_version}" if ctx.tf_version else "this TensorFlow"
    if judged.verdict is DriverVerdict.OK:
        return True, f"driver {driver} supports the CUDA {cuda} {label} was built with"
    if judged.verdict is DriverVerdict.UNKNOWN:
        return None
    return False, f"driver {driver} and the CUDA {cuda} {label} was built with: see the finding below"


def _newest_tf_for_driver(driver: str, ctx: _Context, matrix: Any | None) -> str | None:
    """The newest TensorFlow release whose CUDA this driver runs (the doctor's rule), for a pasted
    nvidia-smi without TensorFlow's own versions."""
    if matrix is None:
        return None
    os_name = machine_os("win32" if ctx.platform == "windows" else "linux", None)
    try:
        for row in matrix.tf_rows_newest_first():
            if row.cuda and judge_driver(driver, str(row.cuda), matrix, os_name.value).verdict is DriverVerdict.OK:
                return f"TensorFlow {row.series} (CUDA {row.cuda})"
    except (KeyError, ValueError, AttributeError):
        return None
    return None


def _notes(scan: ScanResult) -> list[str]:
    """What pasted outputs say that people misread."""
    notes = []
    driver_cuda = _first(scan.facts, "driver_cuda")
    driver = _first(scan.facts, "driver_version")
    if driver_cuda:
        notes.append(f"nvidia-smi's \"CUDA Version: {driver_cuda}\" is the newest CUDA the driver"
                     f"{' ' + driver if driver else ''} can run, not a CUDA that is installed; TensorFlow uses "
                     "the CUDA it was built with (its pip wheels bring their own libraries).")
    toolkit = _first(scan.facts, "toolkit_cuda")
    if toolkit:
        notes.append(f"nvcc's CUDA {toolkit} is the toolkit installed on the machine; TensorFlow does not use it to "
                     "run (only XLA may use its ptxas), and pip's TensorFlow brings its own CUDA libraries.")
    return notes


def _class_of(f: Finding, knowledge: Knowledge) -> str | None:
    if f.id in RULE_CLASSES:
        return RULE_CLASSES[f.id]
    sig = knowledge.signature(f.id)
    return sig.failure_class if sig is not None else None


def _lines_of(findings: Iterable[Finding], limit: int = 3) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for f in findings:
        for e in f.evidence.get("lines") or []:
            seen.setdefault(int(e["line"]), {"line": int(e["line"]), "text": str(e["text"])})
    return [seen[n] for n in sorted(seen)[:limit]]


def _fact_lines(scan: ScanResult, names: Iterable[str], limit: int = 3) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for name in names:
        e = scan.fact_lines.get(name)
        if e is not None:
            seen.setdefault(e.line, {"line": e.line, "text": e.text})
    return [seen[n] for n in sorted(seen)[:limit]]


def decide_class(findings: list[Finding], scan: ScanResult, knowledge: Knowledge,
                 platform: str | None = None) -> dict[str, Any]:
    """Which kind of report this is (FAILURE_CLASSES), why, and the log lines that decided it.

    The class of the problems' root causes (the one that explains the others, CLASS_PRECEDENCE);
    without a problem: success where TensorFlow found a GPU, pasted-output where the text is
    terminal output explain read facts from, noise where only harmless lines were flagged, and
    None ("not recognised") otherwise."""
    problems = [f for f in findings if f.evidence.get("role") in ("cause", "consequence")
                and f.severity.rank >= Severity.WARNING.rank]
    notes = _notes(scan)
    if problems:
        causes = [f for f in problems if f.evidence.get("role") == "cause"] or problems
        by_class: dict[str, list[Finding]] = {}
        for f in causes:
            by_class.setdefault(_class_of(f, knowledge) or "linux-libraries", []).append(f)
        rank = {c: i for i, c in enumerate(CLASS_PRECEDENCE)}
        klass = min(by_class, key=lambda c: rank.get(c, len(rank)))
        chosen = by_class[klass]
        if platform == "windows" and klass == "linux-libraries":
            # A CUDA DLL that native Windows could not load is a native-Windows report.
            klass = "windows"
        lines = _lines_of(chosen) or _fact_lines(scan, ("platform", "driver_version", "compute_capability",
                                                        "cudnn_loaded", "tf_version"))
        why = f"{klass}: " + "; ".join(dict.fromkeys(f.id for f in chosen))
        return {"class": klass, "why": why, "decided_by": lines, "notes": notes}
    gpu = _gpu_seen(scan)
    if gpu is not None:
        return {"class": "success", "why": "success: " + _gpu_text(scan),
                "decided_by": _fact_lines(scan, GPU_FACTS), "notes": notes}
    if scan.facts.get("pasted") or any(scan.facts.get(n) for n in _PASTED_FACTS):
        what = ", ".join(scan.facts.get("pasted", [])) or "versions"
        return {"class": "pasted-output", "why": f"pasted-output: facts read from {what}",
                "decided_by": _fact_lines(scan, ("pasted",) + _PASTED_FACTS), "notes": notes}
    if scan.unrecognized:
        return {"class": None, "why": "not recognised: error lines that match no known signature",
                "decided_by": [{"line": e.line, "text": e.text} for e in scan.unrecognized[:3]], "notes": notes}
    noise = [f for f in findings if f.evidence.get("role") == "noise"]
    if noise:
        return {"class": "noise", "why": "noise: only lines known to be harmless",
                "decided_by": _lines_of(noise), "notes": notes}
    return {"class": None, "why": "not recognised: nothing in this text matches a known signature or fact",
            "decided_by": [], "notes": notes}


def decide(findings: list[Finding], scan: ScanResult, ctx: _Context | None = None,
           matrix: Any | None = None) -> Verdict:
    """The verdict for a log: not ready on any error, ready on a GPU found and no error, or on a
    pasted driver that the doctor's rule finds fit for TensorFlow's CUDA (predicted)."""
    problems = [f for f in findings if f.evidence.get("role") in ("cause", "consequence")
                and f.severity.rank >= Severity.WARNING.rank]
    errors = [f for f in problems if f.severity is Severity.ERROR]
    noise = [f for f in findings if f.evidence.get("role") == "noise"]
    noise_lines = sum(int(f.evidence.get("matches", 0)) for f in noise)
    unrecognized = next((f for f in findings if f.id == "unrecognized-error"), None)
    gpu = _gpu_seen(scan)
    if problems:
        causes = [f for f in problems if f.evidence.get("role") == "cause"] or problems
        shown = "; ".join(f.summary.rstrip(".") for f in causes[:2])
        more = len(problems) - min(2, len(causes))
        tail = f" (and {_plural(more, 'more finding')})" if more > 0 else ""
        status = VerdictStatus.NOT_READY if errors else (VerdictStatus.READY if gpu else VerdictStatus.UNKNOWN)
        return Verdict(status, f"This log shows {_plural(len(problems), 'problem')}: {shown}{tail}.", False)
    if unrecognized is not None:
        n = int(unrecognized.evidence["matches"])
        lead = f"{_gpu_text(scan)}, but " if gpu else "No known problem in this log, but "
        return Verdict(VerdictStatus.UNKNOWN,
                       f"{lead}{_plural(n, 'error line')} "
                       f"{'is' if n == 1 else 'are'} not recognised; run `tfgpu doctor` on the machine.", False)
    if gpu:
        extra = f"; {_plural(noise_lines, 'flagged line')}, all harmless" if noise_lines else ""
        return Verdict(VerdictStatus.READY,
                       f"{_gpu_text(scan)}. Nothing in this log is wrong: the informational (I) and warning (W) "
                       f"lines around it are harmless{extra}.", False)
    pasted = _pasted_judgement(scan, ctx, matrix) if ctx is not None else None
    if pasted is not None and pasted[0]:
        return Verdict(VerdictStatus.READY,
                       f"From the pasted output: the {pasted[1]} (the doctor's driver rule); nothing pasted here "
                       "is wrong. Run `tfgpu doctor` on the machine to check the libraries as well.", True)
    driver = _first(scan.facts, "driver_version")
    if driver or scan.facts.get("pasted") or any(scan.facts.get(n) for n in _PASTED_FACTS):
        read = "; ".join(f"{fact_label(k)} {', '.join(v)}" for k, v in scan.facts.items() if k in _PASTED_FACTS)
        if "tf.config.list_physical_devices()" in scan.facts.get("pasted", []):
            return Verdict(VerdictStatus.UNKNOWN,
                           "TensorFlow lists no GPU here (only the CPU), and nothing pasted says why: paste the "
                           "output of `import tensorflow` (its log lines say why), or run `tfgpu doctor` on the "
                           "machine.", False)
        newest = _newest_tf_for_driver(driver, ctx, matrix) if driver and ctx is not None else None
        fits = f" This driver runs up to {newest}." if newest else ""
        missing = ("paste `python -c \"import tensorflow as tf; print(tf.sysconfig.get_build_info())\"` too, or run "
                   "`tfgpu doctor` on the machine" if driver else
                   "paste `nvidia-smi` too, or run `tfgpu doctor` on the machine")
        return Verdict(VerdictStatus.UNKNOWN,
                       f"Nothing in this output is wrong ({read or 'no versions'}).{fits} For a verdict, {missing}.",
                       True)
    if noise_lines:
        every = "the 1 flagged line is" if noise_lines == 1 else f"all {noise_lines} flagged lines are"
        return Verdict(VerdictStatus.UNKNOWN, f"Nothing in this log is wrong: {every} harmless.", False)
    return Verdict(VerdictStatus.UNKNOWN,
                   f"Nothing in this log was recognised ({_plural(scan.lines_read, 'line')} read); "
                   "run `tfgpu doctor` on the machine for a full diagnosis.", False)


def _absorb_dnn_not_found(findings: list[Finding], scan: ScanResult) -> list[Finding]:
    """"DNN library is not found" is what TensorFlow says once cuDNN failed for another reason: with
    a cuDNN version mismatch or a failed cuDNN start in the same log it is that cause's consequence,
    never a second root cause (whose "install cuDNN" fix would contradict the first's)."""
    i = next((k for k, f in enumerate(findings) if f.id == "cudnn-missing"), None)
    if i is None:
        return findings
    missing = findings[i]
    hits = scan.hits.get("cudnn-missing")
    lines = missing.evidence.get("lines") or []
    if (hits is None or hits.values.get("soname") or not lines
            or not all("DNN library is not found" in e["text"] for e in lines)):
        return findings
    j = next((k for k, f in enumerate(findings) if f.id in ("cudnn-version-mismatch", "cudnn-init-failed")), None)
    if j is None:
        return findings
    cause = findings[j]
    absorbed = Finding(cause.id, cause.check, cause.severity, cause.summary, cause.detail,
                       {**cause.evidence, "consequence_lines": lines}, cause.fixes, cause.area)
    return [absorbed if k == j else f for k, f in enumerate(findings) if k != i]


def plain_tensorflow_cpu_only(release: str, matrix: Any | None) -> bool:
    """Whether the plain `tensorflow` wheel of `release` is CPU-only, from the matrix: its row's
    cpu_only_tensorflow (TFRow.plain_tensorflow_is_cpu_only: 1.15.2-1.15.5, 2.0.x); a release older
    than every row where the oldest row's GPU build is still its own package (tensorflow-gpu: before
    1.15 the plain wheel never had CUDA)."""
    version = pep440(release)
    if matrix is None or version is None or not getattr(matrix, "tensorflow", None):
        return False
    try:
        row = matrix.tf_row(release)
        if row is not None:
            return bool(row.plain_tensorflow_is_cpu_only(release))
        oldest = min(matrix.tensorflow, key=lambda r: pep440(r.release) or Version("0"))
        return version < (pep440(oldest.releases[0]) or Version("0")) and oldest.package != "tensorflow"
    except (AttributeError, TypeError, ValueError):  # a partial matrix must not break explain
        return False


#: The matrix rules a signature may require of its captured values (knowledge.REQUIRES_RULES):
#: (captured name, whether a value passes).
_REQUIRES: dict[str, tuple[str, Any]] = {"plain-tensorflow-cpu-only": ("tf_plain", plain_tensorflow_cpu_only)}


def _passing(rule: str, hits: SignatureHits, matrix: Any | None) -> SignatureHits | None:
    """The hits whose value passes the signature's matrix rule; None where none does."""
    name, test = _REQUIRES[rule]
    kept = [v for v in hits.values.get(name, []) if test(v, matrix)]
    if not kept:
        return None
    return SignatureHits(hits.count, list(hits.lines), {**hits.values, name: kept})


def build_report(scan: ScanResult, knowledge: Knowledge, matrix: Any | None, source: str,
                 tool_version: str = "", timings: dict[str, float] | None = None) -> Report:
    """Turn a scan into a Report: one finding per signature, cross-checks, verdict."""
    ctx = _context(scan, knowledge, matrix)
    findings: list[Finding] = []
    for sig in knowledge.signatures:
        hits = scan.hits.get(sig.id)
        if hits is not None and hits.count and sig.requires is not None:
            hits = _passing(sig.requires, hits, matrix)
        if hits is not None and hits.count:
            findings.append(_finding_for(sig, hits, scan, knowledge, ctx))
    by_id = {f.id: i for i, f in enumerate(findings)}
    from_log = set(by_id)
    for extra in _matrix_findings(scan, knowledge, ctx, matrix):
        if extra.id in from_log:
            # The log already said it; add what the matrix adds to the same finding.
            i = by_id[extra.id]
            old = findings[i]
            findings[i] = Finding(old.id, old.check, old.severity, old.summary, old.detail,
                                  {**old.evidence, "matrix_check": extra.evidence["values"]}, old.fixes, old.area)
        else:
            # One matrix finding per GPU and rule: two GPUs with the same problem are two findings.
            by_id.setdefault(extra.id, len(findings))
            findings.append(extra)
    win = _windows_finding(scan, ctx, matrix)
    if win is not None and win.id not in by_id:
        findings.append(win)
    findings = _absorb_dnn_not_found(findings, scan)
    unrec = _unrecognized_finding(scan)
    if unrec is not None:
        findings.append(unrec)
    findings.sort(key=_order_key)
    values = {k: list(v) for k, v in scan.facts.items()}
    if ctx.platform and "platform" in values:
        values["platform"] = [ctx.platform]
    facts = {"log": LogFacts(source, scan.lines_read, values, decide_class(findings, scan, knowledge, ctx.platform))}
    matrix_version = matrix.describe() if matrix is not None and hasattr(matrix, "describe") else ""
    return Report(decide(findings, scan, ctx, matrix), facts, tuple(findings), dict(timings or {}), tool_version,
                  matrix_version)
