"""The repository stands alone: no tracked file points at a place outside it."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import REPO

#: Built from parts, so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join([
        re.escape(".." + "/shared"),
        re.escape("official" + "_facts.md"),
        re.escape("tf_wheels" + "_facts"),
        r"(?<![\w~.])/" + "work/",  # an absolute workplace path (a log's "~/work/..." is the user's home)
    ])
)


def tracked_files() -> list[str]:
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run([git, "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60)
    return [name for name in out.stdout.decode("utf-8", "replace").split("\0") if name]


def test_the_pattern_finds_what_it_must():
    for text in ("see ../" + "shared/docs/x.md", "docs/official" + "_facts.md 5.2", "tf_wheels" + "_facts.json",
                 "python /" + "work/main/x.py"):
        assert OUTSIDE.search(text), text
    assert not OUTSIDE.search("user@host:~/work/pytorch$ python x.py")


def test_no_tracked_file_mentions_a_path_outside_the_repository():
    names = tracked_files()
    assert "README.md" in names and "docs/architecture.md" in names and "docs/knowledge.md" in names
    hits = []
    for name in names:
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the working tree
        text = path.read_bytes().decode("utf-8", "replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            m = OUTSIDE.search(line)
            if m:
                hits.append(f"{name}:{lineno}: {m.group(0)}")
    assert not hits, "files that point outside the repository:\n" + "\n".join(hits)


def test_readme_links_the_docs_that_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for doc in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (REPO / doc).is_file(), doc
    assert "docs/architecture.md" in readme and "docs/knowledge.md" in readme
