"""The library probe against real things: the ld.so cache, stand-in libraries compiled here, a fake
TensorFlow RUNPATH, and (where a venv provides it) the real pip cuDNN."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "data" / "libs"))

import standins  # noqa: E402
from conftest import tf_python  # noqa: E402

from tfgpu import proc, serde  # noqa: E402
from tfgpu.model import ProbeFailure, ProbeStatus  # noqa: E402
from tfgpu.probes import ProbeContext  # noqa: E402
from tfgpu.probes.libraries import (  # noqa: E402
    Libraries,
    SearchDir,
    collect_libraries,
    expand_origin,
    load_in_child,
    parse_child_lines,
    parse_ld_so_cache,
    parse_ldconfig_p,
    probe_libraries,
    resolve_library,
    sonames_unknown_text,
    wanted_sonames,
)
from tfgpu.probes.tf_build import TFBuild, build_from_facts, parse_build_info  # noqa: E402

BUILD_INFO = Path(__file__).resolve().parent / "data" / "build_info"


def ctx_for(environ: dict[str, str] | None = None, matrix: object = None) -> ProbeContext:
    return ProbeContext(python=sys.executable, environ=dict(environ or {"PATH": os.environ.get("PATH", "")}),
                        timeout=20.0, matrix=matrix)


def fake_build(package_dir: Path, version: str = "2.21.0", cuda: str = "12.5.1", cudnn: str = "9") -> TFBuild:
    return TFBuild("tensorflow", version, str(package_dir), str(package_dir / "python/platform/build_info.py"),
                   True, False, cuda, cudnn, ("sm_80",), None, ">=3.10", (), {})


# --- ld.so.cache ------------------------------------------------------------------------------------


LDCONFIG = shutil.which("ldconfig", path=os.pathsep.join([os.environ.get("PATH", os.defpath), "/sbin", "/usr/sbin"]))


@pytest.mark.skipif(not Path("/etc/ld.so.cache").is_file() or not LDCONFIG, reason="no ld.so.cache / ldconfig here")
def test_ld_so_cache_parser_agrees_with_ldconfig():
    import platform

    machine = platform.machine()
    ours = parse_ld_so_cache(Path("/etc/ld.so.cache").read_bytes(), machine)
    out = subprocess.run([str(LDCONFIG), "-p"], capture_output=True, text=True, env={"LC_ALL": "C", "PATH": os.defpath})
    theirs = parse_ldconfig_p(out.stdout, machine)
    assert ours and set(ours) == set(theirs)
    assert ours["libc.so.6"] == theirs["libc.so.6"]


def test_ld_so_cache_parser_rejects_garbage():
    with pytest.raises(ValueError):
        parse_ld_so_cache(b"not a cache at all")
    with pytest.raises(ValueError):
        parse_ld_so_cache(b"glibc-ld.so.cache1.1" + b"\xff\xff\xff\x7f" + b"\0" * 30)


def test_ldconfig_p_text_parses():
    text = ("3 libs found in cache `/etc/ld.so.cache'\n"
            "\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda-13.0/lib/libcudart.so.13\n"
            "\tlibfoo.so.1 (libc6) => /usr/lib32/libfoo.so.1\n")
    assert parse_ldconfig_p(text, "x86_64") == {"libcudart.so.13": ["/usr/local/cuda-13.0/lib/libcudart.so.13"]}


# --- resolution ---------------------------------------------------------------------------------------


def test_expand_origin():
    assert expand_origin("$ORIGIN/../nvidia/cudnn/lib", "/sp/tensorflow") == "/sp/nvidia/cudnn/lib"
    assert expand_origin("${ORIGIN}/x", "/a/b") == "/a/b/x"


def test_resolution_order_ld_library_path_beats_runpath_and_cache(tmp_path: Path):
    ld, run, cached = tmp_path / "ld", tmp_path / "site-packages/nvidia/cudnn/lib", tmp_path / "cached"
    for d in (ld, run, cached):
        d.mkdir(parents=True)
        (d / "libcudnn.so.9").write_bytes(b"x")
    search = [SearchDir(str(ld), "LD_LIBRARY_PATH", True, True), SearchDir(str(run), "RUNPATH", True, True),
              SearchDir("/etc/ld.so.cache", "ld.so.cache", True, True)]
    cache = {"libcudnn.so.9": [str(cached / "libcudnn.so.9")]}
    copies, winner = resolve_library("libcudnn.so.9", search, cache)
    assert [c.origin for c in copies] == ["LD_LIBRARY_PATH", "RUNPATH", "ld.so.cache"]
    assert winner is not None and winner.origin == "LD_LIBRARY_PATH"
    assert copies[1].pip_wheel and not copies[0].pip_wheel
    # Without LD_LIBRARY_PATH the pip copy wins; a copy off the loader path never wins.
    copies, winner = resolve_library("libcudnn.so.9", search[1:] + [SearchDir(str(ld), "CONDA_PREFIX", False, True)], cache)
    assert winner is not None and winner.origin == "RUNPATH"
    assert copies[-1].origin == "CONDA_PREFIX" and not copies[-1].on_loader_path


def test_dangling_symlink_is_not_a_copy(tmp_path: Path):
    (tmp_path / "libcudart.so.12").symlink_to(tmp_path / "gone.so")
    copies, winner = resolve_library("libcudart.so.12", [SearchDir(str(tmp_path), "LD_LIBRARY_PATH", True, True)], {})
    assert copies == [] and winner is None


def test_sonames_fall_back_to_the_cuda_family_without_a_matrix_row(tmp_path: Path):
    wanted = wanted_sonames(fake_build(tmp_path), None)
    assert wanted is not None
    names, source = wanted
    assert source == "build_info"
    assert names["cudart"] == "libcudart.so.12" and names["cudnn"] == "libcudnn.so.9" and "curand" not in names
    names, _ = wanted_sonames(fake_build(tmp_path, "2.11.0", "11.2", "8"), None) or ({}, "")
    assert names["cudart"] == "libcudart.so.11.0" and names["cupti"] == "libcupti.so.11.2"
    assert names["cudnn"] == "libcudnn.so.8" and names["curand"] == "libcurand.so.10"


def build_222rc0(package_dir: Path) -> TFBuild:
    """TF 2.22.0rc0 as the tf_build probe reads it: its real build_info.py has only is_cuda_build."""
    facts = parse_build_info((BUILD_INFO / "build_info_2.22.0rc0.py").read_text(encoding="utf-8"))
    return build_from_facts("tensorflow", "2.22.0rc0", str(package_dir), str(package_dir / "python/platform/build_info.py"),
                            facts, ">=3.10", ())


def test_no_sonames_without_a_cuda_major(tmp_path: Path):
    """No matrix row and no CUDA version: no names at all, rather than CUDA 11's."""
    build = build_222rc0(tmp_path)
    assert build.is_cuda_build is True and build.cuda_version is None
    assert wanted_sonames(build, None) is None
    # A CUDA family tfgpu has no table for is unknown too (CUDA 13 renamed the libraries' sonames).
    assert wanted_sonames(fake_build(tmp_path, "2.30.0", "13.0", "9"), None) is None
    assert wanted_sonames(fake_build(tmp_path, "2.30.0", "12.8", "9"), None) is not None


def test_probe_skips_with_the_reason_when_the_cuda_major_is_unknown(tmp_path: Path):
    from tfgpu.matrix import load

    matrix = load()
    if matrix.tf_row("2.22.0rc0") is not None:
        pytest.skip("the matrix has a 2.22 row now: its library names apply")
    build = build_222rc0(tmp_path)
    ctx = ctx_for(matrix=matrix)
    ctx.results["tf_build"] = build
    out = probe_libraries(ctx)
    assert isinstance(out, ProbeFailure) and out.status is ProbeStatus.SKIPPED
    assert out.message == sonames_unknown_text("tensorflow", "2.22.0rc0", None, build.build_info_path)
    assert "names no CUDA version" in out.message and "lists no libraries for TensorFlow 2.22" in out.message
    assert "libcudart.so.11" not in out.message


def test_collect_resolves_nothing_when_the_names_are_unknown(tmp_path: Path):
    libs = collect_libraries(ctx_for(), build_222rc0(tmp_path), None, load=False)
    assert libs.libraries == () and libs.names_from == "unknown" and libs.cuda_major is None
    assert any("names no CUDA version" in n for n in libs.notes)


def test_sonames_come_from_the_matrix_when_it_has_the_release(tmp_path: Path):
    from tfgpu.matrix import load

    matrix = load()
    if matrix.tf_row("2.21.0") is None or not matrix.tf_row("2.21.0").libraries:
        pytest.skip("matrix has no 2.21 row yet")
    names, source = wanted_sonames(fake_build(tmp_path), matrix) or ({}, "")
    assert source == "matrix" and names["cudnn"] == "libcudnn.so.9"
    assert "curand" not in names  # DsoLoader has no curand loader since 2.14 (docs/knowledge.md)


# --- the child ----------------------------------------------------------------------------------------


def test_child_reads_versions_from_stand_ins(cc, tmp_path: Path):
    cudnn = standins.fake_cudnn(cc, tmp_path / "a", 90100, cudart=12020)
    cudart = standins.fake_cudart(cc, tmp_path / "b", 12040)
    out = load_in_child(ctx_for(), [("cudnn", str(cudnn)), ("cudart", str(cudart))])
    assert out["cudnn"].status == "loaded" and out["cudnn"].version == "9.1.0" and out["cudnn"].cudart_version == "12.2"
    assert out["cudart"].version == "12.4"
    cudnn8 = standins.fake_cudnn(cc, tmp_path / "c", 8906, major=8)
    assert load_in_child(ctx_for(), [("cudnn", str(cudnn8))])["cudnn"].version == "8.9.6"


def test_a_crashing_library_loses_only_its_own_result(cc, tmp_path: Path):
    bad = standins.crashing(cc, tmp_path / "bad", "libcublas.so.12")
    good1 = standins.fake_cudart(cc, tmp_path / "g1", 12050)
    good2 = standins.fake_cudnn(cc, tmp_path / "g2", 90300)
    out = load_in_child(ctx_for(), [("cudart", str(good1)), ("cublas", str(bad)), ("cudnn", str(good2))])
    assert out["cublas"].status == "crashed" and out["cublas"].signal == 11
    assert "SIGSEGV" in (out["cublas"].error or "")
    assert out["cudart"].version == "12.5" and out["cudnn"].version == "9.3.0"


def test_a_missing_transitive_dependency_is_named(cc, tmp_path: Path):
    dep = standins.build(cc, tmp_path / "libtfgpu_missing_dep.so.1", "missing_dep.c")
    lib = standins.build(cc, tmp_path / "libcufft.so.11", "needs_missing.c",
                         extra=(f"-L{tmp_path}", "-l:libtfgpu_missing_dep.so.1"))
    dep.unlink()
    out = load_in_child(ctx_for(), [("cufft", str(lib))])
    assert out["cufft"].status == "failed"
    assert "libtfgpu_missing_dep.so.1" in (out["cufft"].error or "")


def test_child_output_parsing_marks_the_library_in_flight():
    results, pending = parse_child_lines('BEGIN cudart\nRESULT {"key": "cudart", "loaded": true}\nBEGIN cudnn\n')
    assert set(results) == {"cudart"} and pending == "cudnn"


def test_child_that_cannot_start_is_a_result(tmp_path: Path):
    def no_start(argv, timeout, env=None, stdin_data=None, cwd=None, cap=0):
        return proc.CommandResult(tuple(argv), start_error="not found")

    ctx = ctx_for()
    ctx.run_command = no_start
    out = load_in_child(ctx, [("cudart", "/x/libcudart.so.12")])
    assert out["cudart"].status == "not_run" and "could not start" in (out["cudart"].error or "")


# --- a whole fake install: TF RUNPATH -> pip wheel, shadowed through LD_LIBRARY_PATH -------------------------


def make_fake_install(cc: str, root: Path) -> tuple[Path, Path]:
    site = root / "lib/python3.11/site-packages"
    standins.fake_tensorflow(cc, site, ("$ORIGIN/../nvidia/cudnn/lib", "$ORIGIN/../nvidia/cuda_runtime/lib"))
    standins.fake_cudnn(cc, site / "nvidia/cudnn/lib", 90300)
    standins.fake_cudart(cc, site / "nvidia/cuda_runtime/lib", 12090)
    return site, site / "tensorflow"


def test_collect_finds_the_pip_copy_through_runpath(cc, tmp_path: Path):
    site, pkg = make_fake_install(cc, tmp_path)
    libs = collect_libraries(ctx_for({"PATH": os.environ.get("PATH", "")}), fake_build(pkg), None)
    cudnn = libs.get("cudnn")
    assert cudnn is not None and cudnn.winner is not None
    assert cudnn.winner.origin == "RUNPATH" and cudnn.winner.pip_wheel and not cudnn.shadowed
    assert cudnn.winner.path == str(site / "nvidia/cudnn/lib/libcudnn.so.9")
    assert cudnn.load.version == "9.3.0"
    assert libs.get("cudart").load.version == "12.9"
    assert libs.get("cublas").winner is None or libs.get("cublas").winner.origin != "RUNPATH"
    # The record survives a JSON round trip (--from-facts).
    assert serde.from_jsonable(Libraries, serde.to_jsonable(libs)) == libs


def test_collect_reports_a_shadowing_copy(cc, tmp_path: Path):
    site, pkg = make_fake_install(cc, tmp_path)
    shadow = tmp_path / "shadow"
    standins.fake_cudnn(cc, shadow, 90100)
    libs = collect_libraries(ctx_for({"PATH": os.environ.get("PATH", ""), "LD_LIBRARY_PATH": str(shadow)}),
                             fake_build(pkg), None)
    cudnn = libs.get("cudnn")
    assert cudnn.shadowed and cudnn.winner.origin == "LD_LIBRARY_PATH"
    assert cudnn.expected is not None and cudnn.expected.path == str(site / "nvidia/cudnn/lib/libcudnn.so.9")
    assert cudnn.load.version == "9.1.0"
    assert [c.origin for c in cudnn.copies][:2] == ["LD_LIBRARY_PATH", "RUNPATH"]


# --- the real pip cuDNN --------------------------------------------------------------------------------


@pytest.mark.real_tf
def test_real_pip_cudnn_version_is_read_from_the_library():
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, timeout=60)
    folder = Path(out.stdout.strip() or "/nonexistent") / "nvidia" / "cudnn" / "lib"
    lib = folder / "libcudnn.so.9"
    if not lib.is_file():
        pytest.skip(f"no pip cuDNN 9 in {python}'s environment")
    meta = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('nvidia-cudnn-cu12'))"],
                          capture_output=True, text=True, timeout=60).stdout.strip()
    res = load_in_child(ctx_for(), [("cudnn", str(lib))])["cudnn"]
    assert res.status == "loaded", res.error
    # Wheel 9.28.0.42 -> library 9.28.0: the first three parts agree.
    assert res.version == ".".join(meta.split(".")[:3])
