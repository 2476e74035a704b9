"""The parsed-YAML cache (tfgpu.yamlcache) as explain's signature knowledge uses it: a warm
`tfgpu explain` imports no YAML, a damaged cache file is rebuilt (never trusted), and any edit to
the main file or a pack is a new key. The matrix's use of it is tested in test_faults_inputs.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tfgpu_env
from hypothesis import given, settings
from hypothesis import strategies as st
from test_signature_packs import MAIN, PACK
from test_startup_imports import _RECORD

from tfgpu import yamlcache
from tfgpu.explain import knowledge as knowledge_mod
from tfgpu.explain.knowledge import load_knowledge

LOGS = Path(__file__).parent / "data" / "logs"


def _knowledge_files(cache: Path) -> list[Path]:
    return sorted((cache / "tfgpu").glob("knowledge-*.json"))


def _fresh(monkeypatch, cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    knowledge_mod._load_cached.cache_clear()


def _explain_modules(tmp_path: Path, env: dict[str, str], log: Path) -> tuple[int, list[str]]:
    out = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", _RECORD, str(out), "explain", str(log)], capture_output=True,
                          text=True, env=tfgpu_env(env), timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    return proc.returncode, json.loads(out.read_text())


def test_a_warm_explain_of_a_corpus_log_imports_no_yaml(tmp_path: Path):
    log = min(LOGS.glob("*.txt"))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    cold_code, cold = _explain_modules(tmp_path, env, log)
    assert "yaml" in cold  # the first run parses the knowledge, and caches it
    assert _knowledge_files(tmp_path / "cache")
    warm_code, warm = _explain_modules(tmp_path, env, log)
    assert warm_code == cold_code
    assert "tfgpu.explain.knowledge" in warm
    assert [m for m in warm if m == "yaml" or m.startswith("yaml.")] == []


def test_the_warm_load_parses_nothing_and_gives_the_same_knowledge(monkeypatch, tmp_path: Path):
    _fresh(monkeypatch, tmp_path)
    cold = load_knowledge()
    knowledge_mod._load_cached.cache_clear()

    def refuse(path: str, content: bytes):
        raise AssertionError(f"parsed {path} though the cache holds it")

    monkeypatch.setattr(knowledge_mod, "_parse_yaml", refuse)
    warm = load_knowledge()
    assert warm == cold and len(warm.signatures) > 10


def _reseal(text: str, change) -> str:
    """A changed body with a matching checksum line: only validation can tell it is wrong."""
    body = change(text.split("\n", 1)[1])
    return f"tfgpu-knowledge-cache {yamlcache.digest(body.encode())}\n{body}"


DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "garbage": lambda text: "\x00\xff garbage",
    "body-edited": lambda text: text.replace('"role":"cause"', '"role":"effect"', 1),
    "nested": lambda text: text.split("\n", 1)[0] + "\n" + "[" * 100000,
    "resealed-bad-role": lambda text: _reseal(text, lambda b: b.replace('"role":"cause"', '"role":"bogus"', 1)),
    "resealed-one-item": lambda text: _reseal(text, lambda b: f"[{b}]"),
    "resealed-not-a-list": lambda text: _reseal(text, lambda b: '{"a":1}'),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_knowledge_cache_is_rebuilt(monkeypatch, tmp_path: Path, damage: str):
    _fresh(monkeypatch, tmp_path)
    good = load_knowledge()
    (path,) = _knowledge_files(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(DAMAGE[damage](text), encoding="utf-8", errors="surrogateescape")
    knowledge_mod._load_cached.cache_clear()
    assert load_knowledge() == good
    (path,) = _knowledge_files(tmp_path)
    assert path.read_text(encoding="utf-8") == text, "the cache was not rewritten from the YAML"
    assert not list((tmp_path / "tfgpu").glob("*.tmp"))


def test_editing_a_pack_or_the_main_file_is_a_new_key(monkeypatch, tmp_path: Path):
    _fresh(monkeypatch, tmp_path / "cache")
    main = tmp_path / "signatures.yaml"
    main.write_text(MAIN)
    (tmp_path / "signatures.d").mkdir()
    pack = tmp_path / "signatures.d" / "10-docker.yaml"
    pack.write_text(PACK)
    assert {s.summary for s in load_knowledge(str(main)).signatures} == {"main", "from a pack"}
    assert len(_knowledge_files(tmp_path / "cache")) == 1
    pack.write_text(PACK.replace('"from a pack"', '"edited pack"'))
    knowledge_mod._load_cached.cache_clear()
    assert {s.summary for s in load_knowledge(str(main)).signatures} == {"main", "edited pack"}
    main.write_text(MAIN.replace('"main"', '"edited main"'))
    knowledge_mod._load_cached.cache_clear()
    assert {s.summary for s in load_knowledge(str(main)).signatures} == {"edited main", "edited pack"}
    pack.rename(pack.with_name("20-docker.yaml"))  # a renamed pack: same bytes, another name
    knowledge_mod._load_cached.cache_clear()
    load_knowledge(str(main))
    assert len(_knowledge_files(tmp_path / "cache")) == 4


def test_the_key_separates_files_and_names():
    key = yamlcache.files_key
    assert key("f", [("a", b"xy"), ("b", b"")]) != key("f", [("a", b"x"), ("b", b"y")])
    assert key("f", [("a", b"x")]) != key("f", [("b", b"x")])
    assert key("f", [("a", b"x")]) != key("g", [("a", b"x")])


def test_data_json_would_change_is_not_cached(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for i, data in enumerate(({1: "a number as a key"}, {"nan": float("nan")}, {"t": (1, 2)})):
        cache = yamlcache.cache_file("test", str(i).encode())
        assert cache is not None
        yamlcache.write_cache(cache, data, "tag")
        assert not cache.exists()
    cache = yamlcache.cache_file("test", b"ok")
    yamlcache.write_cache(cache, {"a": [1, "b", None]}, "tag")
    assert yamlcache.read_cache(cache, "tag") == {"a": [1, "b", None]}
    assert yamlcache.read_cache(cache, "other-tag") is None


def test_no_cache_when_turned_off(monkeypatch, tmp_path: Path):
    _fresh(monkeypatch, tmp_path)
    monkeypatch.setenv("TFGPU_NO_CACHE", "1")
    assert load_knowledge().signatures
    assert not _knowledge_files(tmp_path)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_a_cache_body_with_any_one_byte_changed_is_not_read(body: bytes, data) -> None:
    """A body damaged in any one byte, cut short or grown never passes as the one written."""
    at = data.draw(st.integers(0, len(body) - 1))
    flipped = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1:]
    for damaged in (flipped, body[:-1], body + b"\x00"):
        assert yamlcache.digest(damaged) != yamlcache.digest(body)


def test_the_digest_is_blake2b_without_importing_hashlib() -> None:
    code = ("import sys; from tfgpu import yamlcache; print(yamlcache.digest(b'tfgpu')); "
            "print('hashlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    import hashlib

    assert out == [hashlib.blake2b(b"tfgpu", digest_size=16).hexdigest(), "False"]
