#!/usr/bin/env python3
"""Maintainer script: write docs/checks.md, the reference page of every check, from the registry.

The page is `tfgpu.render.checks.markdown` over the built-in checks (never the plugins installed
here) and explain's signature knowledge; tests/test_checks_doc.py fails when the committed page
differs from it by a byte.

    python tools/make_checks_doc.py            # rewrite docs/checks.md
    python tools/make_checks_doc.py --check    # exit 1 if it is stale, writing nothing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "checks.md"


def generate() -> str:
    from tfgpu.checks import builtin_registry
    from tfgpu.explain import load_knowledge
    from tfgpu.render.checks import markdown

    return markdown(builtin_registry().values(), load_knowledge())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/checks.md is stale; write nothing")
    args = parser.parse_args(argv)
    text = generate()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else None
    if args.check:
        if current != text:
            print(f"{DOC.name} is stale: run python tools/make_checks_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
