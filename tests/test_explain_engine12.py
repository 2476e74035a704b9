"""explain's engine changes asked for by the issue #12 class owners: Windows DLL names resolved through
the matrix, the Python version and the Python/TensorFlow pair that works, tensorflow-gpu 2.11+, the WSL2
steps, the conda activate.d fix, one driver-mismatch finding, plain tensorflow CPU-only from the matrix,
and a scan whose speed-ups (literals searched through the ones they contain, constant facts retired
once recorded, ASCII lines searched apart) change no result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.explain.knowledge import parse_knowledge
from tfgpu.explain.scan import scan
from tfgpu.matrix import load as load_matrix

LOGS = Path(__file__).parent / "data" / "logs"
P = "2024-01-01 00:00:00.000001: "


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _body(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return [line for line in lines if not line.startswith("# ")]


def _norm(result):
    return (result.lines_read,
            {k: (v.count, [(e.line, e.text) for e in v.lines], v.values) for k, v in result.hits.items()},
            result.facts, {k: (e.line, e.text) for k, e in result.fact_lines.items()},
            [(e.line, e.text) for e in result.unrecognized], result.unrecognized_count)


def test_batched_scan_equals_line_by_line_scan_on_the_whole_corpus() -> None:
    """Batches of 4096, of 7 and of 1 line see the same hits, facts, evidence and unrecognised lines
    (a retired constant fact, a literal found through a shorter one, a wide line among ASCII ones)."""
    know = load_knowledge()
    lines = [line for path in sorted(LOGS.glob("*.txt")) for line in _body(path)]
    lines += ["█ progress " + lines[0], lines[1]] * 3  # wide lines and repeats in one batch
    whole = _norm(scan(lines, know))
    assert _norm(scan(lines, know, batch_lines=7)) == whole
    assert _norm(scan(lines, know, batch_lines=1)) == whole


def test_unless_regex_vetoes_and_split_fact_groups_join() -> None:
    data = {"schema_version": 1,
            "signatures": [{"id": "x-y", "role": "cause", "severity": "error", "summary": "s",
                            "patterns": [{"literal": "abc", "unless_regex": "abc==2\\.1[1-9]"}],
                            "threads": ["https://example.org/1"]}],
            "facts": [{"name": "python_version",
                       "patterns": [{"literal": "site-packages",
                                     "regex": "python(?P<python_version_major>3)(?P<python_version_minor>\\d{1,2})\\\\site-packages"}]}]}
    know = parse_knowledge(data)
    result = scan(["abc==2.1", "abc==2.11", "c:\\python39\\site-packages\\x"], know)
    assert result.hits["x-y"].count == 1
    assert result.facts["python_version"] == ["3.9"]


def _by_id(report):
    return {f.id: f for f in report.findings}


def _log(name: str) -> list[str]:
    return _body(LOGS / name)


def test_windows_dll_names_resolve_to_their_linux_sonames_and_cuda(matrix) -> None:
    from tfgpu.explain.sonames import linux_soname

    assert linux_soname("cudart64_110.dll") == "libcudart.so.11.0"
    assert linux_soname("cudart64_101.dll") == "libcudart.so.10.1"
    assert linux_soname("cusolver64_10.dll") == "libcusolver.so.10"
    assert linux_soname("cublas64_11.dll") == "libcublas.so.11"
    assert linux_soname("cudnn64_8.dll") == "libcudnn.so.8"
    assert linux_soname("nvcuda.dll") is None
    report = explain_lines(_log("masterthesis7_cudart64_dll_windows.txt"), matrix)
    f = _by_id(report)["cuda-lib-missing"]
    assert "CUDA 11.0-11.2, TensorFlow 2.4-2.10" in f.summary  # native Windows: 2.10 was the last GPU release
    assert report.facts["log"].decision["class"] == "windows"
    report = explain_lines(_log("tf41909_cudart64_101_windows_tf22.txt"), matrix)
    assert "CUDA 10.1, TensorFlow 2.1-2.3" in _by_id(report)["cuda-lib-missing"].summary


def test_windows_gpu_fixes_give_the_wsl2_steps(matrix) -> None:
    for name, sig in (("tf62080_windows_tf214_not_built_with_cuda.txt", "tf-cpu-only-build"),
                      ("tf62073_tensorflow_gpu_211_windows.txt", "tf-gpu-package-removed"),
                      ("masterthesis7_cudart64_dll_windows.txt", "cuda-lib-missing")):
        f = _by_id(explain_lines(_log(name), matrix))[sig]
        wsl = next(x for x in f.fixes if "wsl --install" in x.commands)
        assert "never a Linux NVIDIA driver inside WSL2" in wsl.summary, name
        assert any("'tensorflow[and-cuda]'" in c for c in wsl.commands)
        assert "https://www.tensorflow.org/install/pip#windows-wsl2" in wsl.links
    # Not offered to a Linux log.
    f = _by_id(explain_lines(_log("tf56413_conda_env_libcudart_not_on_path.txt"), matrix))["cuda-lib-missing"]
    assert not any("wsl --install" in x.commands for x in f.fixes)


def test_python_version_names_the_pair_that_works(matrix) -> None:
    from tfgpu.explain.report import python_pair

    assert python_pair("3.12", None, matrix) == "Python 3.12: tensorflow 2.16.1 or newer"
    assert python_pair("3.13.0", "2.12", matrix) == ("Python 3.13: tensorflow 2.20.0 or newer; "
                                                     "for TensorFlow 2.12: Python 3.8-3.11")
    assert python_pair("3.6", None, matrix).startswith("Python 3.6: tensorflow 2.6.2 or older")
    report = explain_lines(["Python 3.13.1 (tags/v3.13.1:0671451, Dec  3 2024) [MSC v.1942 64 bit (AMD64)] on win32",
                            "ERROR: Could not find a version that satisfies the requirement tensorflow (from versions: none)",
                            "ERROR: No matching distribution found for tensorflow"], matrix)
    f = _by_id(report)["pip-no-tensorflow-wheel"]
    assert "Python 3.13: tensorflow 2.20.0 or newer" in f.fixes[0].summary
    assert report.facts["log"].values["python_version"] == ["3.13"]
    report = explain_lines(_log("tf62073_tensorflow_gpu_211_windows.txt"), matrix)
    assert report.facts["log"].values["python_version"] == ["3.9"]  # c:\...\python39\site-packages
    report = explain_lines(_log("mlsecurity53_no_matching_distribution_i686.txt"), matrix)
    assert "Python 3.7:" in _by_id(report)["pip-no-tensorflow-wheel"].fixes[0].summary


def test_tensorflow_gpu_211_and_later_is_the_removed_package(matrix) -> None:
    for version in ("2.11", "2.12.0", "2.15.1", "3.0"):
        lines = [f"ERROR: Could not find a version that satisfies the requirement tensorflow-gpu=={version} "
                 "(from versions: 2.10.0, 2.10.1, 2.12.0)",
                 f"ERROR: No matching distribution found for tensorflow-gpu=={version}"]
        ids = set(_by_id(explain_lines(lines, matrix)))
        assert ids == {"tf-gpu-package-removed"}, (version, ids)
    for version in ("2.1.0", "2.10.1", "1.15.4"):
        lines = [f"ERROR: No matching distribution found for tensorflow-gpu=={version}"]
        assert set(_by_id(explain_lines(lines, matrix))) == {"pip-no-tensorflow-wheel"}, version
    f = _by_id(explain_lines(_log("tfodcourse118_tensorflow_gpu_211_py310.txt"), matrix))["tf-gpu-package-removed"]
    assert "2.11.0 on Linux and 2.10.1 on Windows" in f.summary


def test_wrong_elf_class_is_not_a_missing_cudnn(matrix) -> None:
    ids = set(_by_id(explain_lines(_log("smplerx37_libcuda_wrong_elf_class.txt"), matrix)))
    assert ids == {"loader-wrong-elf-class"}
    ids = set(_by_id(explain_lines(["Could not load library libcudnn_cnn_infer.so.8. Error: libcudnn_cnn_infer.so.8: "
                                    "cannot open shared object file: No such file or directory"], matrix)))
    assert "cudnn-missing" in ids


def test_plain_tensorflow_cpu_only_is_the_matrix_decision(matrix) -> None:
    from tfgpu.explain.report import plain_tensorflow_cpu_only

    assert [plain_tensorflow_cpu_only(v, matrix) for v in ("1.12.0", "1.15.0", "1.15.2", "2.0.4", "2.1.0", "2.15.0")] \
        == [True, False, True, True, False, False]
    for version, cpu_only in (("1.15.2", True), ("2.0.1", True), ("1.15.0", False), ("2.4.1", False)):
        ids = set(_by_id(explain_lines([f"pip3 install tensorflow=={version}"], matrix)))
        assert ("tf-plain-package-cpu-only" in ids) is cpu_only, version


def test_conda_env_with_missing_libraries_gets_the_activate_script(matrix) -> None:
    f = _by_id(explain_lines(_log("tf56413_conda_env_libcudart_not_on_path.txt"), matrix))["cuda-lib-missing"]
    fix = next(x for x in f.fixes if any("activate.d/env_vars.sh" in c for c in x.commands))
    assert any("LD_LIBRARY_PATH=$CONDA_PREFIX/lib:" in c for c in fix.commands)
    # No conda env in the log: no conda fix.
    line = P + "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library " \
               "'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory"
    f = _by_id(explain_lines([line], matrix))["cuda-lib-missing"]
    assert not any("activate.d" in c for x in f.fixes for c in x.commands)


def test_every_driver_mismatch_phrasing_is_one_finding_and_a_container_reboots_the_host(matrix) -> None:
    lines = ["Failed to initialize NVML: Driver/library version mismatch",
             "NVRM: API mismatch: the client has the version 535.54.03, but",
             "NVRM: this kernel module has the version 530.30.02.  Please",
             "nvidia-container-cli: initialization error: nvml error: driver/library version mismatch: unknown"]
    report = explain_lines(lines, matrix)
    problems = [f for f in report.findings if f.evidence.get("role") == "cause"]
    assert [f.id for f in problems] == ["driver-library-mismatch"]
    assert "kernel module 530.30.02, library 535.54.03" in problems[0].summary
    assert all(x.summary.startswith("On the host") for x in problems[0].fixes)
    f = _by_id(explain_lines(lines[:3], matrix))["driver-library-mismatch"]
    assert not any("host" in x.summary for x in f.fixes)
