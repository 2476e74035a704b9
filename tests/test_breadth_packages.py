"""Named machines for the packages and shared-env classes: facts built by hand, run through the checks
(pure: facts in, findings out). Each machine is a real situation from the corpus threads."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from tfgpu import matrix as matrix_mod
from tfgpu.checks import run_checks
from tfgpu.checks.shared_env import specs_overlap
from tfgpu.fixes import command_problems
from tfgpu.model import Finding
from tfgpu.probes.python_env import Distribution, PythonEnv
from tfgpu.probes.tf_build import TFBuild

SITE = "/srv/venv/lib/python3.11/site-packages"
PY = "/srv/venv/bin/python"


@pytest.fixture(scope="module")
def matrix() -> matrix_mod.Matrix:
    return matrix_mod.load()


def dist(name: str, version: str, requires: tuple[str, ...] = (), extras: tuple[str, ...] = ()) -> Distribution:
    return Distribution(name, version, SITE, f"{SITE}/{name}-{version}.dist-info", None, requires, extras)


def tensorflow(matrix: matrix_mod.Matrix, version: str) -> Distribution:
    """The tensorflow distribution as its wheel's METADATA has it: [and-cuda] pins under the extra."""
    row = matrix.tf_row(version)
    assert row is not None
    return dist("tensorflow", version, tuple(f'{r}; extra == "and-cuda"' for r in row.and_cuda), ("and-cuda",))


def wheels(**versions: str) -> list[Distribution]:
    return [dist(name.replace("_", "-"), v) for name, v in versions.items()]


def env(*dists: Distribution, platform: str = "linux", python: str = "3.11.9") -> PythonEnv:
    return PythonEnv(PY, python, "CPython", platform, "AMD64" if platform == "win32" else "x86_64", "/srv/venv",
                     True, False, tuple(dists), (f"{SITE}/tensorflow",), (SITE,))


def build(version: str, cuda: bool = True, name: str = "tensorflow") -> TFBuild:
    return TFBuild(name, version, f"{SITE}/tensorflow", f"{SITE}/tensorflow/python/platform/build_info.py",
                   cuda, False, "12.3" if cuda else None, "8" if cuda else None, (), "clang", ">=3.9", (), {})


def run(facts: dict[str, Any], matrix: matrix_mod.Matrix, *ids: str) -> dict[str, Finding]:
    findings, crashed = run_checks(facts, matrix, list(ids), None)
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    for f in findings:
        for fix in f.fixes:
            for cmd in fix.commands:
                assert not command_problems(cmd, matrix), (f.id, cmd)
    return {f.id: f for f in findings}


TORCH_251 = ('nvidia-cudnn-cu12==9.1.0.70; platform_system == "Linux" and platform_machine == "x86_64"',
             'nvidia-nccl-cu12==2.21.5; platform_system == "Linux" and platform_machine == "x86_64"',
             'nvidia-cublas-cu12==12.4.5.8; platform_system == "Linux" and platform_machine == "x86_64"',
             "typing-extensions>=4.8.0")


def test_torch_251_beside_tf_217_needs_two_environments(matrix) -> None:
    """torch 2.5.1 pins cuDNN 9.1.0.70; TF 2.17's [and-cuda] pins 8.9.7.29, 2.18+ want >= 9.3: no release agrees."""
    facts = {"python_env": env(tensorflow(matrix, "2.17.1"), dist("torch", "2.5.1", TORCH_251),
                               *wheels(nvidia_cudnn_cu12="9.1.0.70", nvidia_nccl_cu12="2.21.5",
                                       nvidia_cublas_cu12="12.4.5.8")),
             "tf_build": build("2.17.1")}
    got = run(facts, matrix, "shared-env-nvidia-wheels")
    f = got["shared-env-nvidia-conflict"]
    assert "nvidia-cudnn-cu12 9.1.0.70 (pinned by torch 2.5.1)" in f.summary
    assert "==8.9.7.29" in f.summary
    assert f.evidence["agreeing_release"] is None
    assert "two environments" in f.detail
    assert any(".venv-tf" in c for fix in f.fixes for c in fix.commands)


def test_jax_nccl_beside_tf_215_names_the_release_that_agrees(matrix) -> None:
    """tensorflow/tensorflow#68290: jax[cuda12] wants nvidia-nccl-cu12>=2.18.3, TF 2.15 pins 2.16.5."""
    jax = dist("jax", "0.4.23", ('nvidia-nccl-cu12>=2.18.3; extra == "cuda12"',), ("cuda12",))
    facts = {"python_env": env(tensorflow(matrix, "2.15.1"), jax, *wheels(nvidia_nccl_cu12="2.19.3"),
                               python="3.10.12"),
             "tf_build": build("2.15.1")}
    f = run(facts, matrix, "shared-env-nvidia-wheels")["shared-env-nvidia-conflict"]
    assert "nvidia-nccl-cu12 2.19.3 (pinned by jax 0.4.23)" in f.summary
    release = f.evidence["agreeing_release"]
    assert release is not None
    assert any(f"tensorflow[and-cuda]=={release}" in c for c in f.fixes[0].commands)
    row = matrix.tf_row(release)
    nccl = next(r for r in row.and_cuda if r.startswith("nvidia-nccl-cu12"))
    assert specs_overlap(SpecifierSet(nccl.split("nvidia-nccl-cu12", 1)[1]), SpecifierSet(">=2.18.3"))


def test_tf_pulled_cudnn_breaks_torch_pin(matrix) -> None:
    """The other direction: TensorFlow's [and-cuda] installed last replaced torch's pinned cuDNN."""
    facts = {"python_env": env(tensorflow(matrix, "2.17.1"), dist("torch", "2.5.1", TORCH_251),
                               *wheels(nvidia_cudnn_cu12="8.9.7.29")),
             "tf_build": build("2.17.1")}
    f = run(facts, matrix, "shared-env-nvidia-wheels")["shared-env-nvidia-conflict"]
    assert "outside torch 2.5.1's ==9.1.0.70" in f.summary


def test_torch_requirements_not_recorded_still_names_the_neighbour(matrix) -> None:
    """Today's probe lists torch but not its Requires-Dist: the pull is inferred, and said to be."""
    facts = {"python_env": env(tensorflow(matrix, "2.17.1"), dist("torch", "2.5.1"),
                               *wheels(nvidia_cudnn_cu12="9.1.0.70")),
             "tf_build": build("2.17.1")}
    f = run(facts, matrix, "shared-env-nvidia-wheels")["shared-env-nvidia-conflict"]
    assert "installed beside torch 2.5.1" in f.summary
    assert f.evidence["requirements_not_recorded"] == ["torch 2.5.1"]
    assert "could not read" in f.detail


def test_agreeing_frameworks_are_ok(matrix) -> None:
    torch = dist("torch", "2.6.0", ("nvidia-cudnn-cu12==9.3.0.75",))
    facts = {"python_env": env(tensorflow(matrix, "2.19.1"), torch, *wheels(nvidia_cudnn_cu12="9.3.0.75")),
             "tf_build": build("2.19.1")}
    got = run(facts, matrix, "shared-env-nvidia-wheels")
    assert set(got) == {"shared-env-nvidia-wheels"}
    assert got["shared-env-nvidia-wheels"].severity.value == "ok"


def test_cu13_wheels_beside_tf_cu12(matrix) -> None:
    torch = dist("torch", "2.9.0", ("nvidia-cudnn-cu13==9.13.0.50", "nvidia-nccl-cu13==2.27.7"))
    facts = {"python_env": env(tensorflow(matrix, "2.21.0"), torch,
                               *wheels(nvidia_cudnn_cu12="9.3.0.75", nvidia_cudnn_cu13="9.13.0.50",
                                       nvidia_nccl_cu13="2.27.7", nvidia_nccl_cu12="2.27.7")),
             "tf_build": build("2.21.0")}
    got = run(facts, matrix, "shared-env-nvidia-wheels")
    f = got["shared-env-cuda-major-mix"]
    assert f.severity.value == "warning"
    assert "torch 2.9.0" in f.summary and "nvidia-cudnn-cu13" in f.summary
    assert "libcudnn.so.9" in f.detail and "libnccl.so.2" in f.detail
    assert "shared-env-nvidia-conflict" not in got


def test_the_fresh_environment_for_a_cuda_major_mix_keeps_the_tensorflow_release(matrix) -> None:
    # Unpinned, the fresh environment would get the newest TensorFlow, not the one this project uses.
    torch = dist("torch", "2.9.0", ("nvidia-cudnn-cu13==9.13.0.50",))
    facts = {"python_env": env(tensorflow(matrix, "2.19.1"), torch,
                               *wheels(nvidia_cudnn_cu12="9.3.0.75", nvidia_cudnn_cu13="9.13.0.50")),
             "tf_build": build("2.19.1")}
    f = run(facts, matrix, "shared-env-nvidia-wheels")["shared-env-cuda-major-mix"]
    commands = [c for fix in f.fixes for c in fix.commands]
    assert any("'tensorflow[and-cuda]==2.19.1'" in c for c in commands), commands
    assert not any(c.endswith("install 'tensorflow[and-cuda]'") for c in commands), commands


def test_tensorflow_alone_is_not_judged_here(matrix) -> None:
    facts = {"python_env": env(tensorflow(matrix, "2.21.0"), *wheels(nvidia_cudnn_cu12="9.3.0.75")),
             "tf_build": build("2.21.0")}
    assert run(facts, matrix, "shared-env-nvidia-wheels") == {}


def test_windows_tensorflow_intel_is_one_install(matrix) -> None:
    """tensorflow on Windows (2.11-2.18) is a shim that requires tensorflow-intel: not two distributions."""
    tf = dist("tensorflow", "2.13.1", ('tensorflow-intel==2.13.1; platform_system == "Windows"',))
    facts = {"python_env": env(tf, dist("tensorflow-intel", "2.13.1"), platform="win32")}
    got = run(facts, matrix, "tf-single-distribution")
    assert "tf-multiple-distributions" not in got


def test_tf_nightly_mixed_with_tensorflow(matrix) -> None:
    facts = {"python_env": env(tensorflow(matrix, "2.21.0"), dist("tf-nightly", "2.22.0.dev20250801"))}
    f = run(facts, matrix, "tf-single-distribution")["tf-multiple-distributions"]
    assert "tensorflow 2.21.0" in f.summary and "tf-nightly 2.22.0.dev20250801" in f.summary
    assert "uninstall" in f.fixes[0].commands[0]


def test_tensorflow_cpu_installed_on_linux(matrix) -> None:
    facts = {"python_env": env(dist("tensorflow-cpu", "2.16.1")), "tf_build": build("2.16.1", cuda=False,
                                                                                     name="tensorflow-cpu")}
    f = run(facts, matrix, "tf-cuda-build")["tf-cpu-only-build"]
    assert "tensorflow-cpu 2.16.1" in f.summary
    assert any("uninstall -y tensorflow-cpu" in c for c in f.fixes[0].commands)
