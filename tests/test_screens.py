"""The screens in docs/screens/ (tmux captures at 80 and 120 columns, shown in the README) are what
tfgpu prints today: each command is run again at the same fixed width (COLUMNS, no tmux) through
the same code path, and any drift fails. After a deliberate change to the report, regenerate
them with `python docs/screens/make_screens.py` (it needs tmux)."""

from __future__ import annotations

import re
import shlex
import sys

import pytest
from conftest import REPO, run_tfgpu

sys.path.insert(0, str(REPO / "docs" / "screens"))
from make_screens import SCREENS, WIDTHS  # noqa: E402

HERE = REPO / "docs" / "screens"
#: The doctor's own run time: the one part of a replay that differs from run to run.
_SECONDS = re.compile(r"· \d+\.\d\d s$", re.M)


def _normal(text: str) -> str:
    return _SECONDS.sub("· N s", "\n".join(line.rstrip() for line in text.rstrip("\n").split("\n")))


CASES = [(name, width) for name in SCREENS for width in WIDTHS]


@pytest.mark.parametrize("name, width", CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_screen_has_not_drifted(name, width):
    path = HERE / f"{name}-{width}.txt"
    assert path.exists(), f"{path.name} missing: run python docs/screens/make_screens.py"
    saved = path.read_text(encoding="utf-8")
    typed, _, shown = saved.partition("\n")
    assert typed == f"$ {SCREENS[name]}"
    words = shlex.split(SCREENS[name])
    assert words[0] == "tfgpu"
    # A terminal's width and Unicode, no colour (the capture is plain text either way).
    proc = run_tfgpu(*words[1:], env={"COLUMNS": str(width), "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
                     cwd=str(REPO))
    assert proc.returncode in (0, 1), proc.stderr
    assert _normal(proc.stdout) == _normal(shown), (
        f"docs/screens/{path.name} drifted from what tfgpu prints: regenerate with python docs/screens/make_screens.py")


@pytest.mark.parametrize("name", [n for n, cmd in SCREENS.items() if cmd.startswith("tfgpu doctor")])
def test_screen_lines_hold_at_their_width(name):
    """Prose wraps with a hanging indent inside the width; only commands and links (which must
    stay pasteable) may run past it."""
    for width in WIDTHS:
        for line in (HERE / f"{name}-{width}.txt").read_text(encoding="utf-8").split("\n")[1:]:
            if len(line) > width:
                word = line.split()[-1]
                assert line.lstrip().startswith(("/", "export ", "python", "sudo ", "wget ", "http", "$ ", "docker ")) \
                    or word.startswith(("http", "/", "'")), (name, width, line)


def test_readme_links_every_screen():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in SCREENS:
        assert f"docs/screens/{name}-80.txt" in readme, name
