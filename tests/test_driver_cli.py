"""`tfgpu doctor --json --fast` as a user runs it, with the stand-in NVML on LD_LIBRARY_PATH and a
venv holding the real tensorflow==2.21.0 wheel as --python: the driver issue's must-show runs."""

from __future__ import annotations

import ctypes.util
import json
import time
from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, run_tfgpu, tf_python, validate_report
from test_driver_standin import A100, H100, K80, T4, build_fake_nvml, driver_matrix_path, nvml_env, write_script

pytestmark = pytest.mark.real_tf


@pytest.fixture(scope="module")
def driver_matrix(tmp_path_factory) -> Path:
    return driver_matrix_path(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def fake_nvml(cc, tmp_path_factory) -> Path:
    return build_fake_nvml(cc, tmp_path_factory.mktemp("nvml"))


def doctor(env: dict[str, str], matrix: Path, *extra: str, expect: tuple[int, ...]) -> tuple[dict, int]:
    data, proc = json_report("doctor", "--json", "--fast", "--python", tf_python(), "--matrix", str(matrix), *extra,
                             env=env, expect_codes=expect)
    return data, proc.returncode


def errors(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["severity"] == "error"]


def test_h100_on_535_needs_555_for_ptx_jit(fake_nvml, driver_matrix):
    report, code = doctor(nvml_env(fake_nvml, H100), driver_matrix, expect=(1,))
    assert code == 1 and report["verdict"]["status"] == "not_ready"
    drv = report["facts"]["driver"]
    assert drv["status"] == "ok"
    data = drv["data"]
    assert (data["driver_version"], data["cuda_driver_version"]) == ("535.104.05", "12.2")
    (gpu,) = data["gpus"]
    assert (gpu["name"], gpu["compute_capability"]) == ("NVIDIA H100 80GB HBM3", "9.0")
    assert gpu["memory_total_bytes"] == 81559 * 1024**2 and gpu["memory_free_bytes"] > 0
    found = findings_by_id(report)
    (too_old,) = found["driver-too-old"]
    assert too_old["severity"] == "error"
    assert "compute_90" in too_old["summary"] and "555.42.06" in too_old["summary"]
    assert "PTX JIT" in too_old["summary"]
    assert report["verdict"]["headline"].endswith(too_old["summary"])
    assert found["gpu-ptx-jit"][0]["severity"] == "warning"


def test_a100_on_535_is_minor_compat_warning_only(fake_nvml, driver_matrix):
    report, _ = doctor(nvml_env(fake_nvml, A100), driver_matrix, expect=(1,))  # plain tensorflow: no CUDA libraries
    found = findings_by_id(report)
    assert "driver-too-old" not in found
    assert not [f for f in errors(report) if f["check"].startswith(("driver", "gpu"))]
    (minor,) = found["driver-minor-compat"]
    assert minor["severity"] == "warning" and "minor-version compatibility" in minor["summary"]
    assert found["gpu-cc-ok"][0]["severity"] == "ok"


def test_470_with_t4_names_525_and_offers_cuda11_tensorflow(fake_nvml, driver_matrix):
    report, code = doctor(nvml_env(fake_nvml, T4, driver="470.82.01", cuda=11040), driver_matrix, expect=(1,))
    assert code == 1 and report["verdict"]["status"] == "not_ready"
    (too_old,) = findings_by_id(report)["driver-too-old"]
    assert "525.60.13" in too_old["summary"] and "CUDA 12.x" in too_old["summary"]
    alt = [x for x in too_old["fixes"] if "CUDA 11" in x["summary"]]
    assert alt and any("tensorflow[and-cuda]==2.14.1" in c for c in alt[0]["commands"])


def _in_container(report: dict) -> bool:
    """Whether the machine running the tests is a container (the host probe says): fixes differ there."""
    return bool((report["facts"].get("host", {}).get("data") or {}).get("container"))


def test_init_error_18_is_the_version_mismatch(fake_nvml, driver_matrix):
    report, code = doctor(nvml_env(fake_nvml, H100, init_error=18), driver_matrix, expect=(1,))
    assert code == 1 and report["verdict"]["status"] == "not_ready"
    assert report["facts"]["driver"]["evidence"]["cause"] == "version_mismatch"
    (f,) = findings_by_id(report)["driver-library-mismatch"]
    assert f["severity"] == "error"
    cmds = [c for x in f["fixes"] for c in x["commands"]]
    if _in_container(report):
        # The kernel module is the host's: reboot and modprobe are said as the host's, never commands here.
        assert not any("reboot" in c or "modprobe" in c for c in cmds), cmds
        assert any(x["summary"].startswith("On the host") and "reboot" in x["summary"] for x in f["fixes"])
    else:
        assert "sudo reboot" in cmds and "sudo modprobe nvidia" in cmds


def test_k80_is_not_in_the_tf221_build(fake_nvml, driver_matrix):
    report, code = doctor(nvml_env(fake_nvml, K80, driver="470.82.01", cuda=11040), driver_matrix, expect=(1,))
    assert code == 1
    (f,) = findings_by_id(report)["gpu-cc-unsupported"]
    assert f["severity"] == "error" and "3.7" in f["summary"] and "2.21.0" in f["summary"]


@pytest.mark.skipif(bool(ctypes.util.find_library("nvidia-ml")), reason="this machine has a real NVIDIA driver")
def test_this_machine_has_no_driver(driver_matrix):
    report, code = doctor(nvml_env(None), driver_matrix, expect=(1,))
    assert code == 1 and report["verdict"]["status"] == "not_ready"
    assert report["facts"]["driver"]["status"] == "not_found"
    if _in_container(report):
        # A container without /dev/nvidia* was started without GPU access: that is the cause to fix.
        (f,) = findings_by_id(report)["container-no-gpu-passthrough"]
        assert f["severity"] == "error" and "without GPU access" in f["summary"]
    else:
        (f,) = findings_by_id(report)["driver-missing"]
        assert f["severity"] == "error" and "No NVIDIA driver" in f["summary"]


def test_hanging_nvidia_smi_cannot_hold_the_report(tmp_path, driver_matrix):
    bindir = tmp_path / "bin"
    write_script(bindir / "nvidia-smi", "sleep 120\n")
    env = nvml_env(None)
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    t0 = time.monotonic()
    report, _ = doctor(env, driver_matrix, "--timeout", "6", expect=(1,))
    assert time.monotonic() - t0 < 30
    assert "timed out" in report["facts"]["driver"]["evidence"]["nvidia_smi"]
    assert ("container-no-gpu-passthrough" if _in_container(report) else "driver-missing") in findings_by_id(report)


def test_saved_h100_report_replays_to_the_same_findings(fake_nvml, driver_matrix, tmp_path):
    report, code = doctor(nvml_env(fake_nvml, H100 + ",procs=4242:1024"), driver_matrix, expect=(1,))
    saved = tmp_path / "h100.json"
    saved.write_text(json.dumps(report))
    proc = run_tfgpu("doctor", "--json", "--from-facts", str(saved), "--matrix", str(driver_matrix))
    assert proc.returncode == code, proc.stderr
    replay = json.loads(proc.stdout)
    validate_report(replay)
    key = [(f["id"], f["severity"], f["summary"]) for f in report["findings"]]
    assert [(f["id"], f["severity"], f["summary"]) for f in replay["findings"]] == key
    assert replay["facts"]["driver"] == report["facts"]["driver"]
    assert replay["verdict"]["status"] == report["verdict"]["status"]
