"""`tfgpu fleet slurm` (to be written)."""

from __future__ import annotations

from tfgpu.console import EXIT_USAGE, err


def slurm() -> None:
    """Not written yet."""
    err("not written yet")
    raise SystemExit(EXIT_USAGE)


def healthcheck() -> None:
    """Not written yet."""
    err("not written yet")
    raise SystemExit(EXIT_USAGE)
