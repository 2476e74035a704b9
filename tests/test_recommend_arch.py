"""`tfgpu recommend --arch x86_64|aarch64`: a Jetson or DGX Spark (aarch64) planned from an x86 laptop
gets aarch64 advice, read from the matrix's linux-aarch64 platform row and its per-release aarch64 wheels.

The facts: the PyPI aarch64 wheels are not CUDA builds (tensorflow-2.21.0-cp311-manylinux_2_27_aarch64
and tensorflow-2.18.0-cp310-manylinux_2_17_aarch64: build_info.py says is_cuda_build False; the 2.21.0
one still declares an [and-cuda] extra), and the matrix's python_by_release.aarch64 lists the wheels
(PyPI Simple API file lists)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import run_tfgpu

from tfgpu.matrix import load
from tfgpu.recommend import Machine, recommend

JETSON_ORIN = ("--arch", "aarch64", "--cc", "8.7", "--python-version", "3.10", "--driver", "540.4.0")


@pytest.fixture(scope="module")
def mx():
    return load()


def test_jetson_orin_planned_from_a_laptop_gets_aarch64_advice():
    proc = run_tfgpu("recommend", *JETSON_ORIN, "--json")
    assert proc.returncode == 1, proc.stderr  # nothing recommended
    data = json.loads(proc.stdout)
    assert data["machine"]["machine"] == "aarch64" and data["recommendations"] == []
    (excluded,) = data["excluded"]
    assert excluded["tensorflow"].startswith("all (")
    assert "linux-aarch64" in excluded["reason"] and "not CUDA builds" in excluded["reason"]
    assert "JetPack" in excluded["reason"]
    # The per-release aarch64 wheels: 2.21.0 has cp310 for aarch64, and it runs on the CPU only.
    assert any("tensorflow 2.21.0" in a and "aarch64 wheel for Python 3.10" in a and "CPU only" in a
               for a in data["assumptions"])


def test_the_text_view_names_the_architecture():
    proc = run_tfgpu("recommend", *JETSON_ORIN)
    assert proc.returncode == 1
    assert "arch aarch64" in proc.stdout and "Releases excluded:" in proc.stdout
    assert "pip install" not in proc.stdout


def test_x86_64_is_unchanged():
    proc = run_tfgpu("recommend", "--arch", "x86_64", "--cc", "8.6", "--python-version", "3.11",
                     "--driver", "580.65.06", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["machine"]["machine"] == "x86_64"
    assert data["recommendations"][0]["install"].startswith('pip install "tensorflow[and-cuda]==2.')


@pytest.mark.parametrize("args", [("--arch", "sparc"), ("--arch", "aarch64", "--os", "windows"),
                                  ("--arch", "aarch64", "--os", "wsl2")])
def test_bad_arch_flags_are_refused(args):
    proc = run_tfgpu("recommend", *args, "--cc", "8.7", "--driver", "540.4.0")
    assert proc.returncode == 2 and "--arch" in proc.stderr


def test_arm64_is_aarch64():
    proc = run_tfgpu("recommend", "--arch", "arm64", "--cc", "12.1", "--python-version", "3.12",
                     "--driver", "580.95.05", "--json")
    assert json.loads(proc.stdout)["machine"]["machine"] == "aarch64"


@pytest.mark.parametrize("python,newest", [("3.13", "2.21.0"), ("3.8", "2.13.1"), ("3.7", "2.11.0")])
def test_the_newest_aarch64_wheel_for_the_python(mx, python, newest):
    """2.11.1 dropped cp37 for aarch64 while 2.11.0 has it: per release, not per series."""
    advice = recommend(mx, Machine(driver="540.4.0", ccs=("8.7",), python=python, machine="aarch64"))
    assert not advice.recommendations
    assert any(f"tensorflow {newest} is the newest release with a Linux aarch64 wheel for Python {python}" in a
               for a in advice.assumptions), advice.assumptions


def test_a_python_no_aarch64_wheel_has(mx):
    advice = recommend(mx, Machine(ccs=("8.7",), python="3.6", machine="aarch64"))
    assert any("no TensorFlow release has a Linux aarch64 wheel for Python 3.6" in a for a in advice.assumptions)


def test_an_aarch64_platform_with_cuda_would_use_the_aarch64_wheels(mx):
    """Where the matrix's linux-aarch64 row gave an NVIDIA GPU, recommend reads the aarch64 wheel list
    (per release), not the x86_64 one."""
    rows = tuple(replace(p, gpu="nvidia-cuda") if p.platform == "linux-aarch64" else p for p in mx.platforms)
    cuda_arm = replace(mx, platforms=rows)
    advice = recommend(cuda_arm, Machine(driver="580.65.06", ccs=("8.6",), python="3.7", machine="aarch64"))
    best = advice.recommendations[0]
    row = cuda_arm.tf_row(best.tensorflow)
    release = row.newest_release_for_python("3.7", "aarch64")
    assert release is not None and f"=={release}" in best.install
    assert "3.7" in row.python_for(release, "aarch64")
