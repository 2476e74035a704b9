"""The python_env inquiry (`tfgpu.probes._children.env`) imports only os and sys: its stand-ins
for `platform` and `re` must answer exactly as those would."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tfgpu.probes import ProbeContext, _children
from tfgpu.probes.python_env import PythonEnv, child_args, child_script, parse_child_output, probe_python_env

NAMESPACE: dict = {"__name__": "tfgpu_env_inquiry"}  # not __main__: defines, does not run
exec(compile(child_script(), "env.py", "exec"), NAMESPACE)


@pytest.mark.parametrize("name", ["TensorFlow", "tensorflow_cpu", "nvidia-cudnn-cu12", "Foo.Bar__baz", "a-_.b",
                                  "tf-keras", "zope.interface", "NVIDIA_CUDA_RUNTIME_CU12"])
def test_norm_is_pep503(name):
    assert NAMESPACE["norm"](name) == re.sub(r"[-_.]+", "-", name).lower()


def test_the_inquiry_answers_as_platform_would(tmp_path: Path):
    out = subprocess.run([sys.executable, "-c", child_script(), *child_args()], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = parse_child_output(out.stdout)
    assert data is not None
    assert data["implementation"] == platform.python_implementation()
    assert data["machine"] == platform.machine()
    assert data["version"] == platform.python_version()
    assert data["executable"] == sys.executable and data["cwd_tensorflow"] is None


def test_a_distribution_on_the_user_path_is_listed(tmp_path: Path):
    """Not isolated: PYTHONPATH counts, names are normalised, the TensorFlow family is read in full."""
    site = tmp_path / "site"
    meta = site / "tensorflow_cpu-2.16.1.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow_cpu\nVersion: 2.16.1\n"
                                   "Requires-Python: >=3.9\nRequires-Dist: numpy<2\nProvides-Extra: and-cuda\n\nbody\n")
    (site / "nvidia_nccl_cu12-2.21.5.dist-info").mkdir()
    (site / "nvidia_nccl_cu12-2.21.5.dist-info" / "METADATA").write_text("Name: nvidia-nccl-cu12\nVersion: 2.21.5\n\n")
    ctx = ProbeContext(python=sys.executable, environ={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=30.0)
    env = probe_python_env(ctx)
    assert isinstance(env, PythonEnv), env
    tf = env.find("tensorflow-cpu")
    assert tf is not None and (tf.version, tf.requires_python, tf.requires_dist, tf.provides_extra) == \
        ("2.16.1", ">=3.9", ("numpy<2",), ("and-cuda",))
    nccl = env.find("nvidia-nccl-cu12")
    assert nccl is not None and nccl.metadata_dir == str(site / "nvidia_nccl_cu12-2.21.5.dist-info")
    assert str(site) in env.sys_path


def test_the_inquiry_is_started_as_a_child_script():
    assert _children.ENV in _children.NAMES and child_script() == _children.source(_children.ENV)
    assert parse_child_output("@@TFGPU-ENV@@__import__('os').system('x')@@TFGPU-ENV@@") is None  # read, never run
