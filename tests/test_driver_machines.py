"""Named machines for the driver and GPU check tests: fact records built directly (no probing),
shared by test_driver_checks_driver.py and test_driver_checks_gpu.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_driver_standin import driver_matrix_path

from tfgpu import matrix as matrix_mod
from tfgpu.checks import load_all, run_checks
from tfgpu.model import Finding, ProbeFailure, ProbeStatus
from tfgpu.probes.driver import DeviceNode, DriverFailure, DriverInfo, DriverSystem, GpuInfo, GpuProcess
from tfgpu.probes.environment import EnvVars
from tfgpu.probes.host import HostInfo
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.render.json import fact_to_dict, facts_from_dict
from tfgpu.serde import from_jsonable, to_jsonable

MIB = 1024**2
GIB = 1024**3
PY = "/srv/venv/bin/python"

#: compute capabilities of the real wheels (their build_info.py; docs/knowledge.md, "TensorFlow builds").
TF_BUILDS = {
    "2.21": ("2.21.0", "12.5.1", ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90")),
    "2.15": ("2.15.1", "12.2", ("sm_50", "sm_60", "sm_70", "sm_75", "compute_80")),
    "2.11": ("2.11.1", "11.2", ("sm_35", "sm_50", "sm_60", "sm_70", "sm_75", "compute_80")),
}


def tf_build(series: str = "2.21") -> TFBuild:
    version, cuda, ccs = TF_BUILDS[series]
    return TFBuild("tensorflow", version, "/srv/venv/lib/python3.11/site-packages/tensorflow",
                   "/srv/venv/lib/python3.11/site-packages/tensorflow/python/platform/build_info.py",
                   True, False, cuda, "9" if series == "2.21" else "8", ccs, "clang", ">=3.10", (), {})


def gpu(index: int, name: str, cc: str | None, total_mib: int, used_mib: int = 0, **kw: Any) -> GpuInfo:
    total = total_mib * MIB
    used = used_mib * MIB
    return GpuInfo(index=index, name=name, compute_capability=cc, memory_total_bytes=total,
                   memory_used_bytes=used, memory_free_bytes=total - used, uuid=f"GPU-{index:08d}-aaaa-bbbb",
                   mig_mode_current=kw.pop("mig", False), mig_mode_pending=kw.pop("mig_pending", False), **kw)


H100 = ("NVIDIA H100 80GB HBM3", "9.0", 81559)
A100 = ("NVIDIA A100-SXM4-80GB", "8.0", 81920)
T4 = ("Tesla T4", "7.5", 15360)
K80 = ("Tesla K80", "3.7", 11441)
L4 = ("NVIDIA L4", "8.9", 23034)
V100 = ("Tesla V100-SXM2-32GB", "7.0", 32768)
RTX5090 = ("NVIDIA GeForce RTX 5090", "12.0", 32607)
RTX4090 = ("NVIDIA GeForce RTX 4090", "8.9", 24564)

LINUX = DriverSystem(kernel_module_version=None, kernel_module_loaded=True, nouveau_loaded=False,
                     device_nodes=(DeviceNode("/dev/nvidia0", True, True), DeviceNode("/dev/nvidiactl", True, True)),
                     secure_boot=False)
BARE = DriverSystem(kernel_module_loaded=False, nouveau_loaded=False, secure_boot=False)


def driver(version: str, cuda: str, *gpus: GpuInfo, system: DriverSystem = LINUX, **kw: Any) -> DriverInfo:
    return DriverInfo("nvml", version, cuda, f"{cuda.split('.')[0]}.{version}", tuple(gpus), system, **kw)


def driver_failure(cause: DriverFailure, message: str, system: DriverSystem = BARE, **evidence: Any) -> ProbeFailure:
    status = {DriverFailure.LIBRARY_NOT_FOUND: ProbeStatus.NOT_FOUND,
              DriverFailure.PERMISSION_DENIED: ProbeStatus.PERMISSION_DENIED,
              DriverFailure.NOT_RESPONDING: ProbeStatus.TIMED_OUT}.get(cause, ProbeStatus.FAILED)
    return ProbeFailure("driver", status, message,
                        {"cause": cause.value, "system": to_jsonable(system), "interpreter": "/opt/tfgpu/bin/python",
                         **evidence})


def machine(drv: DriverInfo | ProbeFailure, series: str | None = "2.21", env: dict[str, str] | None = None,
            wsl: str | None = None, distro: str = "ubuntu") -> dict[str, Any]:
    facts: dict[str, Any] = {
        "host": HostInfo("Linux", "x86_64", "6.8.0", distro_id=distro, wsl=wsl),
        "python_env": PythonEnv(PY, "3.11.9", "CPython", "linux", "x86_64", "/srv/venv", True, False, (), ()),
        "environment": EnvVars(dict(env or {})),
        "driver": drv,
    }
    if series:
        facts["tf_build"] = tf_build(series)
    return facts


def g1(spec: tuple[str, str, int], **kw: Any) -> GpuInfo:
    return gpu(0, spec[0], spec[1], spec[2], **kw)


#: Named machines. Each is facts only; the test modules say what each must produce.
MACHINES: dict[str, dict[str, Any]] = {
    "driver_535_h100_tf221": machine(driver("535.104.05", "12.2", g1(H100))),
    "driver_535_a100_tf221": machine(driver("535.104.05", "12.2", g1(A100))),
    "driver_555_h100_tf221": machine(driver("555.42.06", "12.5", g1(H100))),
    "driver_570_l4_tf221": machine(driver("570.86.15", "12.8", g1(L4))),
    "driver_470_t4_tf221": machine(driver("470.82.01", "11.4", g1(T4))),
    "driver_470_tf221": machine(driver("470.82.01", "11.4", g1(T4))),
    "k80_tf221": machine(driver("470.82.01", "11.4", g1(K80))),
    "driver_418_v100_tf211": machine(driver("418.39", "10.1", g1(V100)), series="2.11"),
    "driver_455_v100_tf211": machine(driver("455.23.05", "11.1", g1(V100)), series="2.11"),
    "driver_535_h100_tf215": machine(driver("535.104.05", "12.2", g1(H100)), series="2.15"),
    "rtx5090_driver_570_tf221": machine(driver("570.124.06", "12.8", g1(RTX5090))),
    "wsl2_driver_560_rtx4090_tf221": machine(
        driver("560.94", "12.6", g1(RTX4090), system=replace(BARE, wsl2=True, dxg=True, wsl_libcuda=True,
                                                               wsl_libnvml=True)), wsl="wsl2"),
    "wsl2_driver_537_rtx4090_tf221": machine(
        driver("537.13", "12.2", g1(RTX4090), system=replace(BARE, wsl2=True, dxg=True)), wsl="wsl2"),
    "no_tf_build_h100": machine(driver("535.104.05", "12.2", g1(H100)), series=None),
    "two_gpus_one_lost": machine(driver("550.54.15", "12.4", g1(A100),
                                        replace(gpu(1, *A100), health="lost", health_detail="GpuIsLost"))),
    "driver_no_gpus": machine(driver("550.54.15", "12.4")),
    "container_none_visible": machine(driver("550.54.15", "12.4",
                                             system=replace(LINUX, container="docker", nvidia_visible_devices="none"))),
    "nvml_crashed": machine(driver_failure(DriverFailure.CRASHED, "the NVML query process crashed with signal 11 "
                                           "(SIGSEGV) without an answer", LINUX)),
    "kmod_differs_from_library": machine(driver("550.54.15", "12.4", g1(A100),
                                                system=replace(LINUX, kernel_module_version="535.104.05"))),
    "smi_fallback_t4": machine(replace(driver("560.35.03", "12.6", g1(T4)), source="nvidia-smi",
                                       cuda_driver_version=None, nvml_error="libnvidia-ml.so.1 could not be loaded")),
    # --- failures of the driver itself
    "no_driver": machine(driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded")),
    "no_driver_debian_container": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, container="docker")), distro="debian"),
    "container_without_gpus": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, container="docker", nvidia_visible_devices="all"))),
    "wsl2_lib_not_on_path": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, wsl2=True, dxg=True, wsl_libcuda=True, wsl_libnvml=True)), wsl="wsl2"),
    "wsl2_no_windows_driver": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(BARE, wsl2=True, dxg=True)), wsl="wsl2"),
    "kmod_without_library": machine(
        driver_failure(DriverFailure.LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 could not be loaded",
                       replace(LINUX, kernel_module_version="550.54.15"))),
    "nouveau_loaded": machine(driver_failure(DriverFailure.DRIVER_NOT_LOADED, "nvmlInit failed: Driver Not Loaded",
                                             replace(BARE, nouveau_loaded=True), nvml_error_code=9)),
    "secure_boot_rejects_module": machine(
        driver_failure(DriverFailure.DRIVER_NOT_LOADED, "nvmlInit failed: Driver Not Loaded",
                       replace(BARE, secure_boot=True), nvml_error_code=9)),
    "upgraded_without_reboot": machine(
        driver_failure(DriverFailure.VERSION_MISMATCH, "nvmlInit failed: RM has detected an NVML/RM version mismatch.",
                       replace(LINUX, kernel_module_version="535.104.05"), nvml_error_code=18,
                       library="/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15")),
    "dev_nodes_not_accessible": machine(
        driver_failure(DriverFailure.PERMISSION_DENIED, "nvmlInit failed: Insufficient Permissions",
                       replace(LINUX, device_nodes=(DeviceNode("/dev/nvidiactl", True, False),)), nvml_error_code=4)),
    "gpu_fell_off_bus": machine(driver_failure(DriverFailure.GPU_LOST, "nvmlInit failed: GPU is lost", LINUX,
                                               nvml_error_code=15)),
    "driver_hung": machine(driver_failure(DriverFailure.NOT_RESPONDING, "NVML did not answer within 15 s", LINUX)),
    "tfgpu_without_pynvml": machine(driver_failure(DriverFailure.BINDINGS_MISSING,
                                                   "cannot import pynvml (the nvidia-ml-py package)")),
    "macos": machine(driver_failure(DriverFailure.UNSUPPORTED_OS, "macOS has no NVIDIA CUDA driver")),
    # --- VRAM, CUDA_VISIBLE_DEVICES, MIG
    "a100_busy": machine(driver("550.54.15", "12.4", g1(A100, used_mib=80000, processes=(
        GpuProcess(4242, "python", 60000 * MIB), GpuProcess(4343, "jupyter", 19000 * MIB))))),
    "a100_nearly_full": machine(driver("550.54.15", "12.4", g1(A100, used_mib=81000))),
    "a100_idle": machine(driver("550.54.15", "12.4", g1(A100, memory_bus_width_bits=5120, max_memory_clock_mhz=1593))),
    "a100_ecc_errors": machine(driver("550.54.15", "12.4", g1(A100, ecc_uncorrected_volatile=2,
                                                              retired_pages_pending=True))),
    "cvd_1_one_gpu": machine(driver("550.54.15", "12.4", g1(A100)), env={"CUDA_VISIBLE_DEVICES": "1"}),
    "cvd_0_3_two_gpus": machine(driver("550.54.15", "12.4", g1(A100), gpu(1, *A100)),
                                env={"CUDA_VISIBLE_DEVICES": "0,3"}),
    "cvd_uuid_prefix": machine(driver("550.54.15", "12.4", g1(A100), gpu(1, *A100)),
                               env={"CUDA_VISIBLE_DEVICES": "GPU-00000001"}),
    "cvd_0_one_gpu": machine(driver("550.54.15", "12.4", g1(A100)), env={"CUDA_VISIBLE_DEVICES": "0"}),
    "cvd_mig_without_mig": machine(driver("550.54.15", "12.4", g1(A100)),
                                   env={"CUDA_VISIBLE_DEVICES": "MIG-4f1c-aaaa"}),
    "a100_mig_on": machine(driver("550.54.15", "12.4", g1(A100, mig=True, mig_pending=True))),
    "a100_mig_pending": machine(driver("550.54.15", "12.4", g1(A100, mig_pending=True))),
    "h100_cc_unknown": machine(driver("555.42.06", "12.5", gpu(0, "NVIDIA H100 80GB HBM3", None, 81559))),
}


def load_driver_matrix(tmp_dir: Path) -> matrix_mod.Matrix:
    return matrix_mod.load(str(driver_matrix_path(tmp_dir)))


def findings_for(name: str, matrix: matrix_mod.Matrix, area: str) -> list[Finding]:
    """Run the checks of one area (pure: facts in, findings out) for a named machine."""
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area == area]
    findings, crashed = run_checks(MACHINES[name], matrix, ids, {})
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    return findings


def by_id(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


def all_commands(finding: Finding) -> list[str]:
    return [c for fix in finding.fixes for c in fix.commands]


DRIVER_FACTS = sorted(n for n, m in MACHINES.items() if isinstance(m["driver"], DriverInfo))
DRIVER_FAILURES = sorted(n for n, m in MACHINES.items() if isinstance(m["driver"], ProbeFailure))


def test_every_machine_is_a_driver_fact_or_a_driver_failure():
    assert len(DRIVER_FACTS) + len(DRIVER_FAILURES) == len(MACHINES)
    assert DRIVER_FACTS and DRIVER_FAILURES


@pytest.mark.parametrize("name", DRIVER_FACTS)
def test_machine_driver_fact_round_trips(name):
    drv = MACHINES[name]["driver"]
    assert from_jsonable(DriverInfo, to_jsonable(drv)) == drv
    assert drv.summary()


@pytest.mark.parametrize("name", DRIVER_FAILURES)
def test_machine_driver_failure_round_trips(name):
    """A driver failure survives a saved report (what --from-facts reads) unchanged; its cause is
    one the probe knows and its system record decodes to the same DriverSystem."""
    fail = MACHINES[name]["driver"]
    saved = json.loads(json.dumps({"driver": fact_to_dict(fail)}))
    assert facts_from_dict(saved, {"driver": DriverInfo}) == {"driver": fail}
    assert DriverFailure(fail.evidence["cause"]).value == fail.evidence["cause"]
    system = from_jsonable(DriverSystem, fail.evidence["system"])
    assert to_jsonable(system) == fail.evidence["system"]
