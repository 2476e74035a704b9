"""Unit tests of the foundation: the command seam, the runner, the codec, build_info parsing,
host detection, and the first checks on named scenarios."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tfgpu import proc
from tfgpu.checks import CheckContext, load_all, run_checks
from tfgpu.checks.visible_devices import parse_visible_devices
from tfgpu.matrix import load as load_matrix
from tfgpu.model import ProbeFailure, ProbeStatus, Severity
from tfgpu.probes import Probe, ProbeContext
from tfgpu.probes.environment import EnvVars, collect
from tfgpu.probes.host import HostInfo, detect_container, detect_wsl, parse_os_release
from tfgpu.probes.python_env import Distribution, PythonEnv
from tfgpu.probes.tf_build import BuildInfoError, TFBuild, parse_build_info
from tfgpu.runner import run_probes
from tfgpu.serde import from_jsonable, to_jsonable

DATA = Path(__file__).parent / "data"


# --- the command seam ------------------------------------------------------------------------


def test_run_reports_exit_code_and_output():
    r = proc.run([sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"], timeout=30)
    assert r.returncode == 3 and r.stdout.strip() == "hi" and r.describe() == "exited with code 3"


def test_run_times_out_and_kills_the_whole_group():
    t0 = time.monotonic()
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    r = proc.run([sys.executable, "-c", code], timeout=1.0)
    assert r.timed_out and r.returncode is None
    assert time.monotonic() - t0 < 10
    assert r.describe().startswith("timed out after")


def test_run_reports_a_crash_by_signal():
    r = proc.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], timeout=30)
    assert r.signal == 11 and "signal 11" in r.describe() and "SIGSEGV" in r.describe()


def test_run_missing_executable_is_a_result():
    r = proc.run(["/nonexistent/tfgpu-no-such-program"], timeout=5)
    assert r.start_error == "not found" and not r.ok


def test_run_caps_endless_output():
    r = proc.run([sys.executable, "-c", "import sys\nfor i in range(300000): sys.stdout.write('x'*100+'\\n')"],
                 timeout=60, cap=1 << 20)
    assert r.truncated and len(r.stdout) < (1 << 20) + 100 and r.returncode == 0


# --- the runner --------------------------------------------------------------------------------


def _ctx(**kw) -> ProbeContext:
    return ProbeContext(python=sys.executable, environ={}, timeout=kw.pop("timeout", 5.0), **kw)


def test_runner_turns_exceptions_and_overruns_into_failures():
    def boom(ctx):
        raise RuntimeError("kaput")

    def slow(ctx):
        time.sleep(30)

    def fine(ctx):
        return EnvVars({"A": "1"})

    probes = [
        Probe("boom", "boom", EnvVars, boom),
        Probe("slow", "slow", EnvVars, slow, timeout=0.5),
        Probe("fine", "fine", EnvVars, fine),
        Probe("after", "after", EnvVars, lambda ctx: EnvVars({"saw": str(ctx.fact("fine") is not None)}), needs=("fine",)),
    ]
    t0 = time.monotonic()
    results, timings = run_probes(probes, _ctx())
    assert time.monotonic() - t0 < 5
    assert isinstance(results["boom"], ProbeFailure) and results["boom"].status is ProbeStatus.FAILED
    assert "RuntimeError: kaput" in results["boom"].message
    assert results["slow"].status is ProbeStatus.TIMED_OUT and results["slow"].message == "timed out after 0.5 s"
    assert results["fine"].values == {"A": "1"}
    assert results["after"].values == {"saw": "True"}
    assert set(timings) >= {"boom", "slow", "fine", "after", "probes_total"}


# --- the codec ---------------------------------------------------------------------------------


def test_fact_records_round_trip_through_json():
    env = PythonEnv("/p/bin/python", "3.11.7", "CPython", "linux", "x86_64", "/p", True, False,
                    (Distribution("tensorflow", "2.21.0", "/p/lib", requires_dist=("a; extra == 'and-cuda'",)),),
                    ("/p/lib/tensorflow",))
    assert from_jsonable(PythonEnv, to_jsonable(env)) == env
    host = HostInfo("Linux", "x86_64", "6.1", wsl="wsl2", container_evidence=("/.dockerenv exists",))
    assert from_jsonable(HostInfo, to_jsonable(host)) == host


# --- build_info.py parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "version,cuda,cudnn,first_cc,last_cc",
    [
        ("2.4.0", "11.0", "8", "sm_35", "compute_80"),
        ("2.12.0", "11.8", "8", "sm_35", "compute_80"),
        ("2.21.0", "12.5.1", "9", "sm_60", "compute_90"),
    ],
)
def test_parse_build_info_of_real_wheels(version, cuda, cudnn, first_cc, last_cc):
    # Files: the build_info.py assignment of each real wheel (see tests/data/build_info/README).
    facts = parse_build_info((DATA / "build_info" / f"build_info_{version}.py").read_text())
    assert facts["cuda_version"] == cuda and facts["cudnn_version"] == cudnn and facts["is_cuda_build"] is True
    assert facts["cuda_compute_capabilities"][0] == first_cc and facts["cuda_compute_capabilities"][-1] == last_cc


def test_parse_build_info_without_versions_2_22():
    facts = parse_build_info((DATA / "build_info" / "build_info_2.22.0rc0.py").read_text())
    assert facts["is_cuda_build"] is True and "cuda_version" not in facts


def test_parse_build_info_old_module_assignments():
    text = "is_cuda_build = True\nis_rocm_build = False\ncuda_version_number = '10.0'\ncudnn_version_number = '7'\n"
    facts = parse_build_info(text)
    assert facts["cuda_version"] == "10.0" and facts["cudnn_version"] == "7"


def test_parse_build_info_never_executes(tmp_path):
    marker = tmp_path / "executed"
    text = f"open({str(marker)!r}, 'w').write('x')\nbuild_info = {{'is_cuda_build': False}}\n"
    assert parse_build_info(text) == {"is_cuda_build": False}
    assert not marker.exists()


@pytest.mark.parametrize("text", ["build_info = {'cuda_version': '12.5'", "x = 1\n", "build_info = dict(a=f())\n"])
def test_parse_build_info_garbled(text):
    with pytest.raises(BuildInfoError):
        parse_build_info(text)


# --- host detection ---------------------------------------------------------------------------


def test_os_release_parsing():
    osr = parse_os_release('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n# comment\nPRETTY_NAME=\'Ubuntu 22.04.4 LTS\'\n')
    assert osr == {"NAME": "Ubuntu", "VERSION_ID": "22.04", "ID": "ubuntu", "PRETTY_NAME": "Ubuntu 22.04.4 LTS"}


@pytest.mark.parametrize(
    "osrelease,version,dxg,expected",
    [
        ("5.15.153.1-microsoft-standard-WSL2", "Linux version 5.15 (gcc)", True, "wsl2"),
        ("4.4.0-19041-Microsoft", "Linux version 4.4.0-19041-Microsoft", False, "wsl1"),
        ("6.1.0-18-amd64", "Linux version 6.1.0-18-amd64 (debian-kernel)", False, None),
    ],
)
def test_wsl_detection(osrelease, version, dxg, expected):
    assert detect_wsl(osrelease, version, dxg) == expected


def test_container_detection():
    kind, ev = detect_container({"/.dockerenv": True}, "0::/\n", {})
    assert kind == "docker" and ev == ("/.dockerenv exists",)
    kind, ev = detect_container({}, "12:cpu:/kubepods/burstable/pod1\n", {"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert kind == "kubernetes" and len(ev) == 2
    assert detect_container({}, "0::/init.scope\n", {}) == (None, ())


def test_environment_probe_allow_list_keeps_secrets_out():
    env = collect({"TF_VAR_db_password": "hunter2", "TF_TOKEN_app": "t", "AWS_SECRET_ACCESS_KEY": "s",
                   "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert env.values == {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}


# --- first checks on scenarios -------------------------------------------------------------------


def _env(platform="linux", machine="x86_64", version="3.11.7", dists=()):
    return PythonEnv("/venv/bin/python", version, "CPython", platform, machine, "/venv", True, False,
                     tuple(dists), tuple("/venv/lib/tensorflow" for _ in dists[:1]))


def _build(dist="tensorflow", version="2.21.0", cuda=True, requires_python=">=3.10"):
    return TFBuild(dist, version, "/venv/lib/tensorflow", "/venv/lib/tensorflow/python/platform/build_info.py",
                   cuda, False, "12.5.1" if cuda else None, "9" if cuda else None,
                   ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90") if cuda else (), "clang",
                   requires_python, (), {})


def _run(facts, only=None):
    load_all()
    findings, crashed = run_checks(facts, load_matrix(), only, {})
    assert not crashed
    return {f.id: f for f in findings}


TF = Distribution("tensorflow", "2.21.0", "/venv/lib")
TF_CPU = Distribution("tensorflow-cpu", "2.21.0", "/venv/lib")
HOST = HostInfo("Linux", "x86_64", "6.1")

SCENARIOS = {
    "linux_tf221_cuda_ok": ({"host": HOST, "python_env": _env(dists=[TF]), "tf_build": _build(),
                             "environment": EnvVars({})}, {"tf-installed": Severity.OK, "tf-cuda-build": Severity.OK,
                                                           "python-supported": Severity.OK, "platform-gpu-supported": Severity.OK}),
    "linux_no_tf": ({"host": HOST, "python_env": _env(), "tf_build": ProbeFailure("tf_build", ProbeStatus.NOT_FOUND, "x"),
                     "environment": EnvVars({})}, {"tf-not-installed": Severity.ERROR}),
    "linux_tf_and_tf_cpu_both": ({"host": HOST, "python_env": _env(dists=[TF, TF_CPU]), "tf_build": _build(),
                                  "environment": EnvVars({})}, {"tf-multiple-distributions": Severity.ERROR}),
    "linux_tf_cpu_221": ({"host": HOST, "python_env": _env(dists=[TF_CPU]), "tf_build": _build("tensorflow-cpu", cuda=False),
                          "environment": EnvVars({})}, {"tf-cpu-only-build": Severity.ERROR}),
    "py39_with_tf221": ({"host": HOST, "python_env": _env(version="3.9.18", dists=[TF]), "tf_build": _build(),
                         "environment": EnvVars({})}, {"python-unsupported": Severity.ERROR}),
    "windows_native_tf221": ({"host": HostInfo("Windows", "AMD64", "10"), "python_env": _env("win32", "AMD64", dists=[TF]),
                              "tf_build": _build(cuda=False), "environment": EnvVars({})},
                             {"windows-native-gpu-unsupported": Severity.ERROR}),
    "macos_arm64": ({"host": HostInfo("Darwin", "arm64", "23"), "python_env": _env("darwin", "arm64", dists=[TF]),
                     "environment": EnvVars({})}, {"macos-no-cuda": Severity.ERROR}),
    "wsl1": ({"host": HostInfo("Linux", "x86_64", "4.4.0-19041-Microsoft", wsl="wsl1"), "python_env": _env(dists=[TF]),
              "tf_build": _build(), "environment": EnvVars({})}, {"wsl1-no-gpu": Severity.ERROR}),
    "linux_aarch64_cpu_wheel": ({"host": HostInfo("Linux", "aarch64", "6.1"), "python_env": _env(machine="aarch64", dists=[TF]),
                                 "tf_build": _build(cuda=False), "environment": EnvVars({})},
                                {"linux-aarch64-no-cuda": Severity.ERROR}),
    "cuda_visible_devices_empty": ({"host": HOST, "python_env": _env(dists=[TF]), "tf_build": _build(),
                                    "environment": EnvVars({"CUDA_VISIBLE_DEVICES": ""})},
                                   {"cuda-visible-devices-hides-all": Severity.ERROR}),
    "cuda_visible_devices_minus_one": ({"host": HOST, "python_env": _env(dists=[TF]), "tf_build": _build(),
                                        "environment": EnvVars({"CUDA_VISIBLE_DEVICES": "-1"})},
                                       {"cuda-visible-devices-hides-all": Severity.ERROR}),
    "build_info_garbled": ({"host": HOST, "python_env": _env(dists=[TF]),
                            "tf_build": ProbeFailure("tf_build", ProbeStatus.FAILED, "/x/build_info.py does not parse"),
                            "environment": EnvVars({})}, {"tf-build-info-unreadable": Severity.ERROR}),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_first_checks_on_scenarios(name):
    facts, expected = SCENARIOS[name]
    found = _run(facts)
    for fid, sev in expected.items():
        assert fid in found, (name, sorted(found))
        assert found[fid].severity is sev
        if sev is Severity.ERROR:
            assert found[fid].fixes and all(fix.commands for fix in found[fid].fixes), fid


def test_error_fix_commands_use_the_target_interpreter():
    found = _run(SCENARIOS["linux_tf_cpu_221"][0])
    cmds = [c for fix in found["tf-cpu-only-build"].fixes for c in fix.commands]
    assert cmds == ["/venv/bin/python -m pip uninstall -y tensorflow-cpu",
                    "/venv/bin/python -m pip install 'tensorflow[and-cuda]==2.21.*'"]


def test_visible_devices_list_stops_at_first_invalid_entry():
    assert parse_visible_devices("0,2,-1,1") == ["0", "2"]
    assert parse_visible_devices("-1") == []
    assert parse_visible_devices("") == []
    assert parse_visible_devices("GPU-8932f937,1") == ["GPU-8932f937", "1"]


def test_check_context_finding_carries_check_id():
    ctx = CheckContext("demo-check", {}, None)
    f = ctx.finding("x-y", Severity.WARNING, "s")
    assert f.check == "demo-check" and f.id == "x-y"


# --- a tensorflow package outside every installed distribution ----------------------------------------------


def _shadowed_env(pythonpath_first: str = "/tmp/x"):
    return PythonEnv("/venv/bin/python", "3.11.7", "CPython", "linux", "x86_64", "/venv", True, False, (TF,),
                     (f"{pythonpath_first}/tensorflow", "/venv/lib/tensorflow"), (pythonpath_first, "/venv/lib"))


def test_a_shadowing_tensorflow_package_is_its_own_error_with_the_folder_named():
    found = _run({"host": HOST, "python_env": _shadowed_env(), "environment": EnvVars({"PYTHONPATH": "/tmp/x:/opt/y"}),
                  "tf_build": ProbeFailure("tf_build", ProbeStatus.NOT_FOUND,
                                           "/tmp/x/tensorflow/python/platform/build_info.py is missing (a broken or "
                                           "partial TensorFlow install)")})
    f = found["tf-package-shadowed"]
    assert f.severity is Severity.ERROR
    assert f.summary == ("The tensorflow package Python imports is /tmp/x/tensorflow, not the installed tensorflow "
                         "2.21.0 in /venv/lib")
    assert f.fixes[0].commands == ("export PYTHONPATH=/opt/y",) and "/tmp/x" in f.fixes[0].summary
    assert "tf-installed" not in found
    unreadable = found["tf-build-info-unreadable"]
    assert unreadable.severity is Severity.SKIPPED and not unreadable.fixes  # no reinstall that cannot help
    assert "broken or partial" not in unreadable.summary and "/tmp/x/tensorflow" in unreadable.summary
    assert "tf-package-shadowed" in unreadable.summary


def test_a_shadowing_package_not_on_pythonpath_says_how_to_find_it():
    found = _run({"host": HOST, "python_env": _shadowed_env("/home/ann/proj"), "environment": EnvVars({}),
                  "tf_build": _build()}, ["tf-installed"])
    f = found["tf-package-shadowed"]
    text = " ".join(fix.summary for fix in f.fixes)
    assert "/home/ann/proj" in text and "tensorflow/" in text
    assert all(fix.commands for fix in f.fixes)


def test_the_installed_package_is_not_shadowed():
    found = _run({"host": HOST, "python_env": _env(dists=[TF]), "tf_build": _build(), "environment": EnvVars({})})
    assert "tf-package-shadowed" not in found and found["tf-installed"].severity is Severity.OK


# --- tf-not-installed: what the target's Python can install --------------------------------------------------


def _not_installed(version):
    return _run({"host": HOST, "python_env": _env(version=version), "environment": EnvVars({}),
                 "tf_build": ProbeFailure("tf_build", ProbeStatus.NOT_FOUND, "x")}, ["tf-installed"])["tf-not-installed"]


def test_not_installed_on_a_current_python_is_the_plain_and_cuda_install():
    f = _not_installed("3.11.7")
    assert [c for fix in f.fixes for c in fix.commands] == ["/venv/bin/python -m pip install 'tensorflow[and-cuda]'"]


def test_not_installed_on_python_38_names_the_release_and_its_system_cuda():
    f = _not_installed("3.8.18")
    matrix = load_matrix()
    row = next(r for r in matrix.tf_rows_newest_first() if "3.8" in r.python)
    assert not row.and_cuda
    cmds = [c for fix in f.fixes for c in fix.commands]
    assert "/venv/bin/python -m pip install 'tensorflow[and-cuda]'" not in cmds
    old = next(fix for fix in f.fixes if f"TensorFlow {row.series}" in fix.summary)
    assert f"CUDA {row.cuda}" in old.summary and "cuDNN" in old.summary and "no [and-cuda]" in old.summary
    assert old.commands == (f"/venv/bin/python -m pip install 'tensorflow=={row.series}.*'",)
    assert any("-m venv" in c for c in cmds)


# Pythons no TensorFlow release ever had a Linux wheel for (PyPI file lists: 2.7 has cp27 wheels up to 2.1.0,
# 3.5 cp35 up to 2.3.1, so those now get an exact older release instead).
@pytest.mark.parametrize("version", ["2.6.9", "3.4.10"])
def test_not_installed_on_a_python_no_release_supports_says_so(version):
    f = _not_installed(version)
    newest = load_matrix().tf_rows_newest_first()[0]
    mm = ".".join(version.split(".")[:2])
    assert f"No TensorFlow release has wheels for Python {mm}" in f.fixes[0].summary
    assert ", ".join(newest.python) in f.fixes[0].summary
    cmds = [c for fix in f.fixes for c in fix.commands]
    assert cmds[0] == f"python{newest.python[-1]} -m venv .venv-tf"
    assert not any(c.startswith("/venv/bin/python") for c in cmds)


def test_python_2_linux2_platform_is_linux():
    found = _run({"host": HOST, "python_env": _env(platform="linux2", dists=[TF]), "tf_build": _build(),
                  "environment": EnvVars({})}, ["platform-gpu-support"])
    assert "platform-unknown" not in found and found["platform-gpu-supported"].severity is Severity.OK
