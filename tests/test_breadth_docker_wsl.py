"""Docker, WSL and driver-module machines (issue 12, classes 6, 7 and 11): named machines in, findings out.

A container gets its driver from the host, so no fix for one installs a driver, reloads a module or
reboots as if it were local; WSL2 has no NVIDIA kernel module, so module/nouveau/Secure Boot advice never
shows there; WSL1 has no GPU at all, so no Linux driver is offered."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_driver_machines import (
    A100,
    BARE,
    LINUX,
    T4,
    all_commands,
    by_id,
    driver,
    driver_failure,
    g1,
    load_driver_matrix,
    machine,
)

from tfgpu.checks import load_all, run_checks
from tfgpu.model import Finding, Severity
from tfgpu.probes.driver import DeviceNode, DriverFailure

IN_DOCKER = replace(LINUX, container="docker")
LINUX_NVML = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
WSL2 = replace(BARE, wsl2=True, dxg=True, wsl_libcuda=True, wsl_libnvml=True)

#: Named machines of this file (facts only).
MACHINES = {
    # `docker run` without --gpus, from an image that sets no NVIDIA_VISIBLE_DEVICES.
    "docker_plain_image_no_gpus": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, container="docker")), distro="debian"),
    # Device nodes passed by hand (--device), but no driver library mounted.
    "docker_devices_without_library": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, container="docker", device_nodes=(DeviceNode("/dev/nvidia0", True, True),)))),
    "docker_host_module_not_loaded": machine(
        driver_failure(DriverFailure.DRIVER_NOT_LOADED, "nvmlInit failed: Driver Not Loaded",
                       replace(BARE, container="docker", secure_boot=True), nvml_error_code=9)),
    "docker_host_upgraded_without_reboot": machine(
        driver_failure(DriverFailure.VERSION_MISMATCH, "nvmlInit failed: RM has detected an NVML/RM version mismatch.",
                       replace(IN_DOCKER, kernel_module_version="535.104.05"), nvml_error_code=18,
                       library="/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15")),
    "docker_kmod_differs_from_library": machine(driver("550.54.15", "12.4", g1(A100),
                                                       system=replace(IN_DOCKER, kernel_module_version="535.104.05"))),
    "docker_host_driver_470_tf221": machine(driver("470.82.01", "11.4", g1(T4), system=IN_DOCKER)),
    # A Linux NVIDIA driver installed inside WSL2: its libnvidia-ml looks for a kernel module WSL2 never has.
    "wsl2_linux_driver_not_loaded": machine(
        driver_failure(DriverFailure.DRIVER_NOT_LOADED, "nvmlInit failed: Driver Not Loaded", WSL2,
                       nvml_error_code=9, library=LINUX_NVML), wsl="wsl2"),
    "wsl2_linux_driver_mismatch": machine(
        driver_failure(DriverFailure.VERSION_MISMATCH, "nvmlInit failed: RM has detected an NVML/RM version mismatch.",
                       WSL2, nvml_error_code=18, library=LINUX_NVML), wsl="wsl2"),
    "wsl1_no_driver": machine(driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded"),
                              wsl="wsl1"),
}

#: machine → (finding id, severity) it must produce in the driver area, and ids it must not.
EXPECTED: dict[str, tuple[list[tuple[str, Severity]], list[str]]] = {
    "docker_plain_image_no_gpus": ([("container-no-gpu-passthrough", Severity.ERROR)], ["driver-missing"]),
    "docker_devices_without_library": ([("driver-missing", Severity.ERROR)], ["container-no-gpu-passthrough"]),
    "docker_host_module_not_loaded": ([("driver-not-loaded", Severity.ERROR)], []),
    "docker_host_upgraded_without_reboot": ([("driver-library-mismatch", Severity.ERROR)], []),
    "docker_kmod_differs_from_library": ([("driver-library-mismatch", Severity.WARNING)], []),
    "docker_host_driver_470_tf221": ([("driver-too-old", Severity.ERROR)], ["driver-ok"]),
    "wsl2_linux_driver_not_loaded": ([("wsl2-linux-driver", Severity.ERROR)], ["driver-not-loaded"]),
    "wsl2_linux_driver_mismatch": ([("wsl2-linux-driver", Severity.ERROR)], ["driver-library-mismatch"]),
    "wsl1_no_driver": ([], ["driver-missing"]),
}

#: Commands that change the machine's own driver: wrong inside a container (they belong to the host).
LOCAL_DRIVER_COMMANDS = ("sudo reboot", "modprobe", "apt-get install -y nvidia-driver", "cuda-drivers",
                         "dnf module install", "dnf module enable", "nvidia-open", "ubuntu-drivers", "dkms",
                         "mokutil")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))


def _findings(name: str, matrix, area: str = "driver") -> list[Finding]:
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area == area]
    findings, crashed = run_checks(MACHINES[name], matrix, ids, {})
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    return findings


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_driver_area(name, matrix):
    want, unwanted = EXPECTED[name]
    found = by_id(_findings(name, matrix))
    for fid, severity in want:
        assert fid in found, (name, fid, sorted(found))
        assert all(f.severity is severity for f in found[fid]), (name, fid)
    for fid in unwanted:
        assert fid not in found, (name, fid, [f.summary for f in found[fid]])


@pytest.mark.parametrize("name", sorted(n for n in MACHINES if n.startswith("docker_")))
def test_a_container_never_gets_a_local_driver_fix(name, matrix):
    """Every fix that touches the driver says 'On the host'; the rest never install, reload or reboot."""
    for f in _findings(name, matrix):
        for fix in f.fixes:
            touches = [c for c in fix.commands if any(k in c for k in LOCAL_DRIVER_COMMANDS)]
            if touches:
                assert fix.summary.startswith("On the host"), (name, f.id, fix.summary, touches)


def test_a_plain_container_without_gpus_is_told_to_start_with_them(matrix):
    f = by_id(_findings("docker_plain_image_no_gpus", matrix))["container-no-gpu-passthrough"][0]
    assert "started without GPU access" in f.summary and "NVIDIA_VISIBLE_DEVICES" not in f.summary
    cmds = all_commands(f)
    assert "docker run --gpus all <image> ..." in cmds
    # A host action is said as the host's, never a command to run inside the container.
    assert not any("nvidia-ctk" in c for c in cmds)
    assert any("nvidia-ctk runtime configure" in x.summary and x.summary.startswith("On the host") for x in f.fixes)
    assert not any("cuda-drivers" in c or "nvidia-driver" in c for c in cmds)


@pytest.mark.parametrize("name", ["wsl2_linux_driver_not_loaded", "wsl2_linux_driver_mismatch"])
def test_a_linux_driver_inside_wsl2_is_named_and_no_module_advice_is_given(name, matrix):
    f = by_id(_findings(name, matrix))["wsl2-linux-driver"][0]
    assert LINUX_NVML in f.summary
    cmds = all_commands(f)
    assert any("dpkg -l" in c for c in cmds) and "wsl.exe --shutdown" in cmds
    assert not any(k in c for c in cmds for k in ("modprobe", "mokutil", "nouveau", "sudo reboot"))
    assert any("Windows" in fix.summary for fix in f.fixes)


def test_wsl1_gets_the_platform_finding_and_no_linux_driver(matrix):
    driver_area = _findings("wsl1_no_driver", matrix)
    assert not any("apt-get" in c for f in driver_area for c in all_commands(f))
    platform = by_id(_findings("wsl1_no_driver", matrix, "platform"))
    assert "wsl1-no-gpu" in platform
