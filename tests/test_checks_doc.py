"""docs/checks.md is the generated reference of every check, byte for byte; its check sections are
anchored by check id (where each finding's link lands); `tfgpu doctor --list --json` carries the
same data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import json_report, run_tfgpu

from tfgpu.checks import builtin_registry
from tfgpu.render.checks import POLICY_CHECKS, POLICY_UNMEASURABLE, REGENERATE, doc_link

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "checks.md"
sys.path.insert(0, str(ROOT / "tools"))

import make_checks_doc  # noqa: E402


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_checks_doc_is_the_generated_output():
    text = make_checks_doc.generate()
    assert DOC.read_text(encoding="utf-8") == text, f"docs/checks.md is stale: run `{REGENERATE}`"


def test_the_check_script_says_stale_and_how_to_fix_it(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "checks.md"
    stale.write_text("old\n")
    monkeypatch.setattr(make_checks_doc, "DOC", stale)
    assert make_checks_doc.main(["--check"]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert stale.read_text() == "old\n"  # --check writes nothing
    assert make_checks_doc.main([]) == 0 and make_checks_doc.main(["--check"]) == 0


def test_every_check_section_is_anchored_by_its_id_and_nothing_else_is():
    text = DOC.read_text(encoding="utf-8")
    sections = [_anchor(h) for h in re.findall(r"^### (.+)$", text, re.M)]
    ids = [c.id for c in builtin_registry().values()] + [p[0] for p in POLICY_CHECKS]
    assert sorted(sections) == sorted(ids)
    headings = [_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)]
    assert len(headings) == len(set(headings)), "two headings share an anchor"
    for link in re.findall(r"\]\(#([\w-]+)\)", text):
        assert link in headings, f"dangling link #{link}"
    for chk in builtin_registry().values():
        assert doc_link(chk.id).endswith(f"docs/checks.md#{chk.id}")


def test_each_check_section_lists_what_it_emits():
    text = DOC.read_text(encoding="utf-8")
    for chk in builtin_registry().values():
        section = text.split(f"\n### {chk.id}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        assert chk.description in section
        for fid in chk.emits or ():
            assert f"`{fid}`" in section, (chk.id, fid)


def test_the_policy_section_covers_the_policy_engine():
    policy = pytest.importorskip("tfgpu.policy")
    assert {p[0] for p in POLICY_CHECKS} == set(policy.CHECKS.values())
    assert POLICY_UNMEASURABLE == policy.UNMEASURABLE
    assert {p[2] for p in POLICY_CHECKS} <= set(policy.KEYS)


def test_log_classes_are_listed_with_their_fixes():
    from tfgpu.explain import load_knowledge

    text = DOC.read_text(encoding="utf-8")
    shown = [s for s in load_knowledge().signatures if s.role != "noise"]
    assert len(shown) > 30
    for sig in shown:
        assert f"| `{sig.id}` |" in text


def test_list_json_says_what_each_check_checks_emits_and_where_fixes_are():
    proc = run_tfgpu("doctor", "--list", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = {c["id"]: c for c in data["checks"]}
    assert set(rows) == {c.id for c in builtin_registry().values()}
    for chk in builtin_registry().values():
        row = rows[chk.id]
        assert row["area"] == chk.area and row["title"] == chk.title and row["description"] == chk.description
        assert row["emits"] == sorted(chk.emits or ()) and row["emits"]
        assert row["fixes"]["shown_by"] == f"tfgpu doctor {chk.id}" and row["fixes"]["doc"] == doc_link(chk.id)
    assert rows["tf-live"]["emits_log_classes"] is True
    classes = {c["id"]: c for c in data["log_classes"]}
    assert classes["cuda-runtime-missing"]["fixes"], classes["cuda-runtime-missing"]


def test_the_script_runs_as_a_command():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_checks_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_finding_of_a_real_report_links_to_a_section():
    """The links the Markdown and JUnit reports carry (`doc_link(finding.check)`) land on a section:
    this machine's report, with a policy requirement too."""
    data, _ = json_report("doctor", "--json", "--fast", "--require-gpus", "1", expect_codes=(1,))
    text = DOC.read_text(encoding="utf-8")
    sections = {_anchor(h) for h in re.findall(r"^### (.+)$", text, re.M)}
    checks = {f["check"] for f in data["findings"]}
    assert "policy-gpus" in checks
    assert checks <= sections, checks - sections
