"""`tfgpu explain` never suggests a wheel that ships another soname major than the log needs.

nvidia-cudnn-cu11 and nvidia-cudnn-cu12 moved from cuDNN 8 to cuDNN 9 under the same names (the
newest nvidia-cudnn-cu11, 9.10.2.21, ships libcudnn.so.9): an unbounded `pip install
nvidia-cudnn-cu11` on a machine that needs libcudnn.so.8 installs the wrong library.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.explain.knowledge import KnowledgeError, parse_knowledge
from tfgpu.matrix import load as load_matrix

PREFIX = "2024-01-01 00:00:00.000001: "
LOGS = Path(__file__).parent / "data" / "logs"
CUDNN_REQ_RE = re.compile(r"nvidia-cudnn-cu\d+")


def _commands(report, finding_id: str) -> list[str]:
    f = next(f for f in report.findings if f.id == finding_id)
    return [c for fix in f.fixes for c in fix.commands]


def _pip_requirements(command: str) -> list[Requirement]:
    words = shlex.split(command)
    if words[:4] != ["python", "-m", "pip", "install"]:
        return []
    return [Requirement(w) for w in words[4:] if not w.startswith("-")]


def _cudnn_requirements(report) -> list[Requirement]:
    return [r for f in report.findings for fix in f.fixes for c in fix.commands
            for r in _pip_requirements(c) if CUDNN_REQ_RE.fullmatch(r.name)]


def _assert_only_major(req: Requirement, major: int) -> None:
    """The requirement admits cuDNN `major` releases and nothing of another major."""
    spec = req.specifier
    assert Version(f"{major}.99") in spec, req
    assert Version(f"{major + 1}.0") not in spec and Version(f"{major + 1}.10.2.21") not in spec, req
    assert Version(f"{major - 1}.99") not in spec, req


def _dso_line(soname: str, path: str = "tensorflow/stream_executor/platform/default") -> str:
    return (PREFIX + f"W {path}/dso_loader.cc:64] Could not load dynamic library '{soname}'; "
            f"dlerror: {soname}: cannot open shared object file: No such file or directory")


# --- the library table ---------------------------------------------------------------------------


def test_every_cudnn_wheel_read_from_the_matrix_is_bounded_to_its_soname_major() -> None:
    """The wheel for a libcudnn soname comes from the matrix rows (tfgpu.explain.sonames.wheel_for),
    bounded to the soname's major; the library table names no cuDNN wheel of its own."""
    from tfgpu.explain.sonames import resolve, wheel_for

    k, m = load_knowledge(), load_matrix()
    assert not any(lib.pip for lib in k.libraries if lib.prefix.startswith("libcudnn"))
    seen = 0
    for soname in ("libcudnn.so.8", "libcudnn.so.9"):
        for major in resolve(m, soname).cuda_majors:
            req = wheel_for(m, soname, major, "nvidia-cudnn")
            assert req is not None and req.startswith(f"nvidia-cudnn-cu{major}"), (soname, major)
            _assert_only_major(Requirement(req), int(soname[-1]))
            seen += 1
    assert seen >= 3


def test_a_pip_entry_names_the_wheel_of_its_own_cuda_major() -> None:
    """A -cuXX wheel stays on its CUDA major; the table names one only for a name no matrix row knows."""
    k = load_knowledge()
    for lib in k.libraries:
        if lib.pip:
            assert lib.cuda and Requirement(lib.pip).name.endswith(f"-cu{lib.cuda}"), lib


def test_a_library_pip_entry_must_be_a_plain_requirement() -> None:
    base = {"schema_version": 1, "signatures": []}
    for bad in ("nvidia-cudnn-cu12>=9,<10; python_version>'3'", "'nvidia-cudnn-cu12'", "nvidia cudnn"):
        with pytest.raises(KnowledgeError, match="pip"):
            parse_knowledge({**base, "libraries": [{"prefix": "libx.so.1", "what": "x", "pip": bad}]}, "t")
    parse_knowledge({**base, "libraries": [{"prefix": "libx.so.1", "what": "x", "pip": "nvidia-x-cu12>=1,<2"}]}, "t")


# --- cuDNN 8 needed: libcudnn.so.8 missing -------------------------------------------------------


@pytest.mark.parametrize("path, cuda", [
    ("tensorflow/stream_executor/platform/default", "11"),
    ("external/local_tsl/tsl/platform/default", "12"),
])
def test_missing_libcudnn_so_8_gets_a_cudnn_8_wheel(path: str, cuda: str) -> None:
    report = explain_lines([_dso_line("libcudnn.so.8", path)], load_matrix())
    cmds = _commands(report, "cudnn-missing")
    assert f"python -m pip install 'nvidia-cudnn-cu{cuda}>=8,<9'" in cmds
    reqs = _cudnn_requirements(report)
    assert reqs
    for req in reqs:
        _assert_only_major(req, 8)


def test_cudnn_8_corpus_log_never_suggests_an_unbounded_cudnn_wheel() -> None:
    """The reviewer's case: a real log that needs libcudnn.so.8 (with libcusolver.so.11, CUDA 11)."""
    from test_explain_corpus import read_corpus_log

    lines = read_corpus_log(LOGS / "behaviormetrics385_cusolver_cudnn_missing.txt")[1]
    report = explain_lines(lines, load_matrix())
    assert "python -m pip install 'nvidia-cudnn-cu11>=8,<9'" in _commands(report, "cudnn-missing")
    for req in _cudnn_requirements(report):
        _assert_only_major(req, 8)


def test_missing_libcudnn_so_9_gets_a_cudnn_9_wheel() -> None:
    report = explain_lines([_dso_line("libcudnn.so.9", "external/local_tsl/tsl/platform/default")], load_matrix())
    assert "python -m pip install 'nvidia-cudnn-cu12>=9,<10'" in _commands(report, "cudnn-missing")


def test_cudnn_missing_without_a_soname_uses_the_builds_cudnn_major() -> None:
    lines = ["tensorflow==2.15.0", PREFIX + "E external/local_xla/xla/x.cc:1] DNN library is not found."]
    report = explain_lines(lines, load_matrix())
    assert "python -m pip install 'nvidia-cudnn-cu12>=8,<9'" in _commands(report, "cudnn-missing")
    lines[0] = "tensorflow==2.21.0"
    report = explain_lines(lines, load_matrix())
    assert "python -m pip install 'nvidia-cudnn-cu12>=9,<10'" in _commands(report, "cudnn-missing")


def test_cudnn_missing_with_no_known_cudnn_major_names_no_cudnn_wheel() -> None:
    """CUDA 12 without a TensorFlow version: cuDNN 8 (2.14-2.16) or 9 (2.17+), so only the CUDA extra."""
    report = explain_lines([PREFIX + "E external/local_xla/xla/x.cc:1] DNN library is not found."])
    assert _cudnn_requirements(report) == []
    assert any("tensorflow[and-cuda]" in c for c in _commands(report, "cudnn-missing"))


# --- "Loaded runtime CuDNN library: X but source was compiled with: Y" ----------------------------


def _mismatch(loaded: str, compiled: str, path: str = "tensorflow/stream_executor/cuda") -> str:
    return (PREFIX + f"E {path}/cuda_dnn.cc:361] Loaded runtime CuDNN library: {loaded} but source was "
            f"compiled with: {compiled}.  CuDNN library needs to have matching major version and equal or "
            "higher minor version.")


@pytest.mark.parametrize("loaded, compiled, path, want", [
    ("8.1.0", "8.6.0", "tensorflow/tsl/platform", "'nvidia-cudnn-cu11>=8.6.0,<9'"),
    ("8.0.4", "8.1.0", "tensorflow/stream_executor/cuda", "'nvidia-cudnn-cu11>=8.1.0,<9'"),
    ("8.7.0", "8.9.4", "external/local_xla/xla/stream_executor/cuda", "'nvidia-cudnn-cu12>=8.9.4,<9'"),
    ("9.0.0", "9.3.0", "external/local_xla/xla/stream_executor/cuda", "'nvidia-cudnn-cu12>=9.3.0,<10'"),
    # No CUDA major in the line: cuDNN 8 before 8.9 only came with CUDA 11 builds.
    ("8.1.0", "8.6.0", "somewhere", "'nvidia-cudnn-cu11>=8.6.0,<9'"),
    ("9.0.0", "9.3.0", "somewhere", "'nvidia-cudnn-cu12>=9.3.0,<10'"),
])
def test_cudnn_mismatch_requirement_is_bounded_to_the_compiled_major(loaded, compiled, path, want) -> None:
    report = explain_lines([_mismatch(loaded, compiled, path)])
    cmds = _commands(report, "cudnn-version-mismatch")
    assert f"python -m pip install {want}" in cmds
    for req in _cudnn_requirements(report):
        _assert_only_major(req, int(compiled.split(".")[0]))


def test_cudnn_mismatch_before_cudnn_8_suggests_no_pip_wheel() -> None:
    """cuDNN 7 has no pip wheel (the legacy 4-digit form: 7004 is 7.0.4)."""
    line = (PREFIX + "E tensorflow/stream_executor/cuda/cuda_dnn.cc:378] Loaded runtime CuDNN library: 7201 "
            "(compatibility version 7200) but source was compiled with 7004 (compatibility version 7000).")
    report = explain_lines([line])
    cmds = _commands(report, "cudnn-version-mismatch")
    assert cmds and not any("pip install" in c for c in cmds)


def test_cudnn_mismatch_corpus_logs_are_bounded() -> None:
    from test_explain_corpus import read_corpus_log

    for name, major in [("car1_cudnn_mismatch_804_810.txt", 8), ("kohya2787_cudnn_mismatch_xla.txt", 8),
                        ("kaggle1435_cudnn_mismatch_9.txt", 9)]:
        report = explain_lines(read_corpus_log(LOGS / name)[1], load_matrix())
        reqs = [r for r in _cudnn_requirements(report)]
        assert any(r.specifier for r in reqs), name
        for req in reqs:
            _assert_only_major(req, major)


def test_matrix_cudnn_mismatch_is_bounded() -> None:
    """The cross-check against the matrix (TF 2.21 is built with cuDNN 9.3; 8.9.7 loaded)."""
    lines = ["tensorflow==2.21.0", PREFIX + "I external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:529] "
             "Loaded cuDNN version 8907"]
    report = explain_lines(lines, load_matrix())
    cmds = _commands(report, "cudnn-version-mismatch")
    pips = [c for c in cmds if "pip install" in c]
    assert pips and all("<10'" in c and "nvidia-cudnn-cu12>=9" in c for c in pips), cmds


def test_no_corpus_log_suggests_an_unbounded_cudnn_wheel() -> None:
    from test_explain_corpus import LOG_FILES, read_corpus_log

    for path in LOG_FILES:
        report = explain_lines(read_corpus_log(path)[1], load_matrix())
        for req in _cudnn_requirements(report):
            majors = {int(str(s.version).split(".")[0]) for s in req.specifier if s.operator == ">="}
            assert len(majors) == 1, (path.name, str(req))
            _assert_only_major(req, majors.pop())


# --- cuInit 303 -----------------------------------------------------------------------------------


def test_cuinit_303_meaning_holds_when_libcuda_could_not_be_loaded() -> None:
    """TF reports 303 right after failing to load libcuda.so.1 (no driver): the text must not claim
    libcuda was found."""
    from test_explain_corpus import read_corpus_log

    lines = read_corpus_log(LOGS / "chiron99_libcuda_missing_cuinit_303.txt")[1]
    assert any("Could not load dynamic library 'libcuda.so.1'" in ln for ln in lines)
    report = explain_lines(lines)
    f = next(f for f in report.findings if f.id == "cuinit-failed")
    assert "(303)" in f.summary
    assert "was found" not in f.summary
    assert "could not be loaded" in f.summary and "could not initialise" in f.summary
    assert "driver-missing" in {x.id for x in report.findings}
