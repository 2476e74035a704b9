"""Tests for tools/wheel_facts.py (matrix rows from TensorFlow wheels; build-time code, not shipped in the
wheel) and tfgpu.elf (the ELF reader)."""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tfgpu import proc
from tfgpu.elf import ElfError, read_dynamic

REPO = Path(__file__).resolve().parents[1]
# tools/ is a folder of maintainer scripts, not a package: its modules import as the scripts do.
sys.path.insert(0, str(REPO / "tools"))

from wheel_facts import (
    DSO_LOADER_MARKERS,
    RELEASE_FACT_KEYS,
    WheelFactsError,
    and_cuda_requirements,
    build_row,
    cuda_config_defines,
    cudnn_header_version,
    dso_loaders_in,
    full_cuda_version,
    glibc_from_filename,
    libraries_from_config,
    nvidia_runpath_packages,
    python_versions_from_tags,
    read_wheel_members,
    row_from_wheel,
)

FIXTURES = REPO / "tests" / "data" / "wheels"
MATRIX = REPO / "compat_matrix.yaml"
FIXTURE_SERIES = [f"2.{minor}" for minor in range(12, 22)]


def _matrix_rows() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(MATRIX.read_text(encoding="utf-8"))
    return {str(r["series"]): r for r in data.get("tensorflow") or []}


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _row_from_fixture(series: str) -> dict[str, Any]:
    d = FIXTURES / series
    facts = json.loads((d / "facts.json").read_text(encoding="utf-8"))
    return build_row(
        filename=facts["filename"],
        build_info_text=(d / "build_info.py").read_text(encoding="utf-8"),
        metadata_text=(d / "METADATA").read_text(encoding="utf-8"),
        cuda_config_text=_text(d / "cuda_config.h"),
        nccl_config_text=_text(d / "nccl_config.h"),
        cudnn_version_text=_text(d / "cudnn_version.h"),
        runpath=facts["runpath"] or facts["rpath"],
        python_tags=facts["python_tags"],
        sha256=facts["sha256"],
        dso_loaders=facts["dso_loaders"],
    )


# --- (0) build-time code stays out of the runtime package -------------------------------------------


def _imported_names(tree: ast.AST) -> list[str]:
    """Every dotted name an import statement in `tree` can bind ("from a import b" gives "a" and "a.b")."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def test_build_time_code_is_not_in_the_runtime_package() -> None:
    """tools/ (wheel_facts, refresh_matrix) ships in the sdist, not the wheel: nothing in src/tfgpu may import it."""
    package = REPO / "src" / "tfgpu"
    tool_modules = {path.stem for path in (REPO / "tools").glob("*.py")}
    assert {"wheel_facts", "refresh_matrix"} <= tool_modules
    assert not (package / "wheel_facts.py").exists()
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for name in _imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            if tool_modules & set(name.split(".")) or name.split(".")[0] == "tools":
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []
    tomllib = pytest.importorskip("tomllib")
    hatch = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]["targets"]
    assert hatch["wheel"]["packages"] == ["src/tfgpu"]
    assert "tools/" in hatch["sdist"]["include"]


def test_imported_names_sees_every_import_form() -> None:
    tree = ast.parse("import wheel_facts\nfrom tfgpu import wheel_facts as w\nfrom tools.x import y\n")
    assert _imported_names(tree) == ["wheel_facts", "tfgpu", "tfgpu.wheel_facts", "tools.x", "tools.x.y"]


# --- (1) fixture files -> the committed matrix rows ------------------------------------------------


@pytest.mark.parametrize("series", FIXTURE_SERIES)
def test_fixture_row_equals_committed_matrix_row(series: str) -> None:
    assert (FIXTURES / series / "facts.json").is_file(), f"missing fixture tests/data/wheels/{series}"
    rows = _matrix_rows()
    assert series in rows, f"compat_matrix.yaml has no tensorflow row for {series}"
    # The series-wide facts (python_by_release, tested_build, ...) come from PyPI's file lists and
    # TensorFlow's tables, not from the wheel: tests/test_releases_matrix.py checks them.
    wheel_part = {k: v for k, v in rows[series].items() if k not in RELEASE_FACT_KEYS}
    assert _row_from_fixture(series) == wheel_part


def test_fixture_rows_hold_known_facts() -> None:
    """A few facts checked by hand against the wheels."""
    r221 = _row_from_fixture("2.21")
    assert r221["cuda"] == "12.5.1" and r221["cudnn"] == "9" and r221["cudnn_headers"] == "9.3.0"
    assert r221["compute_capabilities"] == ["sm_60", "sm_70", "sm_80", "sm_89", "compute_90"]
    assert r221["glibc"] == "2.27" and r221["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert "nvidia-cudnn-cu12<10.0,>=9.3.0.75" in r221["and_cuda"]
    assert r221["libraries"]["cudart"] == "libcudart.so.12" and r221["libraries"]["nccl"] == "libnccl.so.2"
    assert "nccl" in r221["nvidia_runpath"]
    r212 = _row_from_fixture("2.12")
    assert r212["libraries"]["cudart"] == "libcudart.so.11.0"  # every CUDA 11 build asks for .so.11.0
    assert r212["libraries"]["cupti"] == "libcupti.so.11.8"
    assert r212["and_cuda"] == [] and r212["nvidia_runpath"] == [] and "nccl" not in r212["libraries"]
    r214 = _row_from_fixture("2.14")
    assert "tensorrt==8.5.3.1" in r214["and_cuda"] and r214["cudnn_headers"] is None
    assert "nccl" not in _row_from_fixture("2.20")["nvidia_runpath"]  # the 2.20.0 RUNPATH quirk
    assert _row_from_fixture("2.16")["cudnn_headers"] == "8.9.6"


def test_curand_listed_only_while_dsoloader_has_a_curand_loader() -> None:
    """cuda_config.h keeps TF_CURAND_VERSION in 2.14+, but DsoLoader has no curand loader from 2.14
    on (GetCurandDsoHandle gone from libtensorflow_framework: the fixtures' `dso_loaders`)."""
    rows = _matrix_rows()
    for row in (rows["2.21"], _row_from_fixture("2.21")):
        assert "curand" not in row["libraries"]
        assert row["libraries"]["cublas"] == "libcublas.so.12" and row["libraries"]["nccl"] == "libnccl.so.2"
    for row in (rows["2.13"], _row_from_fixture("2.13")):
        assert row["libraries"]["curand"] == "libcurand.so.10"
    assert "curand" not in rows["2.14"]["libraries"] and "curand" not in _row_from_fixture("2.14")["libraries"]
    # The header alone would still name it: the loader list is what drops it.
    d = FIXTURES / "2.21"
    assert "curand" in libraries_from_config(cuda_config_defines((d / "cuda_config.h").read_text()))


def test_dso_loaders_in_finds_markers_across_chunk_boundaries() -> None:
    blob = b"\0".join([b"_ZN3tsl8internal9DsoLoader18GetCublasDsoHandleEv", b"x" * 100,
                       b"_ZN3tsl8internal15CachedDsoLoader20GetCublasLtDsoHandleEv", b"GetNcclDsoHandle"])
    assert dso_loaders_in(blob) == ["cublas", "cublasLt", "nccl"]
    for size in (1, 3, 7, 17, 64):
        assert dso_loaders_in(blob[i:i + size] for i in range(0, len(blob), size)) == ["cublas", "cublasLt", "nccl"]
    assert dso_loaders_in(b"GetCurandVersion libcurand.so.10 curand") == []


def test_libraries_filtered_by_dso_loaders() -> None:
    d = FIXTURES / "2.13"
    cuda = cuda_config_defines((d / "cuda_config.h").read_text())
    every = libraries_from_config(cuda)
    some = libraries_from_config(cuda, dso_loaders=["cudart", "cudnn"])
    assert some == {"cudart": every["cudart"], "cudnn": every["cudnn"]}
    # A CUDA build whose framework library names no loader: the marker broke; refuse, never write {}.
    facts = json.loads((d / "facts.json").read_text(encoding="utf-8"))
    with pytest.raises(WheelFactsError):
        build_row(filename=facts["filename"], build_info_text=(d / "build_info.py").read_text(),
                  metadata_text=(d / "METADATA").read_text(), cuda_config_text=(d / "cuda_config.h").read_text(),
                  dso_loaders=[])


# --- (2) a real installed TensorFlow ---------------------------------------------------------------

_SITE_SCRIPT = (
    "import json, site, sys, sysconfig\n"
    "paths = [sysconfig.get_paths().get(k) for k in ('purelib', 'platlib')]\n"
    "try:\n    paths += site.getsitepackages()\nexcept AttributeError:\n    pass\n"
    "paths += [p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))]\n"
    "print(json.dumps([p for p in paths if p]))\n"
)


def _installed_site_dirs(python: str) -> list[Path]:
    # Ask the interpreter where its packages live; tensorflow itself is never imported.
    result = proc.run([python, "-I", "-c", _SITE_SCRIPT], timeout=60)
    if not result.ok:
        pytest.fail(f"{python} could not report its site-packages ({result.describe()}): {result.stderr.strip()}")
    seen: list[Path] = []
    for p in json.loads(result.stdout):
        path = Path(p)
        if path.is_dir() and path not in seen:
            seen.append(path)
    return seen


def _first(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


@pytest.mark.real_tf
def test_installed_tensorflow_matches_matrix() -> None:
    python = os.environ.get("TFGPU_TEST_TF_PYTHON")
    if not python:
        pytest.skip("set TFGPU_TEST_TF_PYTHON to a python with tensorflow installed")
    rows = _matrix_rows()
    for site_dir in _installed_site_dirs(python):
        for pkg_dir in ("tensorflow", "tensorflow_core"):
            build_info = site_dir / pkg_dir / "python" / "platform" / "build_info.py"
            if build_info.is_file():
                break
        else:
            continue
        metas = sorted(site_dir.glob("tensorflow*.dist-info/METADATA"))
        metas = [m for m in metas if m.parent.name.split("-")[0].lower() in ("tensorflow", "tensorflow_gpu")]
        if not metas:
            pytest.skip(f"{site_dir}: no tensorflow / tensorflow-gpu METADATA (a tensorflow-cpu install?)")
        metadata_text = metas[0].read_text(encoding="utf-8")
        version = metas[0].parent.name.split("-")[1]
        series = ".".join(version.split(".")[:2])
        if series not in rows:
            pytest.skip(f"tensorflow {version}: no matrix row for {series}")
        want = rows[series]
        pkg = site_dir / pkg_dir
        inc = pkg / "include"
        cuda_config = _first([inc / "third_party/gpus/cuda/cuda_config.h",
                              inc / "external/local_config_cuda/cuda/cuda/cuda_config.h"])
        nccl_config = _first([inc / "external/local_config_nccl/nccl_config.h",
                              inc / "external/nccl_archive/nccl_config.h"])
        cudnn_h = _first([inc / "third_party/gpus/cudnn/include/cudnn_version.h",
                          inc / "external/cuda_cudnn/include/cudnn_version.h",
                          inc / "external/local_config_cuda/cuda/cudnn/include/cudnn_version.h"])
        frameworks = sorted(pkg.glob("libtensorflow_framework.so.*"))
        search: tuple[str, ...] = ()
        loaders: list[str] | None = None
        if frameworks:
            info = read_dynamic(frameworks[-1])
            search = info.runpath or info.rpath
            with open(frameworks[-1], "rb") as fh:
                loaders = dso_loaders_in(iter(lambda: fh.read(4 * 1024 * 1024), b""))
        got = build_row(
            filename=want["wheel"],  # the fields that come from the file name are not checked here
            build_info_text=build_info.read_text(encoding="utf-8"),
            metadata_text=metadata_text,
            cuda_config_text=_text(cuda_config) if cuda_config else None,
            nccl_config_text=_text(nccl_config) if nccl_config else None,
            cudnn_version_text=_text(cudnn_h) if cudnn_h else None,
            runpath=search,
            dso_loaders=loaders,
        )
        # No patch release changed these in the wheels the matrix was read from: check them for any patch.
        for key in ("series", "package", "cuda", "cudnn", "cudnn_headers", "compute_capabilities", "libraries"):
            assert got[key] == want[key], f"{key}: installed {version} has {got[key]!r}, matrix {want[key]!r}"
        if version == want["release"]:
            for key in ("release", "requires_python", "and_cuda", "nvidia_runpath"):
                assert got[key] == want[key], f"{key}: installed {version} has {got[key]!r}, matrix {want[key]!r}"
        return
    pytest.skip(f"{python} has no tensorflow/python/platform/build_info.py")


# --- pure helpers --------------------------------------------------------------------------------


def test_and_cuda_marker_removed_other_markers_kept() -> None:
    lines = [
        "nvidia-cublas-cu12 (==12.2.5.6) ; extra == 'and-cuda'",
        'nvidia-nccl-cu12<3.0,>=2.27.7; extra == "and-cuda"',
        'tensorrt==8.6.1; platform_system == "Linux" and extra == "and_cuda"',
        'foo>=1; (sys_platform != "win32" and python_version < "3.13") and extra == "and-cuda"',
        'tensorflow-io-gcs-filesystem>=0.23.1; extra == "gcs-filesystem"',
        "numpy>=1.26.0",
    ]
    assert and_cuda_requirements(lines) == [
        'foo>=1; sys_platform != "win32" and python_version < "3.13"',
        "nvidia-cublas-cu12==12.2.5.6",
        "nvidia-nccl-cu12<3.0,>=2.27.7",
        'tensorrt==8.6.1; platform_system == "Linux"',
    ]


@pytest.mark.parametrize(
    ("filename", "glibc"),
    [
        ("tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl", "2.27"),
        ("tensorflow-2.20.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "2.17"),
        ("tensorflow-2.8.4-cp310-cp310-manylinux2010_x86_64.whl", "2.12"),
        ("tensorflow-2.9.3-cp310-cp310-manylinux2014_x86_64.whl", "2.17"),
        ("foo-1.0-cp39-cp39-manylinux1_x86_64.whl", "2.5"),
        ("tensorflow-2.21.0-cp311-cp311-win_amd64.whl", None),
    ],
)
def test_glibc_from_filename(filename: str, glibc: str | None) -> None:
    assert glibc_from_filename(filename) == glibc


def test_python_versions_sorted_numerically() -> None:
    assert python_versions_from_tags(["cp310", "cp39", "cp313", "py3", "cp37"]) == ["3.7", "3.9", "3.10", "3.13"]


def test_libraries_old_and_cpu_builds() -> None:
    # TF 1.15 / 2.0: one TF_CUDA_LIB_VERSION for the math libraries, no cublasLt loader.
    old = cuda_config_defines('#define TF_CUDA_VERSION "10.0"\n#define TF_CUDA_LIB_VERSION "10.0"\n'
                              '#define TF_CUDNN_VERSION "7"\n')
    assert libraries_from_config(old) == {
        "cudart": "libcudart.so.10.0", "cublas": "libcublas.so.10.0", "cufft": "libcufft.so.10.0",
        "curand": "libcurand.so.10.0", "cusolver": "libcusolver.so.10.0", "cusparse": "libcusparse.so.10.0",
        "cupti": "libcupti.so.10.0", "cudnn": "libcudnn.so.7",
    }
    # tensorflow-cpu: every macro empty, so nothing is derived (not "libnccl.so.").
    cpu = cuda_config_defines('#define TF_CUDA_VERSION ""\n#define TF_CUDNN_VERSION ""\n')
    assert libraries_from_config(cpu, cuda_config_defines('#define TF_NCCL_VERSION ""')) == {}


@pytest.mark.parametrize(
    ("build_info", "config", "want"),
    [
        ("10", "10.0", "10.0"),  # TF 1.15 / 2.0
        ("10", "10.1", "10.1"),  # TF 2.2
        ("10.1", "10.1", "10.1"),
        ("12.5.1", "12.5.1", "12.5.1"),
        ("11.2", "11", "11.2"),  # the header no more precise: build_info kept
        ("10", "11.0", "10"),  # disagreeing majors: build_info kept as written
        ("10.1", "10.2.89", "10.1"),  # not an extension of build_info's numbers
        ("10", None, "10"),
        (None, "10.0", None),
    ],
)
def test_full_cuda_version(build_info: str | None, config: str | None, want: str | None) -> None:
    assert full_cuda_version(build_info, config) == want


def test_bare_major_cuda_takes_cuda_config_version() -> None:
    """TF 2.2.3's build_info.py says `cuda_version_number = '10'`; its cuda_config.h says 10.1. The row
    records 10.1 (a `cuda:` row exists for it) and keeps what build_info.py said in cuda_build_info."""
    build_info = "is_rocm_build = False\nis_cuda_build = True\n\ncuda_version_number = '10'\ncudnn_version_number = '7'\n"
    config = ('#define TF_CUDA_CAPABILITIES CudaVersion("3.5"), CudaVersion("7.0")\n'
              '#define TF_CUDA_VERSION "10.1"\n#define TF_CUDA_LIB_VERSION "10"\n#define TF_CUDNN_VERSION "7"\n')
    kw: dict[str, Any] = {"filename": "tensorflow-2.2.3-cp38-cp38-manylinux2010_x86_64.whl",
                          "metadata_text": "Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.2.3\n"}
    row = build_row(build_info_text=build_info, cuda_config_text=config, **kw)
    assert row["cuda"] == "10.1" and row["cuda_build_info"] == "10"
    assert list(row).index("cuda_build_info") == list(row).index("cuda") + 1
    assert row["libraries"]["cudart"] == "libcudart.so.10.1"
    # Without cuda_config.h nothing better is known: build_info's value, and no cuda_build_info key.
    bare = build_row(build_info_text=build_info, **kw)
    assert bare["cuda"] == "10" and "cuda_build_info" not in bare
    # Rows where build_info.py is already precise have no cuda_build_info key (the fixtures' rows).
    assert all("cuda_build_info" not in _row_from_fixture(s) for s in FIXTURE_SERIES)


def test_committed_cuda_10_rows_keep_build_info_value() -> None:
    rows = _matrix_rows()
    assert {s: (r["cuda"], r.get("cuda_build_info")) for s, r in rows.items() if s in ("1.15", "2.0", "2.1", "2.2", "2.3")} == {
        "1.15": ("10.0", "10"), "2.0": ("10.0", "10"), "2.1": ("10.1", None), "2.2": ("10.1", "10"), "2.3": ("10.1", None)}
    for r in rows.values():
        assert r["cuda"] is None or "." in r["cuda"], r["series"]
        assert r["libraries"].get("cudart", "libcudart.so.").startswith(("libcudart.so.11", "libcudart.so.12",
                                                                         f"libcudart.so.{r['cuda']}"))


def test_cudnn_header_version_ignores_tsl_header() -> None:
    assert cudnn_header_version("#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n") == "9.3.0"
    assert cudnn_header_version("struct CudnnVersion { int major_version; };\n") is None


def test_nvidia_runpath_packages() -> None:
    entries = ["$ORIGIN/", "$ORIGIN/../../nvidia/cublas/lib", "$ORIGIN/../nvidia/cublas/lib",
               "${ORIGIN}/../nvidia/cudnn/lib", "$ORIGIN/../tensorrt", "/usr/local/cuda/lib64"]
    assert nvidia_runpath_packages(entries) == ["cublas", "cudnn"]


def test_row_from_wheel_reads_archive(tmp_path: Path) -> None:
    """A small synthetic wheel, read straight from the archive (ELF built in-process)."""
    d = FIXTURES / "2.21"
    facts = json.loads((d / "facts.json").read_text(encoding="utf-8"))
    whl = tmp_path / facts["filename"]
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("tensorflow/python/platform/build_info.py", (d / "build_info.py").read_text())
        zf.writestr("tensorflow-2.21.0.dist-info/METADATA", (d / "METADATA").read_text())
        zf.writestr("tensorflow/include/third_party/gpus/cuda/cuda_config.h", (d / "cuda_config.h").read_text())
        zf.writestr("tensorflow/include/external/local_config_nccl/nccl_config.h", (d / "nccl_config.h").read_text())
        zf.writestr("tensorflow/include/tensorflow/tsl/cuda/cudnn_version.h", "struct CudnnVersion {};\n")
        zf.writestr("tensorflow/include/third_party/gpus/cudnn/include/cudnn_version.h",
                    (d / "cudnn_version.h").read_text())
        # The DsoLoader function names the real library has, appended after the ELF structures.
        markers = b"\0".join(DSO_LOADER_MARKERS[k] for k in facts["dso_loaders"])
        zf.writestr("tensorflow/libtensorflow_framework.so.2",
                    _make_elf(64, "<", runpath=":".join(facts["runpath"]), soname="libtensorflow_framework.so.2")
                    + b"\0" + markers + b"\0")
    with zipfile.ZipFile(whl) as zf:
        members = read_wheel_members(zf)
        row = row_from_wheel(zf, sha256=facts["sha256"], python_tags=facts["python_tags"], members=members)
    assert members.cudnn_version_path == "tensorflow/include/third_party/gpus/cudnn/include/cudnn_version.h"
    assert members.dso_loaders == tuple(facts["dso_loaders"]) and "curand" not in row["libraries"]
    assert row == _row_from_fixture("2.21")


# --- (3) elf.py on real and compiled shared objects ------------------------------------------------


def test_elf_real_libcudart() -> None:
    path = Path("/usr/local/cuda/lib64/libcudart.so.13")
    if not path.is_file():
        pytest.skip(f"{path} not present")
    info = read_dynamic(path)
    assert info.is_dynamic and info.elf_class == 64 and info.byte_order == "little"
    assert info.soname == "libcudart.so.13"
    assert "libc.so.6" in info.needed
    # Same answer from bytes and from a file object.
    data = path.read_bytes()
    assert read_dynamic(data) == info
    with open(path, "rb") as fh:
        assert read_dynamic(fh) == info


class _CountingFile(io.RawIOBase):
    def __init__(self, fh: Any) -> None:
        self.fh, self.bytes_read = fh, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self.fh.seek(offset, whence))

    def read(self, n: int = -1) -> bytes:
        data = bytes(self.fh.read(n))
        self.bytes_read += len(data)
        return data


def test_elf_reads_only_what_it_needs() -> None:
    path = Path("/usr/local/cuda/lib64/libcudart.so.13")
    if not path.is_file():
        candidates = [Path(p) for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6")]
        path = next((p for p in candidates if p.is_file()), path)
        if not path.is_file():
            pytest.skip("no large shared object to read")
    with open(path, "rb") as raw:
        counting = _CountingFile(raw)
        read_dynamic(counting)  # type: ignore[arg-type]
    assert counting.bytes_read < path.stat().st_size / 4


def _gcc(tmp_path: Path, name: str, *flags: str) -> Path:
    gcc = shutil.which("gcc")
    if not gcc:
        pytest.skip("no gcc")
    src = tmp_path / "t.c"
    src.write_text("int tfgpu_answer(void) { return 42; }\n")
    out = tmp_path / name
    result = proc.run([gcc, "-shared", "-fPIC", "-o", str(out), str(src), *flags], timeout=120)
    if not result.ok:
        pytest.skip(f"gcc could not build a shared object ({result.describe()}): {result.stderr.strip()[:200]}")
    return out


def test_elf_gcc_runpath(tmp_path: Path) -> None:
    so = _gcc(tmp_path, "libtfgpu_t.so", "-Wl,-soname,libtfgpu_t.so.1", "-Wl,-rpath,/x/y:$ORIGIN/../lib",
              "-Wl,--enable-new-dtags")
    info = read_dynamic(so)
    assert info.soname == "libtfgpu_t.so.1"
    assert info.runpath == ("/x/y", "$ORIGIN/../lib")
    assert info.rpath == ()
    assert all(isinstance(n, str) and ".so" in n for n in info.needed)


def test_elf_gcc_rpath(tmp_path: Path) -> None:
    so = _gcc(tmp_path, "libtfgpu_r.so", "-Wl,-rpath,/x/y", "-Wl,--disable-new-dtags")
    info = read_dynamic(so)
    assert info.rpath == ("/x/y",) and info.runpath == ()


def test_elf_gcc_32bit(tmp_path: Path) -> None:
    so = _gcc(tmp_path, "libtfgpu_32.so", "-m32", "-Wl,-rpath,/x/y", "-Wl,--enable-new-dtags")
    info = read_dynamic(so)
    assert info.elf_class == 32 and info.runpath == ("/x/y",)


# --- synthetic ELF files: both classes, both byte orders, with and without section headers ----------


def _make_elf(elf_class: int, endian: str, *, needed: tuple[str, ...] = ("libc.so.6",), soname: str | None = None,
              rpath: str | None = None, runpath: str | None = None, sections: bool = True) -> bytes:
    """A minimal shared object: ELF header, one PT_LOAD + PT_DYNAMIC, .dynstr, .dynamic and (optionally)
    section headers. Addresses equal file offsets."""
    is64 = elf_class == 64
    ehsize, phentsize, shentsize = (64, 56, 64) if is64 else (52, 32, 40)
    strtab = b"\0"
    offsets: dict[str, int] = {}

    def add(s: str) -> int:
        nonlocal strtab
        if s not in offsets:
            offsets[s] = len(strtab)
            strtab += s.encode() + b"\0"
        return offsets[s]

    entries: list[tuple[int, int]] = [(1, add(n)) for n in needed]
    if soname is not None:
        entries.append((14, add(soname)))
    if rpath is not None:
        entries.append((15, add(rpath)))
    if runpath is not None:
        entries.append((29, add(runpath)))
    phnum = 2
    strtab_off = ehsize + phnum * phentsize
    dyn_off = strtab_off + len(strtab)
    dyn_off += (-dyn_off) % 8
    entries += [(5, strtab_off), (10, len(strtab)), (0, 0)]
    dyn_fmt = endian + ("qQ" if is64 else "iI")
    dynamic = b"".join(struct.pack(dyn_fmt, t, v) for t, v in entries)
    shstr = b"\0.dynstr\0.dynamic\0"
    shstr_off = dyn_off + len(dynamic)
    sh_off = shstr_off + len(shstr)
    sh_off += (-sh_off) % 8
    end = sh_off + (4 * shentsize if sections else 0)
    if is64:
        ph = struct.pack(endian + "IIQQQQQQ", 1, 5, 0, 0, 0, end, end, 0x1000)
        ph += struct.pack(endian + "IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dynamic), len(dynamic), 8)
    else:
        ph = struct.pack(endian + "IIIIIIII", 1, 0, 0, 0, end, end, 5, 0x1000)
        ph += struct.pack(endian + "IIIIIIII", 2, dyn_off, dyn_off, dyn_off, len(dynamic), len(dynamic), 6, 4)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if endian == "<" else 2, 1]) + b"\0" * 9
    hdr_fmt = endian + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    header = ident + struct.pack(hdr_fmt, 3, 62 if is64 else 3, 1, 0, ehsize, sh_off if sections else 0, 0, ehsize,
                                 phentsize, phnum, shentsize if sections else 0, 4 if sections else 0,
                                 3 if sections else 0)
    body = bytearray(header + ph)
    body += strtab
    body += b"\0" * (dyn_off - len(body))
    body += dynamic + shstr
    body += b"\0" * (sh_off - len(body))
    if sections:
        sh_fmt = endian + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        body += struct.pack(sh_fmt, *([0] * 10))
        body += struct.pack(sh_fmt, 1, 3, 2, strtab_off, strtab_off, len(strtab), 0, 0, 1, 0)
        body += struct.pack(sh_fmt, 9, 6, 3, dyn_off, dyn_off, len(dynamic), 1, 0, 8, 16 if is64 else 8)
        body += struct.pack(sh_fmt, 18, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    return bytes(body)


@pytest.mark.parametrize("elf_class", [32, 64])
@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("sections", [True, False])
def test_elf_synthetic(elf_class: int, endian: str, sections: bool) -> None:
    data = _make_elf(elf_class, endian, needed=("libfoo.so.1", "libbar.so"), soname="libx.so.3",
                     rpath="/old", runpath="$ORIGIN/../nvidia/cublas/lib:/opt/y", sections=sections)
    info = read_dynamic(data)
    assert info.elf_class == elf_class
    assert info.byte_order == ("little" if endian == "<" else "big")
    assert info.needed == ("libfoo.so.1", "libbar.so")
    assert info.soname == "libx.so.3"
    assert info.rpath == ("/old",)
    assert info.runpath == ("$ORIGIN/../nvidia/cublas/lib", "/opt/y")


def test_elf_without_dynamic_section() -> None:
    data = bytearray(_make_elf(64, "<", sections=False))
    # Turn the PT_DYNAMIC program header into PT_NULL: a static file.
    struct.pack_into("<I", data, 64 + 56, 0)
    info = read_dynamic(bytes(data))
    assert not info.is_dynamic and info.needed == () and info.soname is None


# --- (4) malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x7fEL", "too short"),
        (b"MZ\x90\x00" + b"\0" * 60, "magic"),
        (b"#!/bin/sh\necho hi\n" + b"\0" * 64, "magic"),
        (b"\x7fELF\x03\x01\x01" + b"\0" * 57, "class"),
        (b"\x7fELF\x02\x03\x01" + b"\0" * 57, "encoding"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 20, "truncated"),
    ],
)
def test_elf_malformed_header(data: bytes, message: str) -> None:
    with pytest.raises(ElfError, match=message):
        read_dynamic(data)


def test_elf_truncated_file() -> None:
    data = _make_elf(64, "<", soname="libx.so")
    with pytest.raises(ElfError, match="truncated|outside"):
        read_dynamic(data[:200])


def test_elf_bad_string_offset() -> None:
    data = bytearray(_make_elf(64, "<", needed=("libfoo.so",), sections=True))
    # Point the first DT_NEEDED far outside .dynstr.
    dyn_off = struct.unpack_from("<Q", data, 64 + 56 + 8)[0]
    struct.pack_into("<qQ", data, dyn_off, 1, 10_000)
    with pytest.raises(ElfError, match="outside"):
        read_dynamic(bytes(data))


def test_elf_section_headers_beyond_eof() -> None:
    data = bytearray(_make_elf(64, "<"))
    struct.pack_into("<Q", data, 0x28, len(data) + 4096)  # e_shoff
    with pytest.raises(ElfError):
        read_dynamic(bytes(data))


def test_elf_truncated_real_library() -> None:
    path = Path("/usr/local/cuda/lib64/libcudart.so.13")
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    with pytest.raises(ElfError):
        read_dynamic(head)


def test_elf_non_seekable_input() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(ElfError, match="seekable"):
        read_dynamic(Pipe())  # type: ignore[arg-type]


def test_elf_error_is_value_error() -> None:
    assert issubclass(ElfError, ValueError)


def test_elf_path_errors_are_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_dynamic(tmp_path / "missing.so")
    (tmp_path / "text.so").write_text("not an elf\n")
    with pytest.raises(ElfError):
        read_dynamic(str(tmp_path / "text.so"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
