"""The first `nvcc` on PATH (what a user's `nvcc --version` runs): reported even where it stands in no
whole toolkit, never run unless it is an ELF binary, and judged plainly for TensorFlow: TensorFlow never
runs nvcc, XLA uses ptxas and libdevice, so it matters only where its toolkit's ptxas/libdevice is what XLA
picks or its library folder is on LD_LIBRARY_PATH. One cause, one finding: where its toolkit already has
a system-toolkit-differs finding, that finding says it is the nvcc on PATH.

Stand-ins: a shell-script nvcc that writes a marker file if it is ever run, a tiny compiled ELF nvcc that
prints a `Cuda compilation tools, release 11.8, V11.8.89` banner, a broken link and an unreadable file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, tf_python

from tfgpu.checks import load_all, run_checks
from tfgpu.checks.toolkit import describe_path_nvcc
from tfgpu.model import Severity
from tfgpu.probes import ProbeContext
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.probes.toolkit import (
    PathNvcc,
    Toolkits,
    XlaTool,
    file_kind,
    parse_nvcc_version,
    probe_toolkit,
)
from tfgpu.serde import from_jsonable, to_jsonable

#: This machine's PATH and its first nvcc, read at import: the hermetic fixture shortens PATH for each test.
MACHINE_PATH = os.environ.get("PATH", os.defpath)
MACHINE_NVCC = shutil.which("nvcc", path=MACHINE_PATH)
REAL_TOOLKIT = "/usr/local/cuda"

FAKE_NVCC_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (SLEEP) sleep(SLEEP);
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release %s, V%s\n", RELEASE, VERSION);
        return 0;
    }
    return 1;
}
"""


def compile_nvcc(cc: str, out: Path, version: str = "11.8.89", sleep: int = 0) -> Path:
    """A tiny ELF `nvcc` that answers `--version` with the banner of CUDA `version` (after `sleep` s)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / f".{out.name}.c"
    src.write_text(FAKE_NVCC_C)
    release = ".".join(version.split(".")[:2])
    subprocess.run([cc, "-O0", "-o", str(out), str(src), f'-DRELEASE="{release}"', f'-DVERSION="{version}"',
                    f"-DSLEEP={sleep}"], check=True, capture_output=True)
    src.unlink()
    return out


def marker_script(path: Path, marker: Path, banner: str = "Cuda compilation tools, release 11.8, V11.8.89") -> Path:
    """A shell-script tool that leaves `marker` behind if anything ever runs it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\ntouch '{marker}'\necho '{banner}'\n")
    path.chmod(0o755)
    return path


# --- the probe ---------------------------------------------------------------------------------------------


def _probe(path: str, timeout: float = 20.0, **extra: str) -> Toolkits:
    return probe_toolkit(ProbeContext(python=sys.executable, environ={"PATH": path, **extra}, timeout=timeout))


def test_a_script_nvcc_is_read_and_never_run(tmp_path: Path):
    marker = tmp_path / "RAN"
    nvcc = marker_script(tmp_path / "wrap" / "bin" / "nvcc", marker)
    facts = _probe(f"{nvcc.parent}:/usr/bin:/bin")
    n = facts.path_nvcc
    assert n is not None and n.path == str(nvcc) and n.kind == "script" and n.runs is None
    assert n.version is None and n.error == "a script (not run)"
    assert n.script_lines[0] == "#!/bin/sh" and any("touch" in ln for ln in n.script_lines)
    # It stands in a bin/ folder, so it is a toolkit candidate too: asked nothing there either.
    tk = next(t for t in facts.toolkits if t.realpath == os.path.realpath(tmp_path / "wrap"))
    assert tk.nvcc_error == "a script (not run)" and n.toolkit == tk.realpath
    assert not marker.exists(), "the probe ran a script"


def test_a_wrapper_script_is_followed_to_the_binary_it_execs(cc, tmp_path: Path):
    binary = compile_nvcc(cc, tmp_path / "cuda-11.8" / "bin" / "nvcc")
    wrapper = tmp_path / "wrap" / "nvcc"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {binary} "$@"\n')
    wrapper.chmod(0o755)
    n = _probe(f"{wrapper.parent}:/usr/bin:/bin").path_nvcc
    assert n is not None and n.kind == "script" and n.runs == str(binary)
    assert (n.release, n.version, n.error) == ("11.8", "11.8.89", None)
    assert n.root == str(tmp_path / "cuda-11.8") and n.stands_in == "lone" and n.toolkit == n.root


def test_an_elf_nvcc_in_no_bin_folder_is_asked_but_is_no_toolkit(cc, tmp_path: Path):
    nvcc = compile_nvcc(cc, tmp_path / "tools" / "nvcc")
    facts = _probe(f"{nvcc.parent}:/usr/bin:/bin")
    n = facts.path_nvcc
    assert n is not None and n.kind == "elf" and n.version == "11.8.89" and n.root is None
    assert n.stands_in == "lone" and n.toolkit is None
    assert not any(t.realpath == os.path.realpath(tmp_path) for t in facts.toolkits)


def test_a_conda_envs_nvcc_and_a_pip_wheels_nvcc_say_where_they_stand(cc, tmp_path: Path):
    env = tmp_path / "envs" / "tf"
    (env / "conda-meta").mkdir(parents=True)
    conda = compile_nvcc(cc, env / "bin" / "nvcc", "12.4.131")
    n = _probe(f"{conda.parent}:/usr/bin:/bin").path_nvcc
    assert n is not None and (n.stands_in, n.root, n.version) == ("conda-env", str(env), "12.4.131")
    # The CUDA 13 pip wheel (nvidia-cuda-nvcc) ships nvidia/cu13/bin/nvcc; the CUDA 12 one ships only ptxas.
    wheel = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "nvidia" / "cu13"
    pip = compile_nvcc(cc, wheel / "bin" / "nvcc", "13.0.88")
    n = _probe(f"{pip.parent}:/usr/bin:/bin").path_nvcc
    assert n is not None and (n.stands_in, n.root, n.version) == ("pip-wheel", str(wheel), "13.0.88")
    assert describe_path_nvcc(n) == f"{pip}: CUDA 13.0.88, from a pip NVIDIA wheel ({wheel / 'bin'})"


def test_path_nvcc_facts_replay(cc, tmp_path: Path):
    nvcc = compile_nvcc(cc, tmp_path / "tools" / "nvcc")
    facts = _probe(f"{nvcc.parent}:/usr/bin:/bin")
    assert from_jsonable(Toolkits, json.loads(json.dumps(to_jsonable(facts)))) == facts
    # Facts saved before the field existed still load.
    old = to_jsonable(facts)
    del old["path_nvcc"]
    assert from_jsonable(Toolkits, old).path_nvcc is None


def test_a_symlinked_nvcc_is_reported_with_its_target(cc, tmp_path: Path):
    binary = compile_nvcc(cc, tmp_path / "cuda-11.8" / "bin" / "nvcc")
    link = tmp_path / "links" / "nvcc"
    link.parent.mkdir()
    link.symlink_to(binary)
    n = _probe(f"{link.parent}:/usr/bin:/bin").path_nvcc
    assert n is not None and n.path == str(link) and n.realpath == str(binary) and n.version == "11.8.89"


def test_a_broken_link_or_a_non_executable_nvcc_is_passed_over_as_a_shell_does(cc, tmp_path: Path):
    broken = tmp_path / "a" / "nvcc"
    broken.parent.mkdir()
    broken.symlink_to(tmp_path / "gone" / "nvcc")
    plain = tmp_path / "b" / "nvcc"
    plain.parent.mkdir()
    plain.write_text("not a program\n")
    real = compile_nvcc(cc, tmp_path / "c" / "nvcc")
    later = compile_nvcc(cc, tmp_path / "d" / "nvcc", "12.5.82")
    n = _probe(":".join(str(p.parent) for p in (broken, plain, real, later))).path_nvcc
    assert n is not None and n.path == str(real) and n.version == "11.8.89"
    assert n.skipped == (f"{broken}: a broken link (to {tmp_path / 'gone' / 'nvcc'})", f"{plain}: not executable")
    assert n.later == (str(later),)
    only_broken = _probe(f"{broken.parent}:/nonexistent").path_nvcc
    assert only_broken is not None and only_broken.path is None and only_broken.skipped[0].startswith(str(broken))
    assert _probe(f"{tmp_path / 'nothing'}").path_nvcc is None


def test_an_unreadable_nvcc_is_not_run(tmp_path: Path, monkeypatch):
    marker = tmp_path / "RAN"
    nvcc = marker_script(tmp_path / "bin" / "nvcc", marker)
    real_open = open

    def guarded(file, *args, **kwargs):  # as root, mode bits cannot make a file unreadable
        if os.fspath(file) == str(nvcc):
            raise PermissionError(13, "Permission denied", str(nvcc))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded)
    assert file_kind(str(nvcc)) == "unreadable"
    facts = _probe(f"{nvcc.parent}:/usr/bin:/bin")
    monkeypatch.undo()
    n = facts.path_nvcc
    assert n is not None and n.kind == "unreadable" and n.runs is None
    assert n.error == "unreadable by this user (not run)" and not marker.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: mode bits cannot make one unreadable")
def test_an_unreadable_nvcc_by_its_mode_is_not_run(tmp_path: Path):
    marker = tmp_path / "RAN"
    nvcc = marker_script(tmp_path / "bin" / "nvcc", marker)
    nvcc.chmod(0o111)
    n = _probe(f"{nvcc.parent}:/usr/bin:/bin").path_nvcc
    assert n is not None and n.kind == "unreadable" and not marker.exists()


def test_a_hanging_elf_nvcc_on_path_times_out(cc, tmp_path: Path):
    nvcc = compile_nvcc(cc, tmp_path / "tools" / "nvcc", sleep=30)
    n = _probe(f"{nvcc.parent}:/usr/bin:/bin", timeout=0.5).path_nvcc
    assert n is not None and n.version is None and "timed out" in (n.error or "")


@pytest.mark.skipif(MACHINE_NVCC is None, reason="no nvcc on this machine's PATH")
def test_the_first_nvcc_on_this_machines_path():
    """On a machine with an nvcc on PATH: the probe names the same file `which` does, and where that is
    an ELF binary, the same version it prints."""
    n = _probe(MACHINE_PATH).path_nvcc
    assert n is not None and n.path == MACHINE_NVCC
    if n.runs and file_kind(n.runs) == "elf":
        out = subprocess.run([n.runs, "--version"], check=False, capture_output=True, text=True, timeout=30).stdout
        parsed = parse_nvcc_version(out)
        assert parsed is not None and (n.release, n.version) == parsed


@pytest.mark.skipif(not os.access(f"{REAL_TOOLKIT}/bin/nvcc", os.X_OK), reason=f"no CUDA toolkit at {REAL_TOOLKIT}")
def test_the_real_toolkit_first_on_path_is_a_whole_toolkit():
    n = _probe(f"{REAL_TOOLKIT}/bin:/usr/bin:/bin").path_nvcc
    assert n is not None and n.kind == "elf" and n.version and n.stands_in == "cuda-toolkit"
    assert n.root == os.path.realpath(REAL_TOOLKIT) and n.ptxas and n.libdevice
    assert n.toolkit == n.root


# --- the check, from facts --------------------------------------------------------------------------------

SP = "/venv/lib/python3.11/site-packages"
PIP_NVCC = f"{SP}/nvidia/cuda_nvcc"


def tf_build(cuda: bool = True) -> TFBuild:
    """TensorFlow 2.21.0's build facts (CUDA 12.5.1, cuDNN 9), or a CPU build of it."""
    return TFBuild("tensorflow", "2.21.0", f"{SP}/tensorflow", "", cuda, False, "12.5.1" if cuda else None,
                   "9" if cuda else None, (), None, None, (), {})


def _nvcc(path: str, version: str | None, *, kind: str = "elf", runs: str | None = "same", ptxas: str | None = None,
          toolkit: str | None = None, stands_in: str | None = "lone") -> PathNvcc:
    runs = path if runs == "same" else runs
    return PathNvcc(path, path, kind, runs, None, stands_in if runs else None, toolkit,
                    ".".join(version.split(".")[:2]) if version else None, version,
                    None if version else ("a script (not run)" if kind == "script" else "timed out after 10 s"),
                    ptxas, None)


def run_toolkit_checks(tks: Toolkits, build: TFBuild | None, checks: tuple[str, ...] = ("system-toolkit",)
                       ) -> dict[str, list]:
    """The toolkit checks on these facts (a venv at /venv), findings by id."""
    load_all()
    env = PythonEnv("/venv/bin/python", "3.11.7", "CPython", "linux", "x86_64", "/venv", True, False, (), ())
    facts: dict = {"toolkit": tks, "python_env": env}
    if build is not None:
        facts["tf_build"] = build
    findings, crashed = run_checks(facts, None, list(checks), {})
    assert not crashed
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


def _run(n: PathNvcc, build: TFBuild | None = None, ptxas: XlaTool | None = None) -> dict[str, list]:
    ptxas = ptxas or XlaTool(f"{PIP_NVCC}/bin/ptxas", "pip nvidia-cuda-nvcc", "12.9.86", ())
    libdevice = XlaTool(f"{PIP_NVCC}/nvvm/libdevice", "pip nvidia-cuda-nvcc", "12.9.86", ())
    return run_toolkit_checks(Toolkits((), (), None, ptxas, libdevice, PIP_NVCC, path_nvcc=n), build)


def test_a_same_major_nvcc_does_not_matter_and_says_why():
    f = _run(_nvcc("/opt/nv/nvcc", "12.4.131"), tf_build())["nvcc-on-path"][0]
    assert f.severity is Severity.INFO
    assert "`nvcc --version` runs /opt/nv/nvcc: CUDA 12.4.131" in f.summary
    assert "TensorFlow never runs nvcc" in f.summary and "CUDA major (12.5.1)" in f.summary
    assert f"XLA's ptxas is {PIP_NVCC}/bin/ptxas" in f.summary
    assert "not in a whole toolkit (no ptxas or nvvm/libdevice beside it)" in f.summary


def test_another_major_that_xla_does_not_use_does_not_matter():
    f = _run(_nvcc("/opt/nv/nvcc", "11.8.89"), tf_build())["nvcc-on-path"][0]
    assert f.severity is Severity.INFO and not f.fixes
    assert "differs from TensorFlow 2.21.0's CUDA 12.5.1, which does not matter" in f.summary
    assert "XLA does not pick a ptxas beside it" in f.summary


def test_another_major_whose_ptxas_xla_picks_is_in_the_way():
    beside = XlaTool("/opt/nv/ptxas", "PATH", None, ())
    f = _run(_nvcc("/opt/nv/nvcc", "11.8.89", ptxas="/opt/nv/ptxas"), tf_build(), beside)["nvcc-on-path"][0]
    assert f.severity is Severity.WARNING and "its folder is in TensorFlow's way" in f.summary
    assert "with the ptxas beside it (/opt/nv/ptxas, found via PATH), which comes with this CUDA 11 nvcc" in f.summary
    # The environment was not read here: the user may have XLA_FLAGS, so the fix keeps them.
    assert f.fixes[0].commands == (f'export XLA_FLAGS="$XLA_FLAGS --xla_gpu_cuda_data_dir={PIP_NVCC}"',)


def test_a_script_and_no_tensorflow_and_a_cputf_build():
    script = _nvcc("/usr/local/bin/nvcc", None, kind="script", runs=None)
    f = _run(script, tf_build())["nvcc-on-path"][0]
    assert f.severity is Severity.INFO
    assert f.summary.startswith("`nvcc --version` runs /usr/local/bin/nvcc, a script (not run) whose target")
    assert "does not matter" in f.summary and "TensorFlow never runs nvcc" in f.summary
    none = _run(_nvcc("/opt/nv/nvcc", "13.0.88"))["nvcc-on-path"][0]
    assert none.severity is Severity.INFO and "no TensorFlow was found" in none.summary
    cpu = _run(_nvcc("/opt/nv/nvcc", "13.0.88"), tf_build(cuda=False))["nvcc-on-path"][0]
    assert "not a CUDA build" in cpu.summary


def test_a_timed_out_nvcc_says_so():
    f = _run(_nvcc("/opt/nv/nvcc", None), tf_build())["nvcc-on-path"][0]
    assert "version unknown (timed out after 10 s)" in f.summary and "its version is unknown" in f.summary


# --- through the CLI, on a real tensorflow[and-cuda] venv ---------------------------------------------------


def _doctor(path_first: Path | None, *, keep_machine_path: bool = True) -> tuple[dict, dict]:
    """The doctor with `path_first` put first on PATH (the hermetic PATH after it, or only its no-driver
    folder and /usr/bin:/bin)."""
    python = tf_python("TFGPU_TEST_TF_CUDA_PYTHON")
    rest = os.environ["PATH"] if keep_machine_path else f"{os.environ['PATH'].split(os.pathsep)[0]}:/usr/bin:/bin"
    path = rest if path_first is None else f"{path_first}{os.pathsep}{rest}"
    report, _ = json_report("doctor", "--json", "--fast", "--python", python, env={"PATH": path},
                            expect_codes=(1,))  # no driver: the hermetic stand-in
    return report, findings_by_id(report)


def _path_nvcc(report: dict) -> dict:
    return report["facts"]["toolkit"]["data"]["path_nvcc"]


def _mentions(found: dict, text: str) -> list[dict]:
    return [f for fs in found.values() for f in fs if text in f["summary"]]


@pytest.mark.real_tf
def test_cli_a_script_nvcc_first_on_path_is_reported_and_never_run(tmp_path: Path):
    marker = tmp_path / "RAN"
    nvcc = marker_script(tmp_path / "bin" / "nvcc", marker)
    report, found = _doctor(nvcc.parent)
    assert not marker.exists(), "the doctor ran a script"
    n = _path_nvcc(report)
    assert n["path"] == str(nvcc) and n["kind"] == "script" and n["error"] == "a script (not run)"
    f = found["nvcc-on-path"]
    assert len(f) == 1 and f[0]["severity"] == "info"
    assert f[0]["summary"].startswith(f"`nvcc --version` runs {nvcc}, a script (not run)")
    assert "TensorFlow never runs nvcc" in f[0]["summary"]


@pytest.mark.real_tf
def test_cli_an_elf_nvcc_of_cuda_11_8_in_a_bin_folder_is_one_finding(cc, tmp_path: Path):
    nvcc = compile_nvcc(cc, tmp_path / "cuda-11.8" / "bin" / "nvcc")
    report, found = _doctor(nvcc.parent)
    n = _path_nvcc(report)
    assert (n["kind"], n["version"], n["stands_in"]) == ("elf", "11.8.89", "lone")
    # Its folder is a toolkit candidate: system-toolkit-differs judges it, and says it is the nvcc on PATH.
    mine = [f for f in found["system-toolkit-differs"] if f["evidence"]["toolkit"] == str(tmp_path / "cuda-11.8")]
    assert len(mine) == 1 and mine[0]["severity"] == "info"
    s = mine[0]["summary"]
    assert "CUDA 11.8.89 toolkit" in s and "never runs nvcc" in s and "does not matter" in s
    assert f"it is what `nvcc --version` shows ({nvcc}: CUDA 11.8.89, not in a whole toolkit" in s
    assert mine[0]["evidence"]["nvcc_on_path"]["path"] == str(nvcc)
    assert "nvcc-on-path" not in found  # one cause, one finding
    assert len(_mentions(found, "`nvcc --version`")) == 1


@pytest.mark.real_tf
def test_cli_a_lone_elf_nvcc_with_a_ptxas_beside_it_that_xla_picks(cc, tmp_path: Path):
    marker = tmp_path / "RAN"
    nvcc = compile_nvcc(cc, tmp_path / "tools" / "nvcc")
    marker_script(tmp_path / "tools" / "ptxas", marker, "Cuda compilation tools, release 11.8, V11.8.89")
    report, found = _doctor(nvcc.parent)
    assert not marker.exists(), "the doctor ran the ptxas stand-in"
    assert report["facts"]["toolkit"]["data"]["xla_ptxas"]["path"] == str(tmp_path / "tools" / "ptxas")
    f = found["nvcc-on-path"]
    assert len(f) == 1 and f[0]["severity"] == "warning"
    assert f[0]["summary"].startswith(f"`nvcc --version` runs {nvcc}: CUDA 11.8.89")
    assert "its folder is in TensorFlow's way: XLA will compile GPU kernels with the ptxas beside it" in f[0]["summary"]
    cmds = [c for fix in f[0]["fixes"] for c in fix["commands"]]
    assert cmds and cmds[0].startswith("export XLA_FLAGS=") and "nvidia/cuda_nvcc" in cmds[0]


@pytest.mark.real_tf
def test_cli_a_broken_nvcc_link_first_on_path(tmp_path: Path):
    broken = tmp_path / "bin" / "nvcc"
    broken.parent.mkdir()
    broken.symlink_to(tmp_path / "uninstalled" / "bin" / "nvcc")
    report, found = _doctor(broken.parent, keep_machine_path=False)
    n = _path_nvcc(report)
    assert n["skipped"] == [f"{broken}: a broken link (to {tmp_path / 'uninstalled' / 'bin' / 'nvcc'})"]
    if n["path"] is None:  # no other nvcc on the shortened PATH
        f = found["nvcc-on-path"][0]
        assert f["severity"] == "info" and f["summary"].startswith("`nvcc --version` finds no nvcc on PATH")


@pytest.mark.real_tf
@pytest.mark.skipif(MACHINE_NVCC is None, reason="no nvcc on this machine's PATH")
def test_cli_this_machines_nvcc_on_path():
    assert MACHINE_NVCC is not None
    report, found = _doctor(Path(MACHINE_NVCC).parent)
    n = _path_nvcc(report)
    assert n["path"] == MACHINE_NVCC
    said = _mentions(found, "`nvcc --version`")
    assert len(said) == 1, said  # one finding names it: nvcc-on-path, or its toolkit's system-toolkit-differs
    assert n["path"] in said[0]["summary"]
    if n["kind"] == "script":
        assert "a script (not run)" in said[0]["summary"]


@pytest.mark.real_tf
@pytest.mark.skipif(not os.access(f"{REAL_TOOLKIT}/bin/nvcc", os.X_OK), reason=f"no CUDA toolkit at {REAL_TOOLKIT}")
def test_cli_the_real_toolkit_first_on_path():
    """This machine's toolkit: its nvcc's major against TensorFlow 2.21's CUDA 12 decides which finding speaks."""
    report, found = _doctor(Path(REAL_TOOLKIT) / "bin")
    n = _path_nvcc(report)
    assert n["kind"] == "elf" and n["stands_in"] == "cuda-toolkit" and n["version"]
    said = _mentions(found, "`nvcc --version`")
    assert len(said) == 1, said
    if n["version"].startswith("12."):
        assert said[0]["id"] == "nvcc-on-path" and said[0]["severity"] == "info"
    else:
        assert said[0]["id"] == "system-toolkit-differs"
        assert f"in the CUDA toolkit at {os.path.realpath(REAL_TOOLKIT)}" in said[0]["summary"]
