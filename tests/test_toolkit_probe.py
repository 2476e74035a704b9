"""The toolkit probe and its checks: version parsing, cuDNN header encodings, XLA's search order,
this machine's real CUDA toolkit where there is one, and system-toolkit-differs wording."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from test_nvcc_on_path import compile_nvcc, marker_script, run_toolkit_checks, tf_build

from tfgpu.model import Severity
from tfgpu.probes import ProbeContext
from tfgpu.probes.toolkit import (
    PathNvcc,
    Toolkit,
    Toolkits,
    XlaTool,
    decode_cudnn,
    encode_cudnn,
    find_toolkits,
    parse_cudnn_header,
    parse_nvcc_version,
    parse_version_json,
    probe_toolkit,
    real_tool,
    resolve_xla_libdevice,
    resolve_xla_ptxas,
    xla_candidate_roots,
    xla_data_dir,
)

NVCC_13 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2025 NVIDIA Corporation
Built on Wed_Aug_20_01:58:59_PM_PDT_2025
Cuda compilation tools, release 13.0, V13.0.88
Build cuda_13.0.r13.0/compiler.36424714_0
"""


def test_parse_nvcc_version():
    assert parse_nvcc_version(NVCC_13) == ("13.0", "13.0.88")
    assert parse_nvcc_version("Cuda compilation tools, release 11.2, V11.2.152") == ("11.2", "11.2.152")
    assert parse_nvcc_version("garbage") is None


def test_parse_version_json():
    assert parse_version_json('{"cuda": {"name": "CUDA SDK", "version": "12.5.1"}}') == "12.5.1"
    assert parse_version_json("{") is None and parse_version_json("[]") is None


@pytest.mark.parametrize("text,version,encoded", [
    ("#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 3\n#define CUDNN_PATCHLEVEL 0\n", "9.3.0", 90300),
    ("#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 6\n", "8.9.6", 8906),
    ("#  define CUDNN_MAJOR 7\n#define CUDNN_MINOR 6\n#define CUDNN_PATCHLEVEL 5\n", "7.6.5", 7605),
])
def test_cudnn_header_encodings(text, version, encoded):
    assert parse_cudnn_header(text) == (version, encoded)
    assert decode_cudnn(encoded) == version


def test_cudnn_encoding_round_trip_at_the_family_boundary():
    assert encode_cudnn(9, 10, 2) == 91002 and decode_cudnn(91002) == "9.10.2"
    assert encode_cudnn(8, 0, 5) == 8005 and decode_cudnn(8005) == "8.0.5"
    assert parse_cudnn_header("#define CUDNN_MAJOR 9\n") is None


def test_xla_flags_data_dir():
    assert xla_data_dir("--xla_gpu_cuda_data_dir=/opt/cuda --xla_foo=1") == "/opt/cuda"
    assert xla_data_dir("--xla_gpu_cuda_data_dir=/a --xla_gpu_cuda_data_dir=/b") == "/b"
    assert xla_data_dir(None) is None and xla_data_dir("--xla_foo") is None


def _tool(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_xla_search_order(tmp_path: Path):
    site = tmp_path / "site-packages"
    pip_root = site / "nvidia" / "cuda_nvcc"
    _tool(pip_root / "bin" / "ptxas")
    (pip_root / "nvvm" / "libdevice").mkdir(parents=True)
    (pip_root / "nvvm" / "libdevice" / "libdevice.10.bc").write_bytes(b"BC")
    on_path = _tool(tmp_path / "bin" / "ptxas")
    roots = xla_candidate_roots(None, str(site / "tensorflow"))
    assert roots[0] == ("/usr/local/cuda", "/usr/local/cuda")
    # PATH wins over the candidate roots for ptxas (PreferPtxasFromPath).
    found = resolve_xla_ptxas(roots, [str(tmp_path / "bin")], [])
    assert found.path == str(on_path) and found.origin == "PATH"
    # The data dir wins over everything.
    roots = xla_candidate_roots(str(pip_root), str(site / "tensorflow"))
    found = resolve_xla_ptxas(roots, [str(tmp_path / "bin")], [])
    assert found.path == str(pip_root / "bin" / "ptxas") and found.origin == "XLA_FLAGS"
    lib = resolve_xla_libdevice(roots, [])
    assert lib.path == str(pip_root / "nvvm" / "libdevice")
    none = resolve_xla_libdevice([(str(tmp_path / "nothing"), "XLA_FLAGS")], [])
    assert none.path is None and none.searched == (str(tmp_path / "nothing" / "nvvm" / "libdevice"),)


def test_wrapper_scripts_are_read_not_run(tmp_path: Path):
    target = _tool(tmp_path / "cuda-13.0" / "bin" / "nvcc")
    wrapper = tmp_path / "wrap" / "nvcc"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
    wrapper.chmod(0o755)
    assert real_tool(str(wrapper)) == str(target)


def test_a_hanging_nvcc_is_a_typed_field(cc, tmp_path: Path):
    root = tmp_path / "cuda-99.0"
    compile_nvcc(cc, root / "bin" / "nvcc", "99.0.1", sleep=30)  # an ELF binary: only those are ever run
    ctx = ProbeContext(python=sys.executable, environ={"CUDA_HOME": str(root), "PATH": "/usr/bin:/bin"}, timeout=0.5)
    tks = [tk for tk in find_toolkits(ctx, None, None) if tk.root == str(root)]
    assert tks and tks[0].nvcc_version is None and "timed out" in (tks[0].nvcc_error or "")


def test_a_script_nvcc_in_a_toolkit_folder_is_not_run(tmp_path: Path):
    root = tmp_path / "cuda-99.0"
    marker = marker_script(root / "bin" / "nvcc", tmp_path / "RAN")
    ctx = ProbeContext(python=sys.executable, environ={"CUDA_HOME": str(root), "PATH": "/usr/bin:/bin"}, timeout=5.0)
    tks = [tk for tk in find_toolkits(ctx, None, None) if tk.root == str(root)]
    assert tks and tks[0].nvcc == str(marker) and tks[0].nvcc_error == "a script (not run)"
    assert not (tmp_path / "RAN").exists()


@pytest.mark.skipif(not os.access("/usr/local/cuda/bin/nvcc", os.X_OK), reason="no CUDA toolkit at /usr/local/cuda")
def test_real_toolkit_at_usr_local_cuda():
    ctx = ProbeContext(python=sys.executable, environ={"PATH": "/usr/bin:/bin"}, timeout=20.0)
    facts = probe_toolkit(ctx)
    tk = next(t for t in facts.toolkits if "/usr/local/cuda" in t.found_via)
    assert tk.nvcc_version and tk.nvcc_release and tk.nvcc_version.startswith(tk.nvcc_release)
    assert tk.ptxas and tk.cudart, tk
    assert any(os.path.basename(p) == f"libcudart.so.{tk.major}" for p in tk.cudart)
    if tk.libdevice:
        assert facts.xla_libdevice.path == os.path.join("/usr/local/cuda", "nvvm", "libdevice")
        assert facts.xla_libdevice.version == tk.version


# --- the checks ------------------------------------------------------------------------------------------

SP = "/venv/lib/python3.11/site-packages"


def _tk13() -> Toolkit:
    return Toolkit("/usr/local/cuda", "/usr/local/cuda-13.0", ("/usr/local/cuda",), "/usr/local/cuda/bin/nvcc", "13.0",
                   "13.0.88", None, None, "/usr/local/cuda/bin/ptxas", "/usr/local/cuda/nvvm/libdevice",
                   ("/usr/local/cuda/lib64",), ("/usr/local/cuda/lib64/libcudart.so.13",))


def _run(tks: Toolkits) -> dict[str, list]:
    return run_toolkit_checks(tks, tf_build(), ("system-toolkit", "xla-tools"))


def test_a_differing_toolkit_that_xla_does_not_use_does_not_matter():
    pip_ptxas = XlaTool(f"{SP}/nvidia/cuda_nvcc/bin/ptxas", "XLA_FLAGS", "12.9.86", ())
    pip_libdevice = XlaTool(f"{SP}/nvidia/cuda_nvcc/nvvm/libdevice", "XLA_FLAGS", "12.9.86", ())
    found = _run(Toolkits((_tk13(),), (), f"{SP}/nvidia/cuda_nvcc", pip_ptxas, pip_libdevice, f"{SP}/nvidia/cuda_nvcc"))
    f = found["system-toolkit-differs"][0]
    assert f.severity is Severity.INFO and "does not matter" in f.summary
    assert "xla-ptxas-missing" not in found


def test_a_differing_toolkit_whose_ptxas_xla_picks_is_the_exact_conflict():
    ptxas = XlaTool("/usr/local/cuda/bin/ptxas", "/usr/local/cuda", "13.0.88", ())
    libdevice = XlaTool("/usr/local/cuda/nvvm/libdevice", "/usr/local/cuda", "13.0.88", ())
    found = _run(Toolkits((_tk13(),), (), None, ptxas, libdevice, f"{SP}/nvidia/cuda_nvcc"))
    f = found["system-toolkit-differs"][0]
    assert f.severity is Severity.WARNING and "ptxas 13.0.88" in f.summary
    assert f.fixes[0].commands == (f'export XLA_FLAGS="$XLA_FLAGS --xla_gpu_cuda_data_dir={SP}/nvidia/cuda_nvcc"',)


def test_no_ptxas_or_libdevice_anywhere():
    none = XlaTool(None, None, None, ("/usr/local/cuda/bin/ptxas",))
    found = _run(Toolkits((), (), None, none, none, None))
    assert found["xla-ptxas-missing"][0].severity is Severity.WARNING
    assert found["xla-libdevice-missing"][0].severity is Severity.WARNING
    assert any("--xla_gpu_cuda_data_dir=" in c for fix in found["xla-libdevice-missing"][0].fixes for c in fix.commands)


def test_the_nvcc_on_path_of_a_toolkit_in_the_way_is_said_by_its_one_finding():
    """One cause, one finding: the CUDA 13 toolkit whose ptxas XLA picks is also what `nvcc --version` runs
    (through a wrapper script, as on this project's machine); system-toolkit-differs says so, nvcc-on-path is silent."""
    ptxas = XlaTool("/usr/local/bin/ptxas", "PATH", "13.0.88", ())
    libdevice = XlaTool("/usr/local/cuda/nvvm/libdevice", "/usr/local/cuda", "13.0.88", ())
    nvcc = PathNvcc("/usr/local/bin/nvcc", "/usr/local/bin/nvcc", "script", "/usr/local/cuda-13.0/bin/nvcc",
                    "/usr/local/cuda-13.0", "cuda-toolkit", "/usr/local/cuda-13.0", "13.0", "13.0.88", None,
                    "/usr/local/cuda-13.0/bin/ptxas", "/usr/local/cuda-13.0/nvvm/libdevice",
                    ("#!/bin/sh", 'exec /usr/local/cuda-13.0/bin/nvcc "$@"'))
    found = _run(Toolkits((_tk13(),), (), None, ptxas, libdevice, f"{SP}/nvidia/cuda_nvcc", path_nvcc=nvcc))
    assert "nvcc-on-path" not in found
    f = found["system-toolkit-differs"][0]
    assert f.severity is Severity.WARNING
    assert f.summary.endswith(
        "it is what `nvcc --version` shows (/usr/local/bin/nvcc, a script (not run) that execs "
        "/usr/local/cuda-13.0/bin/nvcc: CUDA 13.0.88, in the CUDA toolkit at /usr/local/cuda-13.0)")
    assert f.evidence["nvcc_on_path"]["kind"] == "script"
    assert f.fixes[-1].commands == (f'export XLA_FLAGS="$XLA_FLAGS --xla_gpu_cuda_data_dir={SP}/nvidia/cuda_nvcc"',)
