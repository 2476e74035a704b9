"""Scenario tests for the "driver" area checks (driver-present, driver-supports-tf-cuda): named
machines in, findings out; no probing."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from test_driver_machines import (
    LINUX,
    MACHINES,
    all_commands,
    by_id,
    driver_failure,
    findings_for,
    load_driver_matrix,
    machine,
    tf_build,
)

from tfgpu.checks import run_checks
from tfgpu.checks.common import branch_for
from tfgpu.checks.driver import kepler_no_branch_text
from tfgpu.recommend import newest_tf_for_driver
from tfgpu.rules import (
    DriverFit,
    driver_fit,
    driver_minor_compat_text,
    driver_too_old_text,
    driver_unjudged_reason,
    ptx_jit_needs_driver_text,
)
from tfgpu.matrix import DriverNeed
from tfgpu.model import Severity
from tfgpu.probes.driver import DeviceNode, DriverFailure


@pytest.fixture(scope="module")
def driver_matrix_obj(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))

#: machine → the (finding id, severity) pairs the driver area must produce, and ids it must not.
EXPECTED: dict[str, tuple[list[tuple[str, Severity]], list[str]]] = {
    "driver_535_h100_tf221": ([("driver-present", Severity.OK), ("driver-too-old", Severity.ERROR)],
                              ["driver-minor-compat", "driver-ok"]),
    "driver_535_a100_tf221": ([("driver-minor-compat", Severity.WARNING)], ["driver-too-old", "driver-ok"]),
    "driver_555_h100_tf221": ([("driver-ok", Severity.OK)], ["driver-too-old", "driver-minor-compat"]),
    "driver_570_l4_tf221": ([("driver-ok", Severity.OK)], ["driver-too-old"]),
    "driver_470_t4_tf221": ([("driver-too-old", Severity.ERROR)], ["driver-ok"]),
    "driver_470_tf221": ([("driver-too-old", Severity.ERROR)], ["driver-ok"]),
    "k80_tf221": ([("driver-too-old", Severity.ERROR)], []),
    "driver_418_v100_tf211": ([("driver-too-old", Severity.ERROR)], []),
    "driver_455_v100_tf211": ([("driver-minor-compat", Severity.WARNING)], ["driver-too-old"]),
    "driver_535_h100_tf215": ([("driver-ok", Severity.OK)], ["driver-too-old"]),
    "rtx5090_driver_570_tf221": ([("driver-ok", Severity.OK)], []),
    "wsl2_driver_560_rtx4090_tf221": ([("driver-ok", Severity.OK)], []),
    "wsl2_driver_537_rtx4090_tf221": ([("driver-minor-compat", Severity.WARNING)], ["driver-too-old"]),
    "no_tf_build_h100": ([("driver-present", Severity.OK)], ["driver-ok", "driver-too-old"]),
    "two_gpus_one_lost": ([("gpu-lost", Severity.ERROR)], []),
    "driver_no_gpus": ([("gpu-not-found", Severity.ERROR)], []),
    "container_none_visible": ([("gpu-not-found", Severity.ERROR)], []),
    "nvml_crashed": ([("driver-probe-failed", Severity.ERROR)], []),
    "kmod_differs_from_library": ([("driver-library-mismatch", Severity.WARNING)], []),
    "smi_fallback_t4": ([("driver-present", Severity.INFO)], []),
    "no_driver": ([("driver-missing", Severity.ERROR)], []),
    # A container without /dev/nvidia* was started without GPU access: the host's driver is not installed
    # from inside it (NVIDIA Container Toolkit docs: the toolkit mounts the host driver into the container).
    "no_driver_debian_container": ([("container-no-gpu-passthrough", Severity.ERROR)], ["driver-missing"]),
    "container_without_gpus": ([("container-no-gpu-passthrough", Severity.ERROR)], ["driver-missing"]),
    "wsl2_lib_not_on_path": ([("driver-missing", Severity.ERROR)], []),
    "wsl2_no_windows_driver": ([("driver-missing", Severity.ERROR)], []),
    "kmod_without_library": ([("driver-missing", Severity.ERROR)], []),
    "nouveau_loaded": ([("driver-not-loaded", Severity.ERROR)], []),
    "secure_boot_rejects_module": ([("driver-not-loaded", Severity.ERROR)], []),
    "upgraded_without_reboot": ([("driver-library-mismatch", Severity.ERROR)], []),
    "dev_nodes_not_accessible": ([("driver-permission-denied", Severity.ERROR)], []),
    "gpu_fell_off_bus": ([("gpu-lost", Severity.ERROR)], []),
    "driver_hung": ([("driver-not-responding", Severity.ERROR)], []),
    "tfgpu_without_pynvml": ([("driver-probe-failed", Severity.WARNING)], []),
    "macos": ([], ["driver-missing", "driver-present"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_driver_area(name, driver_matrix_obj):
    want, unwanted = EXPECTED[name]
    found = by_id(findings_for(name, driver_matrix_obj, "driver"))
    for fid, severity in want:
        assert fid in found, (name, fid, {k: [f.summary for f in v] for k, v in found.items()})
        assert severity in [f.severity for f in found[fid]], (name, fid, [f.severity for f in found[fid]])
        for f in found[fid]:
            if f.severity in (Severity.ERROR, Severity.WARNING):
                assert f.fixes and all(x.summary for x in f.fixes), (name, fid)
    for fid in unwanted:
        assert fid not in found, (name, fid, found[fid][0].summary)


def _one(name: str, fid: str, matrix):
    found = by_id(findings_for(name, matrix, "driver"))
    assert fid in found, found.keys()
    return found[fid][0]


def test_h100_on_535_needs_the_toolkit_driver_for_ptx_jit(driver_matrix_obj):
    f = _one("driver_535_h100_tf221", "driver-too-old", driver_matrix_obj)
    assert f.summary == ptx_jit_needs_driver_text("535.104.05", "compute_90", "GPU 0 (NVIDIA H100 80GB HBM3)", 1,
                                                  "555.42.06", "12.5.1")
    cmds = all_commands(f)
    # 555.42.06 needs R555+; R570 (end of life 2026-02) is not offered on the matrix's 2026-11-26 data.
    assert "sudo apt-get install -y nvidia-driver-580" in cmds
    assert not any("nvidia-driver-570" in c or "nvidia-driver-535" in c for c in cmds)
    # A data-center GPU, but R535 ended in June 2026 (NVIDIA Data Center Drivers r615 page) and "Branches not
    # listed ... are end of life and are not supported targets for compatibility" (CUDA Compatibility guide,
    # Forward Compatibility table): no cuda-compat on the 2026-11-26 data (tests/test_drivers_branches.py).
    assert not any("cuda-compat" in c for c in cmds)
    # TF 2.15 (CUDA 12.2, compute_80 PTX) is the newest that driver 535.104.05 JIT-compiles for an H100.
    assert "/srv/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.15.1'" in cmds


def test_a100_on_535_is_a_minor_compat_warning(driver_matrix_obj):
    f = _one("driver_535_a100_tf221", "driver-minor-compat", driver_matrix_obj)
    assert f.summary == driver_minor_compat_text("535.104.05", "525.60.13", "12.5.1", "555.42.06")
    assert f.evidence["fit"] == "minor_compat"


def test_470_names_cuda12_minimum_and_offers_a_cuda11_tensorflow(driver_matrix_obj):
    f = _one("driver_470_t4_tf221", "driver-too-old", driver_matrix_obj)
    assert f.summary == driver_too_old_text("470.82.01", "525.60.13", "12.5.1", "555.42.06")
    assert "525.60.13" in f.summary
    cmds = all_commands(f)
    assert "/srv/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.14.1'" in cmds
    alt = next(x for x in f.fixes if "2.14" in x.summary)
    assert "CUDA 11.8" in alt.summary


def test_kepler_gets_no_driver_upgrade(driver_matrix_obj):
    """R470 is the last driver branch for Kepler: upgrading would lose the GPU."""
    f = _one("k80_tf221", "driver-too-old", driver_matrix_obj)
    cmds = all_commands(f)
    assert not any("nvidia-driver-" in c for c in cmds)
    assert not any("cuda-compat" in c for c in cmds)  # CUDA 12 has no Kepler
    assert any("tensorflow[and-cuda]==2.14.1" in c for c in cmds)
    # ... and it says why no branch is offered, from the branches the matrix still supports.
    # Supported on 2026-11-26: R580, R595, R620 (NVIDIA Data Center Drivers r620 page, Table 2).
    assert kepler_no_branch_text("GPU 0 (Tesla K80)", 1, (580, 595, 620)) in f.detail
    assert "R470" in f.detail and "R580" in f.detail
    assert f.evidence["supported_branches"] == [580, 595, 620]


def test_kepler_text_while_r470_is_still_supported():
    text = kepler_no_branch_text("GPU 0 (Tesla K80)", 1, (470, 535))
    assert "no driver newer than the R470 branch" in text and "end of life" not in text


def test_branches_come_from_the_matrix_and_skip_end_of_life(driver_matrix_obj):
    # R535 (June 2026) and R570 (February 2026) ended before 2026-11-26; R580, R595 and R620 are supported
    # (NVIDIA Data Center Drivers r620 page, Table 2 "CUDA and Drivers").
    assert driver_matrix_obj.supported_branches() == (580, 595, 620)
    assert branch_for(driver_matrix_obj, "555.42.06") == 580
    assert branch_for(driver_matrix_obj, "470.82.01") == 580  # the oldest supported branch that is new enough
    earlier = replace(driver_matrix_obj, data_date="2025-12-01")
    assert branch_for(earlier, "555.42.06") == 570
    assert branch_for(earlier, "525.60.13") == 535
    assert branch_for(None, "555.42.06") is None


def test_no_supported_branch_falls_back_to_the_newest_driver_packages(driver_matrix_obj):
    bare = replace(driver_matrix_obj, driver_branches=())
    for distro, needle in (("ubuntu", "sudo ubuntu-drivers install"), ("debian", "sudo apt-get install -y cuda-drivers"),
                           ("rocky", "sudo dnf module enable -y nvidia-driver:open-dkms")):
        facts = machine(driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded"),
                        distro=distro)
        if distro in ("rocky", "debian"):  # NVIDIA's repositories are per release: Rocky 9, Debian 12 here
            facts["host"] = replace(facts["host"], distro_version="9.4" if distro == "rocky" else "12")
        found = by_id(run_checks(facts, bare, ["driver-present"], {})[0])
        f = found["driver-missing"][0]
        assert needle in all_commands(f), (distro, all_commands(f))
        assert not any(re.search(r"nvidia-driver-\d|cuda-drivers-\d|nvidia-driver:\d", c) for c in all_commands(f))
        assert "a current NVIDIA driver" in f.fixes[0].summary and "None" not in f.fixes[0].summary


def test_permission_denied_names_only_the_inaccessible_nodes(driver_matrix_obj):
    system = replace(LINUX, device_nodes=(DeviceNode("/dev/nvidia0", True, True), DeviceNode("/dev/nvidiactl", True, False),
                                          DeviceNode("/dev/nvidia-uvm", False, False)))
    facts = machine(driver_failure(DriverFailure.PERMISSION_DENIED, "nvmlInit failed: Insufficient Permissions", system,
                                   nvml_error_code=4))
    f = by_id(run_checks(facts, driver_matrix_obj, ["driver-present"], {})[0])["driver-permission-denied"][0]
    assert system.inaccessible_nodes == ("/dev/nvidiactl", "/dev/nvidia-uvm")
    assert f.summary.endswith(": /dev/nvidiactl, /dev/nvidia-uvm not readable and writable by this user")


def test_a_build_without_a_cuda_version_is_a_skipped_driver_check(driver_matrix_obj):
    """TF 2.22.0rc0's build_info.py names no CUDA version: say so rather than stay silent (a READY
    verdict needs a driver check)."""
    tf222 = replace(tf_build(), version="2.22.0rc0", cuda_version=None, cudnn_version=None, compute_capabilities=())
    facts = {**MACHINES["driver_555_h100_tf221"], "tf_build": tf222}
    found = by_id(run_checks(facts, driver_matrix_obj, ["driver-supports-tf-cuda"], {})[0])
    assert set(found) == {"driver-supports-tf-cuda-skipped"}
    f = found["driver-supports-tf-cuda-skipped"][0]
    assert f.severity is Severity.SKIPPED
    assert f.summary == driver_unjudged_reason("2.22.0rc0", None, "555.42.06", True)
    assert "names no CUDA version" in f.summary and "2.22.0rc0" in f.summary


def test_a_build_without_a_cuda_version_uses_the_matrix_row_where_there_is_one(driver_matrix_obj):
    no_cuda = replace(tf_build(), cuda_version=None)  # 2.21.0: the matrix row says CUDA 12.5.1
    facts = {**MACHINES["driver_535_h100_tf221"], "tf_build": no_cuda}
    found = by_id(run_checks(facts, driver_matrix_obj, ["driver-supports-tf-cuda"], {})[0])
    assert found["driver-too-old"][0].evidence["tf_cuda"] == "12.5.1"


def test_driver_unjudged_reasons():
    assert driver_unjudged_reason("2.21.0", "12.5.1", "555.42.06", True) is None
    assert "could not be read" in (driver_unjudged_reason("2.21.0", "12.5.1", None, True) or "")
    assert "No compatibility matrix" in (driver_unjudged_reason("2.21.0", "12.5.1", "555.42.06", False) or "")


def test_418_with_cuda_11_names_the_cuda11_floor(driver_matrix_obj):
    f = _one("driver_418_v100_tf211", "driver-too-old", driver_matrix_obj)
    assert "450.80.02" in f.summary and "CUDA 11.x" in f.summary


def test_wsl2_uses_the_windows_driver_column(driver_matrix_obj):
    f = _one("wsl2_driver_537_rtx4090_tf221", "driver-minor-compat", driver_matrix_obj)
    assert f.evidence["os"] == "windows" and f.evidence["toolkit_driver"] == "555.85"
    assert not any(c.startswith("sudo apt-get") for c in all_commands(f))
    assert "wsl.exe --shutdown" in all_commands(f)


@pytest.mark.parametrize("name, needles", [
    ("no_driver", ["sudo apt-get install -y nvidia-driver-580"]),
    ("no_driver_debian_container", ["docker run --gpus all <image> ..."]),
    ("container_without_gpus", ["docker run --gpus all <image> ..."]),
    ("wsl2_lib_not_on_path", ["sudo ldconfig", "echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf"]),
    ("wsl2_no_windows_driver", ["wsl.exe --shutdown"]),
    ("kmod_without_library", ["sudo apt-get install --reinstall -y libnvidia-compute-550"]),
    ("nouveau_loaded", ["sudo modprobe nvidia", "sudo update-initramfs -u"]),
    ("secure_boot_rejects_module", ["sudo mokutil --import /var/lib/shim-signed/mok/MOK.der"]),
    ("upgraded_without_reboot", ["sudo reboot", "sudo modprobe -r nvidia_uvm nvidia_drm nvidia_modeset nvidia"]),
    ("dev_nodes_not_accessible", ["ls -l /dev/nvidia*", 'sudo usermod -aG video "$USER"']),
    ("gpu_fell_off_bus", ["sudo dmesg | grep -i -e xid -e nvrm"]),
    ("tfgpu_without_pynvml", ["/opt/tfgpu/bin/python -m pip install nvidia-ml-py"]),
    ("container_none_visible", ["docker run --gpus all <image> ..."]),
])
def test_failure_fixes_are_exact_commands(name, needles, driver_matrix_obj):
    findings = [f for f in findings_for(name, driver_matrix_obj, "driver") if f.severity.rank >= Severity.WARNING.rank]
    cmds = [c for f in findings for c in all_commands(f)]
    for needle in needles:
        assert needle in cmds, (name, needle, cmds)


def test_failure_summaries_name_what_was_seen(driver_matrix_obj):
    assert "nouveau" in _one("nouveau_loaded", "driver-not-loaded", driver_matrix_obj).summary
    assert "Secure Boot" in _one("secure_boot_rejects_module", "driver-not-loaded", driver_matrix_obj).summary
    mismatch = _one("upgraded_without_reboot", "driver-library-mismatch", driver_matrix_obj).summary
    assert "535.104.05" in mismatch and "550.54.15" in mismatch and "18" in mismatch
    assert "/dev/nvidiactl" in _one("dev_nodes_not_accessible", "driver-permission-denied", driver_matrix_obj).summary
    assert "550.54.15" in _one("kmod_without_library", "driver-missing", driver_matrix_obj).summary
    assert "WSL2" in _one("wsl2_no_windows_driver", "driver-missing", driver_matrix_obj).summary
    assert "NVIDIA_VISIBLE_DEVICES=all" in _one("container_without_gpus", "container-no-gpu-passthrough",
                                                driver_matrix_obj).summary


@pytest.mark.parametrize("driver, fit", [
    ("555.42.06", DriverFit.OK), ("560.35.03", DriverFit.OK), ("555.42.02", DriverFit.MINOR_COMPAT),
    ("535.104.05", DriverFit.MINOR_COMPAT), ("525.60.13", DriverFit.MINOR_COMPAT), ("525.60.12", DriverFit.TOO_OLD),
    ("470.82.01", DriverFit.TOO_OLD),
])
def test_driver_fit_for_cuda_12_5_1(driver, fit):
    assert driver_fit(driver, DriverNeed("12.5.1", "555.42.06", "525.60.13")) is fit


def test_driver_fit_before_cuda_11_has_no_minor_compat():
    assert driver_fit("410.48", DriverNeed("10.1", "418.39", None)) is DriverFit.TOO_OLD
    assert driver_fit("999.1", DriverNeed("99.0", None, None)) is DriverFit.UNKNOWN


def test_newest_tf_for_driver(driver_matrix_obj):
    assert newest_tf_for_driver(driver_matrix_obj, "470.82.01", [(7, 5)], "linux").series == "2.14"
    assert newest_tf_for_driver(driver_matrix_obj, "535.104.05", [(9, 0)], "linux").series == "2.15"
    row = newest_tf_for_driver(driver_matrix_obj, "535.104.05", [(8, 0)], "linux")
    assert row is not None and row.series not in ("2.15", "2.14")  # SASS: minor compat is enough
