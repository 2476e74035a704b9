"""Library names resolve to CUDA releases through the matrix, and no fix command that cannot work
is ever offered: every pip and conda install is checked against the matrix (tfgpu.fixes.command_problems).

Sources: the matrix's generated `tensorflow` rows (`libraries`: the sonames each wheel dlopen()s;
`and_cuda`: the extra's pins, first in 2.14); conda-forge's file lists for cudatoolkit and cudnn
(signatures.yaml `conda_packages`). tensorflow/tensorflow#45263 (libcusolver.so.10 beside
libcusparse.so.11: TensorFlow 2.4, CUDA 11.0) and #45848 / #46310 (the same failure with TF 2.4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_driver_machines import MACHINES
from test_explain_corpus import LOG_FILES, read_corpus_log

from tfgpu.checks import builtin_registry
from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.explain.sonames import candidate_rows, cuda_text, resolve
from tfgpu.fixes import checked_fixes, command_problems
from tfgpu.matrix import load as load_matrix
from tfgpu.model import Fix

PREFIX = "2021-01-09 12:25:08.195326: "
LOGS = Path(__file__).parent / "data" / "logs"


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _dso(soname: str, ok: bool = False) -> str:
    where = "I tensorflow/stream_executor/platform/default/dso_loader.cc:49] "
    if ok:
        return PREFIX + where + f"Successfully opened dynamic library {soname}"
    return (PREFIX + where.replace("I ", "W ").replace(":49", ":60")
            + f"Could not load dynamic library '{soname}'; dlerror: {soname}: cannot open shared object file: "
            "No such file or directory")


def _lib_finding(report: Any) -> Any:
    return next(f for f in report.findings if f.id == "cuda-lib-missing")


def _commands(finding: Any) -> list[str]:
    return [c for fix in finding.fixes for c in fix.commands]


# --- sonames through the matrix -----------------------------------------------------------------


def test_libcusolver_so_10_is_cuda_11_0_for_tf_2_4_and_cuda_10_1_for_2_1_to_2_3(matrix) -> None:
    tf24 = resolve(matrix, "libcusolver.so.10", [matrix.tf_row("2.4.0")])
    assert tf24.cudas == ("11.0",) and tf24.series == ("2.4",)
    tf22 = resolve(matrix, "libcusolver.so.10", [matrix.tf_row("2.2.0")])
    assert tf22.cudas == ("10.1",)
    unknown = resolve(matrix, "libcusolver.so.10")
    assert unknown.cudas == ("10.1", "11.0")
    assert cuda_text(unknown, matrix) == "CUDA 10.1 (TensorFlow 2.1-2.3) or CUDA 11.0 (TensorFlow 2.4)"


def test_libcufft_so_10_is_cuda_10_1_with_tf_2_1_to_2_3(matrix) -> None:
    for tf in ("2.1.0", "2.2.0", "2.3.0"):
        assert resolve(matrix, "libcufft.so.10", [matrix.tf_row(tf)]).cudas == ("10.1",)
    # Without a version every CUDA that uses the name: 10.1 and all of CUDA 11 (2.4-2.14).
    assert resolve(matrix, "libcufft.so.10").cudas == ("10.1", "11.0", "11.2", "11.8")
    assert resolve(matrix, "libcufft.so.11").cuda_majors == ("12",)


def test_the_names_a_log_opened_narrow_its_release(matrix) -> None:
    rows = candidate_rows(matrix, ["libcusolver.so.10", "libcusparse.so.11"])
    assert [r.series for r in rows] == ["2.4"]
    # The era of the source path never overrides the names (tensorflow/stream_executor/ is 1.15-2.10).
    assert [r.series for r in candidate_rows(matrix, ["libcudart.so.10.1"], ["<2.11"])] == ["2.1", "2.2", "2.3"]


def test_the_library_table_keeps_no_cuda_the_matrix_knows(matrix) -> None:
    """A `cuda` in signatures.yaml only for names no matrix row dlopen()s (the hand table is gone)."""
    names = {name for row in matrix.tensorflow for name in row.libraries.values()}
    for lib in load_knowledge().libraries:
        if lib.cuda:
            assert not any(n.startswith(lib.prefix) for n in names), lib


# --- the TensorFlow 2.4 log of the issue ----------------------------------------------------------


def test_tf_2_4_log_missing_libcusolver_so_10_is_cuda_11_0(matrix) -> None:
    lines = ["TensorFlow version: 2.4.0", _dso("libcudart.so.11.0", ok=True), _dso("libcusolver.so.10")]
    f = _lib_finding(explain_lines(lines, matrix))
    assert "CUDA 11.0, TensorFlow 2.4" in f.summary
    cmds = _commands(f)
    assert "conda install -c conda-forge cudatoolkit=11.0" in cmds
    assert not any("cudatoolkit=10" in c for c in cmds)
    assert not any("[and-cuda]==2.4" in c for c in cmds), cmds
    assert not any("nvidia-cusolver" in c for c in cmds)  # no wheel ships libcusolver.so.10


def test_corpus_log_tf45263_is_cuda_11_0(matrix) -> None:
    _header, body = read_corpus_log(LOGS / "tf45263_cusolver10_cuda110.txt")
    f = _lib_finding(explain_lines(body, matrix))
    assert "(CUDA 11.0, TensorFlow 2.4)" in f.summary
    assert "conda install -c conda-forge cudatoolkit=11.0" in _commands(f)


def test_tf_2_2_log_missing_libcufft_so_10_gets_the_cuda_10_1_toolkit(matrix) -> None:
    lines = ["TensorFlow version: 2.2.0", _dso("libcufft.so.10")]
    cmds = _commands(_lib_finding(explain_lines(lines, matrix)))
    assert "conda install -c conda-forge cudatoolkit=10.1" in cmds
    assert not any("nvidia-cufft-cu11" in c for c in cmds), cmds


def test_unknown_release_names_every_cuda_of_the_name(matrix) -> None:
    report = explain_lines([PREFIX + "W x.cc:1] Could not load dynamic library 'libcufft.so.10'; dlerror: x"], matrix)
    f = _lib_finding(report)
    text = " ".join(fix.summary for fix in f.fixes)
    assert "CUDA 10.1 (TensorFlow 2.1-2.3) or CUDA 11.0-11.8 (TensorFlow 2.4-2.14)" in text
    assert not any("nvidia-cufft" in c or "cudatoolkit" in c for c in _commands(f)), _commands(f)


def test_windows_dll_names_still_explain(matrix) -> None:
    line = PREFIX + "W x.cc:1] Could not load dynamic library 'cudart64_110.dll'; dlerror: cudart64_110.dll not found"
    f = _lib_finding(explain_lines([line], matrix))
    assert any("wsl --install" in c for c in _commands(f))
    assert "conda install -c conda-forge cudatoolkit=11.2 cudnn=8.1.0" in _commands(f)


# --- the validator --------------------------------------------------------------------------------

CONDA = load_knowledge().conda


@pytest.mark.parametrize("command, kw, why", [
    ("python -m pip install 'tensorflow[and-cuda]==2.4.*'", {}, "[and-cuda]"),
    ("python -m pip install 'tensorflow[and-cuda]<2.14'", {}, "[and-cuda]"),
    ("python -m pip install 'tensorflow==1.14.*'", {}, "no TensorFlow release"),
    ("python -m pip install 'tensorflow[gpu]'", {}, "no extra"),
    ("python -m pip install nvidia-cufft-cu11", {"cuda": "10.1"}, "no pip wheels"),
    ("python -m pip install nvidia-cuda-nvcc-cu12", {"tf_version": "2.11.0"}, "CUDA 12 wheel"),
    ("python -m pip install nvidia-cudnn-cu12", {}, "upper bound"),
    ("python -m pip install nvidia-cudnn-cu11>=8,<9", {}, "redirection"),
    ("python -m pip install nvidia-cusolver-cu10", {}, "pinned by no TensorFlow release"),
    ("conda install -c conda-forge cudatoolkit=11.0 cudnn=7.6", {"conda": CONDA}, "no build for CUDA 11.0"),
    ("conda install -c conda-forge cudatoolkit=10.3", {"conda": CONDA}, "has no cudatoolkit 10.3"),
    ("conda install cudatoolkit=10.1", {"conda": CONDA}, "defaults"),
    ("python -m pip install 'tensorflow", {}, "unbalanced"),
])
def test_commands_that_cannot_work_are_named(command: str, kw: dict[str, Any], why: str, matrix) -> None:
    problems = command_problems(command, matrix, **kw)
    assert problems and any(why in p for p in problems), problems


@pytest.mark.parametrize("command, kw", [
    ("python -m pip install 'tensorflow[and-cuda]'", {}),
    ("python -m pip install 'tensorflow[and-cuda]==2.16.*'", {}),
    ("python -m pip install 'tensorflow<2.11'", {}),
    ("python -m pip install 'tensorflow==2.4.*'", {}),
    ("python -m pip install 'tensorflow==2.22.0rc0'", {}),  # newer than the matrix: not judged
    ("python -m pip install nvidia-cufft-cu11", {"tf_version": "2.4.0"}),
    ("python -m pip install 'nvidia-cudnn-cu11>=8,<9'", {"cuda": "11.2"}),
    ("conda install -c conda-forge cudatoolkit=10.1 cudnn=7.6", {"conda": CONDA}),
    ("conda install -c conda-forge cudatoolkit=11.2 cudnn=8.1.0", {"conda": CONDA}),
    ("sudo ubuntu-drivers install && sudo reboot", {}),
])
def test_commands_that_work_pass(command: str, kw: dict[str, Any], matrix) -> None:
    assert command_problems(command, matrix, **kw) == []


def test_checked_fixes_drops_bad_commands_and_empty_fixes(matrix) -> None:
    fixes = (Fix("a", ("python -m pip install 'tensorflow[and-cuda]==2.4.*'",)),
             Fix("b", ("conda install -c conda-forge cudatoolkit=11.0", "python -m pip install 'tensorflow[and-cuda]==2.4.*'")))
    out = checked_fixes(fixes, matrix, conda=CONDA)
    assert out == (Fix("b", ("conda install -c conda-forge cudatoolkit=11.0",)),)


# --- every fix the corpus and the named machines produce -------------------------------------------


@pytest.mark.parametrize("path", LOG_FILES, ids=[p.stem for p in LOG_FILES])
def test_no_corpus_fix_is_invalid(path: Path, matrix) -> None:
    _header, body = read_corpus_log(path)
    report = explain_lines(body, matrix, path.name)
    tf = (report.facts["log"].values.get("tf_version") or [None])[0]
    tf = tf if tf and matrix.tf_row(tf) is not None else None
    bad = [(f.id, c, command_problems(c, matrix, tf_version=tf, conda=CONDA))
           for f in report.findings for c in _commands(f)]
    assert not [b for b in bad if b[2]], bad


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_no_named_machine_fix_is_invalid(name: str, matrix) -> None:
    facts = MACHINES[name]
    findings, crashed = builtin_registry().run(facts, matrix, None)
    assert not crashed
    build = facts.get("tf_build")
    tf = getattr(build, "version", None)
    tf = tf if tf and matrix.tf_row(tf) is not None else None
    bad = [(f.id, c, command_problems(c, matrix, tf_version=tf, conda=CONDA))
           for f in findings for fix in f.fixes for c in fix.commands]
    assert not [b for b in bad if b[2]], [b for b in bad if b[2]]
