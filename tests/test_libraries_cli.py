"""`tfgpu doctor` as a user runs it, against real TensorFlow venvs: the libraries TensorFlow will load,
a stand-in cuDNN shadowing the pip one, a crashing library, and TensorFlow without [and-cuda]."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "data" / "libs"))

import standins  # noqa: E402
from conftest import findings_by_id, json_report, tf_python  # noqa: E402

pytestmark = pytest.mark.real_tf


def _versioned(lib: Path, version: str) -> Path:
    """Lay a stand-in out as a real install is: the full-version file, with the soname a link to it (--fast
    reads the version from that file name)."""
    full = lib.with_name(f"{lib.name.split('.so.')[0]}.so.{version}")
    lib.rename(full)
    lib.symlink_to(full.name)
    return lib


def _by_id(report: dict) -> dict[str, list[dict]]:
    return findings_by_id(report)


def test_and_cuda_venv_lists_every_library_from_the_pip_wheels():
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    report, _ = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))  # no driver
    libs = report["facts"]["libraries"]
    assert libs["status"] == "ok", libs
    data = libs["data"]
    direct = [lib for lib in data["libraries"] if lib["direct"]]
    assert {lib["soname"] for lib in direct} >= {"libcudart.so.12", "libcublas.so.12", "libcudnn.so.9", "libnccl.so.2"}
    for lib in direct:
        assert lib["winner"] is not None, lib
        assert f"site-packages{os.sep}nvidia{os.sep}" in lib["winner"]["path"], lib["winner"]
        assert lib["winner"]["origin"] == "RUNPATH"
        # --fast loads nothing: each version is read from the wheel's dist-info (or the file name / header).
        assert lib["load"]["status"] == "not_loaded" and lib["load"]["version"], lib["load"]
    cudnn = next(lib for lib in direct if lib["key"] == "cudnn")
    assert cudnn["load"]["version"].startswith("9.")
    found = _by_id(report)
    assert found["cuda-libs-ok"][0]["severity"] == "ok"
    assert "cuda-lib-missing" not in found and "library-shadowed" not in found
    # This machine's CUDA 13 toolkit is explained: irrelevant, or the exact conflict (XLA's ptxas/libdevice).
    toolkits = report["facts"]["toolkit"]["data"]["toolkits"]
    if any(tk["nvcc_release"] and not tk["nvcc_release"].startswith("12.") for tk in toolkits):
        differs = found["system-toolkit-differs"]
        assert differs and all(f["severity"] in ("info", "warning") for f in differs)
        for f in differs:
            if f["severity"] == "warning":
                assert "ptxas" in f["summary"] or "LD_LIBRARY_PATH" in f["summary"]
                assert any("--xla_gpu_cuda_data_dir=" in c or "LD_LIBRARY_PATH" in c
                           for fix in f["fixes"] for c in fix["commands"])
            else:
                assert "does not matter" in f["summary"]


def test_a_stand_in_cudnn_on_ld_library_path_shadows_the_pip_one(cc, tmp_path: Path, hermetic):
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    shadow = tmp_path / "old-cudnn"
    _versioned(standins.fake_cudnn(cc, shadow, 90100), "9.1.0")
    report, proc = json_report("doctor", "--json", "--fast", "--python", python,
                               env={"LD_LIBRARY_PATH": str(shadow)}, expect_codes=(1,))
    found = _by_id(report)
    shadowed = [f for f in found["library-shadowed"] if f["evidence"]["soname"] == "libcudnn.so.9"]
    assert shadowed and shadowed[0]["severity"] == "error"
    s = shadowed[0]["summary"]
    assert str(shadow) in s and "site-packages/nvidia/cudnn/lib" in s and "9.1.0" in s and "9.3.0" in s
    assert any(c.startswith("unset LD_LIBRARY_PATH") or c.startswith("export LD_LIBRARY_PATH")
               for fix in shadowed[0]["fixes"] for c in fix["commands"])
    mismatch = found["cudnn-version-mismatch"][0]
    assert mismatch["severity"] == "error" and "older than" in mismatch["summary"]
    assert mismatch["evidence"]["built_with"] == "9.3.0"
    # The pip cuDNN is installed and fits the build: installing it again cannot help while the other copy
    # wins, so the only fix is taking that copy's folder off LD_LIBRARY_PATH.
    assert mismatch["evidence"]["pip_cudnn"]["distribution"] == "nvidia-cudnn-cu12"
    commands = [c for fix in mismatch["fixes"] for c in fix["commands"]]
    # What stays on LD_LIBRARY_PATH is the no-driver stand-in folder run_tfgpu puts last.
    assert commands == [f"export LD_LIBRARY_PATH={hermetic.no_driver_lib}"], commands
    assert str(shadow) in mismatch["fixes"][0]["summary"]


def test_a_shadowing_cudnn_fix_keeps_the_rest_of_ld_library_path(cc, tmp_path: Path, hermetic):
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    shadow = tmp_path / "old cudnn"
    _versioned(standins.fake_cudnn(cc, shadow, 90100), "9.1.0")
    other = tmp_path / "other"
    other.mkdir()
    report, _ = json_report("doctor", "--json", "--fast", "--python", python,
                            env={"LD_LIBRARY_PATH": f"{shadow}:{other}"}, expect_codes=(1,))
    mismatch = findings_by_id(report)["cudnn-version-mismatch"][0]
    commands = [c for fix in mismatch["fixes"] for c in fix["commands"]]
    assert commands == [f"export LD_LIBRARY_PATH={other}:{hermetic.no_driver_lib}"], commands  # run_tfgpu's last
    assert not any("pip" in c for c in commands)


def test_a_library_that_crashes_the_loader_is_a_finding(cc, tmp_path: Path):
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    bad = tmp_path / "bad"
    standins.crashing(cc, bad, "libcudart.so.12")
    # Only the full doctor loads libraries (in a crash-isolated child); --fast reads them from disk.
    report, _ = json_report("doctor", "--json", "--python", python,
                            env={"LD_LIBRARY_PATH": str(bad)}, expect_codes=(1,))
    found = _by_id(report)
    crashed = found["cuda-lib-crashed"][0]
    assert crashed["severity"] == "error" and "SIGSEGV" in crashed["summary"] and crashed["evidence"]["signal"] == 11
    libs = {lib["key"]: lib for lib in report["facts"]["libraries"]["data"]["libraries"]}
    assert libs["cudnn"]["load"]["status"] == "loaded" and libs["cudnn"]["load"]["version"]


def test_plain_tensorflow_without_and_cuda_says_install_the_extra():
    python = tf_python("TFGPU_TEST_TF_PYTHON")
    report, _ = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))
    found = _by_id(report)
    missing = found["cuda-lib-missing"][0]
    assert missing["severity"] == "error"
    assert "libcudart.so.12" in missing["summary"] and "libcudnn.so.9" in missing["summary"]
    assert missing["evidence"]["searched"]
    commands = [c for fix in missing["fixes"] for c in fix["commands"]]
    assert any("tensorflow[and-cuda]" in c and python in c for c in commands), commands
    extra = found["and-cuda-missing"][0]
    assert extra["severity"] == "error"
    assert any("tensorflow[and-cuda]" in c for fix in extra["fixes"] for c in fix["commands"])


def test_saved_library_facts_replay_to_the_same_findings(cc, tmp_path: Path):
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    shadow = tmp_path / "old-cudnn"
    standins.fake_cudnn(cc, shadow, 90100)
    first, proc = json_report("doctor", "--json", "--fast", "--python", python,
                              env={"LD_LIBRARY_PATH": str(shadow)}, expect_codes=(1,))
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(first))
    again, _ = json_report("doctor", "--json", "--from-facts", str(saved), expect_codes=(1,))
    pick = lambda r: sorted((f["id"], f["summary"]) for f in r["findings"]  # noqa: E731
                            if f["check"] in ("cuda-libraries-loadable", "cudnn-version", "library-shadowing",
                                              "system-toolkit", "xla-tools", "and-cuda-requirements"))
    assert pick(again) == pick(first)
