"""The parsed-YAML cache shared by the matrix and explain's signature knowledge.

PyYAML's import and parse dominate start-up, so the parsed data is kept as JSON under
$XDG_CACHE_HOME/tfgpu (else ~/.cache/tfgpu), in a file named by a key: the checksum of what was
parsed (the files' names and contents) and the cache format, so any change to a file is a new key.
A cache file's first line is a tag and the checksum of the rest; a file that does not match, or
cannot be read, is ignored (never trusted) and rewritten. Only parsing is cached: callers validate
the data they get, cached or not. TFGPU_NO_CACHE=1 turns the cache off.

The checksum (`digest`) is BLAKE2b (16 bytes), a cryptographic hash: no two files, and so no
`--matrix` file crafted to collide with the bundled matrix's key, share a cache file. It comes from
the `_blake2` module that hashlib itself re-exports as `hashlib.blake2b`, because importing hashlib
loads OpenSSL's libcrypto: ~6 ms of every run's critical path, against ~0.4 ms for `_blake2`
(bench/bench_doctor.py); hashlib is the fallback where that module is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def cache_dir(environ: Any = None) -> Path | None:
    """$XDG_CACHE_HOME/tfgpu, else ~/.cache/tfgpu; a relative XDG_CACHE_HOME is ignored (the XDG
    Base Directory spec: "If an implementation encounters a relative path ... it should consider
    the path invalid and ignore it"); None where no absolute folder can be had."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "tfgpu"


def digest(data: bytes) -> str:
    """BLAKE2b of `data` (16 bytes, as hexadecimal; see the module's text)."""
    try:
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()


def cache_file(prefix: str, key: bytes) -> Path | None:
    """The cache file `<prefix>-<digest of key>.json`, or None where caching is off or no folder."""
    if os.environ.get("TFGPU_NO_CACHE"):
        return None
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"{prefix}-{digest(key)}.json"


def read_cache(cache: Path | None, tag: str) -> Any:
    """The cached data, or None where there is none or it is damaged in any way (never raises)."""
    if cache is None:
        return None
    import json

    from tfgpu.safeio import BadInput, read_bytes

    try:
        raw = read_bytes(str(cache), "cache")
        head, sep, body = raw.partition(b"\n")
        got_tag, _sp, checksum = head.decode("ascii").partition(" ")
        if not sep or got_tag != tag or digest(body) != checksum:
            return None
        return json.loads(body.decode("utf-8"))
    except (BadInput, OSError, ValueError, RecursionError, MemoryError):
        return None


def write_cache(cache: Path | None, data: Any, tag: str) -> None:
    """Write parsed `data` atomically: a temporary file in the same folder, then rename; a failure
    removes the temporary file and leaves any previous cache as it was. Data JSON would not give
    back as it is (a date, a number as a mapping key) is not cached."""
    if cache is None:
        return
    import json
    import tempfile

    try:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        if json.loads(body) != data:
            return
    except (TypeError, ValueError, RecursionError, MemoryError):
        return
    from tfgpu.safeio import LIMITS

    if len(body) > LIMITS["cache"] - 200:
        return
    text = f"{tag} {digest(body)}\n".encode("ascii") + body
    prefix = cache.name.split("-", 1)[0] + "-"
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(cache.parent, prefix)
        fd, tmp = tempfile.mkstemp(prefix=cache.name + ".", suffix=".tmp", dir=str(cache.parent))
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
        os.replace(tmp, cache)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def remove_stale_temporaries(folder: Path, prefix: str, age: float = 3600.0) -> None:
    """Temporary files a killed run left behind (an hour old: no live writer takes that long)."""
    import time

    try:
        now = time.time()
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                try:
                    if now - entry.stat(follow_symlinks=False).st_mtime > age:
                        os.unlink(entry.path)
                except OSError:
                    pass
    except OSError:
        pass


def files_key(fmt: str, files: Sequence[tuple[str, bytes]]) -> bytes:
    """A cache key for several files: the format, then each file's name, length and content, in order
    (the lengths keep one file's bytes from passing for the next's)."""
    parts = [fmt.encode("utf-8", "surrogateescape"), f"|{len(files)}|".encode("ascii")]
    for name, content in files:
        parts.append(f"{name}|{len(content)}|".encode("utf-8", "surrogateescape"))
        parts.append(content)
    return b"".join(parts)


def load_yaml_cached(files: Sequence[tuple[str, bytes]], parse: Callable[[str, bytes], Any],
                     check: Callable[[list[Any]], T], *, prefix: str, tag: str, fmt: str,
                     errors: tuple[type[Exception], ...] = (ValueError,)) -> T:
    """`check` of the parsed data of `files` (name, content), a list with one item per file: from the
    cache where it holds that, else `parse(name, content)` for each, checked, then cached. Cached data
    `check` refuses (raises one of `errors`) is not trusted: the files are parsed again."""
    cache = cache_file(prefix, files_key(fmt, files))
    cached = read_cache(cache, tag)
    if isinstance(cached, list) and len(cached) == len(files):
        try:
            return check(cached)
        except errors:
            pass  # a damaged cache file: the files decide, and the cache is rewritten
    data = [parse(name, content) for name, content in files]
    result = check(data)
    write_cache(cache, data, tag)
    return result
