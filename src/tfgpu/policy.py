"""Policy: what "ready" means for one pipeline, and applying it to a report.

A policy comes from the doctor's flags (`--require-gpus N`, `--require-vram GIB`, `--require-cc X.Y`,
`--require-tf SPEC`, `--fail-on error|warning`, `--ignore ID`) and from a config table: `[tool.tfgpu]`
in the working directory's pyproject.toml, or the file named with `--config` (its `[tool.tfgpu]`
table, or, in a file without a `[tool]` table such as tfgpu.toml, its top-level keys). The table's
keys mirror the flags; flags win over the table, key by key (an `--ignore` adds to the table's list).

- Each requirement becomes a finding of its own (area "policy", check `policy-gpus`, `policy-vram`,
  `policy-cc` or `policy-tf`): `ok` where it holds, an `error` with the required and the measured
  value where it does not, and an `error` with id `policy-unmeasurable` where the fact it needs is
  missing (no driver, a live import that failed), saying why.
- An ignored finding (its id or its check's id named in `ignore`) stays in the report with
  `Finding.ignored` set to the reason, and never sets the exit code; a finding folded under an
  ignored cause (`root_cause`) is ignored with it. Policy findings are never folded under a cause,
  so ignoring a machine finding never silences a requirement.
- `--fail-on warning` (`--strict` is its alias) makes a warning, or a verdict that could not be
  decided, exit 1.

Bad policy input raises `PolicyError` (one line; the CLI exits 2): a bad value, an unknown key, a
TOML syntax error or an unreadable file named with --config. Loading and applying return notes for
stderr instead of printing them (only the CLI writes):

- the working directory's pyproject.toml is not the user's choice: where it cannot be read or is
  not valid TOML, the doctor goes on without a policy from it, with a note, unless its text
  mentions `tool.tfgpu` (a policy that was meant and is broken must not pass a CI gate: exit 2);
- an ignored id that is neither a check's id nor one a check declares (nor a class of explain's
  log knowledge, which the live check emits) and that no finding of the run has is accepted with a
  note naming the closest ids (a config shared by several runners may name findings that a plugin
  emits, or that only some machines have).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import field, replace
from typing import Any, Iterable, Mapping

from tfgpu.model import Area, Finding, Fix, ProbeFailure, Report, Severity
from tfgpu.records import dataclass

#: Where the working directory's config is read from (only its [tool.tfgpu] table).
PYPROJECT = "pyproject.toml"
#: The most bytes read of a config file (pyproject.toml files are a few KiB).
CONFIG_LIMIT = 1024 * 1024
#: The reason an `--ignore ID` given on the command line carries.
FLAG_REASON = "--ignore on the command line"
#: The keys of a `[tool.tfgpu]` table; each mirrors the flag of the same name.
KEYS = ("require-gpus", "require-vram", "require-cc", "require-tf", "fail-on", "ignore")
FAIL_ON = ("error", "warning")
#: The check id of each requirement (also the id of its finding).
CHECKS = {"gpus": "policy-gpus", "vram_gib": "policy-vram", "cc": "policy-cc", "tf": "policy-tf"}
UNMEASURABLE = "policy-unmeasurable"
POLICY_IDS = frozenset({*CHECKS.values(), UNMEASURABLE})
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_GIB = 1024**3
#: A broken pyproject.toml that mentions the table is meant for tfgpu: an error, not a note.
_MENTIONS_TABLE = re.compile(r"""\btool\s*\.\s*["']?tfgpu\b""")
#: Where pyproject.toml has no `tfgpu` key (a table name or a key before `.`, `=` or `]`, quoted or
#: bare) and no escaped character a quoted key could spell it with (\u, \U; TOML 1.1's \x, which
#: tomli reads on Python 3.10), and does not mention the table either (a broken `[tool.tfgpu`
#: header is meant for tfgpu: an error), it holds no [tool.tfgpu] in any TOML form: it is not parsed
#: at all (tomllib costs ~20 ms of a --fast run) and, broken or not, it is none of tfgpu's business.
_MAY_HOLD_TABLE = re.compile(r"""(?<![\w-])["']?tfgpu["']?\s*[.=\]]|\\[uUx]""")


class PolicyError(ValueError):
    """Policy input that cannot be used: one line saying where and what (the CLI exits 2)."""


@dataclass(frozen=True)
class Ignore:
    id: str
    reason: str


@dataclass(frozen=True)
class Policy:
    """What one run requires and ignores. Empty (the default) changes nothing."""

    require_gpus: int | None = None
    require_vram_gib: float | None = None
    require_cc: str | None = None  # "8.6"
    require_tf: str | None = None  # a PEP 440 specifier, ">=2.16,<2.22"
    fail_on: str = "error"
    ignore: tuple[Ignore, ...] = ()
    #: Where it came from: "flags", "pyproject.toml", the --config path; None when nothing was set.
    source: str | None = None

    @property
    def required(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.require_gpus is not None:
            out["gpus"] = self.require_gpus
        if self.require_vram_gib is not None:
            out["vram_gib"] = self.require_vram_gib
        if self.require_cc is not None:
            out["cc"] = self.require_cc
        if self.require_tf is not None:
            out["tf"] = self.require_tf
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report's `policy` (tfgpu.render.json writes it; the schema describes it)."""
        return {"fail_on": self.fail_on, "required": self.required,
                "ignored": [{"id": i.id, "reason": i.reason} for i in self.ignore], "source": self.source}


@dataclass(frozen=True)
class Flags:
    """The policy flags as given (None: not given)."""

    require_gpus: int | None = None
    require_vram: float | None = None
    require_cc: str | None = None
    require_tf: str | None = None
    fail_on: str | None = None
    strict: bool = False
    ignore: tuple[str, ...] = field(default_factory=tuple)


# --- validating one value (the same rules for a flag and a table key) ------------------------------


def _gpus(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 4096:
        raise PolicyError(f"{where}: expected a whole number of GPUs (0 to 4096), got {value!r}")
    return value


def _vram(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0 or value > 1024 * 1024:
        raise PolicyError(f"{where}: expected GiB of free memory per GPU, a number above 0, got {value!r}")
    return float(value)


def _cc(value: Any, where: str) -> str:
    from tfgpu.versions import cc_pair

    pair = cc_pair(value) if isinstance(value, str) else None
    if pair is None:
        raise PolicyError(f"{where}: expected a compute capability written X.Y as a string (\"8.6\"), got {value!r}")
    return f"{pair[0]}.{pair[1]}"


def _spec(value: Any, where: str) -> str:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: expected a PEP 440 version specifier such as \">=2.16,<2.22\", got {value!r}")
    try:
        SpecifierSet(value.strip())
    except InvalidSpecifier:
        raise PolicyError(f"{where}: {value!r} is not a PEP 440 version specifier (e.g. \">=2.16\", \"==2.21.*\")") \
            from None
    return value.strip()  # as written (SpecifierSet's own text reorders the clauses)


def _fail_on(value: Any, where: str) -> str:
    if value not in FAIL_ON:
        raise PolicyError(f"{where}: expected 'error' or 'warning', got {value!r}")
    return str(value)


def _ignore_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise PolicyError(f"{where}: expected a finding or check id (kebab-case, e.g. driver-missing), got {value!r}")
    return value


def _ignores(value: Any, where: str, default_reason: str) -> list[Ignore]:
    if not isinstance(value, list):
        raise PolicyError(f"{where}: expected a list of ids or of {{id = \"...\", reason = \"...\"}} tables")
    out = []
    for n, item in enumerate(value):
        at = f"{where}[{n}]"
        if isinstance(item, dict):
            extra = sorted(set(item) - {"id", "reason"})
            if extra:
                raise PolicyError(f"{at}: unknown key {extra[0]!r} (expected id and reason)")
            if "id" not in item:
                raise PolicyError(f"{at}: missing id")
            reason = item.get("reason", default_reason)
            if not isinstance(reason, str) or not reason.strip():
                raise PolicyError(f"{at}.reason: expected a non-empty string")
            out.append(Ignore(_ignore_id(item["id"], f"{at}.id"), " ".join(reason.split())))
        else:
            out.append(Ignore(_ignore_id(item, at), default_reason))
    return out


# --- loading ------------------------------------------------------------------------------------


def parse_toml(text: str, path: str) -> dict[str, Any]:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise PolicyError(f"{path}: not valid TOML (nested too deeply)") from None


def _read(path: str) -> str:
    from tfgpu.safeio import BadInput, read_text

    try:
        return read_text(path, "config", limit=CONFIG_LIMIT)
    except BadInput as exc:
        raise PolicyError(str(exc)) from None


def _table_of(data: dict[str, Any], path: str, named: bool) -> dict[str, Any] | None:
    """The policy table of a parsed file: [tool.tfgpu]; for a file named with --config that has no
    [tool] table and is no pyproject.toml (tfgpu.toml), its top level. None where the working
    directory's pyproject.toml has no [tool.tfgpu]."""
    tool = data.get("tool")
    project = os.path.basename(path) == PYPROJECT or "project" in data or "build-system" in data
    if tool is None and named and not project:
        return data
    table = tool.get("tfgpu") if isinstance(tool, dict) else None
    if table is None:
        if named:
            raise PolicyError(f"{path}: no [tool.tfgpu] table")
        return None
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: tool.tfgpu: expected a table")
    return table


def read_table(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The validated values of a policy table (keys as in KEYS); PolicyError on the first bad one."""
    where = f"{source} [tool.tfgpu]" if os.path.basename(source) == PYPROJECT else source
    unknown = sorted(k for k in table if k not in KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    out: dict[str, Any] = {}
    if "require-gpus" in table:
        out["require_gpus"] = _gpus(table["require-gpus"], f"{where} require-gpus")
    if "require-vram" in table:
        out["require_vram_gib"] = _vram(table["require-vram"], f"{where} require-vram")
    if "require-cc" in table:
        out["require_cc"] = _cc(table["require-cc"], f"{where} require-cc")
    if "require-tf" in table:
        out["require_tf"] = _spec(table["require-tf"], f"{where} require-tf")
    if "fail-on" in table:
        out["fail_on"] = _fail_on(table["fail-on"], f"{where} fail-on")
    if "ignore" in table:
        out["ignore"] = _ignores(table["ignore"], f"{where} ignore", f"ignored in {source}")
    return out


def load_file(config: str | None, cwd: str) -> tuple[dict[str, Any], str | None, list[str]]:
    """The config's values, where they came from, and notes for stderr. `config` (--config) must
    be readable and valid; the working directory's pyproject.toml is read only for its
    [tool.tfgpu] table (parsed only where it may hold one), and where it cannot be read or parsed
    and does not mention that table, the doctor goes on with a note."""
    if config is not None:
        table = _table_of(parse_toml(_read(config), config), config, named=True)
        assert table is not None
        return read_table(table, config), config, []
    path = os.path.join(cwd, PYPROJECT)
    if not os.path.lexists(path):
        return {}, None, []
    try:
        text = _read(path)
    except PolicyError as exc:
        return {}, None, [f"{exc}; its [tool.tfgpu] policy (if any) is not applied"]
    if not _MAY_HOLD_TABLE.search(text) and not _MENTIONS_TABLE.search(text):
        return {}, None, []
    try:
        table = _table_of(parse_toml(text, PYPROJECT), PYPROJECT, named=False)
    except PolicyError as exc:
        if _MENTIONS_TABLE.search(text):
            raise
        return {}, None, [f"{exc}; going on without a policy from it"]
    if table is None:
        return {}, None, []
    return read_table(table, PYPROJECT), PYPROJECT, []


def load(flags: Flags, config: str | None = None, cwd: str | None = None) -> tuple[Policy, list[str]]:
    """The run's policy: the config file's values, then the flags over them."""
    if flags.strict and flags.fail_on not in (None, "warning"):
        raise PolicyError(f"--strict (an alias of --fail-on warning) and --fail-on {flags.fail_on}: choose one")
    values, source, notes = load_file(config, cwd if cwd is not None else os.getcwd())
    given: dict[str, Any] = {}
    if flags.require_gpus is not None:
        given["require_gpus"] = _gpus(flags.require_gpus, "--require-gpus")
    if flags.require_vram is not None:
        given["require_vram_gib"] = _vram(flags.require_vram, "--require-vram")
    if flags.require_cc is not None:
        given["require_cc"] = _cc(_cc_text(flags.require_cc), "--require-cc")
    if flags.require_tf is not None:
        given["require_tf"] = _spec(flags.require_tf, "--require-tf")
    if flags.fail_on is not None:
        given["fail_on"] = _fail_on(flags.fail_on, "--fail-on")
    elif flags.strict:
        given["fail_on"] = "warning"
    flag_ignores = [Ignore(_ignore_id(i, "--ignore"), FLAG_REASON) for i in flags.ignore]
    ignores = {i.id: i for i in values.pop("ignore", [])}
    ignores.update({i.id: i for i in flag_ignores})  # flags win
    if flag_ignores:
        given["ignore"] = True
    values.update(given)
    if source is None and given:
        source = "flags"
    policy = Policy(**{k: v for k, v in values.items() if k != "ignore"}, ignore=tuple(ignores.values()),
                    source=source)
    return policy, notes


def _cc_text(value: str) -> str:
    """A compute capability as typed on the command line: 8.6, sm_86, compute_86 -> 8.6."""
    m = re.fullmatch(r"(?:sm_|compute_)(\d+)[a-z]?", value.strip().lower())
    return f"{m.group(1)[:-1]}.{m.group(1)[-1]}" if m and len(m.group(1)) >= 2 else value


# --- what the facts say ---------------------------------------------------------------------------


def _fact(report: Report, name: str) -> tuple[Any, str | None]:
    """(the fact, None) or (None, why it is missing)."""
    value = report.facts.get(name)
    if isinstance(value, ProbeFailure):
        return None, value.message or value.status.value
    if value is None:
        return None, f"the {name} probe did not run"
    return value, None


@dataclass(frozen=True)
class Visible:
    """The GPUs CUDA shows after CUDA_VISIBLE_DEVICES, by NVML's facts (checks.visible_devices' rule)."""

    gpus: tuple[Any, ...]  # GpuInfo, or None for a MIG device (its parent GPU is not known)
    nvml_count: int
    cuda_visible_devices: str | None
    #: Why the GPU an index names is not known ("" when it is): CUDA numbers GPUs fastest first
    #: unless CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML in PCI order; with GPUs of different models the two
    #: orders can differ, so `gpus` may not be the GPUs CUDA shows (the count is right either way).
    index_order_unknown: str = ""


def visible_gpus(report: Report) -> tuple[Visible | None, str | None]:
    from tfgpu.checks.visible_devices import parse_visible_devices, visible_entry_exists

    driver, why = _fact(report, "driver")
    if driver is None:
        return None, why
    gpus = tuple(driver.gpus)
    env = report.facts.get("environment")
    value = env.get("CUDA_VISIBLE_DEVICES") if env is not None and not isinstance(env, ProbeFailure) else None
    if value is None:
        return Visible(gpus, len(gpus), None), None
    shown: list[Any] = []
    by_index = False
    for entry in parse_visible_devices(value):
        if not visible_entry_exists(entry, gpus):
            break  # CUDA stops at the first entry that names no device
        if entry.isdigit():
            shown.append(gpus[int(entry)])
            by_index = True
        elif entry.startswith("MIG-"):
            shown.append(None)
        else:
            shown.append(next(g for g in gpus if g.uuid and g.uuid.startswith(entry)))
    order = (env.get("CUDA_DEVICE_ORDER") or "").strip() if env is not None and not isinstance(env, ProbeFailure) else ""
    mixed = len({(g.name, g.compute_capability) for g in gpus}) > 1
    unknown = ""
    if by_index and mixed and order != "PCI_BUS_ID":
        unknown = (f"CUDA_VISIBLE_DEVICES={value} names GPUs by index, and CUDA numbers these GPUs of different "
                   "models fastest first (CUDA_DEVICE_ORDER is not PCI_BUS_ID), not in NVML's PCI order, so which "
                   "GPU an index names is not known")
    return Visible(tuple(shown), len(gpus), value, unknown), None


# --- the requirements -----------------------------------------------------------------------------


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


def _gib(n: float) -> str:
    return f"{n:.1f}".rstrip("0").rstrip(".") + " GiB"


def _finding(check: str, ok: bool, summary: str, evidence: dict[str, Any], detail: str = "",
             fixes: Iterable[Fix] = ()) -> Finding:
    return Finding(check, check, Severity.OK if ok else Severity.ERROR, summary, detail, evidence,
                   tuple(fixes) if not ok else (), Area.POLICY.value)


def _unmeasurable(check: str, what: str, required: Any, why: str) -> Finding:
    need = {"policy-gpus": _plural(required, "GPU") if isinstance(required, int) else "{} GPUs",
            "policy-vram": "{} GiB free per GPU", "policy-cc": "compute capability {}",
            "policy-tf": "TensorFlow {}"}.get(check, "{}").format(required)
    return Finding(UNMEASURABLE, check, Severity.ERROR, f"{need} required, but {what} could not be measured: {why}",
                   f"The policy requires it ({check}), and a requirement that cannot be checked is not met.",
                   {"required": required, "measured": None, "why": why}, (), Area.POLICY.value)


def _gpu_name(g: Any) -> str:
    return f"GPU {g.index} ({g.name})"


def _cvd_fix(visible: Visible, usable: list[Any]) -> list[Fix]:
    """Where CUDA_VISIBLE_DEVICES hides GPUs that would do: name those, in one command (a fix's
    commands run in order: an unset after it would show the GPUs that fail again), by UUID where
    NVML gave them (CUDA's indexes are fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML's in
    PCI order: an index could name another GPU)."""
    if visible.cuda_visible_devices is None or not usable:
        return []
    names = ",".join(g.uuid for g in usable) if all(g.uuid for g in usable) else ",".join(str(g.index) for g in usable)
    return [Fix(f"Let CUDA see only the GPUs that meet it (CUDA_VISIBLE_DEVICES={visible.cuda_visible_devices} hides them)",
                (f"export CUDA_VISIBLE_DEVICES={names}",))]


def check_gpus(report: Report, need: int) -> Finding:
    """Live (the tf_live fact): the GPUs TensorFlow listed; else (--fast, or no live import) the
    GPUs NVML lists, after CUDA_VISIBLE_DEVICES."""
    check = CHECKS["gpus"]
    if "tf_live" in report.facts:  # the live import ran: what TensorFlow itself listed
        live, live_why = _fact(report, "tf_live")
        if live is None or live.outcome != "ok":
            why = live_why or (live.error or f"the live import ended with '{live.outcome}'").splitlines()[0]
            return _unmeasurable(check, "the GPUs visible to TensorFlow", need,
                                 f"TensorFlow did not list its GPUs ({why})")
        have = len(live.gpus)
        ev = {"required": need, "measured": have, "source": "tensorflow", "gpus": [g.name for g in live.gpus]}
        return _finding(check, have >= need, f"{_plural(have, 'GPU')} visible to TensorFlow, {need} required", ev)
    visible, why = visible_gpus(report)
    if visible is None:
        return _unmeasurable(check, "the GPUs visible to CUDA", need, f"NVML could not be asked ({why})")
    have = len(visible.gpus)
    ev = {"required": need, "measured": have, "source": "nvml", "nvml_gpus": visible.nvml_count,
          "CUDA_VISIBLE_DEVICES": visible.cuda_visible_devices}
    where = "NVML" if visible.cuda_visible_devices is None else \
        f"CUDA after CUDA_VISIBLE_DEVICES={visible.cuda_visible_devices} (NVML lists {visible.nvml_count})"
    fixes: list[Fix] = []
    if have < need and visible.nvml_count >= need and visible.cuda_visible_devices is not None:
        fixes.append(Fix("Unset CUDA_VISIBLE_DEVICES (or name at least that many GPUs in it)",
                         ("unset CUDA_VISIBLE_DEVICES",)))
    elif have < need:
        fixes.append(Fix(f"Run this job on a machine with at least {need} GPUs (or lower the requirement)"))
    return _finding(check, have >= need, f"{_plural(have, 'GPU')} visible to {where}, {need} required", ev, fixes=fixes)


def _per_gpu(report: Report, check: str, what: str, required: Any, value: str) -> Visible | Finding:
    """The visible GPUs, each with the GpuInfo attribute `value` known; else why not, as a finding."""
    visible, why = visible_gpus(report)
    if visible is None:
        return _unmeasurable(check, what, required, f"NVML could not be asked ({why})")
    if not visible.gpus:
        return _unmeasurable(check, what, required, "no GPU is visible to measure it on")
    if any(g is None for g in visible.gpus):
        return _unmeasurable(check, what, required, "CUDA_VISIBLE_DEVICES names a MIG device, whose GPU is not known")
    if visible.index_order_unknown:
        finding = _unmeasurable(check, what, required, visible.index_order_unknown)
        return replace(finding, fixes=(Fix("Name the GPUs by UUID (nvidia-smi -L), or number them in PCI order as NVML "
                                           "does", ("export CUDA_DEVICE_ORDER=PCI_BUS_ID",)),))
    unknown = [g for g in visible.gpus if getattr(g, value) is None]
    if unknown:
        return _unmeasurable(check, what, required, f"NVML did not report it for {_gpu_name(unknown[0])}")
    return visible


def _more(items: list[Any]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def check_vram(report: Report, need_gib: float) -> Finding:
    check = CHECKS["vram_gib"]
    visible = _per_gpu(report, check, "the free memory per GPU", need_gib, "memory_free_bytes")
    if isinstance(visible, Finding):
        return visible
    measured = {str(g.index): round(g.memory_free_bytes / _GIB, 2) for g in visible.gpus}
    short = [g for g in visible.gpus if g.memory_free_bytes < need_gib * _GIB]
    ev = {"required": need_gib, "measured": measured, "unit": "GiB free per GPU"}
    if not short:
        least = min(visible.gpus, key=lambda g: g.memory_free_bytes)
        return _finding(check, True, f"Every visible GPU has at least {_gib(need_gib)} free "
                        f"(the least: {_gpu_name(least)}, {_gib(least.memory_free_bytes / _GIB)})", ev)
    first = short[0]
    holders = sorted({p.pid for g in short for p in g.processes})
    pids = f" (pids {', '.join(map(str, holders))})" if holders else ""
    fixes = [Fix(f"See which processes hold the GPU's memory{pids}", ("nvidia-smi",))]
    return _finding(check, False, f"{_gpu_name(first)} has {_gib(first.memory_free_bytes / _GIB)} free{_more(short)}, "
                    f"{_gib(need_gib)} required per GPU", ev, fixes=fixes)


def check_cc(report: Report, need: str) -> Finding:
    from tfgpu.versions import cc_pair

    check = CHECKS["cc"]
    visible = _per_gpu(report, check, "the GPUs' compute capability", need, "cc_tuple")
    if isinstance(visible, Finding):
        return visible
    want = cc_pair(need)
    assert want is not None
    measured = {str(g.index): g.compute_capability for g in visible.gpus}
    ev = {"required": need, "measured": measured}
    low = [g for g in visible.gpus if g.cc_tuple < want]
    if not low:
        return _finding(check, True, f"Every visible GPU has compute capability {need} or higher "
                        f"({', '.join(sorted(set(measured.values())))})", ev)
    driver, _ = _fact(report, "driver")
    usable = [g for g in (driver.gpus if driver is not None else ()) if g.cc_tuple is not None and g.cc_tuple >= want]
    fixes = _cvd_fix(visible, usable) or [Fix(f"Run this job on GPUs of compute capability {need} or higher")]
    return _finding(check, False, f"{_gpu_name(low[0])} has compute capability {low[0].compute_capability}"
                    f"{_more(low)}, {need} or higher required", ev, fixes=fixes)


def check_tf(report: Report, spec: str) -> Finding:
    from packaging.specifiers import SpecifierSet

    from tfgpu.fixes import pip
    from tfgpu.pep508 import normalize_name
    from tfgpu.versions import pep440

    check = CHECKS["tf"]
    build = report.facts.get("tf_build")
    env = report.facts.get("python_env")
    python = getattr(env, "executable", None) if not isinstance(env, ProbeFailure) else None
    commands: tuple[str, ...] = (pip(python, "install", f"tensorflow[and-cuda]{spec}"),)
    installed = getattr(build, "distribution", None) if not isinstance(build, ProbeFailure) else None
    if installed and normalize_name(installed) != "tensorflow":
        # tensorflow-cpu, tf-nightly, ...: installed beside it, tensorflow would overwrite the same
        # package folder (two distributions, one TensorFlow: what tf-single-distribution reports).
        commands = (pip(python, "uninstall", "-y", installed), *commands)
    fix = Fix(f"Install a TensorFlow that matches {spec}", commands)
    if isinstance(build, ProbeFailure) and build.status.value == "not_found":
        return _finding(check, False, f"TensorFlow is not installed, {spec} required",
                        {"required": spec, "measured": None}, build.message, (fix,))
    build, why = _fact(report, "tf_build")
    if build is None:
        return _unmeasurable(check, "the installed TensorFlow version", spec, why or "")
    version = pep440(build.version)
    if version is None:
        return _unmeasurable(check, "the installed TensorFlow version", spec,
                             f"{build.distribution} reports the version {build.version!r}, which is not PEP 440")
    ok = SpecifierSet(spec).contains(version, prereleases=True)
    ev = {"required": spec, "measured": build.version, "distribution": build.distribution}
    return _finding(check, ok, f"{build.distribution} {build.version} installed, {spec} required", ev,
                    fixes=(fix,))


def requirement_findings(report: Report, policy: Policy) -> list[Finding]:
    out = []
    if policy.require_gpus is not None:
        out.append(check_gpus(report, policy.require_gpus))
    if policy.require_vram_gib is not None:
        out.append(check_vram(report, policy.require_vram_gib))
    if policy.require_cc is not None:
        out.append(check_cc(report, policy.require_cc))
    if policy.require_tf is not None:
        out.append(check_tf(report, policy.require_tf))
    return out


# --- ignoring -------------------------------------------------------------------------------------


def mark_ignored(findings: Iterable[Finding], ignore: Iterable[Ignore]) -> list[Finding]:
    """Each finding whose id or check is ignored gets the reason; then, until nothing changes, each
    finding folded under an ignored cause (root_cause) is ignored with it."""
    by_id = {i.id: i.reason for i in ignore}
    out = [replace(f, ignored=by_id.get(f.id) or by_id.get(f.check) or f.ignored) for f in findings]
    changed = True
    while changed:
        changed = False
        causes = {f.id: f.ignored for f in out if f.ignored}
        for n, f in enumerate(out):
            if not f.ignored and f.root_cause and f.root_cause in causes:
                out[n] = replace(f, ignored=f"follows from {f.root_cause}, ignored: {causes[f.root_cause]}")
                changed = True
    return out


def unknown_ignores(policy: Policy, report: Report, registry: Any) -> list[str]:
    """A note for each ignored id that no check has as its id or declares (nor explain's log classes,
    which the live check emits), and that no finding of this run has: a typo, most likely."""
    seen = {f.id for f in report.findings} | {f.check for f in report.findings} | POLICY_IDS
    todo = [i for i in policy.ignore if i.id not in seen]
    if not todo or registry is None:
        return []

    def knowledge() -> Any:
        from tfgpu.explain.classify import load_knowledge

        return load_knowledge()

    _, unknown = registry.resolve([i.id for i in todo], knowledge)
    notes = []
    for ign in todo:
        if ign.id in unknown:
            src = "--ignore" if ign.reason == FLAG_REASON else f"ignore in {policy.source}"
            close = unknown[ign.id]
            hint = f" (did you mean {' or '.join(close)}?)" if close else " (see 'tfgpu doctor --list')"
            notes.append(f"note: {src} {ign.id}: no check has this id or declares a finding with it{hint}; "
                         "kept, in case a plugin emits it")
    return notes


def apply(report: Report, policy: Policy, *, registry: Any = None, options: Any = None,
          matrix: Any = None) -> tuple[Report, list[str]]:
    """The report with the policy's findings added, ignored findings marked, the verdict decided
    again over them, and `policy` set; plus notes for stderr (ignored ids that no check knows, where
    `registry`, the checks' Registry, is given). The requirements' fixes are fitted to the machine
    and checked against `matrix` as every check's are (tfgpu.fixes.fitted_fixes): a command that
    cannot work there is not offered."""
    from tfgpu.fixes import fitted_fixes, fix_context
    from tfgpu.model import RunOptions
    from tfgpu.verdict import decide

    notes = unknown_ignores(policy, report, registry)
    context = fix_context(report.facts)
    added = [replace(f, fixes=fitted_fixes(f.fixes, context, matrix)) if f.fixes else f
             for f in requirement_findings(report, policy)]
    findings = mark_ignored([*report.findings, *added], policy.ignore)
    verdict = decide(report.facts, findings, options if options is not None else RunOptions())
    return replace(report, findings=tuple(findings), verdict=verdict, policy=policy.to_dict()), notes
