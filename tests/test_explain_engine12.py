"""explain's engine changes asked for by the issue #12 class owners: Windows DLL names resolved through
the matrix, the Python version and the Python/TensorFlow pair that works, tensorflow-gpu 2.11+, the WSL2
steps, the conda activate.d fix, one driver-mismatch finding, plain tensorflow CPU-only from the matrix,
and a scan whose speed-ups (literals searched through the ones they contain, constant facts retired
once recorded, ASCII lines searched apart) change no result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.explain.knowledge import parse_knowledge
from tfgpu.explain.scan import scan
from tfgpu.matrix import load as load_matrix

LOGS = Path(__file__).parent / "data" / "logs"
P = "2024-01-01 00:00:00.000001: "


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _body(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return [line for line in lines if not line.startswith("# ")]


def _norm(result):
    return (result.lines_read,
            {k: (v.count, [(e.line, e.text) for e in v.lines], v.values) for k, v in result.hits.items()},
            result.facts, {k: (e.line, e.text) for k, e in result.fact_lines.items()},
            [(e.line, e.text) for e in result.unrecognized], result.unrecognized_count)


def test_batched_scan_equals_line_by_line_scan_on_the_whole_corpus() -> None:
    """Batches of 4096, of 7 and of 1 line see the same hits, facts, evidence and unrecognised lines
    (a retired constant fact, a literal found through a shorter one, a wide line among ASCII ones)."""
    know = load_knowledge()
    lines = [line for path in sorted(LOGS.glob("*.txt")) for line in _body(path)]
    lines += ["█ progress " + lines[0], lines[1]] * 3  # wide lines and repeats in one batch
    whole = _norm(scan(lines, know))
    assert _norm(scan(lines, know, batch_lines=7)) == whole
    assert _norm(scan(lines, know, batch_lines=1)) == whole


def test_unless_regex_vetoes_and_split_fact_groups_join() -> None:
    data = {"schema_version": 1,
            "signatures": [{"id": "x-y", "role": "cause", "severity": "error", "summary": "s",
                            "patterns": [{"literal": "abc", "unless_regex": "abc==2\\.1[1-9]"}],
                            "threads": ["https://example.org/1"]}],
            "facts": [{"name": "python_version",
                       "patterns": [{"literal": "site-packages",
                                     "regex": "python(?P<python_version_major>3)(?P<python_version_minor>\\d{1,2})\\\\site-packages"}]}]}
    know = parse_knowledge(data)
    result = scan(["abc==2.1", "abc==2.11", "c:\\python39\\site-packages\\x"], know)
    assert result.hits["x-y"].count == 1
    assert result.facts["python_version"] == ["3.9"]
