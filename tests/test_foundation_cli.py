"""End-to-end tests of `tfgpu doctor` as a subprocess: real and stand-in target environments,
broken input, plugins, exit codes, JSON and Rich output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import findings_by_id, json_report, run_tfgpu, tf_python, validate_report

BUILD_INFO_221 = (Path(__file__).parent / "data" / "build_info" / "build_info_2.21.0.py").read_text()


def make_target_env(tmp_path: Path, build_info: str | None = BUILD_INFO_221, version: str = "2.21.0",
                    dist: str = "tensorflow", record_imports: bool = True) -> tuple[str, Path]:
    """A real virtualenv (no pip) holding a stand-in `tensorflow` package that records any import."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    site_dir = Path(site)
    marker = tmp_path / "tensorflow-was-imported"
    pkg = site_dir / "tensorflow"
    (pkg / "python" / "platform").mkdir(parents=True)
    if record_imports:
        (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n__version__ = {version!r}\n")
        for sub in ("python/__init__.py", "python/platform/__init__.py"):
            (pkg / sub).write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    if build_info is not None:
        (pkg / "python" / "platform" / "build_info.py").write_text(
            f"open({str(marker)!r}, 'w').write('executed')\n" + build_info)
    meta = site_dir / f"{dist.replace('-', '_')}-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(textwrap.dedent(f"""\
        Metadata-Version: 2.1
        Name: {dist}
        Version: {version}
        Requires-Python: >=3.10
        Provides-Extra: and-cuda
        Requires-Dist: numpy>=1.26.0
        Requires-Dist: nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"

        A stand-in.
        """))
    return str(python), marker


def test_static_build_facts_without_importing_tensorflow(tmp_path):
    python, marker = make_target_env(tmp_path)
    data, proc = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))  # no driver
    build = data["facts"]["tf_build"]["data"]
    assert build["version"] == "2.21.0" and build["cuda_version"] == "12.5.1" and build["cudnn_version"] == "9"
    assert build["compute_capabilities"] == ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"]
    assert not marker.exists(), "tfgpu imported or executed the target's tensorflow"
    assert data["schema_version"] == 1 and data["tool"]["name"] == "tfgpu"
    assert data["verdict"]["status"] == "not_ready"


def test_real_tensorflow_221_static_facts():
    python = tf_python()
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))  # no driver
    build = data["facts"]["tf_build"]["data"]
    assert (build["distribution"], build["version"]) == ("tensorflow", "2.21.0")
    assert build["cuda_version"] == "12.5.1" and build["cudnn_version"] == "9"
    assert build["compute_capabilities"] == ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"]
    assert build["requires_python"] == ">=3.10"
    assert any("nvidia-cudnn-cu12" in r for r in build["and_cuda"])


@pytest.mark.real_tf
def test_static_build_facts_equal_a_live_import():
    """The parse of build_info.py must agree with tf.sysconfig.get_build_info() of the same wheel."""
    python = tf_python()
    live = subprocess.run(
        [python, "-c", "import json, tensorflow as tf; print('@@' + json.dumps(dict(tf.sysconfig.get_build_info())))"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert live.returncode == 0, live.stderr[-2000:]
    info = json.loads(live.stdout.split("@@", 1)[1])
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))  # no driver
    build = data["facts"]["tf_build"]["data"]
    assert build["cuda_version"] == info["cuda_version"]
    assert build["cudnn_version"] == info["cudnn_version"]
    assert build["compute_capabilities"] == list(info["cuda_compute_capabilities"])
    assert build["is_cuda_build"] == info["is_cuda_build"]


def test_missing_python_is_a_usage_error(tmp_path):
    proc = run_tfgpu("doctor", "--fast", "--python", str(tmp_path / "nope" / "python"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_non_python_program_is_a_usage_error():
    proc = run_tfgpu("doctor", "--fast", "--python", "/bin/ls")
    assert proc.returncode == 2, proc.stdout
    assert "did not answer as a Python 3 interpreter" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("build_info,expect", [(None, "is missing"), ("build_info = {'cuda_version': '12.5'\n", "does not parse")])
def test_missing_or_garbled_build_info_is_a_finding(tmp_path, build_info, expect):
    python, _ = make_target_env(tmp_path, build_info=build_info)
    data, proc = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))
    f = findings_by_id(data)["tf-build-info-unreadable"][0]
    assert f["severity"] == "error" and expect in f["summary"]
    assert data["verdict"]["status"] == "not_ready"
    assert "Traceback" not in proc.stderr


def test_hanging_interpreter_report_arrives_in_time(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nsleep 300\n")
    fake.chmod(0o755)
    t0 = time.monotonic()
    data, proc = json_report("doctor", "--json", "--fast", "--python", str(fake), "--timeout", "2", expect_codes=(1,))
    assert time.monotonic() - t0 < 20
    assert data["facts"]["python_env"]["status"] == "timed_out"


def test_cuda_visible_devices_empty_hides_every_gpu(tmp_path):
    python, _ = make_target_env(tmp_path)
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, env={"CUDA_VISIBLE_DEVICES": ""},
                          expect_codes=(1,))
    f = findings_by_id(data)["cuda-visible-devices-hides-all"][0]
    assert f["severity"] == "error" and f["fixes"][0]["commands"] == ["unset CUDA_VISIBLE_DEVICES"]
    assert data["facts"]["environment"]["data"]["values"]["CUDA_VISIBLE_DEVICES"] == ""


def test_secrets_never_reach_the_report(tmp_path):
    python, _ = make_target_env(tmp_path)
    proc = run_tfgpu("doctor", "--json", "--fast", "--python", python,
                     env={"TF_VAR_password": "s3cr3t-value", "GITHUB_TOKEN": "ghp_s3cr3t"})
    assert "s3cr3t" not in proc.stdout and "s3cr3t" not in proc.stderr


def test_list_and_subset_and_unknown_ids(tmp_path):
    listing = run_tfgpu("doctor", "--list")
    assert listing.returncode == 0
    ids = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    assert {"tf-installed", "tf-cuda-build", "platform-gpu-support", "cuda-visible-devices"} <= set(ids)
    python, _ = make_target_env(tmp_path)
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, "tf-cuda-build", expect_codes=(0,))
    assert {f["check"] for f in data["findings"]} == {"tf-cuda-build"}
    bad = run_tfgpu("doctor", "--fast", "no-such-check")
    assert bad.returncode == 2 and "unknown check id" in bad.stderr


def _plugin_dir(tmp_path: Path, body: str, name: str = "my-plugin-check") -> Path:
    root = tmp_path / "plugin"
    root.mkdir()
    (root / "tfgpu_testplugin.py").write_text(textwrap.dedent(body))
    meta = root / "tfgpu_testplugin-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: tfgpu-testplugin\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text(f"[tfgpu.checks]\n{name} = tfgpu_testplugin:check_it\n")
    return root


def test_third_party_plugin_runs(tmp_path):
    root = _plugin_dir(tmp_path, """
        from tfgpu.model import Severity
        def check_it(ctx):
            '''A tiny plugin check.'''
            yield ctx.finding("plugin-says-hello", Severity.INFO, "hello from a plugin")
    """)
    env = {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = run_tfgpu("doctor", "--list", env=env)
    assert "my-plugin-check" in listing.stdout and "A tiny plugin check." in listing.stdout
    data, _ = json_report("doctor", "--json", "--fast", "my-plugin-check", env=env, expect_codes=(0,))
    assert findings_by_id(data)["plugin-says-hello"][0]["check"] == "my-plugin-check"


def test_broken_plugin_is_a_finding_not_a_crash(tmp_path):
    root = _plugin_dir(tmp_path, "raise ImportError('this plugin is broken')\n")
    env = {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    data, proc = json_report("doctor", "--json", "--fast", env=env, expect_codes=(1,))  # no driver
    f = findings_by_id(data)["plugin-load-failed"][0]
    assert "this plugin is broken" in f["detail"] and f["severity"] == "warning"
    assert "Traceback" not in proc.stderr


def test_crashing_check_exits_3(tmp_path):
    root = _plugin_dir(tmp_path, """
        def check_it(ctx):
            '''Always crashes.'''
            raise ZeroDivisionError("oops")
    """)
    env = {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    data, proc = json_report("doctor", "--json", "--fast", env=env, expect_codes=(3,))
    assert data["summary"]["failed_checks"] == ["my-plugin-check"]
    assert findings_by_id(data)["check-crashed"][0]["check"] == "my-plugin-check"


def test_from_facts_replays_the_same_findings(tmp_path):
    python, _ = make_target_env(tmp_path)
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, env={"CUDA_VISIBLE_DEVICES": "-1"},
                          expect_codes=(1,))
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(data))
    replay, _ = json_report("doctor", "--json", "--from-facts", str(saved), expect_codes=(1,))
    assert [(f["id"], f["severity"]) for f in replay["findings"]] == [(f["id"], f["severity"]) for f in data["findings"]]
    assert replay["facts"] == data["facts"]


def test_from_facts_bad_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"facts": {"host": {"status": "ok", "data": {"system": 5}}}}')
    proc = run_tfgpu("doctor", "--from-facts", str(bad))
    assert proc.returncode == 2 and "$.facts.host.data" in proc.stderr and "Traceback" not in proc.stderr


def test_rich_output_verdict_first_and_no_color(tmp_path):
    python, _ = make_target_env(tmp_path)
    proc = run_tfgpu("doctor", "--fast", "--python", python, env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith("NOT READY") and "TensorFlow 2.21.0 will not use a GPU" in first
    assert "\x1b[" not in proc.stdout
    assert "\n  unset CUDA_VISIBLE_DEVICES\n" in proc.stdout


def test_json_stdout_is_only_json(tmp_path):
    python, _ = make_target_env(tmp_path)
    proc = run_tfgpu("doctor", "--json", "--fast", "--python", python)
    validate_report(json.loads(proc.stdout))


def test_python_module_entry_point_and_version():
    proc = subprocess.run([sys.executable, "-m", "tfgpu", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("tfgpu ")


def test_broken_active_virtualenv_is_reported_not_replaced(tmp_path):
    venv = tmp_path / "old-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "python3.9-that-was-removed")
    data, proc = json_report("doctor", "--json", "--fast", env={"VIRTUAL_ENV": str(venv)}, expect_codes=(1,))
    f = findings_by_id(data)["active-env-broken"][0]
    assert str(venv) in f["summary"] and f["severity"] == "error"
    assert any("venv --clear" in c for fix in f["fixes"] for c in fix["commands"])
    assert "tf-not-installed" not in findings_by_id(data)  # tfgpu's own env was not inspected instead


def test_list_json():
    proc = run_tfgpu("doctor", "--list", "--json")
    ids = [c["id"] for c in json.loads(proc.stdout)["checks"]]
    assert "tf-cuda-build" in ids and "target-python" in ids


def test_c_locale_degrades_symbols_instead_of_crashing(tmp_path):
    python, _ = make_target_env(tmp_path)
    proc = run_tfgpu("doctor", "--fast", "--python", python, env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 1, proc.stderr[-2000:]  # no driver
    assert "Traceback" not in proc.stderr and proc.stdout.startswith("NOT READY")
    assert "✔" not in proc.stdout and " + " in proc.stdout


def test_output_that_cannot_be_written_is_exit_3(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tfgpu", "doctor", "--fast"], stdout=open("/dev/full", "w"),
                          stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 3 and "cannot write the report" in proc.stderr and "Traceback" not in proc.stderr


def test_strict_fails_when_nothing_could_be_judged(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text('{"facts": {}}')
    assert run_tfgpu("doctor", "--from-facts", str(empty)).returncode == 0
    assert run_tfgpu("doctor", "--from-facts", str(empty), "--strict").returncode == 1


@pytest.mark.parametrize("value", ["nan", "inf", "0.5"])
def test_timeouts_must_be_sane(value):
    proc = run_tfgpu("doctor", "--fast", "--timeout", value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_python_script_is_not_an_interpreter(tmp_path):
    script = tmp_path / "tool.py"
    marker = tmp_path / "ran"
    script.write_text(f"#!/usr/bin/env python3\nopen({str(marker)!r}, 'w').write('x')\n")
    script.chmod(0o755)
    proc = run_tfgpu("doctor", "--fast", "--python", str(script))
    assert proc.returncode == 2 and "is a Python script" in proc.stderr and not marker.exists()


def test_a_damaged_matrix_cache_is_rebuilt(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    assert run_tfgpu("matrix", "--tf", "2.21", "--json", env=env).returncode == 0
    for cached in (tmp_path / "tfgpu").glob("matrix-*.json"):
        cached.write_text("{}")
    proc = run_tfgpu("matrix", "--tf", "2.21", "--json", env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["tensorflow"]["cuda"] == "12.5.1"


def test_explain_on_a_directory():
    proc = run_tfgpu("explain", "/")
    assert proc.returncode == 2 and "is a directory" in proc.stderr


def test_tensorflow_folder_in_the_working_directory_is_flagged(tmp_path):
    python, _ = make_target_env(tmp_path / "env")
    here = tmp_path / "project"
    (here / "tensorflow").mkdir(parents=True)
    proc = run_tfgpu("doctor", "--json", "--fast", "--python", python, cwd=str(here))
    data = json.loads(proc.stdout)
    f = findings_by_id(data)["tf-package-shadowed-here"][0]
    assert f["severity"] == "warning" and str(here / "tensorflow") in f["summary"]
    # Without the folder: no such finding.
    clean = run_tfgpu("doctor", "--json", "--fast", "--python", python, cwd=str(tmp_path))
    assert "tf-package-shadowed-here" not in findings_by_id(json.loads(clean.stdout))
