"""Signature packs (knowledge/signatures.d/*.yaml) add to the main signature file; every signature
names the class of report it belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgpu.explain.knowledge import FAILURE_CLASSES, KnowledgeError, _load_cached, load_knowledge

MAIN = """schema_version: 1
signatures:
  - id: main-sig
    role: cause
    severity: error
    summary: "main"
    threads: ["https://example.org/t/1"]
    patterns: [{literal: "MAIN FAILURE"}]
"""
PACK = """signatures:
  - id: pack-sig
    class: docker
    role: cause
    severity: error
    summary: "from a pack"
    threads: ["https://example.org/t/2"]
    patterns: [{literal: "PACK FAILURE"}]
"""


def _knowledge(tmp_path: Path, pack: str | None) -> Path:
    main = tmp_path / "signatures.yaml"
    main.write_text(MAIN)
    if pack is not None:
        (tmp_path / "signatures.d").mkdir()
        (tmp_path / "signatures.d" / "10-docker.yaml").write_text(pack)
    _load_cached.cache_clear()
    return main


def test_a_pack_adds_its_signatures_with_their_class(tmp_path: Path):
    k = load_knowledge(str(_knowledge(tmp_path, PACK)))
    got = {s.id: s.failure_class for s in k.signatures}
    assert got == {"main-sig": "linux-libraries", "pack-sig": "docker"}


def test_a_pack_with_another_key_or_a_duplicate_id_is_refused(tmp_path: Path):
    with pytest.raises(KnowledgeError, match="holds only"):
        load_knowledge(str(_knowledge(tmp_path, "schema_version: 1\n" + PACK)))
    with pytest.raises(KnowledgeError, match="duplicate id"):
        other = tmp_path / "b"
        other.mkdir()
        load_knowledge(str(_knowledge(other, PACK.replace("pack-sig", "main-sig"))))


def test_an_unknown_class_is_refused(tmp_path: Path):
    with pytest.raises(KnowledgeError, match="'class' must be one of"):
        load_knowledge(str(_knowledge(tmp_path, PACK.replace("class: docker", "class: dockr"))))


def test_every_shipped_signature_has_a_known_class():
    _load_cached.cache_clear()
    sigs = load_knowledge().signatures
    assert sigs and all(s.failure_class in FAILURE_CLASSES for s in sigs)
