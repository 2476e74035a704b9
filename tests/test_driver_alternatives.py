"""'Or keep the driver and install TensorFlow X': the alternative comes from the same reasoning as
`tfgpu recommend` (tfgpu.recommend.judge over the target's driver, GPUs, Python, OS, architecture
and glibc), is a release whose CUDA the driver runs natively for the minor-compatibility warning,
says which system CUDA/cuDNN a release without [and-cuda] needs, and says so when nothing fits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, run_tfgpu, tf_python
from test_driver_machines import A100, T4, by_id, driver, g1, load_driver_matrix, machine
from test_driver_standin import build_fake_nvml, driver_matrix_path, nvml_env

from tfgpu.checks import CheckContext, load_all, run_checks
from tfgpu.checks.common import target_os
from tfgpu.checks.driver import target_machine
from tfgpu.recommend import newest_tf_for_driver
from tfgpu.probes.host import HostInfo
from tfgpu.recommend import Machine, recommend
from tfgpu.rules import OS

RTX3090 = ("NVIDIA GeForce RTX 3090", "8.6", 24576)
RTX3090_NVML = "name=NVIDIA GeForce RTX 3090,cc=8.6,mem=24576,bus=384,mclk=9751"


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    return load_driver_matrix(tmp_path_factory.mktemp("matrix"))


def _driver_findings(facts, matrix):
    registry = load_all()
    ids = [c.id for c in registry.values() if c.area == "driver"]
    findings, crashed = run_checks(facts, matrix, ids, {})
    assert not crashed
    return by_id(findings)


def _with_python(facts, version: str):
    return {**facts, "python_env": replace(facts["python_env"], version=version)}


def _alt_fixes(finding):
    return [f for f in finding.fixes if f.summary.startswith("Or keep driver")]


def test_rtx3090_on_470_with_python_311_gets_no_uninstallable_release(mx):
    facts = _with_python(machine(driver("470.82.01", "11.4", g1(RTX3090))), "3.11.9")
    (f,) = _driver_findings(facts, mx)["driver-too-old"]
    assert not _alt_fixes(f), [x.summary for x in f.fixes]
    assert not any("2.11" in c for x in f.fixes for c in x.commands)
    assert "No older TensorFlow release" in f.detail and "the driver must be upgraded" in f.detail
    assert f.evidence["alternative_tf"] is None
    # The same answer as `tfgpu recommend --driver 470.82.01 --cc 8.6 --python-version 3.11`.
    assert recommend(mx, Machine(driver="470.82.01", ccs=("8.6",), python="3.11")).recommendations == ()


def test_rtx3090_on_470_with_python_310_gets_211_with_its_system_cuda(mx):
    facts = _with_python(machine(driver("470.82.01", "11.4", g1(RTX3090))), "3.10.12")
    (f,) = _driver_findings(facts, mx)["driver-too-old"]
    (alt,) = _alt_fixes(f)
    assert "TensorFlow 2.11" in alt.summary
    row = mx.tf_row("2.11")
    assert f"CUDA {row.cuda}" in alt.summary and f"cuDNN {row.cudnn_tested or row.cudnn}" in alt.summary
    assert "no [and-cuda] extra" in alt.summary
    # The exact newest 2.11 patch with a cp310 wheel (PyPI's file list: 2.11.1 has cp310).
    # A version change goes into a fresh venv first (keeping the target's Python), in place second.
    release = row.newest_release_for_python('3.10')
    assert alt.commands == ("/srv/venv/bin/python -m venv ~/venvs/tf-2.11",
                            f"~/venvs/tf-2.11/bin/python -m pip install tensorflow=={release}")
    assert f.fixes[f.fixes.index(alt) + 1].commands == (f"/srv/venv/bin/python -m pip install tensorflow=={release}",)
    best = recommend(mx, Machine(driver="470.82.01", ccs=("8.6",), python="3.10")).recommendations[0]
    assert best.tensorflow == "2.11" and f.evidence["alternative_tf"] == "2.11"


def test_a_host_glibc_too_old_for_a_release_rules_it_out(mx):
    facts = machine(driver("470.82.01", "11.4", g1(T4)))
    facts["host"] = replace(facts["host"], glibc="2.12")
    (f,) = _driver_findings(facts, mx)["driver-too-old"]
    assert not _alt_fixes(f) and "the driver must be upgraded" in f.detail


def test_minor_compat_alternative_runs_natively(mx):
    (f,) = _driver_findings(machine(driver("535.104.05", "12.2", g1(A100))), mx)["driver-minor-compat"]
    (alt,) = _alt_fixes(f)
    assert "TensorFlow 2.15" in alt.summary and "CUDA 12.2" in alt.summary and "natively" in alt.summary
    assert "2.20" not in alt.summary and "12.5" not in alt.summary
    assert f.evidence["alternative_tf"] == "2.15"
    need = mx.driver_need(mx.tf_row("2.15").cuda, "linux")
    assert need.toolkit_min is not None


def test_minor_compat_with_no_native_release_offers_none(mx):
    # Python 3.13: every release with wheels for it (2.20, 2.21) is CUDA 12.5.1, minor-compat on 535.
    facts = _with_python(machine(driver("535.104.05", "12.2", g1(A100))), "3.13.1")
    (f,) = _driver_findings(facts, mx)["driver-minor-compat"]
    assert not _alt_fixes(f) and "runs natively" in f.detail


def test_newest_tf_for_driver_follows_the_target_python(mx):
    assert newest_tf_for_driver(mx, "470.82.01", [(8, 6)], "linux", python="3.11") is None
    assert newest_tf_for_driver(mx, "470.82.01", [(8, 6)], "linux", python="3.10").series == "2.11"
    assert newest_tf_for_driver(mx, "535.104.05", [(8, 0)], "linux", below="2.21.0", native_only=True).series == "2.15"


def test_machine_from_facts_names_os_arch_glibc_and_python():
    facts = machine(driver("560.94", "12.6", g1(RTX3090)), wsl="wsl2")
    facts["host"] = HostInfo("Linux", "x86_64", "5.15", glibc="2.35", wsl="wsl2")

    ctx = CheckContext("driver-supports-tf-cuda", facts, None)
    m = target_machine(ctx, facts["driver"], [(8, 6)])
    assert (m.os, m.machine, m.glibc, m.python, m.ccs, m.driver) == ("wsl2", "x86_64", "2.35", "3.11.9", ("8.6",),
                                                                       "560.94")
    assert target_os(ctx) is OS.WSL2


# --- through the probes: the stand-in NVML and the real TensorFlow 2.21 venv (Python 3.11) -----------------


@pytest.mark.real_tf
def test_doctor_rtx3090_on_470_agrees_with_recommend(cc, tmp_path: Path):
    python = tf_python()
    matrix = driver_matrix_path(tmp_path)
    nvml = build_fake_nvml(cc, tmp_path / "nvml")
    report, _ = json_report("doctor", "--json", "--fast", "--python", python, "--matrix", str(matrix),
                            env=nvml_env(nvml, RTX3090_NVML, driver="470.82.01", cuda=11040), expect_codes=(1,))
    py = report["facts"]["python_env"]["data"]["version"]
    (f,) = findings_by_id(report)["driver-too-old"]
    commands = [c for x in f["fixes"] for c in x["commands"]]
    proc = run_tfgpu("recommend", "--json", "--matrix", str(matrix), "--driver", "470.82.01", "--cc", "8.6",
                     "--python-version", py)
    advice = json.loads(proc.stdout)
    recs = advice.get("recommendations") or []
    if recs:
        assert f["evidence"]["alternative_tf"] == recs[0]["tensorflow"]
    else:
        assert f["evidence"]["alternative_tf"] is None and "the driver must be upgraded" in f["detail"]
        assert not any("tensorflow" in c and "==" in c for c in commands), commands
