"""The doctor and `tfgpu explain` reach the same verdict on the same facts.

Each case is one machine: the doctor's fact records (built as in test_driver_machines.py and
test_libraries_checks.py) and the log TensorFlow would print on it. Both must name the same
driver, compute-capability and cuDNN root causes, with the same severities.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from test_driver_machines import H100, MACHINES, driver, g1, load_driver_matrix, machine
from test_libraries_checks import healthy, lib, libraries, pip_copy

from tfgpu.checks import load_all, run_checks
from tfgpu.explain import explain_lines, load_knowledge
from tfgpu.probes.driver import DriverInfo
from tfgpu.probes.libraries import LoadResult

#: The root causes both sides judge from versions alone.
ROOT_IDS = {"driver-too-old", "driver-minor-compat", "gpu-ptx-jit", "gpu-cc-unsupported", "cudnn-version-mismatch"}
PREFIX = "2025-01-01 00:00:00.000001: I external/local_xla/xla/stream_executor/cuda/"

CASES: list[tuple[str, str | None]] = [
    ("driver_530_h100_tf221", None),  # the review's case: PTX JIT needs 555.42.06
    ("driver_535_h100_tf221", "9.3.0"),
    ("driver_535_a100_tf221", "9.1.0"),  # minor compat; cuDNN minor older than 9.3.0
    ("driver_555_h100_tf221", "8.9.7"),  # cuDNN of another major
    ("driver_570_l4_tf221", "9.5.0"),
    ("driver_470_t4_tf221", None),
    ("k80_tf221", None),
    ("rtx5090_driver_570_tf221", None),
    ("wsl2_driver_560_rtx4090_tf221", None),
    ("wsl2_driver_537_rtx4090_tf221", "9.3.0"),
    ("driver_418_v100_tf211", None),
    ("driver_455_v100_tf211", None),
    ("driver_535_h100_tf215", None),
]
EXTRA = {"driver_530_h100_tf221": machine(driver("530.30.02", "12.1", g1(H100)))}


def _facts(name: str, cudnn: str | None) -> dict[str, Any]:
    facts = dict(EXTRA.get(name) or MACHINES[name])
    if cudnn is not None:
        cudart = healthy()[0]
        facts["libraries"] = libraries(cudart, lib("cudnn", "libcudnn.so.9", pip_copy("cudnn", "libcudnn.so.9"),
                                                   LoadResult("loaded", version=cudnn)))
    return facts


def _cudnn_number(version: str) -> str:
    """The number TensorFlow prints in 'Loaded cuDNN version N' (9.1.0 -> 90100, 8.9.7 -> 8907)."""
    major, minor, patch = (int(p) for p in version.split("."))
    return f"{major}{minor:02d}{patch:02d}" if major >= 9 else f"{major}{minor}{patch:02d}"


def log_for(facts: dict[str, Any]) -> list[str]:
    """The lines TensorFlow (and nvidia-smi, uname) print on the machine these facts describe."""
    drv: DriverInfo = facts["driver"]
    build = facts["tf_build"]
    lines = []
    if getattr(facts["host"], "wsl", None) == "wsl2":
        lines.append("Linux box 5.15.153.1-microsoft-standard-WSL2 #1 SMP Fri Mar 29 23:14:13 UTC 2024 x86_64 GNU/Linux")
    lines += [(f"| NVIDIA-SMI {drv.driver_version}   Driver Version: {drv.driver_version}   "
               f"CUDA Version: {drv.cuda_driver_version} |"),
              f"TensorFlow version: {build.version}"]
    for g in drv.gpus:
        lines.append(f"{PREFIX}gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:GPU:{g.index} "
                     f"with 1000 MB memory:  -> device: {g.index}, name: {g.name}, pci bus id: 0000:00:05.0, "
                     f"compute capability: {g.compute_capability}")
    libs = facts.get("libraries")
    cudnn = libs.get("cudnn") if libs is not None else None
    if cudnn is not None and cudnn.load.version:
        lines.append(f"{PREFIX}cuda_dnn.cc:529] Loaded cuDNN version {_cudnn_number(cudnn.load.version)}")
    return lines


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))


def _roots(findings) -> Counter:
    return Counter((f.id, f.severity.value) for f in findings
                   if f.id in ROOT_IDS and f.severity.value in ("warning", "error"))


@pytest.mark.parametrize("name, cudnn", CASES, ids=[f"{n}-cudnn{c}" if c else n for n, c in CASES])
def test_doctor_and_explain_agree(name: str, cudnn: str | None, matrix) -> None:
    facts = _facts(name, cudnn)
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area in ("driver", "gpu", "libraries")]
    doctor, crashed = run_checks(facts, matrix, ids, {})
    assert not crashed, [f.summary for f in doctor if f.id == "check-crashed"]
    report = explain_lines(log_for(facts), matrix, name, load_knowledge())
    assert _roots(report.findings) == _roots(doctor), (name, [f.summary for f in report.findings])


def test_the_review_case_is_an_error_on_both_sides(matrix) -> None:
    facts = _facts("driver_530_h100_tf221", None)
    report = explain_lines(log_for(facts), matrix)
    assert report.verdict.status.value == "not_ready"
    too_old = next(f for f in report.findings if f.id == "driver-too-old")
    assert "555.42.06" in too_old.summary


def test_cases_cover_every_root_cause() -> None:
    """The parity cases exercise each root cause on the doctor's side at least once."""
    from tfgpu.matrix import load

    seen: set[str] = set()
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area in ("driver", "gpu", "libraries")]
    for name, cudnn in CASES:
        findings, _ = run_checks(_facts(name, cudnn), load(), ids, {})
        seen |= {f.id for f in findings}
    assert ROOT_IDS <= seen, ROOT_IDS - seen
