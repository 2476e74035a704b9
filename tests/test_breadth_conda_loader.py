"""The doctor on named machines of issue #12's conda and loader classes: libraries in a conda env that the
loader does not search, an older conda cuDNN ahead of the pip one, and the toolkit's stub libcuda.so.1."""

from __future__ import annotations

import os

from tfgpu.probes.libraries import (
    Libraries,
    LibraryCopy,
    LibraryStatus,
    LoadResult,
    SearchDir,
    build_search_path,
    is_stub,
    resolve_library,
)
from test_libraries_checks import SP, facts, healthy, lib, pip_copy, run

CONDA = "/home/u/miniconda3/envs/tf"


def machine(*items: LibraryStatus, ld: str | None = None, conda_prefix: str | None = None,
            libcuda: LibraryCopy | None = None, libcuda_copies: tuple[LibraryCopy, ...] = ()) -> Libraries:
    return Libraries("2.21.0", 12, 9, "matrix", (SearchDir("/etc/ld.so.cache", "ld.so.cache", True, True),), items,
                     (f"{SP}/tensorflow/libtensorflow_framework.so.2",), ld, conda_prefix,
                     "/etc/ld.so.cache (1 entries)", "python", libcuda=libcuda, libcuda_copies=libcuda_copies)


def test_conda_cudatoolkit_not_on_ld_library_path_machine():
    """conda install cudatoolkit cudnn; pip install tensorflow; no activate.d script."""
    conda_copy = LibraryCopy(f"{CONDA}/lib/libcudart.so.12", f"{CONDA}/lib/libcudart.so.12.9.79", "CONDA_PREFIX", False, False)
    missing = LibraryStatus("cudart", "libcudart.so.12", True, (conda_copy,), None, None, (), LoadResult("not_run", "not found"))
    got = run(facts(machine(missing, healthy()[1], conda_prefix=CONDA)))
    (f,) = got["conda-libs-not-on-loader-path"]
    assert f.severity.value == "error"
    assert "libcudart.so.12" in f.summary and f"{CONDA}/lib" in f.summary
    cmds = [c for fix in f.fixes for c in fix.commands]
    assert any("activate.d" in c and "$CONDA_PREFIX/lib" in c for c in cmds)
    # The generic finding stays: the library is missing for the loader.
    assert "cuda-lib-missing" in got


def test_conda_env_with_everything_on_the_path_is_quiet():
    got = run(facts(machine(*healthy(), conda_prefix=CONDA)))
    assert "conda-libs-not-on-loader-path" not in got
    assert "libcuda-stub-on-loader-path" not in got


def test_older_conda_cudnn_shadowing_the_pip_one_machine():
    conda_cudnn = LibraryCopy(f"{CONDA}/lib/libcudnn.so.9", f"{CONDA}/lib/libcudnn.so.9.1.0", "LD_LIBRARY_PATH", True, False)
    cudnn = lib("cudnn", "libcudnn.so.9", conda_cudnn, LoadResult("loaded", version="9.1.0"),
                expected=pip_copy("cudnn", "libcudnn.so.9"), copies=(conda_cudnn, pip_copy("cudnn", "libcudnn.so.9")))
    got = run(facts(machine(healthy()[0], cudnn, ld=f"{CONDA}/lib", conda_prefix=CONDA)))
    (f,) = got["library-shadowed"]
    assert f.severity.value == "error" and "conda package" in f.summary
    assert any(c == "unset LD_LIBRARY_PATH" for fix in f.fixes for c in fix.commands)


def test_toolkit_stub_libcuda_first_on_ld_library_path_machine():
    stub = LibraryCopy("/usr/local/cuda/lib64/stubs/libcuda.so.1", "/usr/local/cuda/lib64/stubs/libcuda.so",
                       "LD_LIBRARY_PATH", True, False)
    real = LibraryCopy("/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
                       "ld.so.cache", True, False)
    ld = "/usr/local/cuda/lib64/stubs:/usr/local/cuda/lib64"
    got = run(facts(machine(*healthy(), ld=ld, libcuda=stub, libcuda_copies=(stub, real))))
    (f,) = got["libcuda-stub-on-loader-path"]
    assert "/usr/lib/x86_64-linux-gnu/libcuda.so.1" in f.summary
    cmds = [c for fix in f.fixes for c in fix.commands]
    assert "export LD_LIBRARY_PATH=/usr/local/cuda/lib64" in cmds


def test_driver_libcuda_is_not_a_stub():
    real = LibraryCopy("/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
                       "ld.so.cache", True, False)
    got = run(facts(machine(*healthy(), libcuda=real, libcuda_copies=(real,))))
    assert "libcuda-stub-on-loader-path" not in got
    assert not is_stub("/usr/lib/x86_64-linux-gnu/libcuda.so.1") and is_stub("/opt/cuda/lib64/stubs/libcuda.so")


def test_probe_resolves_libcuda_through_ld_library_path_first(tmp_path):
    """The probe's fact: which libcuda.so.1 the loader path finds (here a stub link made by hand)."""
    stubs = tmp_path / "cuda" / "lib64" / "stubs"
    stubs.mkdir(parents=True)
    (stubs / "libcuda.so").write_bytes(b"\x7fELF")
    os.symlink(stubs / "libcuda.so", stubs / "libcuda.so.1")
    search = build_search_path({"LD_LIBRARY_PATH": str(stubs)}, [], [], "x86_64", [])
    _copies, win = resolve_library("libcuda.so.1", search, {"libcuda.so.1": ["/usr/lib/x86_64-linux-gnu/libcuda.so.1"]})
    assert win is not None and win.path == str(stubs / "libcuda.so.1") and is_stub(win.realpath)
