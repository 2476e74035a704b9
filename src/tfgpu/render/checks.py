"""The views of the check registry: `tfgpu doctor --list` (one line per check), `--list --json`
(each check with what it checks, the finding ids it emits and where their fixes are read) and the
reference page docs/checks.md (`markdown`, written by tools/make_checks_doc.py). Pure: the
registry's checks, explain's signature knowledge and the plugin errors are handed in."""

from __future__ import annotations

import re
from typing import Any, Iterable

#: The published reference of every check (docs/checks.md, generated from the registry); each
#: check has its own section there, anchored by its id.
CHECKS_DOC_URL = "https://github.com/tfgpu/tfgpu/blob/main/docs/checks.md"
#: The command that regenerates docs/checks.md (a test fails, naming it, when the page is stale).
REGENERATE = "python tools/make_checks_doc.py"

#: The run's own requirements (tfgpu.policy): not registered checks, but each is the check of its own
#: findings, so each has a section of the page too. (check id, flag, config key, what it requires.)
POLICY_CHECKS: tuple[tuple[str, str, str, str], ...] = (
    ("policy-gpus", "--require-gpus N", "require-gpus",
     "At least N GPUs are visible to TensorFlow (the live import), or with --fast to NVML after "
     "CUDA_VISIBLE_DEVICES."),
    ("policy-vram", "--require-vram GIB", "require-vram", "Every visible GPU has at least GIB GiB of free memory."),
    ("policy-cc", "--require-cc X.Y", "require-cc", "Every visible GPU has a compute capability of at least X.Y."),
    ("policy-tf", "--require-tf SPEC", "require-tf",
     "The installed TensorFlow's version satisfies the PEP 440 specifier SPEC (e.g. '>=2.16,<2.19')."),
)
#: The finding of a requirement whose fact is missing (no driver, a live import that failed).
POLICY_UNMEASURABLE = "policy-unmeasurable"


def doc_link(check_id: str) -> str:
    """Where a check (and the findings it emits) is described: its section of docs/checks.md."""
    return f"{CHECKS_DOC_URL}#{check_id}"


def _ordered(checks: Iterable[Any]) -> list[Any]:
    return sorted(checks, key=lambda c: (c.area, c.id))


def _emits(chk: Any) -> list[str] | None:
    emits = getattr(chk, "emits", None)
    return None if emits is None else sorted(emits)


def _placeholders(text: str) -> str:
    """A knowledge template's summary for a reader: each {value} filled at run time shown as …."""
    return re.sub(r"\{\w+\}", "…", text)


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return " ".join((m.group(1) if m else text).split())


def log_classes(knowledge: Any | None) -> list[dict[str, Any]]:
    """explain's signature classes a log can show (its noise classes aside: those are folded into one
    `log-noise` finding), each with what it means and the fixes it offers."""
    out = []
    for sig in getattr(knowledge, "signatures", ()) or ():
        if sig.role == "noise":
            continue
        out.append({"id": sig.id, "severity": sig.severity.value, "role": sig.role,
                    "summary": _placeholders(sig.summary), "meaning": _first_sentence(sig.detail),
                    "fixes": list(dict.fromkeys(_placeholders(f.summary) for f in sig.fixes))})
    return sorted(out, key=lambda c: c["id"])


def to_dict(checks: Iterable[Any], plugin_errors: Iterable[Any], knowledge: Any | None = None) -> dict[str, Any]:
    """`plugin_errors`: the registry's record (entry point, message) of each plugin that failed to load;
    `knowledge`: explain's signatures (the ids the live check emits from TensorFlow's log)."""
    rows = []
    for c in _ordered(checks):
        rows.append({
            "id": c.id, "title": c.title, "area": c.area, "origin": c.origin,
            "description": getattr(c, "description", "") or c.title,
            "needs": list(getattr(c, "needs", ())), "uses": list(getattr(c, "uses", ())),
            # None: a plugin check that declares nothing (it may emit any id).
            "emits": _emits(c), "emits_log_classes": bool(getattr(c, "log_classes", False)),
            "fixes": {"shown_by": f"tfgpu doctor {c.id}", "doc": doc_link(c.id)},
        })
    return {"checks": rows,
            "log_classes": log_classes(knowledge),
            "plugin_errors": [{"name": e.entry_point, "error": e.message} for e in plugin_errors]}


def render(checks: Iterable[Any], plugin_errors: Iterable[Any]) -> str:
    """One line per check (a plugin's names its origin), then one per plugin that failed to load."""
    lines = []
    for chk in _ordered(checks):
        origin = "" if chk.origin.startswith("tfgpu.") else f"  (plugin: {chk.origin})"
        lines.append(f"{chk.id:<28} {chk.title}{origin}\n")
    for e in plugin_errors:
        lines.append(f"{e.entry_point:<28} (plugin failed to load: {e.message})\n")
    return "".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ids(ids: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids)


def markdown(checks: Iterable[Any], knowledge: Any | None) -> str:
    """docs/checks.md: every built-in check by area (one `###` section per check, its heading its id,
    so that `doc_link(check_id)` lands on it), the policy requirements, and the log classes."""
    ordered = _ordered(checks)
    classes = log_classes(knowledge)
    out = [
        "# Checks",
        "",
        f"<!-- Generated from the check registry by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every check `tfgpu doctor` runs, by area: what it checks, the facts it reads and the finding ids it can "
        "emit. Each finding in a report (terminal, JSON, Markdown, JUnit) names its check and links to the "
        "check's section here.",
        "",
        "- Run one check: `tfgpu doctor CHECK_ID`. A finding id works too: `tfgpu doctor driver-missing` runs the "
        "check(s) that can emit it.",
        "- The same data as JSON: `tfgpu doctor --list --json`.",
        "- Fixes are fitted to the machine when the check runs (inside a container the host's action, as root no "
        "`sudo`, the distribution's package manager, conda or venv, the shell variables already set), so they are "
        "not listed here as fixed text: `tfgpu doctor FINDING_ID` shows the ones for your machine. The fixes of "
        "the classes read from TensorFlow's own log are listed under [Log classes](#log-classes).",
        "- A check that cannot judge (none of the facts it needs could be read) reports `CHECK_ID-skipped`.",
        "",
    ]
    areas = list(dict.fromkeys(c.area for c in ordered))
    out += ["## Contents", ""]
    for area in areas:
        out.append(f"- {area}: " + ", ".join(f"[{c.id}](#{c.id})" for c in ordered if c.area == area))
    out.append("- policy: " + ", ".join(f"[{p[0]}](#{p[0]})" for p in POLICY_CHECKS))
    out += ["- [Log classes](#log-classes)", ""]
    for area in areas:
        out += [f"## Area: {area}", ""]
        for c in (c for c in ordered if c.area == area):
            out += [f"### {c.id}", "", f"**{c.title}**", ""]
            if getattr(c, "description", ""):
                out += [c.description, ""]
            reads = [*(f"{n} (needed)" for n in c.needs), *c.uses]
            if reads:
                out += [f"- Reads: {', '.join(reads)}"]
            emits = _emits(c)
            if emits is not None:
                out += [f"- Emits: {_ids(emits)}"]
            if getattr(c, "log_classes", False):
                out += ["- Also emits the [log classes](#log-classes) it reads in TensorFlow's own log."]
            out += [f"- Run it: `tfgpu doctor {c.id}`", ""]
    out += [
        "## Area: policy",
        "",
        "The run's own requirements, from flags or the `[tool.tfgpu]` table of `pyproject.toml` (or `--config "
        "FILE`; flags win). Each requirement is a finding of its own, `ok` when it holds and an `error` with the "
        "required and the measured values when it does not. `--ignore ID` (config: `ignore`) keeps a finding in "
        "every report, marked ignored, without changing the exit code; `--fail-on warning` (config: `fail-on`; "
        "`--strict` is its alias) fails on warnings too. See [CI preflight](ci.md).",
        "",
    ]
    for pid, flag, key, what in POLICY_CHECKS:
        out += [f"### {pid}", "", what, "", f"- Flag: `{flag}`; config key: `{key}`",
                f"- Emits: `{pid}` (ok, or an error with the required and the measured values), "
                f"`{POLICY_UNMEASURABLE}` (an error saying why the fact it needs is missing)", ""]
    out += [
        "## Log classes",
        "",
        "What the live check (`tf-live`) recognises in TensorFlow's own log and in the errors of its GPU smoke "
        "test, with the same signatures as `tfgpu explain`; each becomes a finding of that id. Run them on a saved "
        "log with `tfgpu explain LOG`.",
        "",
        "| Finding id | Severity | What it means | Fixes offered |",
        "| --- | --- | --- | --- |",
    ]
    for cls in classes:
        fixes = "<br>".join(_cell(f) for f in cls["fixes"]) or "-"
        out.append(f"| `{cls['id']}` | {cls['severity']} | {_cell(cls['meaning'])} | {fixes} |")
    out.append("")
    return "\n".join(out)
