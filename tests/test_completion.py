"""Shell completion (issue #13): `tfgpu completion SHELL` prints a script that names tfgpu and the
variable it answers through, and following that script's protocol completes `tfgpu doc` to `doctor`,
in a real bash too. An unknown shell is a usage error (exit 2, one line)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_tfgpu, tfgpu_env

#: tfgpu as its console script starts it: the program name is "tfgpu", as the scripts expect.
LAUNCH = "import sys; sys.argv[0] = 'tfgpu'; from tfgpu.launch import main; main()"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_is_printed_and_names_tfgpu(shell: str):
    proc = run_tfgpu("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert "tfgpu" in proc.stdout and "_TFGPU_COMPLETE" in proc.stdout and f"complete_{shell}" in proc.stdout
    assert proc.stdout.endswith("\n") and "Traceback" not in proc.stderr


def test_an_unknown_shell_is_a_usage_error():
    proc = run_tfgpu("completion", "tcsh")
    assert proc.returncode == 2 and proc.stderr.startswith("tfgpu: ") and proc.stderr.count("\n") == 1, proc.stderr


def _complete(words: str, cword: int, shell: str = "bash") -> list[str]:
    env = tfgpu_env({"_TFGPU_COMPLETE": f"complete_{shell}", "COMP_WORDS": words, "COMP_CWORD": str(cword),
                     "_TYPER_COMPLETE_ARGS": words})
    proc = subprocess.run([sys.executable, "-c", LAUNCH], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.split()


def test_completing_doc_gives_doctor():
    assert _complete("tfgpu doc", 1) == ["doctor"]


def test_options_of_a_command_are_completed():
    got = _complete("tfgpu doctor --no-s", 2)
    assert got == ["--no-smoke"]
    assert "--json" in _complete("tfgpu matrix --", 2)


def test_zsh_is_answered_too():
    assert any("doctor" in word for word in _complete("tfgpu doc", 1, shell="zsh"))


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_a_real_bash_completes_doc_to_doctor(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "tfgpu"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{LAUNCH}" "$@"\n')
    launcher.chmod(0o755)
    script = run_tfgpu("completion", "bash").stdout
    (tmp_path / "tfgpu.bash").write_text(script)
    driver = (f'source {tmp_path / "tfgpu.bash"}\n'
              'COMP_WORDS=(tfgpu doc); COMP_CWORD=1; _tfgpu_completion tfgpu doc tfgpu\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = tfgpu_env({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["doctor"], proc.stdout
