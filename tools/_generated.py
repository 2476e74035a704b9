"""Shared by the maintainer scripts that write a generated file: write it, or with --check say
whether the committed one is stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable


def main(argv: list[str] | None, description: str, path: Path, generate: Callable[[], str], script: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {path.name} is stale; write nothing")
    args = parser.parse_args(argv)
    text = generate()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if args.check:
        if current != text:
            print(f"{path.name} is stale: run python {script}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.name}")
    return 0
