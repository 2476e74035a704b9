#!/usr/bin/env python3
"""Maintainer script: write docs/checks.md, the reference page of every check, from the registry.

The page is `tfgpu.render.checks.markdown` over the built-in checks (never the plugins installed
here) and explain's signature knowledge; tests/test_checks_doc.py fails when the committed page
differs from it by a byte.

    python tools/make_checks_doc.py            # rewrite docs/checks.md
    python tools/make_checks_doc.py --check    # exit 1 if it is stale, writing nothing
"""

from __future__ import annotations

import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "checks.md"


def generate() -> str:
    from tfgpu.checks import builtin_registry
    from tfgpu.explain import load_knowledge
    from tfgpu.render.checks import markdown

    return markdown(builtin_registry().values(), load_knowledge())


def main(argv: list[str] | None = None) -> int:
    from _generated import main as write_or_check

    return write_or_check(argv, __doc__.splitlines()[0], DOC, generate, "tools/make_checks_doc.py")


if __name__ == "__main__":
    sys.exit(main())
