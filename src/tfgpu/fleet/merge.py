"""Merging node summaries into one fleet view: groups of nodes with the same configuration, the
majority configuration, the outliers named by what differs, findings by how many nodes have them,
and the nodes that produced no report or a broken one.

Memory grows with the number of groups (each keeps its fingerprint once) plus a few short strings
per node (its name, status and source).

Outliers: a configuration shared by fewer than `outlier_share` of the reporting nodes (and by fewer
than two nodes' worth, whatever the share) is an outlier group, unless it is the majority; every
other group is a common configuration. An outlier is described against the common configuration it
is closest to (fewest fields that differ, then the largest): with one common configuration that is
the majority, as in "gpu017: driver 535.104.05 (63 others: 550.54.15)".
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from tfgpu.fleet.fingerprint import NONE, VERDICTS, field_label
from tfgpu.fleet.hostlist import compress
from tfgpu.fleet.ingest import Item, Problem

__all__ = ["FLEET_SCHEMA_VERSION", "Merger"]

#: The version of the `kind: "fleet"` document (src/tfgpu/schema/fleet.schema.json).
FLEET_SCHEMA_VERSION = 1

_SEVERITY_ORDER = {"error": 0, "warning": 1, "ignored": 2, "info": 3, "skipped": 4, "ok": 5}


class _Group:
    __slots__ = ("fingerprint", "findings", "nodes", "statuses", "headlines")

    def __init__(self, fingerprint: tuple[tuple[str, str], ...], findings: tuple[str, ...]) -> None:
        self.fingerprint = fingerprint
        self.findings = findings
        self.nodes: list[str] = []
        self.statuses: dict[str, int] = {}
        self.headlines: dict[str, int] = {}


def _split_finding(text: str) -> tuple[str, str]:
    fid, _, severity = text.rpartition(":")
    return fid, severity


class Merger:
    """Takes Items one at a time (`add`), then builds the fleet document (`document`)."""

    def __init__(self) -> None:
        self.groups: dict[tuple, _Group] = {}
        self.seen: dict[str, str] = {}  # node -> status
        self.sources: dict[str, str] = {}  # node -> where its report came from
        self.not_ready_headlines: dict[str, str] = {}
        self.headlines: dict[str, str] = {}
        self.problems: list[Problem] = []
        self.reports = 0
        self.inputs = 0

    def add(self, item: Item) -> None:
        self.inputs += 1
        if isinstance(item, Problem):
            self.problems.append(item)
            return
        if item.node in self.seen:
            first = self.sources.get(item.node) or "an earlier input"
            self.problems.append(Problem(item.node, item.source, f"a second report for this node (the first, "
                                         f"from {first}, is the one merged)", "duplicate"))
            return
        key = (item.fingerprint, item.findings)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(item.fingerprint, item.findings)
        group.nodes.append(item.node)
        group.statuses[item.status] = group.statuses.get(item.status, 0) + 1
        group.headlines[item.headline] = group.headlines.get(item.headline, 0) + 1
        self.seen[item.node] = item.status
        self.sources[item.node] = item.source
        if item.status != "ready":  # one copy of each headline, however many nodes share it
            self.not_ready_headlines[item.node] = self.headlines.setdefault(item.headline, item.headline)
        self.reports += 1

    def add_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    # --- the document ------------------------------------------------------------------------------

    def _problems(self, expect: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        out: list[dict[str, Any]] = []
        for p in self.problems:
            # A log beside a report (NODE.out next to NODE.json) or a node's second empty file is
            # not a problem when that node did report.
            if p.kind == "no_report" and p.node in self.seen:
                continue
            out.append({"node": p.node, "source": p.source, "kind": p.kind, "reason": p.reason})
        unexpected: list[str] = []
        if expect is not None:
            named = {p["node"] for p in out}
            wanted = set(expect)
            # A report named by its host name may carry the fully qualified one (gpu001.example.com)
            # where the host list has the short one, Slurm's node name: the two are the same node.
            short: dict[str, str] = {}
            for node in self.seen:
                head, dot, _rest = node.partition(".")
                if dot and head and not head.isdigit() and node not in wanted:
                    short.setdefault(head, node)
            matched = set()
            for node in expect:
                if node in self.seen or node in named:
                    continue
                if node in short:
                    matched.add(short[node])
                    continue
                out.append({"node": node, "source": "", "kind": "missing",
                            "reason": "expected (--expect) but no report came back"})
            unexpected = sorted(n for n in self.seen if n not in wanted and n not in matched)
        return out, unexpected

    def document(self, expect: list[str] | None = None, outlier_share: float = 0.1,
                 tool_version: str = "") -> dict[str, Any]:
        groups = sorted(self.groups.values(), key=lambda g: (-len(g.nodes), g.fingerprint, g.findings))
        ids = {id(g): i + 1 for i, g in enumerate(groups)}
        total = self.reports
        floor = max(2, math.ceil(outlier_share * total)) if total else 0
        common = [g for i, g in enumerate(groups) if i == 0 or len(g.nodes) >= floor]
        common_ids = {id(g) for g in common}

        group_docs = []
        for g in groups:
            headline = max(g.headlines.items(), key=lambda kv: (kv[1], kv[0]))[0] if g.headlines else ""
            group_docs.append({
                "id": ids[id(g)],
                "count": len(g.nodes),
                "nodes": compress(g.nodes),
                "common": id(g) in common_ids,
                "verdicts": {s: g.statuses.get(s, 0) for s in VERDICTS},
                "headline": headline,
                "fingerprint": [{"field": f, "label": field_label(f), "value": v} for f, v in g.fingerprint],
                "findings": [{"id": fid, "severity": sev} for fid, sev in map(_split_finding, g.findings)],
            })

        outliers: list[dict[str, Any]] = []
        for g in groups:
            if id(g) in common_ids:
                continue
            ref, diffs = self._closest(g, common)
            fset, rset = set(g.findings), set(ref.findings)
            outliers.append({
                "group": ids[id(g)],
                "nodes": compress(g.nodes),
                "count": len(g.nodes),
                "compared_with": ids[id(ref)],
                "others": len(ref.nodes),
                "differs": diffs,
                "findings_added": [{"id": a, "severity": b} for a, b in map(_split_finding, sorted(fset - rset))],
                "findings_missing": [{"id": a, "severity": b} for a, b in map(_split_finding, sorted(rset - fset))],
            })

        # A finding's nodes are the union of the groups that have it; many findings share the same
        # groups (every ok finding of the common configurations), so each union is written once.
        finding_groups: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            for f in g.findings:
                finding_groups.setdefault(f, []).append(i)
        hostlists: dict[tuple[int, ...], str] = {}
        rows = []
        for f, members in finding_groups.items():
            key = tuple(members)
            if key not in hostlists:
                hostlists[key] = compress(node for i in members for node in groups[i].nodes)
            fid, sev = _split_finding(f)
            count = sum(len(groups[i].nodes) for i in members)
            rows.append((_SEVERITY_ORDER.get(sev, 9), -count, fid, sev, count, hostlists[key]))
        findings = [{"id": fid, "severity": sev, "count": count, "nodes": nodes}
                    for _o, _n, fid, sev, count, nodes in sorted(rows, key=lambda r: r[:3])]

        problems, unexpected = self._problems(expect)
        counts = {s: 0 for s in VERDICTS}
        for status in self.seen.values():
            counts[status] = counts.get(status, 0) + 1
        kinds = {k: sum(1 for p in problems if p["kind"] == k) for k in ("broken", "unreadable", "no_report",
                                                                          "duplicate", "missing")}
        bad_nodes = sum(v for k, v in kinds.items() if k != "duplicate")
        ready = counts["ready"] == total and total > 0 and not problems
        nodes_total = total + bad_nodes
        parts = [f"{counts['ready']} of {nodes_total} nodes ready"]
        if counts["not_ready"]:
            parts.append(f"{counts['not_ready']} not ready")
        if counts["unknown"]:
            parts.append(f"{counts['unknown']} unknown")
        for kind, one, many in (("broken", "broken report", "broken reports"),
                                ("unreadable", "unreadable report", "unreadable reports"),
                                ("no_report", "without a report", "without a report"),
                                ("missing", "missing", "missing"),
                                ("duplicate", "duplicate report", "duplicate reports")):
            if kinds[kind]:
                parts.append(f"{kinds[kind]} {one if kinds[kind] == 1 else many}")
        if outliers:
            n = sum(o["count"] for o in outliers)
            parts.append(f"{n} outlier{'s' if n != 1 else ''}")
        node_docs = []
        for g in groups:
            gid = ids[id(g)]
            for node in g.nodes:
                status = self.seen[node]
                entry: dict[str, Any] = {"node": node, "status": status, "group": gid}
                if status != "ready":
                    entry["headline"] = self.not_ready_headlines.get(node, "")
                node_docs.append(entry)
        node_docs.sort(key=lambda d: d["node"])
        return {
            "schema_version": FLEET_SCHEMA_VERSION,
            "kind": "fleet",
            "tool": {"name": "tfgpu", "version": tool_version},
            "verdict": {"status": "ready" if ready else "not_ready", "headline": "; ".join(parts)},
            "counts": {"nodes": nodes_total, "reports": total, **counts, **kinds,
                       "groups": len(groups), "outliers": sum(o["count"] for o in outliers)},
            "outlier_share": outlier_share,
            "majority": group_docs[0]["id"] if group_docs else None,
            "groups": group_docs,
            "outliers": outliers,
            "findings": findings,
            "problems": problems,
            "unexpected": compress(unexpected) if unexpected else "",
            "nodes": node_docs,
        }

    @staticmethod
    def _closest(group: _Group, common: list[_Group]) -> tuple[_Group, list[dict[str, Any]]]:
        best: tuple[tuple, _Group, list[dict[str, Any]]] | None = None
        mine = dict(group.fingerprint)
        for ref in common:
            theirs = dict(ref.fingerprint)
            diffs = []
            for field in [f for f, _ in group.fingerprint] + [f for f, _ in ref.fingerprint if f not in mine]:
                value, other = mine.get(field, NONE), theirs.get(field, NONE)
                if value != other:
                    diffs.append({"field": field, "label": field_label(field), "value": value, "others": other})
            finding_diff = len(set(group.findings) ^ set(ref.findings))
            score = (len(diffs), finding_diff, -len(ref.nodes))
            if best is None or score < best[0]:
                best = (score, ref, diffs)
        assert best is not None
        return best[1], best[2]
