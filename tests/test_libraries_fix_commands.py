"""Fix commands that must hold up against odd values: a pip cuDNN that already fits (no pip fix),
XLA_FLAGS the user set (kept), a venv path with a space (a symlink, not a broken flag), a garbled or
empty TensorFlow version (no 'tensorflow==not-a-version!!.*', no 'predates the pip CUDA wheels'
for a CUDA 12 build, never conda's cudatoolkit=12.x)."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from test_libraries_checks import SP, build, env, facts, healthy, lib, libraries, pip_copy, run

from tfgpu.checks.libraries import has_and_cuda
from tfgpu.checks.toolkit import xla_flags_command, xla_flags_with_data_dir
from tfgpu.model import ProbeFailure, ProbeStatus, Severity
from tfgpu.probes.environment import EnvVars
from tfgpu.probes.libraries import LibraryCopy, LoadResult
from tfgpu.probes.toolkit import Toolkit, Toolkits, XlaTool


def _commands(finding) -> list[str]:
    return [c for fix in finding.fixes for c in fix.commands]


# --- 4. a shadowed cuDNN while the pip one already fits ---------------------------------------------------


def _shadowed_cudnn(version: str = "9.1.0"):
    shadow = LibraryCopy("/opt/cudnn/libcudnn.so.9", "/opt/cudnn/libcudnn.so.9", "LD_LIBRARY_PATH", True, False)
    expected = pip_copy("cudnn", "libcudnn.so.9")
    return lib("cudnn", "libcudnn.so.9", shadow, LoadResult("loaded", version=version), expected, (shadow, expected))


def test_a_fitting_pip_cudnn_gets_only_the_ld_library_path_fix():
    found = run(facts(libraries(healthy()[0], _shadowed_cudnn(), ld="/opt/cudnn:/usr/lib")))
    f = found["cudnn-version-mismatch"][0]
    assert f.severity is Severity.ERROR
    assert _commands(f) == ["export LD_LIBRARY_PATH=/usr/lib"]
    assert "/opt/cudnn" in f.fixes[0].summary and "nvidia-cudnn-cu12 9.28.0.42" in f.fixes[0].summary
    assert f.evidence["pip_cudnn"]["version"] == "9.28.0.42"


def test_a_pip_cudnn_that_is_too_old_itself_still_gets_the_pip_fix():
    e = env(("nvidia-cudnn-cu12", "9.1.0.70"), ("nvidia-cuda-runtime-cu12", "12.9.79"))
    found = run(facts(libraries(healthy()[0], _shadowed_cudnn(), ld="/opt/cudnn"), e))
    cmds = _commands(found["cudnn-version-mismatch"][0])
    assert "unset LD_LIBRARY_PATH" in cmds
    assert any("nvidia-cudnn-cu12" in c and ">=9.3.0.75" in c for c in cmds), cmds


def test_no_pip_cudnn_installed_still_gets_the_pip_fix():
    e = env(("nvidia-cuda-runtime-cu12", "12.9.79"))
    found = run(facts(libraries(healthy()[0], _shadowed_cudnn(), ld="/opt/cudnn"), e))
    assert any("nvidia-cudnn-cu12" in c for c in _commands(found["cudnn-version-mismatch"][0]))


# --- 5a/5b. XLA_FLAGS ------------------------------------------------------------------------------------


def test_xla_flags_keep_what_is_set():
    assert xla_flags_command(None, "/p") == "export XLA_FLAGS=--xla_gpu_cuda_data_dir=/p"
    assert xla_flags_command("--xla_dump_to=/tmp", "/p") == "export XLA_FLAGS='--xla_dump_to=/tmp --xla_gpu_cuda_data_dir=/p'"
    # an earlier data dir is replaced, not left to fight the new one
    assert xla_flags_with_data_dir("--a=1 --xla_gpu_cuda_data_dir=/old --b=2", "/p") == \
        "--a=1 --b=2 --xla_gpu_cuda_data_dir=/p"


def _xla_facts(package_dir: str, xla_flags: str | None) -> dict:
    none = XlaTool(None, None, None, ("/usr/local/cuda/bin/ptxas",))
    tks = Toolkits((), (), None, none, none, None)
    b = replace(build(), package_dir=package_dir)
    return {"tf_build": b, "python_env": env(), "toolkit": tks,
            "environment": EnvVars({"XLA_FLAGS": xla_flags} if xla_flags is not None else {})}


def _shell_value(commands: list[str], home: str = "/home/ann") -> str:
    script = "; ".join(c for c in commands if c.startswith("export XLA_FLAGS")) + '; printf %s "$XLA_FLAGS"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True,
                          env={"HOME": home}).stdout


def test_xla_fix_appends_to_the_users_xla_flags():
    found = run(_xla_facts(f"{SP}/tensorflow", "--xla_dump_to=/tmp"))
    cmds = _commands(found["xla-ptxas-missing"][0])
    exports = [c for c in cmds if c.startswith("export XLA_FLAGS")]
    assert exports and all("--xla_dump_to=/tmp" in c for c in exports), exports
    assert _shell_value(exports[:1]) == f"--xla_dump_to=/tmp --xla_gpu_cuda_data_dir={SP}/nvidia/cuda_nvcc"


def test_xla_fix_for_a_path_with_a_space_links_it_first():
    sp = "/tmp/my env/lib/python3.11/site-packages"
    found = run(_xla_facts(f"{sp}/tensorflow", "--xla_dump_to=/tmp"))
    fix = found["xla-ptxas-missing"][0].fixes[0]
    assert "whitespace" in fix.summary
    links = [c for c in fix.commands if c.startswith("ln -s")]
    assert links == [f"ln -sfn '{sp}/nvidia/cuda_nvcc' \"$HOME/cuda-nvcc-12\""]
    exports = [c for c in fix.commands if c.startswith("export XLA_FLAGS")]
    value = _shell_value(exports)
    assert value == "--xla_dump_to=/tmp --xla_gpu_cuda_data_dir=/home/ann/cuda-nvcc-12"
    assert not any(" " in w.split("=", 1)[1] for w in value.split() if w.startswith("--xla_gpu_cuda_data_dir="))


def test_system_toolkit_conflict_fix_keeps_xla_flags():
    tk13 = Toolkit("/usr/local/cuda", "/usr/local/cuda-13.0", ("/usr/local/cuda",), "/usr/local/cuda/bin/nvcc", "13.0",
                   "13.0.88", None, None, "/usr/local/cuda/bin/ptxas", "/usr/local/cuda/nvvm/libdevice",
                   ("/usr/local/cuda/lib64",), ("/usr/local/cuda/lib64/libcudart.so.13",))
    ptxas = XlaTool("/usr/local/cuda/bin/ptxas", "/usr/local/cuda", "13.0.88", ())
    libdevice = XlaTool("/usr/local/cuda/nvvm/libdevice", "/usr/local/cuda", "13.0.88", ())
    tks = Toolkits((tk13,), (), None, ptxas, libdevice, f"{SP}/nvidia/cuda_nvcc")
    found = run({"tf_build": build(), "python_env": env(), "toolkit": tks,
                 "environment": EnvVars({"XLA_FLAGS": "--xla_gpu_autotune_level=0"})})
    f = found["system-toolkit-differs"][0]
    assert f.fixes[-1].commands == (
        f"export XLA_FLAGS='--xla_gpu_autotune_level=0 --xla_gpu_cuda_data_dir={SP}/nvidia/cuda_nvcc'",)
    assert "keeping the XLA_FLAGS already set" in f.fixes[-1].summary


# --- 5c. garbled and empty TensorFlow versions ---------------------------------------------------------------


def _missing_libs(version: str, cuda: str = "12.5.1", and_cuda: tuple[str, ...] = ()) -> dict:
    b = replace(build(version), cuda_version=cuda, and_cuda=and_cuda)
    missing = lib("cudart", "libcudart.so.12", None, LoadResult("not_run"))
    return {"tf_build": b, "python_env": env(), "libraries": libraries(missing)}


def test_a_garbled_version_never_becomes_a_requirement():
    found = run(_missing_libs("not-a-version!!"))
    cmds = _commands(found["cuda-lib-missing"][0])
    assert cmds and not any("not-a-version" in c for c in cmds), cmds
    assert any(c.endswith("'tensorflow[and-cuda]'") for c in cmds), cmds


def test_an_empty_version_with_cuda_12_is_not_called_older_than_the_pip_wheels():
    b = replace(build(""), cuda_version="12.5.1", and_cuda=())
    assert has_and_cuda(b)
    found = run(_missing_libs(""))
    f = found["cuda-lib-missing"][0]
    text = " ".join([x.summary for x in f.fixes] + _commands(f))
    assert "predates" not in text and "cudatoolkit" not in text
    assert "tensorflow[and-cuda]" in text and "==." not in text


def test_a_cuda_11_release_without_and_cuda_gets_conda_cudatoolkit_11():
    found = run(_missing_libs("2.11.1", cuda="11.2"))
    cmds = _commands(found["cuda-lib-missing"][0])
    # At least the cuDNN minor the build was compiled with (8.1: TensorFlow's tested-build table), as a range:
    # conda-forge lacks some minors.
    assert any("cudatoolkit=11.2" in c and "'cudnn>=8.1,<9'" in c for c in cmds), cmds


def test_no_fix_anywhere_asks_conda_for_cudatoolkit_12():
    for version in ("", "not-a-version!!", "2.15.1", "2.21.0"):
        for cuda in ("12.2", "12.5.1"):
            found = run(_missing_libs(version, cuda=cuda))
            assert not any("cudatoolkit=12" in c for fs in found.values() for f in fs for c in _commands(f))


def test_tensorflow_fixes_never_pin_a_garbled_version():
    garbled = "not-a-version!!"
    e = env()
    e = replace(e, distributions=(replace(e.distributions[0], version=garbled),))
    fail = ProbeFailure("tf_build", ProbeStatus.NOT_FOUND, f"{SP}/tensorflow/python/platform/build_info.py is missing")
    found = run({"python_env": e, "tf_build": fail})
    cmds = _commands(found["tf-build-info-unreadable"][0])
    assert cmds and not any(garbled in c for c in cmds), cmds
    cpu = run({"python_env": e, "tf_build": replace(build(garbled), is_cuda_build=False, distribution="tensorflow-cpu")})
    cmds = _commands(cpu["tf-cpu-only-build"][0])
    assert cmds and not any(garbled in c for c in cmds), cmds
