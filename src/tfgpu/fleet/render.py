"""The fleet document (tfgpu.fleet.merge) as text for a terminal, as Markdown, and as JUnit XML
(one testcase per node: a CI system shows the nodes that are not ready as failed tests).

The JUnit document is laid out like `tfgpu doctor --junit`'s (tfgpu.render.junit, whose xml_text
makes any text valid XML 1.0), with one testsuite of one testcase per node.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from tfgpu.fleet.fingerprint import FIELD_LABELS

__all__ = ["junit", "markdown", "outlier_line", "text"]

_STATUS_WORDS = {"ready": "ready", "not_ready": "not ready", "unknown": "unknown"}
_KIND_WORDS = {"broken": "broken report", "unreadable": "unreadable", "no_report": "no report",
               "duplicate": "duplicate", "missing": "missing"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _groups_by_id(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {g["id"]: g for g in doc["groups"]}


#: Differences shown on one outlier line (the JSON has them all).
SHOWN_DIFFS = 4


def _diff_text(diffs: list[dict[str, Any]], others: int) -> str:
    word = "other" if others == 1 else "others"
    shown = [f"{d['label']} {d['value']} ({others} {word}: {d['others']})" for d in diffs[:SHOWN_DIFFS]]
    if len(diffs) > SHOWN_DIFFS:
        shown.append(f"{len(diffs) - SHOWN_DIFFS} more fields differ")
    return "; ".join(shown)


def outlier_line(o: dict[str, Any]) -> str:
    """"gpu017: driver 535.104.05 (63 others: 550.54.15); findings +driver-too-old (error)"."""
    parts = []
    if o["differs"]:
        parts.append(_diff_text(o["differs"], o["others"]))
    quiet = ("ok", "skipped")
    added = [f"+{f['id']} ({f['severity']})" for f in o["findings_added"] if f["severity"] not in quiet]
    missing = [f"-{f['id']}" for f in o["findings_missing"] if f["severity"] not in quiet]
    if added or missing:
        more = len(added) + len(missing) - SHOWN_DIFFS
        parts.append("findings " + ", ".join((added + missing)[:SHOWN_DIFFS]) + (f" and {more} more" if more > 0 else ""))
    if not parts:  # only ok findings differ
        parts.append("findings " + ", ".join([f"+{f['id']}" for f in o["findings_added"]]
                                             + [f"-{f['id']}" for f in o["findings_missing"]]))
    return f"{o['nodes']}: " + "; ".join(parts)


def _verdict_counts(doc: dict[str, Any]) -> list[tuple[str, int]]:
    c = doc["counts"]
    out = [("ready", c["ready"]), ("not ready", c["not_ready"]), ("unknown", c["unknown"])]
    out += [(_KIND_WORDS[k], c[k]) for k in ("broken", "unreadable", "no_report", "missing", "duplicate") if c[k]]
    return out


def _config_rows(group: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(f["label"], f["value"]) for f in group["fingerprint"] if f["field"] in FIELD_LABELS]
    libs = [f"{f['label']} {f['value']}" for f in group["fingerprint"] if f["field"] not in FIELD_LABELS]
    if libs:
        rows.append(("CUDA libraries", ", ".join(libs)))
    return rows


def _group_verdicts(group: dict[str, Any]) -> str:
    return ", ".join(f"{_STATUS_WORDS[s]} {n}" for s, n in group["verdicts"].items() if n)


def _group_diff(doc: dict[str, Any], group: dict[str, Any]) -> str:
    """What sets a group apart: an outlier's difference from the group it is compared with, a
    common group's from the majority ("" for the majority)."""
    by_id = _groups_by_id(doc)
    outlier = next((o for o in doc["outliers"] if o["group"] == group["id"]), None)
    other = by_id.get(outlier["compared_with"] if outlier else doc["majority"])
    if other is None or other is group:
        return ""
    theirs = {f["field"]: f["value"] for f in other["fingerprint"]}
    mine = {f["field"]: f["value"] for f in group["fingerprint"]}
    labels = {f["field"]: f["label"] for f in other["fingerprint"] + group["fingerprint"]}
    diffs = [f"{labels[k]} {mine.get(k, 'none')}" for k in labels if mine.get(k, "none") != theirs.get(k, "none")]
    if len(diffs) > SHOWN_DIFFS:
        diffs = diffs[:SHOWN_DIFFS] + [f"{len(diffs) - SHOWN_DIFFS} more"]
    if not diffs and outlier:
        diffs = [f"+{f['id']}" for f in outlier["findings_added"] if f["severity"] not in ("ok", "skipped")]
        diffs += [f"-{f['id']}" for f in outlier["findings_missing"] if f["severity"] not in ("ok", "skipped")]
    what = ", ".join(diffs[:SHOWN_DIFFS + 1]) or "findings differ"
    return f"outlier of group {other['id']}: {what}" if outlier else f"vs group {other['id']}: {what}"


#: Host lists longer than this are cut in the terminal view (the JSON has them whole).
SHOWN_HOSTLIST = 160


def clip(hostlist: str, limit: int = SHOWN_HOSTLIST) -> str:
    """A host list cut at a comma before `limit` characters, its bracket closed: `gpu[001,003,…]`."""
    if len(hostlist) <= limit:
        return hostlist
    head = hostlist[:limit]
    head = head[: max(head.rfind(","), 0)]
    return head + (",…]" if head.count("[") > head.count("]") else ",…")


def text(doc: dict[str, Any], width: int | None = None, color: bool = False, ascii_only: bool = False) -> str:
    """The fleet view for a terminal (colour only where asked; never wrapped: node lists stay whole)."""
    from rich.text import Text

    from tfgpu.render.rich import UNBOUNDED, buffer_console, rendered

    console = buffer_console(UNBOUNDED, color, emoji=False, soft_wrap=True)
    good, bad, dot = ("OK", "X", " | ") if ascii_only else ("✔", "✘", " · ")

    def line(*parts: tuple[str, str] | str) -> None:
        t = Text()
        for part in parts:
            if isinstance(part, tuple):
                t.append(part[0], style=part[1])
            else:
                t.append(part)
        console.print(t)

    ready = doc["verdict"]["status"] == "ready"
    line((f"{good if ready else bad} ", "green" if ready else "red"), ("Fleet: ", "bold"),
         (doc["verdict"]["headline"], "bold"))
    line()
    line(("Verdicts  ", "bold"), dot.join(f"{word} {n}" for word, n in _verdict_counts(doc)))
    groups = doc["groups"]
    if groups:
        major = _groups_by_id(doc)[doc["majority"]]
        line()
        line(("Majority configuration", "bold"),
             f" (group {major['id']}, {_plural(major['count'], 'node')} of {doc['counts']['reports']} reporting)")
        rows = _config_rows(major)
        pad = max(len(label) for label, _ in rows) + 2 if rows else 0
        for label, value in rows:
            line(f"  {label.ljust(pad)}{value}")
    if doc["outliers"]:
        n = doc["counts"]["outliers"]
        line()
        line(("Outliers", "bold"), f" ({_plural(n, 'node')}: what differs from the configuration they are closest to)")
        for o in doc["outliers"]:
            status = _groups_by_id(doc)[o["group"]]["verdicts"]
            mark = good if status["ready"] == o["count"] else bad
            head, _, rest = outlier_line(o).partition(": ")
            line((f"  {mark} ", "green" if mark == good else "red"), f"{clip(head)}: {rest}")
    if groups:
        line()
        line(("Groups", "bold"), f" ({len(groups)}, largest first)")
        for g in groups:
            diff = _group_diff(doc, g)
            line(f"  {g['id']:>3}  {_plural(g['count'], 'node'):>10}  {_group_verdicts(g):<22}  ",
                 (f"[{diff}] " if diff else "", "" if g["common"] else "yellow"), clip(g["nodes"]))
    shown = [f for f in doc["findings"] if f["severity"] not in ("ok", "skipped")]
    if shown:
        line()
        line(("Findings", "bold"), " (by how many nodes have them; ok and skipped ones left out)")
        style = {"error": "red", "warning": "yellow"}
        for f in shown:
            nodes = clip(f["nodes"]) if f["count"] < doc["counts"]["reports"] else "all reporting nodes"
            line("  ", (f"{f['severity']:<8}", style.get(f["severity"], "")), f" {f['id']}  {_plural(f['count'], 'node')}: {nodes}")
    if doc["problems"]:
        line()
        line(("Nodes without a usable report", "bold"), f" ({len(doc['problems'])})")
        for p in doc["problems"]:
            where = f" ({p['source']})" if p["source"] and p["source"] != p["node"] else ""
            line((f"  {bad} ", "red"), f"{p['node']}: {_KIND_WORDS.get(p['kind'], p['kind'])}: {p['reason']}{where}")
    if doc["unexpected"]:
        line()
        line(("Not expected", "bold"), f" (reported, not in --expect): {doc['unexpected']}")
    return "\n".join(ln.rstrip() for ln in rendered(console).split("\n"))


def _md(value: Any) -> str:
    from tfgpu.render.markdown import inline

    return inline(value)


def markdown(doc: dict[str, Any]) -> str:
    """The fleet view as GitHub-flavoured Markdown (a CI job summary)."""
    ready = doc["verdict"]["status"] == "ready"
    out = [f"## {'✅' if ready else '❌'} tfgpu fleet: {_md(doc['verdict']['headline'])}", ""]
    out += ["| " + " | ".join(w for w, _ in _verdict_counts(doc)) + " |",
            "|" + "---|" * len(_verdict_counts(doc)),
            "| " + " | ".join(str(n) for _, n in _verdict_counts(doc)) + " |", ""]
    if doc["groups"]:
        major = _groups_by_id(doc)[doc["majority"]]
        out += [f"### Majority configuration (group {major['id']}, {_plural(major['count'], 'node')})", "",
                "| | |", "|---|---|"]
        out += [f"| {_md(label)} | {_md(value)} |" for label, value in _config_rows(major)]
        out.append("")
    if doc["outliers"]:
        out += [f"### Outliers ({_plural(doc['counts']['outliers'], 'node')})", ""]
        out += [f"- {_md(o['nodes'])}: {_md(outlier_line(o).split(': ', 1)[1])}" for o in doc["outliers"]]
        out.append("")
    if doc["groups"]:
        out += ["### Groups", "", "| group | nodes | verdicts | node list | differs from the majority |",
                "|---|---|---|---|---|"]
        for g in doc["groups"]:
            out.append(f"| {g['id']}{'' if g['common'] else ' (outlier)'} | {g['count']} | {_md(_group_verdicts(g))} "
                       f"| {_md(g['nodes'])} | {_md(_group_diff(doc, g))} |")
        out.append("")
    shown = [f for f in doc["findings"] if f["severity"] not in ("ok", "skipped")]
    if shown:
        out += ["### Findings", "", "| severity | finding | nodes | node list |", "|---|---|---|---|"]
        out += [f"| {f['severity']} | {_md(f['id'])} | {f['count']} | {_md(f['nodes'])} |" for f in shown]
        out.append("")
    if doc["problems"]:
        out += ["### Nodes without a usable report", "", "| node | problem | why | source |", "|---|---|---|---|"]
        out += [f"| {_md(p['node'])} | {_KIND_WORDS.get(p['kind'], p['kind'])} | {_md(p['reason'])} | {_md(p['source'])} |"
                for p in doc["problems"]]
        out.append("")
    return "\n".join(out)


def junit(doc: dict[str, Any]) -> str:
    """JUnit XML: one testcase per node (reported or not); not ready is a failure, no usable report
    an error; an outlier's difference goes to its system-out. Every text is made valid XML 1.0
    (tfgpu.render.junit.xml_text)."""
    from tfgpu.render.junit import xml_text

    root = ElementTree.Element("testsuites", name="tfgpu fleet")
    suite = ElementTree.SubElement(root, "testsuite", name="tfgpu.fleet")

    def element(parent: ElementTree.Element, tag: str, text: str = "", **attrs: str) -> ElementTree.Element:
        el = ElementTree.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
        if text:
            el.text = xml_text(text)
        return el

    describe = {o["group"]: f"outlier (group {o['group']}): {outlier_line(o).split(': ', 1)[1]}" for o in doc["outliers"]}
    failures = errors = 0
    cases: list[tuple[str, dict[str, Any], str]] = [(n["node"], n, "node") for n in doc["nodes"]]
    cases += [(p["node"], p, "problem") for p in doc["problems"] if p["kind"] != "duplicate"]
    for name, entry, what in sorted(cases, key=lambda c: c[0]):
        case = element(suite, "testcase", classname="tfgpu.fleet", name=name)
        if what == "problem":
            errors += 1
            element(case, "error", f"{entry['reason']} ({entry['source']})" if entry["source"] else entry["reason"],
                    message=entry["reason"], type=entry["kind"])
            continue
        if entry["status"] != "ready":
            failures += 1
            element(case, "failure", entry.get("headline", ""), message=entry.get("headline", "") or entry["status"],
                    type=entry["status"])
        note = describe.get(entry["group"])
        if note:
            element(case, "system-out", note)
    for el in (root, suite):
        el.set("tests", str(len(cases)))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
    ElementTree.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
