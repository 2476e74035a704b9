"""The driver probe against a stand-in libnvidia-ml.so.1 compiled here, through the real pynvml code
path (and against stand-in nvidia-smi scripts); also the helpers the other driver tests share."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, compile_shared

from tfgpu.model import ProbeFailure, ProbeStatus
from tfgpu.probes import ProbeContext, _children
from tfgpu.probes.driver import (
    SMI_FIELDS,
    DriverFailure,
    DriverInfo,
    limits,
    parse_kernel_module_version,
    parse_modules,
    parse_smi_csv,
    probe_driver,
)
from tfgpu.serde import from_jsonable, to_jsonable

DATA = Path(__file__).resolve().parent / "data" / "nvml"

H100 = "name=NVIDIA H100 80GB HBM3,cc=9.0,mem=81559,bus=5120,mclk=2619"
A100 = "name=NVIDIA A100-SXM4-80GB,cc=8.0,mem=81920,bus=5120,mclk=1593"
T4 = "name=Tesla T4,cc=7.5,mem=15360,bus=256,mclk=5001,mig=0,nosupport=mig"
K80 = "name=Tesla K80,cc=3.7,mem=11441,bus=384,mclk=2505,nosupport=mig"


# --- shared helpers ---------------------------------------------------------------------------------


def driver_matrix_path(tmp_dir: Path, real: Path = REPO / "compat_matrix.yaml") -> Path:
    """compat_matrix.yaml itself once its generated tensorflow section has the rows these tests
    use; until then a copy with the fallback rows from tests/data/nvml/tf_rows.yaml."""
    data = yaml.safe_load(real.read_text(encoding="utf-8"))
    rows = data.get("tensorflow") or []
    series = {str(r.get("series")) for r in rows if isinstance(r, dict)}
    if {"2.21", "2.14"} <= series:
        return real
    fallback = yaml.safe_load((DATA / "tf_rows.yaml").read_text(encoding="utf-8"))
    data["tensorflow"] = rows + [r for r in fallback if r["series"] not in series]
    out = tmp_dir / "matrix-with-tf-rows.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def build_fake_nvml(cc: str, out_dir: Path, old_driver: bool = False) -> Path:
    """Compile the stand-in libnvidia-ml.so.1 into `out_dir`; return the folder (for LD_LIBRARY_PATH)."""
    source = (DATA / "fake_nvml.c").read_text(encoding="utf-8")
    extra = ("-DOLD_DRIVER",) if old_driver else ()
    compile_shared(cc, source, out_dir / "libnvidia-ml.so.1", soname="libnvidia-ml.so.1", extra=extra)
    return out_dir


def nvml_env(libdir: Path | None, gpus: str = "", driver: str = "535.104.05", cuda: int = 12020,
             init_error: int | None = None, hang: int | None = None) -> dict[str, str]:
    """Environment for a run against the stand-in (None: no stand-in at all)."""
    # None: conftest's "no driver" folder (unloadable libraries), so the host's real driver never answers.
    env = {"LD_LIBRARY_PATH": str(libdir) if libdir else os.environ.get("LD_LIBRARY_PATH", ""), "FAKE_NVML_GPUS": gpus,
           "FAKE_NVML_DRIVER": driver, "FAKE_NVML_CUDA": str(cuda)}
    if init_error is not None:
        env["FAKE_NVML_INIT_ERROR"] = str(init_error)
    if hang is not None:
        env["FAKE_NVML_HANG"] = str(hang)
    return env


def write_script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture(scope="session")
def driver_matrix(tmp_path_factory) -> Path:
    return driver_matrix_path(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="session")
def fake_nvml(cc, tmp_path_factory) -> Path:
    return build_fake_nvml(cc, tmp_path_factory.mktemp("nvml"))


@pytest.fixture(scope="session")
def fake_nvml_old(cc, tmp_path_factory) -> Path:
    return build_fake_nvml(cc, tmp_path_factory.mktemp("nvml-old"), old_driver=True)


def run_probe(env: dict[str, str], timeout: float = 20.0, path_first: Path | None = None):
    environ = dict(os.environ)
    for key in list(environ):
        if key.startswith("FAKE_NVML_"):
            del environ[key]
    environ.update(env)
    base_path = "/usr/bin:/bin"
    environ["PATH"] = f"{path_first}:{base_path}" if path_first else base_path
    ctx = ProbeContext(python=sys.executable, environ=environ, timeout=timeout)
    return probe_driver(ctx)


# --- through pynvml, with the stand-in --------------------------------------------------------------


def test_h100_all_fields_through_pynvml(fake_nvml):
    gpus = H100 + ",used=2048,procs=4242:1500+4343:500,persist=1;" + A100 + ",mig=1,ecc=1,eccerr=3,retired=1"
    info = run_probe(nvml_env(fake_nvml, gpus))
    assert isinstance(info, DriverInfo), info
    assert (info.source, info.driver_version, info.cuda_driver_version) == ("nvml", "535.104.05", "12.2")
    assert info.nvml_version == "12.535.104.05"
    assert info.library and info.library.startswith(str(fake_nvml))
    h100, a100 = info.gpus
    assert (h100.index, h100.name, h100.compute_capability) == (0, "NVIDIA H100 80GB HBM3", "9.0")
    assert h100.uuid and h100.uuid.startswith("GPU-") and h100.pci_bus_id == "00000000:17:00.0"
    assert h100.memory_total_bytes == 81559 * 1024**2 and h100.memory_used_bytes == 2048 * 1024**2
    assert h100.memory_reserved_bytes == 512 * 1024**2
    assert [(p.pid, p.used_memory_bytes) for p in h100.processes] == [(4242, 1500 * 1024**2), (4343, 500 * 1024**2)]
    assert h100.processes[0].name == "python4242"
    assert h100.persistence_mode is True and h100.mig_mode_current is False
    # 2 x 2619 MHz x 5120 bit / 8 = 3352 GB/s, the H100 SXM's published 3.35 TB/s.
    assert h100.memory_bandwidth_gb_s == pytest.approx(3352.3, abs=0.1)
    assert a100.mig_mode_current is True and a100.ecc_mode_current is True
    assert a100.ecc_uncorrected_volatile == 3 and a100.retired_pages_pending is True
    # ECC is off on the H100 here: the counters say why they are absent, the rest is intact.
    assert "Not Supported" in h100.unavailable["ecc_uncorrected_volatile"]


def test_not_supported_fields_keep_their_reason(fake_nvml):
    info = run_probe(nvml_env(fake_nvml, T4 + ",nosupport=mig+ecc+bus+clock+procs+retired"))
    assert isinstance(info, DriverInfo)
    (t4,) = info.gpus
    for key in ("mig_mode_current", "ecc_mode_current", "memory_bus_width_bits", "max_memory_clock_mhz",
                "processes", "retired_pages_pending"):
        assert "Not Supported" in t4.unavailable[key], key
    assert t4.memory_bus_width_bits is None and t4.memory_bandwidth_gb_s is None
    assert t4.compute_capability == "7.5" and t4.memory_total_bytes == 15360 * 1024**2


def test_old_driver_function_not_found_falls_back(fake_nvml_old):
    """Symbols an older driver lacks: pynvml raises NVMLError_FunctionNotFound, the probe uses the
    older call where there is one and keeps the reason where there is not."""
    info = run_probe(nvml_env(fake_nvml_old, T4 + ",procs=77:100", driver="470.82.01", cuda=11040))
    assert isinstance(info, DriverInfo)
    assert info.cuda_driver_version == "11.4"  # from nvmlSystemGetCudaDriverVersion (v1)
    (t4,) = info.gpus
    assert "FunctionNotFound" in t4.unavailable["memory_bus_width_bits"]
    assert t4.memory_total_bytes == 15360 * 1024**2  # nvmlDeviceGetMemoryInfo v1
    assert "v1" in t4.unavailable["memory_reserved_bytes"]
    assert [p.pid for p in t4.processes] == [77]  # ..._v2 after _v3 was not found
    assert t4.max_memory_clock_mhz == 5001


@pytest.mark.parametrize(
    "code, cause, status",
    [
        (9, DriverFailure.DRIVER_NOT_LOADED, ProbeStatus.FAILED),
        (18, DriverFailure.VERSION_MISMATCH, ProbeStatus.FAILED),
        (4, DriverFailure.PERMISSION_DENIED, ProbeStatus.PERMISSION_DENIED),
        (15, DriverFailure.GPU_LOST, ProbeStatus.FAILED),
        (999, DriverFailure.NVML_ERROR, ProbeStatus.FAILED),
    ],
)
def test_init_errors_are_classified(fake_nvml, code, cause, status):
    got = run_probe(nvml_env(fake_nvml, H100, init_error=code))
    assert isinstance(got, ProbeFailure)
    assert got.evidence["cause"] == cause.value and got.status is status
    assert got.evidence["nvml_error_code"] == code
    assert "system" in got.evidence and got.evidence["library"].startswith(str(fake_nvml))


def test_lost_gpu_is_a_typed_field_not_a_crash(fake_nvml):
    info = run_probe(nvml_env(fake_nvml, H100 + ";" + A100 + ",lost=1"))
    assert isinstance(info, DriverInfo)
    assert [g.health for g in info.gpus] == ["ok", "lost"]
    assert "GpuIsLost" in (info.gpus[1].health_detail or "")


def test_crash_in_nvml_is_a_crashed_probe(fake_nvml):
    env = nvml_env(fake_nvml, H100)
    env["FAKE_NVML_CRASH"] = "1"
    got = run_probe(env)
    assert isinstance(got, ProbeFailure) and got.status is ProbeStatus.CRASHED
    assert got.evidence["cause"] == DriverFailure.CRASHED.value
    assert "signal 11" in got.message


def test_no_library_is_library_not_found():
    got = run_probe(nvml_env(None))
    assert isinstance(got, ProbeFailure)
    assert got.status is ProbeStatus.NOT_FOUND and got.evidence["cause"] == DriverFailure.LIBRARY_NOT_FOUND.value
    assert got.evidence["nvidia_smi"] == "nvidia-smi: not found"


def _nvml_child_answer(source: str, env: dict[str, str]) -> dict:
    folders = json.dumps([p for p in sys.path[1:] if p])
    out = subprocess.run([sys.executable, "-I", "-S", "-c", source, folders], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_a_library_the_child_answers_as_pynvml_would_without_importing_it(tmp_path):
    """No loadable libnvidia-ml.so.1: the child's short cut (no pynvml import) gives pynvml's own answer."""
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / "libnvidia-ml.so.1").write_bytes(b"not a library")  # also hides the host's real one
    env = {**os.environ, "LD_LIBRARY_PATH": str(broken)}
    source = _children.source(_children.NVML)
    assert "no_library = _library_missing()" in source
    short = _nvml_child_answer(source + "\nassert 'pynvml' not in sys.modules\n", env)
    through_pynvml = _nvml_child_answer(source.replace("no_library = _library_missing()", "no_library = None"), env)
    assert short == through_pynvml
    assert short["stage"] == "load" and short["error_code"] == 12 and short["bindings"]


def test_hung_nvml_is_timed_out_within_the_limit(fake_nvml):
    t0 = time.monotonic()
    got = run_probe(nvml_env(fake_nvml, H100, hang=60), timeout=4.0)
    assert time.monotonic() - t0 < 4.0
    assert isinstance(got, ProbeFailure) and got.status is ProbeStatus.TIMED_OUT
    assert got.evidence["cause"] == DriverFailure.NOT_RESPONDING.value


# --- the nvidia-smi fallback ----------------------------------------------------------------------------


def test_hanging_nvidia_smi_is_cut_off(tmp_path):
    bindir = tmp_path / "bin"
    write_script(bindir / "nvidia-smi", "sleep 60\n")
    t0 = time.monotonic()
    got = run_probe(nvml_env(None), timeout=4.0, path_first=bindir)
    assert time.monotonic() - t0 < 4.0
    assert isinstance(got, ProbeFailure)
    assert got.evidence["cause"] == DriverFailure.LIBRARY_NOT_FOUND.value
    assert "timed out" in got.evidence["nvidia_smi"]


def test_nvidia_smi_answers_where_nvml_cannot(tmp_path):
    bindir = tmp_path / "bin"
    write_script(bindir / "nvidia-smi",
                 'case "$*" in *compute_cap*) echo \'Field "compute_cap" is not a valid field to query.\'; exit 2;; esac\n'
                 "echo '0, Tesla T4, GPU-1234, 00000000:00:1E.0, 470.82.01, 15360, 100, 15260, Enabled, [N/A], Enabled'\n")
    info = run_probe(nvml_env(None), path_first=bindir)
    assert isinstance(info, DriverInfo), info
    assert (info.source, info.driver_version) == ("nvidia-smi", "470.82.01")
    (t4,) = info.gpus
    assert (t4.name, t4.uuid, t4.memory_free_bytes) == ("Tesla T4", "GPU-1234", 15260 * 1024**2)
    assert t4.compute_capability is None and t4.mig_mode_current is None
    assert t4.unavailable["mig_mode_current"] == "nvidia-smi: N/A"
    assert info.nvml_error and "libnvidia-ml" in info.nvml_error


def test_nvidia_smi_failure_text_names_the_cause(tmp_path):
    bindir = tmp_path / "bin"
    write_script(bindir / "nvidia-smi",
                 "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9\n")
    got = run_probe(nvml_env(None), path_first=bindir)
    assert isinstance(got, ProbeFailure)
    assert got.evidence["cause"] == DriverFailure.DRIVER_NOT_LOADED.value


# --- pure parsing and the record's round trip -----------------------------------------------------------


def test_parse_kernel_module_version():
    prop = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\nGCC version: gcc 12"
    open_ = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  (dvs-builder@U16)"
    assert parse_kernel_module_version(prop) == "535.104.05"
    assert parse_kernel_module_version(open_) == "570.86.15"
    assert parse_kernel_module_version("garbage") is None


def test_parse_modules():
    text = "nvidia_uvm 1536000 0 - Live 0x0\nnvidia 56786944 14 nvidia_uvm, Live 0x0 (POE)\nnouveau 2 0 - Live 0x0\n"
    assert {"nvidia", "nvidia_uvm", "nouveau"} <= parse_modules(text)


def test_parse_smi_csv_not_supported():
    driver, gpus = parse_smi_csv("0, NVIDIA A100-SXM4-80GB, GPU-a, 00000000:07:00.0, 535.104.05, 81920, 0, 81050, "
                                 "Enabled, Enabled, [Not Supported], 8.0\n", SMI_FIELDS)
    assert driver == "535.104.05"
    assert gpus[0].mig_mode_current is True and gpus[0].compute_capability == "8.0"
    assert gpus[0].unavailable["ecc_mode_current"] == "nvidia-smi: Not Supported"


def test_limits_fit_inside_the_probe_limit():
    for timeout in (2.0, 4.0, 30.0, 120.0):
        nvml, smi = limits(timeout)
        assert nvml + smi <= max(timeout, 2.0)


def test_fallback_tf_rows_fill_an_empty_tensorflow_section(tmp_path):
    from tfgpu import matrix as matrix_mod

    data = yaml.safe_load((REPO / "compat_matrix.yaml").read_text(encoding="utf-8"))
    data["tensorflow"] = []
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump(data), encoding="utf-8")
    path = driver_matrix_path(tmp_path, empty)
    assert path != empty
    m = matrix_mod.load(str(path))
    assert m.tf_row("2.21").cuda == "12.5.1" and m.tf_row("2.14").cuda == "11.8"


def test_record_round_trips_through_serde(fake_nvml):
    info = run_probe(nvml_env(fake_nvml, H100 + ",procs=1:2;" + K80))
    assert isinstance(info, DriverInfo)
    assert from_jsonable(DriverInfo, to_jsonable(info)) == info
