"""Version parsing, in one place: every layer reads dotted versions the same way (and
distribution names, normalised one way).

All functions are total: text that does not parse gives None, never an exception.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 compares it: runs of -, _ and . become one -, lower case
    (packaging.utils.canonicalize_name)."""
    return re.sub(r"[-_.]+", "-", name).lower()

_LEAD_MAJOR = re.compile(r"^(\d+)")
_LEAD_MM = re.compile(r"^(\d+)\.(\d+)")
_CC_TEXT = re.compile(r"^(\d+)\.(\d+)$")


def pep440(text: str | None) -> Version | None:
    """A PEP 440 version ("2.16.1", "2.22.0rc0"), or None."""
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def major_of(text: str | None) -> int | None:
    """The leading number of a dotted version ("9.3.0" → 9, "12" → 12)."""
    m = _LEAD_MAJOR.match(text or "")
    return int(m.group(1)) if m else None


def major_minor(text: str | None) -> tuple[int, int] | None:
    """(major, minor) of a dotted version ("9.3.0" → (9, 3)); None where it has no minor."""
    m = _LEAD_MM.match(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def short(text: str | None) -> str | None:
    """"major.minor" of a dotted version ("3.11.7" → "3.11"); None where it has no minor."""
    mm = major_minor(text)
    return f"{mm[0]}.{mm[1]}" if mm else None


def numeric_key(text: str) -> tuple[int, ...]:
    """Every number in `text`, in order: a sort key for versions of mixed shape ("3.9", "3.10")."""
    return tuple(int(x) for x in re.findall(r"\d+", text))


def cc_pair(text: str) -> tuple[int, int] | None:
    """A compute capability written "8.6" → (8, 6); None otherwise."""
    m = _CC_TEXT.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def driver_key(text: str) -> tuple[int, ...]:
    """An NVIDIA driver version ("535.104.05", "560.94") as numbers, for comparison."""
    return numeric_key(text)[:3]


def driver_at_least(have: str, need: str) -> bool:
    """Compare NVIDIA driver versions ("535.104.05" >= "525.60.13") numerically by part."""
    return driver_key(have) >= driver_key(need)


def nvml_library_version(path: str) -> str | None:
    """libnvidia-ml.so.535.104.05 → 535.104.05 (the loader resolves .so.1 to the versioned file)."""
    m = re.search(r"libnvidia-ml\.so\.(\d{3,}\.\d+(?:\.\d+)?)", path)
    return m.group(1) if m else None


def cudnn_from_number(text: str) -> str | None:
    """'8600' → '8.6.0', '90300' → '9.3.0' (cuDNN's own version encodings before and from 9)."""
    if not text.isdigit():
        return None
    if len(text) == 5:
        return f"{int(text[0])}.{int(text[1:3])}.{int(text[3:])}"
    if len(text) == 4:
        return f"{int(text[0])}.{int(text[1])}.{int(text[2:])}"
    return None
