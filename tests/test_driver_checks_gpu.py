"""Scenario tests for the "gpu" area checks (compute capability, VRAM, CUDA_VISIBLE_DEVICES against
the GPUs found, MIG): named machines in, findings out; no probing."""

from __future__ import annotations

import pytest
from test_driver_machines import GIB, all_commands, by_id, findings_for, load_driver_matrix

from tfgpu.checks.gpu import JIT_CACHE_MAX, vram_in_use_text, vram_low_text
from tfgpu.rules import cc_support
from tfgpu.model import Severity


@pytest.fixture(scope="module")
def driver_matrix_obj(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))

EXPECTED: dict[str, tuple[list[tuple[str, Severity]], list[str]]] = {
    "driver_535_h100_tf221": ([("gpu-ptx-jit", Severity.WARNING), ("vram-ok", Severity.OK)], ["gpu-cc-ok"]),
    "driver_555_h100_tf221": ([("gpu-ptx-jit", Severity.WARNING)], ["gpu-cc-unsupported"]),
    "driver_535_a100_tf221": ([("gpu-cc-ok", Severity.OK)], ["gpu-ptx-jit"]),
    "driver_570_l4_tf221": ([("gpu-cc-ok", Severity.OK)], []),
    "driver_470_t4_tf221": ([("gpu-cc-ok", Severity.OK)], []),
    "k80_tf221": ([("gpu-cc-unsupported", Severity.ERROR)], ["gpu-cc-ok"]),
    "driver_535_h100_tf215": ([("gpu-ptx-jit", Severity.WARNING)], []),
    # Blackwell on a CUDA 12.5 build is not PTX JIT: its kernel_gen PTX fails with CUDA_ERROR_INVALID_PTX and XLA
    # aborts 'PTX version 8.5 does not support target sm_120' (tensorflow#99592, #111958; compat_matrix.yaml, cuda 12.8).
    "rtx5090_driver_570_tf221": ([("gpu-cc-unsupported", Severity.ERROR)], ["gpu-ptx-jit", "gpu-cc-ok"]),
    "driver_418_v100_tf211": ([("gpu-cc-ok", Severity.OK)], []),
    "h100_cc_unknown": ([("gpu-ptx-jit", Severity.WARNING)], []),  # CC from the matrix by name
    "no_tf_build_h100": ([("vram-ok", Severity.OK)], ["gpu-cc-ok", "gpu-ptx-jit", "gpu-cc-unsupported"]),
    "a100_busy": ([("vram-in-use", Severity.WARNING), ("vram-low", Severity.WARNING)], ["vram-ok"]),
    "a100_nearly_full": ([("vram-low", Severity.WARNING)], ["vram-in-use", "vram-ok"]),
    "a100_idle": ([("vram-ok", Severity.OK)], ["vram-low", "vram-in-use"]),
    "a100_ecc_errors": ([("gpu-ecc-errors", Severity.WARNING)], []),
    "cvd_1_one_gpu": ([("cuda-visible-devices-missing-device", Severity.ERROR)], []),
    "cvd_0_3_two_gpus": ([("cuda-visible-devices-missing-device", Severity.WARNING)], []),
    "cvd_uuid_prefix": ([], ["cuda-visible-devices-missing-device"]),
    "cvd_0_one_gpu": ([], ["cuda-visible-devices-missing-device"]),
    "cvd_mig_without_mig": ([("cuda-visible-devices-missing-device", Severity.ERROR)], []),
    "a100_mig_on": ([("mig-enabled", Severity.WARNING)], []),
    "a100_mig_pending": ([("mig-enabled", Severity.INFO)], []),
    "two_gpus_one_lost": ([("gpu-cc-ok", Severity.OK)], ["gpu-cc-unsupported"]),
    "no_driver": ([("gpu-memory-skipped", Severity.SKIPPED)], ["vram-ok"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gpu_area(name, driver_matrix_obj):
    want, unwanted = EXPECTED[name]
    found = by_id(findings_for(name, driver_matrix_obj, "gpu"))
    for fid, severity in want:
        assert fid in found, (name, fid, {k: [f.summary for f in v] for k, v in found.items()})
        assert severity in [f.severity for f in found[fid]], (name, fid)
        for f in found[fid]:
            if f.severity in (Severity.ERROR, Severity.WARNING):
                assert f.fixes, (name, fid)
    for fid in unwanted:
        assert fid not in found, (name, fid, found[fid][0].summary)


def _one(name: str, fid: str, matrix):
    found = by_id(findings_for(name, matrix, "gpu"))
    assert fid in found, found.keys()
    return found[fid][0]


def test_k80_names_the_last_tensorflow_that_ran_it(driver_matrix_obj):
    f = _one("k80_tf221", "gpu-cc-unsupported", driver_matrix_obj)
    assert "3.7" in f.summary and "2.21.0" in f.summary
    assert "2.14" in f.summary and f.evidence["last_supporting_tf"].startswith("2.14")
    assert "/srv/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.14.*'" in all_commands(f)


def test_ptx_jit_says_how_to_keep_the_cache(driver_matrix_obj):
    f = _one("driver_555_h100_tf221", "gpu-ptx-jit", driver_matrix_obj)
    assert "compute_90" in f.summary
    assert f"export CUDA_CACHE_MAXSIZE={JIT_CACHE_MAX}" in all_commands(f)
    assert any(c.startswith("export CUDA_CACHE_PATH=") for c in all_commands(f))
    assert "minutes" in f.detail


def test_vram_texts_and_pids(driver_matrix_obj):
    busy = _one("a100_busy", "vram-in-use", driver_matrix_obj)
    assert busy.summary == vram_in_use_text("GPU 0 (NVIDIA A100-SXM4-80GB)", [4242, 4343], 79000 * 1024**2)
    assert "4242" in busy.summary and "kill 4242 4343" in all_commands(busy)
    low = _one("a100_nearly_full", "vram-low", driver_matrix_obj)
    assert low.summary == vram_low_text("GPU 0 (NVIDIA A100-SXM4-80GB)", 920 * 1024**2, 81920 * 1024**2)
    ok = _one("a100_idle", "vram-ok", driver_matrix_obj)
    assert "2039 GB/s" in ok.summary


def test_cuda_visible_devices_missing_device_texts(driver_matrix_obj):
    f = _one("cvd_1_one_gpu", "cuda-visible-devices-missing-device", driver_matrix_obj)
    assert "'1'" in f.summary and "no GPU at all" in f.summary
    assert "unset CUDA_VISIBLE_DEVICES" in all_commands(f)
    w = _one("cvd_0_3_two_gpus", "cuda-visible-devices-missing-device", driver_matrix_obj)
    assert "'3'" in w.summary and "export CUDA_VISIBLE_DEVICES=0" in all_commands(w)


def test_mig_fix_commands(driver_matrix_obj):
    f = _one("a100_mig_on", "mig-enabled", driver_matrix_obj)
    assert "sudo nvidia-smi -i 0 -mig 0" in all_commands(f) and "nvidia-smi -L" in all_commands(f)


@pytest.mark.parametrize("cc, built, want", [
    ((9, 0), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), ("ptx", "compute_90")),
    ((8, 6), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), ("sass", "sm_80")),
    ((8, 9), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), ("sass", "sm_89")),
    ((7, 5), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), ("sass", "sm_70")),
    ((3, 7), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), None),
    ((5, 2), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), None),
    ((12, 0), ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), ("ptx", "compute_90")),
    ((3, 7), ("sm_35", "sm_50", "compute_80"), ("sass", "sm_35")),
    ((9, 0), ("sm_90a",), ("sass", "sm_90a")),
    ((10, 0), ("sm_90a", "compute_90a"), None),  # arch-specific targets run only on exactly 9.0
    ((3, 7), ("3.5", "3.7", "5.2"), ("sass", "3.7")),
])
def test_cc_support(cc, built, want):
    fit = cc_support(cc, built)
    assert ((fit.kind.value, fit.entry) if fit.runs else None) == want


def test_gib_constant():
    assert GIB == 1024**3
