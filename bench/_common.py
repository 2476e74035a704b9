"""Shared by the benchmarks: a target environment, and alternating runs of two commands."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Callable, TypeVar

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def target_args(description: str, default_env: str, runs: int = 5):
    """--python (the target interpreter, by default one of the venvs scripts/test.sh makes) and --runs."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--python", default=str(REPO / ".venvs" / default_env / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=runs)
    return parser.parse_args()


def clean_env() -> dict[str, str]:
    """This environment without an active venv, so that --python alone picks the target."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}


def alternate(baseline: Callable[[], T], candidate: Callable[[], T], runs: int) -> tuple[list[T], list[T]]:
    """One warm-up each (page cache), then `runs` alternating runs, so that drift hits both alike."""
    baseline()
    candidate()
    b, c = [], []
    for _ in range(runs):
        b.append(baseline())
        c.append(candidate())
    return b, c


median = statistics.median
