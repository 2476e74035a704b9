"""Target interpreters of any age: the scripts tfgpu runs INSIDE the target (the python_env inquiry
and the live child) must work on every Python 3 that a TensorFlow ran on (2.4 on 3.6-3.8, 1.15 on
3.7), and Python 2 must be refused cleanly.

The interpreters are whatever this machine has: `python3.6` ... `python2.7` on PATH, and pyenv's
versions folder. A version that is not here is skipped. Each found interpreter is asked its own
version, so a pyenv shim that is not selected (and fails) counts as absent.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import textwrap
from functools import cache
from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, run_tfgpu

from tfgpu.probes.python_env import MARK as ENV_MARK
from tfgpu.probes.python_env import child_args, child_script, parse_child_output
from tfgpu.probes.tf_live import child_source, parse_stages

OLD_PYTHON3 = ("3.6", "3.7", "3.8", "3.9")


def _pyenv_versions_dirs() -> list[str]:
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    return list(dict.fromkeys(os.path.join(r, "versions") for r in roots if r))


def _candidates(version: str) -> list[str]:
    """Interpreters that may be Python `version` ("3.6"): pyenv's own copies first, then PATH."""
    found = []
    for versions in _pyenv_versions_dirs():
        for root in sorted(glob.glob(os.path.join(versions, version + ".*"))):
            found.append(os.path.join(root, "bin", "python" + version))
            found.append(os.path.join(root, "bin", "python"))
    which = shutil.which("python" + version)
    if which:
        found.append(which)
    return [c for c in dict.fromkeys(found) if os.path.isfile(c) and os.access(c, os.X_OK)]


@cache
def find_python(version: str) -> str | None:
    """The first candidate that really answers as Python `version`, or None."""
    for candidate in _candidates(version):
        try:
            proc = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  check=False, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return candidate
    return None


def need_python(version: str) -> str:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (looked on PATH and in pyenv's versions)")
    return python


def _venv(version: str, root: str) -> str:
    base = need_python(version)
    venv = Path(root) / ("venv" + version.replace(".", ""))
    proc = subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=False, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        pytest.skip(f"Python {version} cannot make a venv: {proc.stderr.strip()[-300:]}")
    return str(venv / "bin" / "python")


def site_packages(python: str) -> Path:
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    return Path(out)


# What both stand-ins share: placement, tensors and the smoke ops.
COMMON_TF = '''
import sys
class _Dev(object):
    def __init__(self, i): self.name = "/physical_device:GPU:%d" % i; self.device_type = "GPU"
class _T(object):
    def __init__(self, device): self.device = device
    def numpy(self): return 0
class _Ctx(object):
    current = None
    def __init__(self, d): self.d = d
    def __enter__(self): _Ctx.current = self.d
    def __exit__(self, *a): _Ctx.current = None
def device(d): return _Ctx(d)
def _placed(): return "/job:localhost/replica:0/task:0/device:" + _Ctx.current.strip("/")
class linalg(object):
    @staticmethod
    def matmul(a, b): return _T(_placed())
class nn(object):
    @staticmethod
    def conv2d(*a, **k): return _T(_placed())
    @staticmethod
    def relu(x): return x
def ones(shape): return 1.0
def reduce_sum(x): return _T(_placed())
'''

# A TensorFlow of today's API (2.3+): tf.config.list_physical_devices, tf.sysconfig.get_build_info,
# get_device_details and tf.function(jit_compile=...).
MODERN_TF = COMMON_TF + '''
__version__ = "2.21.0"
class config(object):
    @staticmethod
    def list_physical_devices(kind): return [_Dev(0)]
    class experimental(object):
        @staticmethod
        def set_memory_growth(d, v): pass
        @staticmethod
        def get_device_details(d): return {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}
class sysconfig(object):
    @staticmethod
    def get_build_info(): return {"cuda_version": "12.5.1", "cudnn_version": "9", "is_cuda_build": True}
def function(jit_compile=False):
    def wrap(fn): return lambda *a: _T(_placed())
    return wrap
'''

# The API of TensorFlow 2.0: GPUs listed only through tf.config.experimental, no get_build_info
# (build_info.py's module variables instead), no get_device_details, and XLA only through
# tf.function(experimental_compile=...).
OLD_TF = COMMON_TF + '''
__version__ = "2.0.0"
class config(object):
    class experimental(object):
        @staticmethod
        def list_physical_devices(kind): return [_Dev(0)]
        @staticmethod
        def set_memory_growth(d, v): pass
class sysconfig(object):
    @staticmethod
    def get_include(): return "/nonexistent"
def function(experimental_compile=False):
    def wrap(fn): return lambda *a: _T(_placed())
    return wrap
'''
OLD_BUILD_INFO = "is_rocm_build = False\nis_cuda_build = True\ncuda_version_number = '10.0'\ncudnn_version_number = '7'\n"
MODERN_BUILD_INFO = ("import collections\nbuild_info = collections.OrderedDict([('cuda_version', '12.5.1'), "
                     "('cudnn_version', '9'), ('is_cuda_build', True), ('is_rocm_build', False)])\n")

STANDINS = {
    "modern": (MODERN_TF, MODERN_BUILD_INFO, "2.21.0"),
    "tf2.0-api": (OLD_TF, OLD_BUILD_INFO, "2.0.0"),
}


def install_standin(python: str, style: str) -> None:
    init_py, build_info, version = STANDINS[style]
    site = site_packages(python)
    pkg = site / "tensorflow"
    if pkg.exists():
        shutil.rmtree(pkg)
    for old in site.glob("tensorflow-*.dist-info"):
        shutil.rmtree(old)
    (pkg / "python" / "platform").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(init_py))
    (pkg / "python" / "__init__.py").write_text("")
    (pkg / "python" / "platform" / "__init__.py").write_text("")
    (pkg / "python" / "platform" / "build_info.py").write_text(build_info)
    meta = site / f"tensorflow-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tensorflow\nVersion: {version}\n"
                                   "Requires-Python: >=3.5\n\n")


@pytest.fixture(params=OLD_PYTHON3)
def old_venv(request, tmp_path_factory) -> tuple[str, str]:
    version = request.param
    return version, _venv(version, str(tmp_path_factory.mktemp("target-" + version)))


def _run_child(python: str, source: str, cwd: Path, env_extra: dict | None = None,
               args: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(env_extra or {})
    return subprocess.run([python, "-c", source, *(args or [])], check=False, capture_output=True, text=True,
                          timeout=120, cwd=str(cwd), env=env)


# --- Python 3.6 ... 3.9 ----------------------------------------------------------------------------


def test_inquiry_and_live_without_tensorflow(old_venv):
    version, python = old_venv
    data, proc = json_report("doctor", "--json", "--python", python, "tf-installed", "tf-live", expect_codes=(1,))
    assert "Traceback" not in proc.stderr
    env = data["facts"]["python_env"]
    assert env["status"] == "ok", env
    assert env["data"]["version"].startswith(version + ".")
    assert env["data"]["is_venv"] is True and env["data"]["distributions"] == []
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "import_error" and live["stage"] == "import_error"
    assert "No module named" in live["error"] and "tensorflow" in live["error"]
    assert "tf-not-installed" in findings_by_id(data)


@pytest.mark.parametrize("style", sorted(STANDINS))
def test_standin_tensorflow_stages(old_venv, style, tmp_path):
    version, python = old_venv
    install_standin(python, style)
    tf_version = STANDINS[style][2]

    # The child itself, stage by stage.
    proc = _run_child(python, child_source(), tmp_path, {"TFGPU_LIVE_SMOKE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    stages = parse_stages(proc.stdout)
    assert [s["stage"] for s in stages] == ["start", "imported", "build_info", "gpus", "smoke", "mapped", "done"]
    assert stages[0]["python"].startswith(version + ".")
    assert stages[1]["version"] == tf_version
    info = stages[2]["build_info"]
    if style == "modern":
        assert info["cuda_version"] == "12.5.1"
    else:  # build_info.py's module variables, as TensorFlow before 2.3 kept them
        assert info["cuda_version_number"] == "10.0" and info["is_cuda_build"] == "True"
    assert [g["name"] for g in stages[3]["gpus"]] == ["/physical_device:GPU:0"]
    ops = {r["op"]: r for r in stages[4]["results"]}
    assert set(ops) == {"matmul", "conv2d", "xla_jit"}
    assert all(r["ok"] and r["device"].endswith("device:GPU:0") for r in ops.values()), ops

    # And end to end through the CLI.
    data, proc = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(0,))
    assert "Traceback" not in proc.stderr
    env = data["facts"]["python_env"]["data"]
    assert env["version"].startswith(version + ".")
    assert [(d["name"], d["version"]) for d in env["distributions"]] == [("tensorflow", tf_version)]
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "ok" and live["stage"] == "done" and live["version"] == tf_version
    assert len(live["gpus"]) == 1
    assert {r["op"]: r["ok"] for r in live["gpus"][0]["smoke"]} == {"matmul": True, "conv2d": True, "xla_jit": True}
    assert len(findings_by_id(data)["gpu-smoke-ok"]) == 3


def test_inquiry_runs_as_is(old_venv, tmp_path):
    """The inquiry text itself (what `python -c` gets), without the CLI around it."""
    version, python = old_venv
    proc = _run_child(python, child_script(), tmp_path, args=child_args())
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = parse_child_output(proc.stdout)
    assert data is not None and data["version"].startswith(version + ".")
    assert data["is_venv"] is True and data["prefix"] == str(Path(python).parent.parent)


# --- Python 2 ------------------------------------------------------------------------------------


def test_python2_is_refused_cleanly(tmp_path):
    python = need_python("2.7")
    proc = run_tfgpu("doctor", "--json", "--python", python)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "did not answer as a Python 3 interpreter" in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stdout == ""


def test_python2_children_refuse(tmp_path):
    python = need_python("2.7")
    inquiry = _run_child(python, child_script(), tmp_path, args=child_args())
    assert inquiry.returncode == 3 and ENV_MARK not in inquiry.stdout
    assert "Python 3" in inquiry.stderr and "Traceback" not in inquiry.stderr
    live = _run_child(python, child_source(), tmp_path)
    assert live.returncode == 3 and "Traceback" not in live.stderr
    stages = parse_stages(live.stdout)
    assert [s["stage"] for s in stages] == ["start", "unsupported_python"]
    assert stages[0]["python"].startswith("2.7.")


def test_lookup_is_generic():
    """The lookup itself: every candidate it returns exists, and a missing version gives None."""
    assert find_python("1.5") is None
    for version in OLD_PYTHON3 + ("2.7",):
        python = find_python(version)
        assert python is None or os.access(python, os.X_OK)
