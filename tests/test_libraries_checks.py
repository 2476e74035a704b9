"""The library checks as pure functions of hand-built facts (no machine needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tfgpu.checks import load_all, run_checks
from tfgpu.checks.libraries import cudnn_mismatch_text, evaluate_requirements, ld_library_path_without
from tfgpu.rules import CUDNN_FROM_BUILD_INFO, CUDNN_FROM_HEADERS, built_cudnn, cudnn_problem
from tfgpu.checks.tensorflow import is_user_site, tf_cuda_build_text, tf_shadowed_copy_text
from tfgpu.model import ProbeFailure, ProbeStatus, Severity
from tfgpu.probes.libraries import Libraries, LibraryCopy, LibraryStatus, LoadResult, SearchDir
from tfgpu.probes.python_env import Distribution, PythonEnv
from tfgpu.probes.tf_build import TFBuild

SP = "/venv/lib/python3.11/site-packages"
AND_CUDA = (
    'nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"',
    'nvidia-cuda-runtime-cu12<13.0,>=12.5.82; extra == "and-cuda"',
    'nvidia-nccl-cu12<3.0,>=2.27.7; extra == "and-cuda" and sys_platform == "linux"',
    'nvidia-cufft-cu12<12.0,>=11.2.3.61; extra == "and-cuda" and sys_platform == "win32"',
)


def build(version: str = "2.21.0") -> TFBuild:
    return TFBuild("tensorflow", version, f"{SP}/tensorflow", f"{SP}/tensorflow/python/platform/build_info.py",
                   True, False, "12.5.1", "9", ("sm_80",), None, ">=3.10", AND_CUDA, {})


def env(*dists: tuple[str, str]) -> PythonEnv:
    return PythonEnv("/venv/bin/python", "3.11.7", "CPython", "linux", "x86_64", "/venv", True, False,
                     tuple(Distribution(n, v, SP) for n, v in (("tensorflow", "2.21.0"), *dists)), (f"{SP}/tensorflow",))


def pip_copy(pkg: str, soname: str) -> LibraryCopy:
    path = f"{SP}/nvidia/{pkg}/lib/{soname}"
    return LibraryCopy(path, path, "RUNPATH", True, True)


def lib(key: str, soname: str, winner: LibraryCopy | None, load: LoadResult, expected: LibraryCopy | None = None,
        copies: tuple[LibraryCopy, ...] = ()) -> LibraryStatus:
    return LibraryStatus(key, soname, True, copies or ((winner,) if winner else ()), winner,
                         expected if expected is not None else (winner if winner and winner.pip_wheel else None),
                         (), load)


def libraries(*items: LibraryStatus, ld: str | None = None) -> Libraries:
    return Libraries("2.21.0", 12, 9, "matrix", (SearchDir("/etc/ld.so.cache", "ld.so.cache", True, True),), items,
                     (f"{SP}/tensorflow/libtensorflow_framework.so.2",), ld, None, "/etc/ld.so.cache (1 entries)", "python")


def healthy() -> list[LibraryStatus]:
    return [
        lib("cudart", "libcudart.so.12", pip_copy("cuda_runtime", "libcudart.so.12"), LoadResult("loaded", version="12.9")),
        lib("cudnn", "libcudnn.so.9", pip_copy("cudnn", "libcudnn.so.9"), LoadResult("loaded", version="9.28.0")),
    ]


def run(facts: dict) -> dict[str, list]:
    load_all()
    from tfgpu.matrix import load

    findings, crashed = run_checks(facts, load(), None, {})
    assert not crashed, [f for f in findings if f.id == "check-crashed"]
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


def facts(libs: Libraries, e: PythonEnv | None = None) -> dict:
    return {"tf_build": build(), "python_env": e or env(("nvidia-cudnn-cu12", "9.28.0.42"),
                                                        ("nvidia-cuda-runtime-cu12", "12.9.79"),
                                                        ("nvidia-nccl-cu12", "2.32.3")), "libraries": libs}


def test_cudnn_rule_is_tensorflows():
    assert cudnn_problem("9.1.0", "9.3.0") is not None
    assert cudnn_problem("9.3.1", "9.3.0") is None and cudnn_problem("9.28.0", "9.3.0") is None
    assert "not 9.x" in (cudnn_problem("8.9.7", "9.3.0") or "")
    assert cudnn_problem("8.9.7", "8") is None and cudnn_problem("9.1.0", "8") is not None


def test_healthy_libraries_are_ok():
    found = run(facts(libraries(*healthy())))
    assert found["cuda-libs-ok"][0].severity is Severity.OK
    assert "and-cuda-satisfied" in found
    assert not {"library-shadowed", "cudnn-version-mismatch", "cuda-lib-missing"} & set(found)


def test_older_cudnn_from_ld_library_path_is_shadowing_error():
    shadow = LibraryCopy("/opt/cudnn/libcudnn.so.9", "/opt/cudnn/libcudnn.so.9", "LD_LIBRARY_PATH", True, False)
    expected = pip_copy("cudnn", "libcudnn.so.9")
    cudnn = lib("cudnn", "libcudnn.so.9", shadow, LoadResult("loaded", version="9.1.0"), expected, (shadow, expected))
    found = run(facts(libraries(healthy()[0], cudnn, ld="/opt/cudnn:/usr/lib")))
    shadowed = found["library-shadowed"][0]
    assert shadowed.severity is Severity.ERROR and "9.1.0" in shadowed.summary and "9.3.0" in shadowed.summary
    assert shadowed.fixes[0].commands == ("export LD_LIBRARY_PATH=/usr/lib",)
    assert found["cudnn-version-mismatch"][0].severity is Severity.ERROR
    assert "cuda-libs-ok" not in found


def test_a_newer_shadowing_copy_is_only_a_warning():
    shadow = LibraryCopy("/opt/cudnn/libcudnn.so.9", "/opt/cudnn/libcudnn.so.9", "LD_LIBRARY_PATH", True, False)
    expected = pip_copy("cudnn", "libcudnn.so.9")
    cudnn = lib("cudnn", "libcudnn.so.9", shadow, LoadResult("loaded", version="9.5.0"), expected, (shadow, expected))
    found = run(facts(libraries(healthy()[0], cudnn, ld="/opt/cudnn")))
    assert found["library-shadowed"][0].severity is Severity.WARNING
    assert found["library-shadowed"][0].fixes[0].commands == ("unset LD_LIBRARY_PATH",)


SYS_CUDNN = LibraryCopy("/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.0.0",
                        "ld.so.cache", True, False)


def test_cudnn_8_for_a_cudnn_9_build_is_the_same_finding_as_an_older_minor():
    """One id per root cause: explain names TensorFlow's 'Loaded runtime CuDNN library' line
    cudnn-version-mismatch, for another major as for an older minor; the summaries differ."""
    major = run(facts(libraries(healthy()[0], lib("cudnn", "libcudnn.so.9", SYS_CUDNN, LoadResult("loaded", version="8.9.7")))))
    minor = run(facts(libraries(healthy()[0], lib("cudnn", "libcudnn.so.9", SYS_CUDNN, LoadResult("loaded", version="9.1.0")))))
    assert "cudnn-major-mismatch" not in major
    f, g = major["cudnn-version-mismatch"][0], minor["cudnn-version-mismatch"][0]
    assert f.severity is Severity.ERROR and g.severity is Severity.ERROR
    where = "/usr/lib/x86_64-linux-gnu/libcudnn.so.9 (from the ld.so cache)"
    assert f.summary == cudnn_mismatch_text("8.9.7", where, "9.3.0", "2.21.0")
    assert "another major than the cuDNN 9.3.0" in f.summary
    assert g.summary == cudnn_mismatch_text("9.1.0", where, "9.3.0", "2.21.0")
    assert "older than the cuDNN 9.3.0" in g.summary
    assert f.evidence["built_with_source"] == CUDNN_FROM_HEADERS and f.evidence["compared"] == "major.minor"


def test_built_cudnn_comes_from_the_matrix_row_else_build_info_major_only():
    from tfgpu.matrix import load

    mx = load()

    def built_of(b):
        return built_cudnn(mx, b.version, b.cudnn_version)

    assert built_of(build("2.21.0")) == ("9.3.0", CUDNN_FROM_HEADERS)
    row = load().tf_row("2.21.0")
    assert row is not None and row.cudnn_headers == "9.3.0"
    # A release the matrix lacks: build_info's major alone (no invented "2.22" -> 9.10.0 table).
    assert built_of(replace(build(), version="2.30.0")) == ("9", CUDNN_FROM_BUILD_INFO)
    assert built_of(replace(build(), version="2.22.0rc0", cudnn_version=None))[0] is None


def test_with_build_info_major_only_just_the_major_is_compared():
    unknown = replace(build(), version="2.30.0")
    older_minor = lib("cudnn", "libcudnn.so.9", SYS_CUDNN, LoadResult("loaded", version="9.1.0"))
    found = run({**facts(libraries(healthy()[0], older_minor)), "tf_build": unknown})
    assert "cudnn-version-mismatch" not in found  # 9.1 is a cuDNN 9: the minor is unknown, so not judged
    other_major = lib("cudnn", "libcudnn.so.9", SYS_CUDNN, LoadResult("loaded", version="8.9.7"))
    f = run({**facts(libraries(healthy()[0], other_major)), "tf_build": unknown})["cudnn-version-mismatch"][0]
    assert f.evidence["compared"] == "major" and f.evidence["built_with_source"] == CUDNN_FROM_BUILD_INFO
    assert "cuDNN 9.x" in f.summary and "only the major was compared" in f.detail


def test_cudart_of_another_major_under_the_right_name():
    ld_copy = LibraryCopy("/hack/libcudart.so.12", "/usr/local/cuda-13.0/lib/libcudart.so.13", "LD_LIBRARY_PATH", True, False)
    found = run(facts(libraries(lib("cudart", "libcudart.so.12", ld_copy, LoadResult("loaded", version="13.0")), healthy()[1],
                                ld="/hack")))
    f = found["cudart-major-mismatch"][0]
    assert f.severity is Severity.ERROR and "13.0" in f.summary
    assert f.fixes[0].commands == ("unset LD_LIBRARY_PATH",)


def test_unloadable_names_the_missing_dependency_and_its_wheel():
    cusparse = lib("cusparse", "libcusparse.so.12", pip_copy("cusparse", "libcusparse.so.12"),
                   LoadResult("failed", "libnvJitLink.so.12: cannot open shared object file: No such file or directory"))
    found = run(facts(libraries(*healthy(), cusparse)))
    f = found["cuda-lib-unloadable"][0]
    assert "libnvJitLink.so.12" in f.summary
    assert any("nvidia-nvjitlink-cu12" in c for fix in f.fixes for c in fix.commands)


def test_crash_is_its_own_finding():
    cublas = lib("cublas", "libcublas.so.12", pip_copy("cublas", "libcublas.so.12"),
                 LoadResult("crashed", "loading it killed the process: crashed with signal 11 (SIGSEGV)", 11))
    f = run(facts(libraries(*healthy(), cublas)))["cuda-lib-crashed"][0]
    assert f.severity is Severity.ERROR and f.evidence["signal"] == 11


def test_and_cuda_markers_are_evaluated_for_the_target():
    results = evaluate_requirements(AND_CUDA, env(("nvidia-cudnn-cu12", "9.1.0.70")))
    names = {r.name: v for r, _h, v in results}
    assert names == {"nvidia-cudnn-cu12": "violated", "nvidia-cuda-runtime-cu12": "missing", "nvidia-nccl-cu12": "missing"}


def test_and_cuda_violated_is_a_warning_with_exact_pins():
    e = env(("nvidia-cudnn-cu12", "9.1.0.70"), ("nvidia-cuda-runtime-cu12", "12.9.79"), ("nvidia-nccl-cu12", "2.32.3"))
    f = run(facts(libraries(*healthy()), e))["and-cuda-violated"][0]
    assert f.severity is Severity.WARNING and "9.1.0.70" in f.summary
    assert "'nvidia-cudnn-cu12<10.0,>=9.3.0.75'" in f.fixes[0].commands[0]


def test_wheel_family_mix():
    e = env(("nvidia-cudnn-cu12", "9.28.0.42"), ("nvidia-cuda-runtime-cu12", "12.9.79"), ("nvidia-nccl-cu12", "2.32.3"),
            ("nvidia-cublas-cu11", "11.11.3.6"), ("nvidia-cuda-runtime", "13.0.96"))
    f = run(facts(libraries(*healthy()), e))["cuda-wheel-mix"][0]
    assert f.severity is Severity.WARNING and "cu11" in f.summary
    assert f.fixes[0].commands[0].endswith("uninstall -y nvidia-cublas-cu11")


def test_missing_libraries_without_and_cuda_point_at_the_extra():
    missing = [LibraryStatus("cudart", "libcudart.so.12", True, (), None, None, ("/usr/local/cuda-13.0/lib/libcudart.so.13",),
                             LoadResult("not_run", "not found"))]
    found = run(facts(libraries(*missing), env()))
    f = found["cuda-lib-missing"][0]
    assert f.severity is Severity.ERROR and "libcudart.so.13" in f.detail
    assert "tensorflow[and-cuda]==2.21.*" in f.fixes[0].commands[0]
    assert found["and-cuda-missing"][0].severity is Severity.ERROR


@pytest.mark.parametrize("value,drop,expected", [
    ("/a:/b:/c", ["/b"], "/a:/c"), ("/a/", ["/a"], ""), ("", ["/a"], ""),
])
def test_ld_library_path_without(value, drop, expected):
    assert ld_library_path_without(value, drop) == expected


# --- a CUDA build whose build record names no CUDA version (TF 2.22.0rc0) ---------------------------------


def build_222() -> TFBuild:
    return replace(build("2.22.0rc0"), cuda_version=None, cudnn_version=None, compute_capabilities=())


def test_unknown_library_names_make_the_library_checks_skip_with_the_reason():
    reason = ("tensorflow 2.22.0rc0 is a CUDA build, but its build record (...) names no CUDA version and tfgpu's "
              "matrix lists no libraries for TensorFlow 2.22, so the CUDA libraries it loads are unknown and were not resolved")
    found = run({"tf_build": build_222(), "python_env": env(),
                 "libraries": ProbeFailure("libraries", ProbeStatus.SKIPPED, reason)})
    for check_id in ("cuda-libraries-loadable", "cudart-version", "cudnn-version", "library-shadowing"):
        skipped = found[f"{check_id}-skipped"][0]
        assert skipped.severity is Severity.SKIPPED and reason in skipped.detail
    assert "cuda-lib-missing" not in found


def test_tf_cuda_build_words_missing_versions():
    text = tf_cuda_build_text("2.22.0rc0", None, None, ())
    assert text == ("TensorFlow 2.22.0rc0 is a CUDA build; its build record names no CUDA or cuDNN version "
                    "(TensorFlow's build_info.py dropped them in 2.22.0rc0)")
    assert "None" not in text and "()" not in text
    assert tf_cuda_build_text("2.21.0", "12.5.1", "9", ("sm_80",)) == \
        "TensorFlow 2.21.0 is built for CUDA 12.5.1 and cuDNN 9 (sm_80)"
    assert tf_cuda_build_text("2.22.0", None, None, (), "12.5.1", "9").endswith("; tfgpu's matrix says CUDA 12.5.1 and cuDNN 9")
    found = run({"tf_build": build_222(), "python_env": env()})
    assert found["tf-cuda-build"][0].summary == tf_cuda_build_text("2.22.0rc0", None, None, ())


def test_xla_fixes_name_no_none_for_a_build_without_a_cuda_version():
    from tfgpu.probes.toolkit import Toolkits, XlaTool

    tools = Toolkits(toolkits=(), cudnn_headers=(), xla_cuda_data_dir=None,
                     xla_ptxas=XlaTool(None, None, None, ("PATH",)),
                     xla_libdevice=XlaTool(None, None, None, ("/usr/local/cuda",)), pip_nvcc_root=None)
    found = run({"tf_build": build_222(), "python_env": env(), "toolkit": tools})
    f = found["xla-ptxas-missing"][0]
    text = " ".join([x.summary for x in f.fixes] + [c for x in f.fixes for c in x.commands])
    assert "None" not in text and "/usr/local/cuda" in text


# --- the same TensorFlow in two folders (tensorflow checks) -----------------------------------------------

USER_SITE = "/home/ann/.local/lib/python3.11/site-packages"
SYSTEM_SITE = "/usr/lib/python3/dist-packages"


def two_copies_env(first: str = USER_SITE, second: str = SYSTEM_SITE) -> PythonEnv:
    return PythonEnv("/usr/bin/python3", "3.11.7", "CPython", "linux", "x86_64", "/usr", False, False,
                     (Distribution("tensorflow", "2.20.0", second, f"{second}/tensorflow-2.20.0.dist-info"),
                      Distribution("tensorflow", "2.21.0", first, f"{first}/tensorflow-2.21.0.dist-info")),
                     (f"{first}/tensorflow",), ("/usr/lib/python311.zip", first, second))


def test_one_tensorflow_in_two_folders_is_a_shadowed_copy_not_two_distributions():
    found = run({"tf_build": build(), "python_env": two_copies_env()})
    assert "tf-multiple-distributions" not in found
    f = found["tf-shadowed-copy"][0]
    assert f.severity is Severity.WARNING
    # The copy first on sys.path shadows the other, whatever order the distributions were listed in.
    assert f.summary == (f"tensorflow 2.21.0 in {USER_SITE} shadows tensorflow 2.20.0 in {SYSTEM_SITE}")
    assert f.summary == tf_shadowed_copy_text(two_copies_env().distributions[1], [two_copies_env().distributions[0]])
    assert f.fixes[0].commands == ("/usr/bin/python3 -m pip uninstall -y tensorflow",)
    assert "--user copy" in f.fixes[0].summary and f.evidence["user_site"] is True


def test_a_shadowing_copy_outside_the_user_site_is_named_by_folder():
    extra = "/opt/shared/py"
    f = run({"tf_build": build(), "python_env": two_copies_env(extra, SYSTEM_SITE)})["tf-shadowed-copy"][0]
    assert f.summary.startswith(f"tensorflow 2.21.0 in {extra} shadows")
    assert f.fixes[0].commands == (f"rm -rf {extra}/tensorflow {extra}/tensorflow-2.21.0.dist-info",)
    assert extra in f.fixes[0].summary


def test_two_names_are_still_multiple_distributions_each_named_once():
    e = two_copies_env()
    e = replace(e, distributions=(*e.distributions, Distribution("tensorflow-cpu", "2.21.0", SYSTEM_SITE)))
    found = run({"tf_build": build(), "python_env": e})
    multi = found["tf-multiple-distributions"][0]
    assert multi.summary.startswith("2 TensorFlow distributions are installed together")
    assert multi.fixes[0].commands[0] == "/usr/bin/python3 -m pip uninstall -y tensorflow tensorflow-cpu"
    assert "tf-shadowed-copy" in found


@pytest.mark.parametrize("location, user", [
    ("/home/ann/.local/lib/python3.11/site-packages", True),
    ("/Users/ann/Library/Python/3.12/lib/python/site-packages", True),
    ("C:\\Users\\ann\\AppData\\Roaming\\Python\\Python312\\site-packages", True),
    ("/usr/lib/python3/dist-packages", False), ("/venv/lib/python3.11/site-packages", False),
])
def test_is_user_site(location, user):
    assert is_user_site(location) is user
