"""explain's engine for issue #12: the class it decided and why, success, pasted outputs, and the
known-wrong cases (libcudart's stub line, DNN library not found, Memory usage lines, internal names,
an unpinned install for a GPU the newest release no longer runs)."""

from __future__ import annotations

import pytest

from tfgpu.explain import explain_lines, report_to_dict
from tfgpu.matrix import load as load_matrix
from tfgpu.render.explain import render

P = "2024-01-01 00:00:00.000001: "


@pytest.fixture(scope="module")
def matrix():
    return load_matrix()


def _decision(report):
    return report.facts["log"].decision


def test_cudart_stub_line_is_the_cuda_runtime_not_the_driver(matrix) -> None:
    line = P + "I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers on your machine, GPU will not be used."
    report = explain_lines([line], matrix)
    ids = {f.id for f in report.findings}
    assert "cuda-runtime-missing" in ids and "driver-missing" not in ids
    f = next(f for f in report.findings if f.id == "cuda-runtime-missing")
    assert "[and-cuda]" in f.fixes[0].commands[0] and f.fixes[1].commands == ("nvidia-smi",)
    assert _decision(report)["class"] == "linux-libraries"
    assert _decision(report)["decided_by"][0]["line"] == 1


def test_success_is_recognised_with_the_deciding_line(matrix) -> None:
    lines = [P + "I tensorflow/core/common_runtime/gpu/gpu_device.cc:1886] Created device "
             "/job:localhost/replica:0/task:0/device:GPU:0 with 22279 MB memory:  -> device: 0, name: NVIDIA A10G, "
             "pci bus id: 0000:00:1e.0, compute capability: 8.6"]
    report = explain_lines(lines, matrix)
    assert report.verdict.status.value == "ready"
    assert "GPU" in report.verdict.headline and "harmless" in report.verdict.headline
    d = _decision(report)
    assert d["class"] == "success" and d["decided_by"] == [{"line": 1, "text": lines[0]}]
    text = render(report)
    assert "Class: success" in text and "decided by line 1" in text
    data = report_to_dict(report)
    assert data["verdict"]["class"] == "success" and data["verdict"]["decided_by"][0]["line"] == 1
    assert data["facts"]["log"]["data"]["decision"]["class"] == "success"


def test_pasted_nvidia_smi_and_build_info_is_a_full_verdict(matrix) -> None:
    lines = ["| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |",
             "OrderedDict([('cpu_compiler', '/usr/lib/llvm-17/bin/clang'), ('cuda_compute_capabilities', "
             "['sm_50', 'sm_60', 'sm_70', 'sm_80', 'compute_90']), ('cuda_version', '12.3'), ('cudnn_version', '8'), "
             "('is_cuda_build', True), ('is_rocm_build', False), ('is_tensorrt_build', True)])"]
    report = explain_lines(lines, matrix)
    assert report.verdict.status.value == "ready" and report.verdict.predicted
    assert "550.54.15" in report.verdict.headline and "12.3" in report.verdict.headline
    d = _decision(report)
    assert d["class"] == "pasted-output"
    assert any("newest CUDA the driver" in n for n in d["notes"])


def test_pasted_old_driver_against_the_build_is_driver_too_old(matrix) -> None:
    lines = ["| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |",
             "{'cuda_version': '12.3', 'cudnn_version': '8', 'is_cuda_build': True}"]
    report = explain_lines(lines, matrix)
    assert "driver-too-old" in {f.id for f in report.findings}
    assert report.verdict.status.value == "not_ready"


def test_dnn_library_not_found_folds_into_the_cudnn_mismatch(matrix) -> None:
    lines = [P + "E tensorflow/stream_executor/cuda/cuda_dnn.cc:361] Loaded runtime CuDNN library: 8.0.4 but source "
             "was compiled with: 8.1.0.  CuDNN library needs to have matching major version and equal or higher "
             "minor version.",
             "  (0) UNIMPLEMENTED:  DNN library is not found."]
    report = explain_lines(lines, matrix)
    ids = {f.id for f in report.findings}
    assert "cudnn-version-mismatch" in ids and "cudnn-missing" not in ids
    f = next(f for f in report.findings if f.id == "cudnn-version-mismatch")
    assert f.evidence["consequence_lines"][0]["line"] == 2


def test_memory_usage_line_is_not_unrecognised(matrix) -> None:
    line = P + "E tensorflow/core/common_runtime/gpu/gpu_device.cc:1] Memory usage: 1048576 bytes free, 8589934592 bytes total."
    report = explain_lines([line], matrix)
    assert "unrecognized-error" not in {f.id for f in report.findings}


def test_internal_fact_names_never_reach_the_text(matrix) -> None:
    lines = [P + "I external/local_xla/xla/stream_executor/cuda/cuda_executor.cc:1] something",
             "Cuda compilation tools, release 11.8, V11.8.89"]
    text = render(explain_lines(lines, matrix))
    for name in ("tf_era", "cuda_major_hint", "toolkit_cuda", "driver_cuda", "loaded_soname"):
        assert name not in text


def test_no_unpinned_install_for_a_gpu_the_newest_release_dropped(matrix) -> None:
    lines = [P + "I external/local_tsl/tsl/cuda/cudart_stub.cc:31] Could not find cuda drivers on your machine, "
             "GPU will not be used.",
             "Found device 0 with properties: name: Tesla K40c major: 3 minor: 5 memoryClockRate(GHz): 0.745",
             P + "I tensorflow/core/common_runtime/gpu/gpu_device.cc:1] Ignoring visible gpu device (device: 0, "
             "name: Tesla K40c, pci bus id: 0000:02:00.0, compute capability: 3.5)"]
    report = explain_lines(lines, matrix)
    for f in report.findings:
        for fix in f.fixes:
            for cmd in fix.commands:
                assert "'tensorflow[and-cuda]'" not in cmd, (f.id, cmd)


def test_unrecognised_input_is_said_honestly_with_its_lines(matrix) -> None:
    lines = ["hello", "RuntimeError: something nobody has seen before"]
    report = explain_lines(lines, matrix)
    assert report.verdict.status.value == "unknown" and "not recognised" in report.verdict.headline
    d = _decision(report)
    assert d["class"] is None and d["decided_by"][0]["line"] == 2
    assert "Class: not recognised" in render(report)
