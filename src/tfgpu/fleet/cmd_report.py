"""`tfgpu fleet report` (to be written)."""

from __future__ import annotations

from tfgpu.console import EXIT_USAGE, err


def report() -> None:
    """Not written yet."""
    err("not written yet")
    raise SystemExit(EXIT_USAGE)
