"""GPU generations against a build's CUDA toolkit and cuDNN (issue 11, items 1-3 and the installed
runtime): the rules, `recommend`, and the doctor's checks on named machines. No probing.

Sources (compat_matrix.yaml names each): a GPU whose architecture came with a later CUDA toolkit than
the build's is not served by the build's PTX (NVIDIA's architecture matrix: Blackwell 10.0/12.0 first in
CUDA 12.8, Ampere in 11.0, Hopper in 11.8; tensorflow#99592/#111958 for CC 12.0 on the 2.16-2.21
wheels; tensorflow#43718 and others for CUDA 10.x on Ampere); cuDNN >= 9.11 has no kernels for CC < 7.5
(immich#23110 comparing NVIDIA's 9.10 and 9.11 support matrices; the 9.17 matrix).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_driver_machines import A100, RTX5090, V100, all_commands, by_id, driver, g1, machine
from test_libraries_checks import healthy, lib, libraries, pip_copy

from tfgpu import matrix as matrix_mod
from tfgpu.checks import load_all, run_checks
from tfgpu.model import Severity
from tfgpu.probes.libraries import LoadResult
from tfgpu.recommend import Machine, judge, recommend
from tfgpu.rules import (
    DriverVerdict,
    GapKind,
    cudnn_gap,
    cudnn_plan,
    judge_runtime,
    last_tf_for_cc,
    toolkit_gap,
)

GB10 = ("NVIDIA GB10", "12.1", 122880)
B200 = ("NVIDIA B200", "10.0", 183359)
H100 = ("NVIDIA H100 80GB HBM3", "9.0", 81559)


@pytest.fixture(scope="module")
def mx() -> matrix_mod.Matrix:
    return matrix_mod.load()


# --- the toolkit rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("cuda, cc, first", [
    ("12.5.1", (12, 0), "12.8"),  # RTX 50xx on TF 2.18-2.21
    ("12.3", (12, 0), "12.8"),  # TF 2.16/2.17
    ("12.5.1", (10, 0), "12.8"),  # B200: same rule, no TensorFlow report (recorded as such)
    ("12.5.1", (12, 1), "12.9"),  # GB10: sm_121 first named by CUDA 12.9 (secondary)
    ("12.5.1", (11, 0), "13.0"),  # Thor as CUDA 13 numbers it
    ("10.1", (8, 6), "11.1"),  # RTX 30xx on TF 2.1-2.3
    ("10.0", (8, 9), "11.8"),  # RTX 40xx on TF 1.15
    ("11.2", (9, 0), "11.8"),  # H100 on TF 2.5-2.11
    ("11.0", (9, 0), "11.8"),  # H100 on TF 2.4
])
def test_a_gpu_newer_than_the_toolkit_is_a_gap(mx, cuda, cc, first):
    gap = toolkit_gap(mx, cuda, cc)
    assert gap is not None and gap.kind is GapKind.NEWER and gap.first_cuda == first


@pytest.mark.parametrize("cuda, cc", [
    ("11.0", (8, 6)),  # sm_80 SASS of CUDA 11.0's libraries runs on 8.6 (same major)
    ("11.2", (8, 9)),
    ("11.8", (9, 0)),
    ("12.5.1", (9, 0)),
    ("12.5.1", (7, 0)),
    ("10.0", (7, 5)),
])
def test_a_gpu_the_toolkit_targets_is_no_gap(mx, cuda, cc):
    assert toolkit_gap(mx, cuda, cc) is None


def test_blackwell_gap_names_the_failure_and_what_works(mx):
    gap = toolkit_gap(mx, "12.5.1", (12, 0))
    assert gap is not None and gap.arch == "Blackwell"
    assert "CUDA_ERROR_INVALID_PTX" in gap.failure and "PTX version 8.5 does not support target sm_120" in gap.failure
    assert "https://github.com/tensorflow/tensorflow/issues/111958" in gap.reports
    commands = [c for a in gap.alternatives for c in a.commands]
    assert commands == ["docker run --gpus all -it --rm nvcr.io/nvidia/tensorflow:25.02-tf2-py3"]
    assert any("HERMETIC_CUDA_COMPUTE_CAPABILITIES=sm_120,compute_120" in a.summary for a in gap.alternatives)
    # The NGC image is confirmed by users on CC 12.0 only: not offered for a B200.
    b200 = toolkit_gap(mx, "12.5.1", (10, 0))
    assert b200 is not None and not any(a.commands for a in b200.alternatives)
    assert any("sm_100,compute_100" in a.summary for a in b200.alternatives)


def test_kepler_is_an_older_gap_and_no_release_serves_blackwell(mx):
    gap = toolkit_gap(mx, "12.5.1", (3, 7))
    assert gap is not None and gap.kind is GapKind.OLDER and gap.last_cuda == "11.8"
    assert last_tf_for_cc(mx, (12, 0)) is None
    row, _fit = last_tf_for_cc(mx, (9, 0)) or (None, None)
    assert row is not None and row.series == "2.21"


# --- cuDNN ----------------------------------------------------------------------------------------


def test_cudnn_9_11_and_later_have_no_volta_pascal_maxwell(mx):
    gap = cudnn_gap(mx, "9.28.0.42", (7, 0))
    assert gap is not None and gap.kind is GapKind.OLDER
    assert (gap.first_without, gap.last_with) == ("9.11.0", "9.10.2")
    assert cudnn_gap(mx, "9.10.2.21", (7, 0)) is None
    assert cudnn_gap(mx, "9.28.0", (7, 5)) is None
    assert cudnn_gap(mx, "9.11.0", (6, 1)) is not None


def test_and_cuda_range_gets_a_pin_exact_pins_need_none(mx):
    plan = cudnn_plan(mx, mx.tf_row("2.21").and_cuda, [(7, 0)])
    assert plan is not None and plan.gaps and plan.pin == "nvidia-cudnn-cu12<9.11"
    assert plan.pin_with_floor == "nvidia-cudnn-cu12>=9.3.0.75,<9.11" and plan.serves == "9.10.2"
    exact = cudnn_plan(mx, mx.tf_row("2.19").and_cuda, [(7, 0)])  # nvidia-cudnn-cu12==9.3.0.75
    assert exact is not None and not exact.gaps and exact.pin is None


# --- the installed runtime ----------------------------------------------------------------------------


def test_the_installed_runtime_is_judged_too(mx):
    judged = judge_runtime("560.35.03", "12.5.1", "12.9", mx, "linux")
    assert judged is not None and judged.verdict is DriverVerdict.MINOR_COMPAT and judged.need.toolkit_min == "575.51.03"
    assert judge_runtime("575.51.03", "12.5.1", "12.9", mx, "linux").verdict is DriverVerdict.OK
    assert judge_runtime("560.35.03", "12.5.1", "12.5", mx, "linux") is None
    assert judge_runtime("560.35.03", "12.5.1", None, mx, "linux") is None


# --- recommend ----------------------------------------------------------------------------------------


def test_recommend_offers_no_pypi_release_for_blackwell_and_names_what_works(mx):
    advice = recommend(mx, Machine(driver="575.51.03", ccs=("12.0",), python="3.11"))
    assert not advice.recommendations
    reasons = {e.tensorflow: e.reason for e in advice.excluded}
    assert all("sm_120" in reasons[s] and "12.8" in reasons[s] for s in ("2.21", "2.20", "2.19", "2.18", "2.17", "2.16"))
    assert all("Python" in r or "sm_120" in r for r in reasons.values()), reasons
    note = " ".join(advice.assumptions)
    assert "nvcr.io/nvidia/tensorflow:25.02-tf2-py3" in note and "HERMETIC_CUDA_COMPUTE_CAPABILITIES" in note


def test_recommend_pins_cudnn_for_volta(mx):
    advice = recommend(mx, Machine(driver="560.35.03", ccs=("7.0",), python="3.11"))
    best = advice.recommendations[0]
    assert best.tensorflow == "2.21"
    assert best.install == 'pip install "tensorflow[and-cuda]==2.21.0" "nvidia-cudnn-cu12<9.11"'
    assert any("9.11" in n for n in best.notes)
    exact = next(r for r in advice.recommendations if r.tensorflow == "2.19")
    assert "nvidia-cudnn" not in exact.install  # 2.19 pins cuDNN 9.3.0.75 itself


@pytest.mark.parametrize("series, cc, cuda", [("2.3", "8.6", "10.1"), ("1.15", "8.9", "10.0"), ("2.11", "9.0", "11.2"),
                                              ("2.4", "9.0", "11.0")])
def test_old_cuda_libraries_on_new_gpus_are_excluded(mx, series, cc, cuda):
    row = mx.tf_row(series)
    assert row is not None
    reason, _notes = judge(row, Machine(ccs=(cc,)), mx)
    assert reason is not None and f"CUDA {cuda}" in reason and "newer than" in reason


def test_ampere_on_an_old_driver_gets_nothing_older_than_2_4(mx):
    advice = recommend(mx, Machine(driver="470.82.01", ccs=("8.6",), python="3.7"))
    assert advice.recommendations
    assert all(tuple(int(p) for p in r.tensorflow.split(".")) >= (2, 4) for r in advice.recommendations)


# --- the doctor on named machines ---------------------------------------------------------------------


def _doctor(facts: dict, mx: matrix_mod.Matrix, *areas: str) -> dict:
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area in areas]
    findings, crashed = run_checks(facts, mx, ids, {})
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    return by_id(findings)


def test_rtx5090_on_575_is_an_error_with_what_works(mx):
    found = _doctor(machine(driver("575.51.03", "12.9", g1(RTX5090))), mx, "gpu", "driver")
    assert "gpu-ptx-jit" not in found
    (f,) = found["gpu-cc-unsupported"]
    assert f.severity is Severity.ERROR and "Blackwell" in f.summary and "sm_120" in f.summary
    assert "CUDA_ERROR_INVALID_PTX" in f.detail and "tensorflow/issues/111958" in f.detail
    assert "docker run --gpus all -it --rm nvcr.io/nvidia/tensorflow:25.02-tf2-py3" in all_commands(f)
    assert not [c for c in all_commands(f) if "pip" in c]  # no PyPI release serves it
    assert found["driver-ok"]


@pytest.mark.parametrize("spec, cc", [(GB10, "12.1"), (B200, "10.0")])
def test_other_blackwell_gpus_are_errors_too(mx, spec, cc):
    found = _doctor(machine(driver("580.95.05", "13.0", g1(spec))), mx, "gpu")
    (f,) = found["gpu-cc-unsupported"]
    assert f.severity is Severity.ERROR and cc in f.summary


def test_rtx3090_on_tf23_is_an_error_naming_the_release_that_serves_it(mx):
    facts = machine(driver("470.82.01", "11.4", g1(("NVIDIA GeForce RTX 3090", "8.6", 24576))), series="2.21")
    facts["tf_build"] = replace(facts["tf_build"], version="2.3.4", cuda_version="10.1",
                                compute_capabilities=("sm_35", "sm_37", "sm_52", "sm_60", "sm_61", "compute_70"))
    (f,) = _doctor(facts, mx, "gpu")["gpu-cc-unsupported"]
    assert "CUDA 10.1" in f.summary and "CUBLAS_STATUS_EXECUTION_FAILED" in f.detail
    assert any("tensorflow[and-cuda]==2.21." in c for c in all_commands(f)), all_commands(f)


def _with_cudnn(facts: dict, version: str) -> dict:
    cudart = healthy()[0]
    return {**facts, "libraries": libraries(cudart, lib("cudnn", "libcudnn.so.9", pip_copy("cudnn", "libcudnn.so.9"),
                                                        LoadResult("loaded", version=version)))}


def test_v100_with_cudnn_9_28_is_an_error_with_a_pin(mx):
    found = _doctor(_with_cudnn(machine(driver("560.35.03", "12.6", g1(V100))), "9.28.0"), mx, "libraries")
    (f,) = found["cudnn-gpu-unsupported"]
    assert f.severity is Severity.ERROR and "7.0" in f.summary and "9.11" in f.summary
    assert "/srv/venv/bin/python -m pip install 'nvidia-cudnn-cu12>=9.3.0.75,<9.11'" in all_commands(f)


@pytest.mark.parametrize("spec, version", [(V100, "9.10.2"), (A100, "9.28.0")])
def test_a_cudnn_that_serves_the_gpu_is_quiet(mx, spec, version):
    found = _doctor(_with_cudnn(machine(driver("560.35.03", "12.6", g1(spec))), version), mx, "libraries")
    assert "cudnn-gpu-unsupported" not in found


def test_the_newer_installed_runtime_asks_for_its_own_driver(mx):
    found = _doctor(_with_cudnn(machine(driver("560.35.03", "12.6", g1(A100))), "9.28.0"), mx, "driver")
    assert found["driver-ok"]
    (f,) = found["driver-runtime-minor-compat"]
    assert f.severity is Severity.WARNING and "12.9" in f.summary and "575.51.03" in f.summary
    assert "needs the newer driver" in f.detail
    found = _doctor(_with_cudnn(machine(driver("575.51.03", "12.9", g1(A100))), "9.28.0"), mx, "driver")
    assert "driver-runtime-minor-compat" not in found
