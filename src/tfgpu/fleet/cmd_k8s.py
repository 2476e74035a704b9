"""`tfgpu fleet k8s-manifest` (to be written)."""

from __future__ import annotations

from tfgpu.console import EXIT_USAGE, err


def k8s_manifest() -> None:
    """Not written yet."""
    err("not written yet")
    raise SystemExit(EXIT_USAGE)
