"""`tfgpu doctor --json --fast` through the CLI, with the stand-in NVML and the real
`tensorflow[and-cuda]==2.21.0` environment as --python: issue 11's must-show scenarios.

- RTX 5090 (CC 12.0) on 575.51.03: not ready, an error naming Blackwell/sm_120 and a way that works
  (TensorFlow 2.21 is built with CUDA 12.5.1, which knows no sm_120: tensorflow#99592, #111958).
- V100 (CC 7.0) on 560.35.03: the env's pip cuDNN (nvidia-cudnn-cu12 9.28.0.42, read from its
  dist-info under --fast) has no kernels for CC < 7.5 (cuDNN >= 9.11), fixed by a pin below 9.11.
- A100 on 560.35.03: still ready (the installed cu12 runtime 12.9 only warns).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, tf_python
from test_driver_standin import A100, build_fake_nvml, driver_matrix_path, nvml_env

pytestmark = pytest.mark.real_tf

RTX5090 = "name=NVIDIA GeForce RTX 5090,cc=12.0,mem=32607,bus=512,mclk=14001"
V100 = "name=Tesla V100-SXM2-32GB,cc=7.0,mem=32768,bus=4096,mclk=877"


@pytest.fixture(scope="module")
def driver_matrix(tmp_path_factory) -> Path:
    return driver_matrix_path(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def fake_nvml(cc, tmp_path_factory) -> Path:
    return build_fake_nvml(cc, tmp_path_factory.mktemp("nvml"))


def doctor(env: dict[str, str], matrix: Path, expect: tuple[int, ...]) -> dict:
    data, _proc = json_report("doctor", "--json", "--fast", "--python", tf_python("TFGPU_TEST_TF_CUDA_PYTHON"),
                              "--matrix", str(matrix), env=env, expect_codes=expect)
    return data


def commands(finding: dict) -> list[str]:
    return [c for fix in finding["fixes"] for c in fix["commands"]]


def test_rtx5090_on_575_is_not_ready(fake_nvml, driver_matrix):
    report = doctor(nvml_env(fake_nvml, RTX5090, driver="575.51.03", cuda=12090), driver_matrix, expect=(1,))
    assert report["verdict"]["status"] == "not_ready"
    found = findings_by_id(report)
    assert "gpu-ptx-jit" not in found
    (f,) = found["gpu-cc-unsupported"]
    assert f["severity"] == "error" and "Blackwell" in f["summary"] and "sm_120" in f["summary"]
    assert "CUDA 12.5.1" in f["summary"] and "12.8" in f["summary"]
    assert "CUDA_ERROR_INVALID_PTX" in f["detail"]
    assert "docker run --gpus all -it --rm nvcr.io/nvidia/tensorflow:25.02-tf2-py3" in commands(f)
    assert report["verdict"]["headline"].endswith(f["summary"])


def test_v100_with_the_installed_cudnn_needs_a_pin(fake_nvml, driver_matrix):
    report = doctor(nvml_env(fake_nvml, V100, driver="560.35.03", cuda=12060), driver_matrix, expect=(1,))
    assert report["verdict"]["status"] == "not_ready"
    cudnn = next(lib for lib in report["facts"]["libraries"]["data"]["libraries"] if lib["key"] == "cudnn")
    assert cudnn["load"]["version"].startswith("9.") and cudnn["load"]["version_source"] == "dist-info"
    (f,) = findings_by_id(report)["cudnn-gpu-unsupported"]
    assert f["severity"] == "error" and "CC 7.0" in f["summary"] and "cuDNN >= 9.11" in f["summary"]
    assert cudnn["load"]["version"] in f["summary"]
    (cmd,) = commands(f)
    assert cmd.endswith("-m pip install 'nvidia-cudnn-cu12>=9.3.0.75,<9.11'")


def test_a100_on_560_is_still_ready(fake_nvml, driver_matrix):
    report = doctor(nvml_env(fake_nvml, A100, driver="560.35.03", cuda=12060), driver_matrix, expect=(0,))
    assert report["verdict"]["status"] == "ready"
    found = findings_by_id(report)
    assert "cudnn-gpu-unsupported" not in found and "gpu-cc-unsupported" not in found
    assert found["driver-ok"][0]["severity"] == "ok"
    (runtime,) = found["driver-runtime-minor-compat"]
    assert runtime["severity"] == "warning" and "575.51.03" in runtime["summary"]
