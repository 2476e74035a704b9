"""`doctor --fast` loads no CUDA library: versions come from disk (file names, the wheels'
dist-info, version headers), and a load that cannot succeed is predicted from the ELF file.

The stand-in libraries here carry a constructor that writes a marker file when anything loads
them, so "nothing was loaded" is observed, not assumed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "data" / "libs"))

import standins  # noqa: E402
from conftest import compile_shared, run_tfgpu, tf_python, validate_report  # noqa: E402

from tfgpu import serde  # noqa: E402
from tfgpu.probes import ProbeContext  # noqa: E402
from tfgpu.probes._disk_versions import (  # noqa: E402
    VersionSource,
    Wheel,
    WheelIndex,
    from_dist_info,
    from_filename,
    from_header,
    include_dirs,
    read_version,
)
from tfgpu.probes.libraries import Libraries, LoadStatus, collect_libraries, load_in_child  # noqa: E402
from tfgpu.probes.python_env import Distribution, PythonEnv  # noqa: E402
from tfgpu.probes.tf_build import TFBuild  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
MARKER_C = (DATA / "fast" / "load_marker.c").read_text()
LIBS_C = DATA / "libs"
#: What the check reads out of a dlopen() error to name a missing dependency (checks/libraries.py).
DLERROR_DEP = re.compile(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file")


def marked(cc: str, out: Path, source: str, name: str, defines: dict[str, int] | None = None,
           soname: str | None = None) -> Path:
    """A stand-in built from tests/data/libs/<source> with the load marker's constructor added."""
    flags = tuple(f"-D{k}={v}" for k, v in (defines or {}).items()) + (f'-DNAME="{name}"',)
    return compile_shared(cc, MARKER_C + (LIBS_C / source).read_text(), out, soname or out.name, flags)


def write_wheel(site: Path, dist: str, version: str, files: list[str]) -> Distribution:
    """A pip-installed distribution's dist-info folder (METADATA and RECORD) under `site`."""
    meta = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n")
    record = [f"{f},sha256=x,1" for f in files] + [f"{meta.name}/METADATA,,", f"{meta.name}/RECORD,,"]
    (meta / "RECORD").write_text("\n".join(record) + "\n")
    return Distribution(dist, version, str(site), str(meta))


def env_with(site: Path, dists: list[Distribution]) -> PythonEnv:
    return PythonEnv(sys.executable, "3.11.0", "CPython", "linux", os.uname().machine, str(site.parent), True, False,
                     tuple(dists), (str(site / "tensorflow"),))


def fake_build(package_dir: Path) -> TFBuild:
    return TFBuild("tensorflow", "2.21.0", str(package_dir), str(package_dir / "python/platform/build_info.py"),
                   True, False, "12.5.1", "9", ("sm_80",), None, ">=3.10", (), {})


def ctx_for(environ: dict[str, str], fast: bool) -> ProbeContext:
    return ProbeContext(python=sys.executable, environ=environ, timeout=20.0, options={"fast": fast})


def fake_site(cc: str, root: Path) -> tuple[Path, list[Distribution]]:
    """A site-packages with a stand-in TensorFlow whose RUNPATH reaches three pip-style folders:
    cuDNN (from a wheel with dist-info), the CUDA runtime (no dist-info, a version header beside
    it) and cuBLAS (a full-version file name behind the soname link). Each library marks its load."""
    site = root / "lib" / "python3.11" / "site-packages"
    standins.fake_tensorflow(cc, site, ("$ORIGIN/../nvidia/cudnn/lib", "$ORIGIN/../nvidia/cuda_runtime/lib",
                                        "$ORIGIN/../nvidia/cublas/lib"))
    (site / "tensorflow" / "python" / "platform").mkdir(parents=True)
    (site / "tensorflow" / "python" / "platform" / "build_info.py").write_text(
        "build_info = {'is_cuda_build': True, 'is_rocm_build': False, 'cuda_version': '12.5.1', "
        "'cudnn_version': '9', 'cuda_compute_capabilities': ['sm_80']}\n")
    tf = write_wheel(site, "tensorflow", "2.21.0", ["tensorflow/libtensorflow_framework.so.2"])
    marked(cc, site / "nvidia/cudnn/lib/libcudnn.so.9", "fake_cudnn.c", "cudnn", {"VERSION": 90300})
    cudnn = write_wheel(site, "nvidia-cudnn-cu12", "9.3.0.75", ["nvidia/cudnn/lib/libcudnn.so.9"])
    marked(cc, site / "nvidia/cuda_runtime/lib/libcudart.so.12", "fake_cudart.c", "cudart", {"VERSION": 12090})
    include = site / "nvidia/cuda_runtime/include"
    include.mkdir(parents=True)
    (include / "cuda_runtime_api.h").write_text("/* stand-in */\n#define CUDART_VERSION 12090\n")
    real = marked(cc, site / "nvidia/cublas/lib/libcublas.so.12.9.1.4", "fake_cudart.c", "cublas",
                  soname="libcublas.so.12")
    (site / "nvidia/cublas/lib/libcublas.so.12").symlink_to(real.name)
    return site, [tf, cudnn]


# --- the probe: nothing loaded with --fast, everything with the full doctor --------------------------------


def test_fast_loads_nothing_and_reads_each_version_from_disk(cc, tmp_path: Path):
    site, dists = fake_site(cc, tmp_path)
    marker = tmp_path / "loaded.txt"
    environ = {"PATH": os.environ.get("PATH", ""), "TFGPU_TEST_LOAD_MARKER": str(marker)}
    libs = collect_libraries(ctx_for(environ, fast=True), fake_build(site / "tensorflow"), env_with(site, dists),
                             load=False)
    assert not marker.exists(), f"--fast loaded: {marker.read_text()}"
    assert libs.loaded is False and libs.child == ""
    got = {k: (libs.get(k).load.status, libs.get(k).load.version, libs.get(k).load.version_source)
           for k in ("cudnn", "cudart", "cublas")}
    assert got == {
        "cudnn": (LoadStatus.NOT_LOADED, "9.3.0", VersionSource.DIST_INFO),
        "cudart": (LoadStatus.NOT_LOADED, "12.9", VersionSource.HEADER),
        "cublas": (LoadStatus.NOT_LOADED, "12.9.1", VersionSource.FILENAME),
    }
    assert libs.get("cudnn").load.version_from == "nvidia-cudnn-cu12 9.3.0.75"
    assert libs.get("cudnn").load.from_disk and libs.get("cudnn").load.status == "not_loaded"
    # Not found is still not found, not "not loaded".
    assert libs.get("nccl").winner is None and libs.get("nccl").load.status == LoadStatus.NOT_RUN
    # The record, enums included, survives a JSON round trip (--from-facts), and serialises as strings.
    data = serde.to_jsonable(libs)
    assert json.loads(json.dumps(data))["libraries"][-1]["load"]["status"] in {s.value for s in LoadStatus}
    assert serde.from_jsonable(Libraries, data) == libs


def test_the_full_doctor_loads_each_library_and_agrees_with_the_disk(cc, tmp_path: Path):
    site, dists = fake_site(cc, tmp_path)
    marker = tmp_path / "loaded.txt"
    environ = {"PATH": os.environ.get("PATH", ""), "TFGPU_TEST_LOAD_MARKER": str(marker)}
    libs = collect_libraries(ctx_for(environ, fast=False), fake_build(site / "tensorflow"), env_with(site, dists))
    assert sorted(marker.read_text().split()) == ["cublas", "cudart", "cudnn"]
    assert libs.loaded and libs.child == sys.executable
    cudnn, cudart = libs.get("cudnn").load, libs.get("cudart").load
    assert (cudnn.status, cudnn.version, cudnn.version_source, cudnn.from_disk) == ("loaded", "9.3.0", "loaded", False)
    assert (cudart.status, cudart.version) == ("loaded", "12.9")
    # cuBLAS's stand-in answers no cublasGetProperty: loaded, its version kept from the file name, labelled so.
    cublas = libs.get("cublas").load
    assert (cublas.status, cublas.version, cublas.version_source) == ("loaded", "12.9.1", VersionSource.FILENAME)


def test_the_probe_takes_fast_from_the_run_options(cc, tmp_path: Path):
    from tfgpu.probes.libraries import probe_libraries

    site, dists = fake_site(cc, tmp_path)
    marker = tmp_path / "loaded.txt"
    environ = {"PATH": os.environ.get("PATH", ""), "TFGPU_TEST_LOAD_MARKER": str(marker)}

    class Options:  # the options may come as an object (RunOptions) as well as a mapping
        fast = True

    ctx = ProbeContext(python=sys.executable, environ=environ, timeout=20.0, options=Options())
    ctx.results.update({"python_env": env_with(site, dists), "tf_build": fake_build(site / "tensorflow")})
    libs = probe_libraries(ctx)
    assert isinstance(libs, Libraries) and not libs.loaded and not marker.exists()
    ctx.options = {"fast": False}
    assert probe_libraries(ctx).loaded and marker.exists()


def test_doctor_fast_through_the_cli_loads_no_library(cc, tmp_path: Path):
    """The whole `doctor --fast` (every probe, every child) against the stand-in install."""
    site, _dists = fake_site(cc, tmp_path)
    marker = tmp_path / "loaded.txt"
    env = {"PYTHONPATH": str(site), "TFGPU_TEST_LOAD_MARKER": str(marker)}  # HOME, cache, driver: conftest's
    proc = run_tfgpu("doctor", "--fast", "--json", "--python", sys.executable, env=env)
    assert proc.returncode == 1, proc.stderr[-2000:]  # no driver (conftest's stand-in)
    assert not marker.exists(), f"doctor --fast loaded: {marker.read_text()}"
    report = json.loads(proc.stdout)
    validate_report(report)
    facts = report["facts"]["libraries"]["data"]
    by_key = {lib["key"]: lib["load"] for lib in facts["libraries"]}
    assert facts["loaded"] is False
    assert (by_key["cudnn"]["status"], by_key["cudnn"]["version"], by_key["cudnn"]["version_source"]) == \
        ("not_loaded", "9.3.0", "dist-info")
    assert (by_key["cudart"]["version"], by_key["cudart"]["version_source"]) == ("12.9", "header")


# --- a load that cannot succeed, predicted from the file ---------------------------------------------------


def test_a_missing_dt_needed_dependency_is_predicted_without_loading(cc, tmp_path: Path):
    site, dists = fake_site(cc, tmp_path)
    lib_dir = site / "nvidia/cudnn/lib"
    dep = standins.build(cc, tmp_path / "dep" / "libtfgpu_missing_dep.so.1", "missing_dep.c")
    (lib_dir / "libcudnn.so.9").unlink()
    compile_shared(cc, MARKER_C + (LIBS_C / "needs_missing.c").read_text(), lib_dir / "libcudnn.so.9", "libcudnn.so.9",
                   (f"-L{dep.parent}", "-l:libtfgpu_missing_dep.so.1"))
    dep.unlink()
    marker = tmp_path / "loaded.txt"
    environ = {"PATH": os.environ.get("PATH", ""), "TFGPU_TEST_LOAD_MARKER": str(marker)}
    build, env = fake_build(site / "tensorflow"), env_with(site, dists)
    fast = collect_libraries(ctx_for(environ, fast=True), build, env, load=False).get("cudnn").load
    full = collect_libraries(ctx_for(environ, fast=False), build, env).get("cudnn").load
    assert "cudnn" not in (marker.read_text().split() if marker.exists() else [])  # its load failed before its constructor
    assert fast.status == full.status == "failed" and fast.from_disk and not full.from_disk
    # The check names the missing dependency from either text alike.
    assert DLERROR_DEP.search(fast.error).group(1) == DLERROR_DEP.search(full.error).group(1) == "libtfgpu_missing_dep.so.1"
    assert "not loaded (--fast)" in fast.error


def test_a_file_that_is_no_elf_library_is_predicted_to_fail(cc, tmp_path: Path):
    site, dists = fake_site(cc, tmp_path)
    target = site / "nvidia/cudnn/lib/libcudnn.so.9"
    target.unlink()
    target.write_bytes(b"<html>a download error page saved under a library's name</html>\n")
    libs = collect_libraries(ctx_for({"PATH": os.environ.get("PATH", "")}, fast=True), fake_build(site / "tensorflow"),
                             env_with(site, dists), load=False)
    load = libs.get("cudnn").load
    assert load.status == "failed" and load.from_disk and "invalid ELF header" in (load.error or "")
    assert libs.get("cudart").load.status == "not_loaded"


# --- each on-disk source against stand-in files ------------------------------------------------------------


def test_filename_versions(tmp_path: Path):
    assert from_filename("cudnn", "libcudnn.so.8", "/usr/lib/x86_64-linux-gnu/libcudnn.so.8.9.7").version == "8.9.7"
    got = from_filename("cudart", "libcudart.so.11.0", "/usr/local/cuda/lib64/libcudart.so.11.8.89")
    assert (got.version, got.source, got.detail) == ("11.8", "filename", "libcudart.so.11.8.89")
    assert from_filename("nccl", "libnccl.so.2", "/x/libnccl.so.2.21.5").version == "2.21.5"
    assert from_filename("cublas", "libcublas.so.12", "/x/libcublas.so.12.4.5.8").version == "12.4.5"
    # No version beyond the soname's own, another major, another library, CUPTI's CUDA-numbered files.
    assert from_filename("cudnn", "libcudnn.so.9", "/x/libcudnn.so.9") is None
    assert from_filename("cudart", "libcudart.so.11.0", "/x/libcudart.so.11.0") is None
    assert from_filename("cudnn", "libcudnn.so.9", "/x/libcudnn.so.8.9.7") is None
    assert from_filename("cudnn", "libcudnn.so.9", "/x/libcudnn_ops.so.9.1.0") is None
    assert from_filename("cupti", "libcupti.so.12", "/x/libcupti.so.12.4.127") is None


def test_dist_info_versions(tmp_path: Path):
    site = tmp_path / "site-packages"
    lib = site / "nvidia/cudnn/lib/libcudnn.so.9"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"")
    other = write_wheel(site, "nvidia-cublas-cu12", "12.5.3.2", ["nvidia/cublas/lib/libcublas.so.12"])
    cudnn = write_wheel(site, "nvidia-cudnn-cu12", "9.28.0.42", ["nvidia/cudnn/lib/libcudnn.so.9"])
    wheels = [Wheel(d.name, d.version, d.location, d.metadata_dir) for d in (other, cudnn)]
    got = from_dist_info("cudnn", "libcudnn.so.9", str(lib), WheelIndex(wheels))
    assert (got.version, got.source, got.detail) == ("9.28.0", VersionSource.DIST_INFO, "nvidia-cudnn-cu12 9.28.0.42")
    # The wheel must list the file, and carry the soname's major.
    assert from_dist_info("cudnn", "libcudnn.so.9", str(lib), WheelIndex(wheels[:1])) is None
    assert from_dist_info("cudnn", "libcudnn.so.8", str(lib), WheelIndex(wheels)) is None
    (Path(cudnn.metadata_dir) / "RECORD").unlink()
    assert from_dist_info("cudnn", "libcudnn.so.9", str(lib), WheelIndex(wheels)) is None


@pytest.mark.parametrize(("key", "soname", "header", "text", "want"), [
    ("cudnn", "libcudnn.so.9", "cudnn_version.h",
     "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n", "9.3.0"),
    ("cudnn", "libcudnn.so.7", "cudnn.h", "#  define CUDNN_MAJOR 7\n#define CUDNN_MINOR 6\n#define CUDNN_PATCHLEVEL 5\n",
     "7.6.5"),
    ("cudart", "libcudart.so.12", "cuda_runtime_api.h", "#define CUDART_VERSION  12040\n", "12.4"),
    ("nccl", "libnccl.so.2", "nccl.h", "#define NCCL_MAJOR 2\n#define NCCL_MINOR 21\n#define NCCL_PATCH 5\n", "2.21.5"),
    ("cublasLt", "libcublasLt.so.12", "cublas_api.h",
     "#define CUBLAS_VER_MAJOR 12\n#define CUBLAS_VER_MINOR 5\n#define CUBLAS_VER_PATCH 3\n", "12.5.3"),
    ("cupti", "libcupti.so.12", "cupti_version.h", "#define CUPTI_API_VERSION 22\n", "API 22"),
    ("cudnn", "libcudnn.so.9", "cudnn_version.h",  # another major's header is not this library's
     "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n", None),
])
def test_header_versions(tmp_path: Path, key, soname, header, text, want):
    lib = tmp_path / "pkg" / "lib" / soname
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"")
    (tmp_path / "pkg" / "include").mkdir()
    (tmp_path / "pkg" / "include" / header).write_text(text)
    got = from_header(key, soname, str(lib), str(lib))
    assert (got.version if got else None) == want
    if got:
        assert got.source == VersionSource.HEADER and got.detail == str(tmp_path / "pkg" / "include" / header)


def test_header_folders_follow_the_install_layout():
    assert include_dirs("/usr/local/cuda/lib64") == ["/usr/local/cuda/include"]
    assert include_dirs("/opt/conda/envs/x/lib") == ["/opt/conda/envs/x/include"]
    assert include_dirs("/usr/lib/x86_64-linux-gnu") == ["/usr/include/x86_64-linux-gnu", "/usr/include"]
    assert include_dirs("/lib/aarch64-linux-gnu") == ["/usr/include/aarch64-linux-gnu", "/usr/include"]
    assert include_dirs("/usr/lib64") == ["/usr/include"]


def test_sources_are_tried_file_name_first(tmp_path: Path):
    lib_dir = tmp_path / "cuda" / "lib64"
    lib_dir.mkdir(parents=True)
    real = lib_dir / "libcudnn.so.9.1.0"
    real.write_bytes(b"")
    (lib_dir / "libcudnn.so.9").symlink_to(real.name)
    (tmp_path / "cuda" / "include").mkdir()
    (tmp_path / "cuda" / "include" / "cudnn_version.h").write_text(
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 0\n#define CUDNN_PATCHLEVEL 0\n")
    path = str(lib_dir / "libcudnn.so.9")
    got = read_version("cudnn", "libcudnn.so.9", path, os.path.realpath(path), WheelIndex([]))
    assert (got.version, got.source) == ("9.1.0", "filename")
    real.rename(lib_dir / "libcudnn.so.9.real")
    (lib_dir / "libcudnn.so.9").unlink()
    (lib_dir / "libcudnn.so.9").symlink_to("libcudnn.so.9.real")
    got = read_version("cudnn", "libcudnn.so.9", path, os.path.realpath(path), WheelIndex([]))
    assert (got.version, got.source) == ("9.0.0", "header")


# --- the real [and-cuda] environment -------------------------------------------------------------------------


def _real_site(python: str) -> Path:
    out = subprocess.run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, timeout=60)
    return Path(out.stdout.strip() or "/nonexistent")


def _real_env(python: str) -> PythonEnv:
    from tfgpu.probes.python_env import probe_python_env

    env = probe_python_env(ProbeContext(python=python, environ={"PATH": os.environ.get("PATH", "")}, timeout=60.0))
    assert isinstance(env, PythonEnv), env
    return env


@pytest.mark.real_tf
def test_real_and_cuda_wheels_versions_on_disk_match_the_loaded_ones():
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    site = _real_site(python)
    env = _real_env(python)
    wheels = WheelIndex(Wheel(d.name, d.version, d.location, d.metadata_dir) for d in env.nvidia_wheels)
    libs = {"cudnn": "nvidia/cudnn/lib/libcudnn.so.9", "cudart": "nvidia/cuda_runtime/lib/libcudart.so.12",
            "cublas": "nvidia/cublas/lib/libcublas.so.12", "nccl": "nvidia/nccl/lib/libnccl.so.2"}
    present = {k: site / rel for k, rel in libs.items() if (site / rel).is_file()}
    if "cudnn" not in present:
        pytest.skip(f"no pip cuDNN 9 in {python}'s environment")
    loaded = load_in_child(ProbeContext(python=sys.executable, environ={}, timeout=60.0),
                           [(k, str(p)) for k, p in present.items()])
    for key, path in present.items():
        soname = path.name
        disk = read_version(key, soname, str(path), os.path.realpath(path), wheels)
        assert disk is not None, key
        assert loaded[key].status == "loaded", (key, loaded[key].error)
        assert disk.version == loaded[key].version, (key, disk, loaded[key].version)
    cudnn = read_version("cudnn", "libcudnn.so.9", str(present["cudnn"]), str(present["cudnn"]), wheels)
    assert cudnn.source == VersionSource.DIST_INFO and cudnn.detail.startswith("nvidia-cudnn-cu")
    header = from_header("cudnn", "libcudnn.so.9", str(present["cudnn"]), str(present["cudnn"]))
    if header is not None:  # the cuDNN wheel ships include/cudnn_version.h
        assert header.version == cudnn.version


# --- the full doctor's loader child yields to the live import ------------------------------------------------

NICE_PROBE_C = """
#include <sys/resource.h>
/* Reports the niceness of the process that loads it as the CUDA runtime version 12.<nice>. */
int cudaRuntimeGetVersion(int *v) { *v = 12000 + 10 * getpriority(PRIO_PROCESS, 0); return 0; }
"""


def test_the_loader_child_runs_at_a_lower_priority(cc, tmp_path: Path):
    lib = compile_shared(cc, NICE_PROBE_C, tmp_path / "libcudart.so.12", "libcudart.so.12")
    got = load_in_child(ProbeContext(python=sys.executable, environ={}, timeout=20.0), [("cudart", str(lib))])
    assert got["cudart"].status == "loaded"
    assert got["cudart"].version == f"12.{min(19, os.nice(0) + 10)}"
