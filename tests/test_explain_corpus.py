"""`tfgpu explain` over the corpus of real logs (tests/data/logs): each gives the findings its header expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.explain.knowledge import FAILURE_CLASSES
from tfgpu.matrix import load as load_matrix

LOGS = Path(__file__).parent / "data" / "logs"
LOG_FILES = sorted(LOGS.glob("*.txt"))
#: Findings made by rules over facts rather than by one signature's lines.
RULE_IDS = {"windows-native-gpu-unsupported", "unrecognized-error"}
#: The kinds of report issue #12 lists; the corpus holds at least MIN_PER_CLASS real logs of each.
ISSUE_CLASSES = ("windows", "macos", "packages", "pip-install", "python-version", "docker", "wsl", "conda", "loader",
                 "kernels", "driver", "success", "pasted-output", "shared-env")
MIN_PER_CLASS = 5


def read_corpus_log(path: Path) -> tuple[dict[str, str], list[str]]:
    """The `# key: value` header and the verbatim log lines after it."""
    header: dict[str, str] = {}
    body: list[str] = []
    in_header = True
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if in_header and line.startswith("# ") and ":" in line:
            key, value = line[2:].split(":", 1)
            header[key.strip()] = value.strip()
            continue
        in_header = False
        body.append(line)
    return header, body


def expected_ids(header: dict[str, str]) -> set[str]:
    ids = {e.strip() for e in header["expect"].split(",") if e.strip()}
    return {"unrecognized-error" if e == "unrecognized" else e for e in ids} - {"none"}


def _is_noise(finding_id: str) -> bool:
    return finding_id.startswith("noise-")


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def test_corpus_is_big_enough_and_sourced() -> None:
    assert len(LOG_FILES) >= 40
    for path in LOG_FILES:
        header, body = read_corpus_log(path)
        assert header.get("source", "").startswith("https://"), path.name
        assert "expect" in header, path.name
        assert header.get("class") in FAILURE_CLASSES, (path.name, header.get("class"))
        assert header.get("split", "dev") in ("dev", "heldout"), path.name
        assert any(line.strip() for line in body), path.name


def test_every_issue_class_has_enough_real_logs() -> None:
    counts = {c: 0 for c in ISSUE_CLASSES}
    for path in LOG_FILES:
        klass = read_corpus_log(path)[0].get("class")
        if klass in counts:
            counts[klass] += 1
    assert {c: n for c, n in counts.items() if n < MIN_PER_CLASS} == {}


@pytest.mark.parametrize("path", LOG_FILES, ids=[p.stem for p in LOG_FILES])
def test_log_gives_expected_findings(path: Path, matrix) -> None:
    header, body = read_corpus_log(path)
    want = expected_ids(header)
    report = explain_lines(body, matrix, path.name)
    got = {f.id for f in report.findings}
    # Problems must match exactly (no missed cause, no false alarm); expected noise must be named.
    assert {i for i in got if not _is_noise(i)} == {i for i in want if not _is_noise(i)}, (got, want)
    assert {i for i in want if _is_noise(i)} <= got, (got, want)
    for f in report.findings:
        lines = f.evidence.get("lines") or []
        if f.evidence.get("source") != "matrix" and f.id != "windows-native-gpu-unsupported":
            assert lines, f.id
        for e in lines:
            # Evidence quotes the log verbatim, with the right line number.
            assert body[e["line"] - 1].startswith(e["text"][:200]), (f.id, e)
        if f.severity.value == "error":
            assert f.fixes and all(fix.summary for fix in f.fixes), f.id
    if not {i for i in want if not _is_noise(i)}:
        assert report.verdict.status.value in ("ready", "unknown")
    elif any(f.severity.value == "error" for f in report.findings):
        assert report.verdict.status.value == "not_ready"


def test_every_signature_is_exercised_by_a_real_log(matrix) -> None:
    seen: set[str] = set()
    for path in LOG_FILES:
        _, body = read_corpus_log(path)
        seen |= {f.id for f in explain_lines(body, matrix, path.name).findings}
    ids = {s.id for s in load_knowledge().signatures} | RULE_IDS
    assert ids - seen == set()


def test_noise_only_log_says_nothing_is_wrong_and_why(matrix) -> None:
    header, body = read_corpus_log(LOGS / "microwakeword8_noise_only_tf217.txt")
    assert header["expect"] == "none"
    report = explain_lines(body, matrix)
    assert report.findings
    assert all(f.severity.value == "info" and f.summary.startswith("Harmless") for f in report.findings)
    assert report.verdict.headline.startswith("Nothing in this log is wrong")
    assert "harmless" in report.verdict.headline
    flagged = sum(f.evidence["matches"] for f in report.findings)
    assert f"all {flagged} flagged lines" in report.verdict.headline
