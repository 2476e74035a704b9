"""Facts about each release, not only each series: the Python wheels of every patch release (PyPI's
file lists), the cuDNN major.minor of TensorFlow's tested-build table, and which package is the GPU
build; the generator that writes them, the matrix API that reads them, and the checks that use them.

Sources (also in compat_matrix.yaml's `sources`):
- PyPI Simple API JSON file lists of tensorflow / tensorflow-gpu (read 2026-11-30), and
  `pip index versions tensorflow --python-version 3.6 --platform manylinux2010_x86_64 --only-binary=:all:`
  (newest: 2.6.2), `--python-version 3.5` (newest: 2.3.1; 1.15.4, 2.0.3, 2.1.2, 2.2.1 the newest of
  their series), `--python-version 3.7 --platform manylinux2014_x86_64` (newest: 2.11.0).
- tensorflow/docs site/en/install/source.md @ 7c3650212740, Linux GPU tested-build table (lines 486-508).
- build_info.py of the plain tensorflow wheels 1.15.0 (is_cuda_build True) and 1.15.2-1.15.5, 2.0.0-2.0.4
  (is_cuda_build False), read from PyPI by HTTP range requests.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from conftest import REPO, run_tfgpu

from tfgpu.checks import load_all, run_checks
from tfgpu.matrix import MatrixError, load, validate
from tfgpu.model import ProbeFailure, ProbeStatus, Severity
from tfgpu.probes.environment import EnvVars
from tfgpu.probes.host import HostInfo
from tfgpu.probes.python_env import Distribution, PythonEnv
from tfgpu.probes.tf_build import TFBuild
from tfgpu.rules import built_cudnn, cudnn_problem

sys.path.insert(0, str(REPO / "tools"))
import refresh_matrix

MATRIX = REPO / "compat_matrix.yaml"

# TensorFlow's tested-build table, Linux GPU (tensorflow/docs site/en/install/source.md @ 7c3650212740).
TESTED_CUDNN = {"1.15": "7.4", "2.0": "7.4", "2.1": "7.6", "2.2": "7.6", "2.3": "7.6", "2.4": "8.0",
                **{f"2.{m}": "8.1" for m in range(5, 12)}, "2.12": "8.6", "2.13": "8.6"}


@pytest.fixture(scope="module")
def matrix():
    return load(str(MATRIX))


# --- the data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("series,newest", [("1.15", "1.15.4"), ("2.0", "2.0.3"), ("2.1", "2.1.2"), ("2.2", "2.2.1"),
                                           ("2.3", "2.3.1"), ("2.4", None)])
def test_cp35_wheels_per_patch_release(matrix, series, newest):
    assert matrix.newest_release_for_python(series, "3.5") == newest
    row = matrix.tf_row(series)
    assert "3.5" not in row.python  # the series' newest release has none: per-series data said "no wheel"


def test_cp35_exact_releases(matrix):
    have = [rel for row in matrix.tensorflow for rel in row.releases if "3.5" in (row.python_for(rel) or ())]
    assert have == ["1.15.0", "1.15.2", "1.15.3", "1.15.4", "2.0.0", "2.0.1", "2.0.2", "2.0.3", "2.1.0", "2.1.1",
                    "2.1.2", "2.2.0", "2.2.1", "2.3.0", "2.3.1"]
    assert "1.15.1" not in matrix.tf_row("1.15").releases  # never published


def test_cp36_and_cp37(matrix):
    assert matrix.newest_release_for_python("2.6", "3.6") == "2.6.2"
    assert matrix.newest_release_for_python("2.6", "3.6.15") == "2.6.2"
    assert matrix.tf_row("2.6").python_for("2.6.3") == ("3.7", "3.8", "3.9")
    assert matrix.newest_release_for_python("2.5", "3.6") == "2.5.2"
    assert matrix.newest_release_for_python("2.7", "3.6") is None
    assert matrix.newest_release_for_python("2.11", "3.7") == "2.11.0"
    assert matrix.newest_release_for_python("2.11", "3.8") == "2.11.1"
    assert matrix.newest_release_for_python("2.12", "3.7") is None
    assert matrix.newest_release_for_python("9.9", "3.7") is None
    assert matrix.tf_row("2.11").newest_release_for_python("3.7", "aarch64") == "2.11.0"
    assert matrix.tf_row("2.9").python_for("2.9.3", "aarch64") is None  # aarch64 wheels from 2.10 on


def test_every_row_lists_its_releases_and_its_newest_agrees(matrix):
    for row in matrix.tensorflow:
        assert row.python_by_release_source == "pypi-file-lists", row.series
        assert row.releases[-1] == row.release and row.python_for(row.release) == row.python
        assert set(row.python) <= set(row.pythons())


def test_gpu_package_per_release(matrix):
    r115, r20 = matrix.tf_row("1.15"), matrix.tf_row("2.0")
    assert r115.package == r20.package == "tensorflow-gpu"
    assert not r115.plain_tensorflow_is_cpu_only("1.15.0")  # tensorflow 1.15.0 was still a CUDA build
    assert all(r115.plain_tensorflow_is_cpu_only(v) for v in ("1.15.2", "1.15.3", "1.15.4", "1.15.5"))
    assert all(r20.plain_tensorflow_is_cpu_only(v) for v in r20.releases)
    assert not any(row.cpu_only_tensorflow for row in matrix.tensorflow if row.series not in ("1.15", "2.0"))
    assert r115.gpu_requirement("1.15.4") == "tensorflow-gpu==1.15.4"
    assert matrix.tf_row("2.6").gpu_requirement("2.6.2") == "tensorflow==2.6.2"
    assert matrix.tf_row("2.15").gpu_requirement("2.15.1") == "tensorflow[and-cuda]==2.15.1"
    assert matrix.tf_row("2.6").gpu_requirement("2.6.9") == "tensorflow==2.6.*"


@pytest.mark.parametrize("series", sorted(TESTED_CUDNN))
def test_tested_cudnn_major_minor(matrix, series):
    row = matrix.tf_row(series)
    assert row.tested_build is not None and row.tested_build.source == "tf-tested-builds"
    assert row.cudnn_tested == TESTED_CUDNN[series] and row.cudnn_tested_from == "tested build table"


def test_tested_table_agrees_with_the_wheels_where_they_say_it(matrix):
    """2.14-2.21 carry the cuDNN in the wheel (the [and-cuda] pin or the shipped header): the table agrees."""
    for row in matrix.tensorflow:
        if row.cudnn_tested_from in ("headers", "and-cuda pin"):
            assert row.tested_build is not None and row.tested_build.cudnn == row.cudnn_tested, row.series


@pytest.mark.parametrize("series", sorted(TESTED_CUDNN))
def test_matrix_json_shows_the_tested_cudnn(series):
    proc = run_tfgpu("matrix", "--tf", series, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["tensorflow"]
    assert doc["cudnn_tested"] == TESTED_CUDNN[series] and doc["tested_build"]["cudnn"] == TESTED_CUDNN[series]
    assert doc["tested_build"]["source"] == "tf-tested-builds" and doc["releases"][-1] == doc["release"]


def test_tf212_with_cudnn_81_is_a_cudnn_problem(matrix):
    """'Loaded runtime CuDNN library: 8.1.0 but source was compiled with: 8.6.0' (TF 2.12, cuDNN 8.1)."""
    built, _where = built_cudnn(matrix, "2.12.0", "8")
    assert built == "8.6"
    assert cudnn_problem("8.1.0", built) == "it is cuDNN 8.1.0, older than the 8.6 TensorFlow was built with"
    assert cudnn_problem("8.6.0", built) is None and cudnn_problem("8.9.7", built) is None
    assert cudnn_problem("7.6.5", built_cudnn(matrix, "2.4.0", "8")[0]) == "it is cuDNN 7.6.5, not 8.x"
    assert cudnn_problem("7.3.1", built_cudnn(matrix, "1.15.5", "7")[0]) is not None


# --- validation -----------------------------------------------------------------------------------


def _raw() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(MATRIX.read_text(encoding="utf-8"))


def _row(data: dict[str, Any], series: str) -> dict[str, Any]:
    return next(r for r in data["tensorflow"] if r["series"] == series)


@pytest.mark.parametrize("mutate,needle", [
    (lambda r: r["python_by_release"]["x86_64"].update({"2.7.0": ["3.7"]}), "release 2.7.0 is not of series 2.6"),
    (lambda r: r["python_by_release"]["x86_64"].pop("2.6.5"), "must list the row's release 2.6.5"),
    (lambda r: r["python_by_release"]["x86_64"].update({"2.6.9": ["3.9"]}), "lists 2.6.9, newer than"),
    (lambda r: r["python_by_release"]["x86_64"].update({"2.6.1": [3.6]}), "expected a list of Python versions"),
    (lambda r: r["python_by_release"].update({"source": "nope"}), "source 'nope' is not defined"),
    (lambda r: r["tested_build"].update({"cuda": "11.8"}), "cuda 11.8 disagrees with the row's cuda 11.2"),
    (lambda r: r["tested_build"].update({"cudnn": "7.6"}), "cudnn 7.6 disagrees"),
    (lambda r: r.update({"cpu_only_tensorflow": {"releases": ["2.5.0"], "source": "tf-plain-wheels"}}),
     "release 2.5.0 is not of series 2.6"),
])
def test_validation_of_release_facts(mutate, needle):
    data = copy.deepcopy(_raw())
    mutate(_row(data, "2.6"))
    with pytest.raises(MatrixError) as err:
        validate(data, "m.yaml")
    assert needle in str(err.value) and "tensorflow[2.6.5]" in str(err.value), str(err.value)


def test_rows_without_release_facts_still_load():
    data = copy.deepcopy(_raw())
    for key in ("python_by_release", "tested_build", "cpu_only_tensorflow"):
        _row(data, "2.0").pop(key, None)
    row = validate(data, "m.yaml").tf_row("2.0")
    assert row.releases == ("2.0.4",) and row.python_for("2.0.4") == ("3.6", "3.7")
    assert row.newest_release_for_python("3.5") is None and row.cudnn_tested is None


# --- the generator ----------------------------------------------------------------------------------


def _f(name: str, yanked: bool = False) -> dict[str, Any]:
    return {"filename": name, "yanked": yanked}


def test_python_by_release_from_file_names():
    files = [_f("tensorflow-2.6.2-cp36-cp36m-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.2-cp39-cp39-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.3-cp37-cp37m-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.3-cp36-cp36m-manylinux2010_x86_64.whl", yanked=True),
             _f("tensorflow-2.6.0rc0-cp36-cp36m-manylinux2010_x86_64.whl"),  # pre-release: left out
             _f("tensorflow-2.6.3-cp37-cp37m-win_amd64.whl"),
             _f("tensorflow-2.6.3-cp37-cp37m-macosx_10_11_x86_64.whl"),
             _f("tensorflow-2.6.4.tar.gz"),
             _f("tensorflow-2.7.0-cp37-cp37m-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.3-cp38-cp38-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
             _f("tensorflow-2.6.2-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")]
    assert refresh_matrix.python_by_release(files, "2.6") == {"2.6.2": ["3.6", "3.9", "3.10"], "2.6.3": ["3.7"]}
    assert refresh_matrix.python_by_release(files, "2.6", "aarch64") == {"2.6.3": ["3.8"]}


def test_tested_builds_parser():
    text = ("## Tested build configurations\n\n### Linux\n\n#### CPU\n<table>\n"
            "<tr><td>tensorflow-2.12.0</td><td>3.8-3.11</td><td>GCC 9.3.1</td><td>Bazel 5.3.0</td></tr>\n</table>\n"
            "#### GPU\n<table>\n<tr><th>Version</th><th>Python version</th><th>Compiler</th><th>Build tools</th>"
            "<th>cuDNN</th><th>CUDA</th></tr>\n"
            "<tr><td>tensorflow-2.12.0</td><td>3.8-3.11</td><td>GCC 9.3.1</td><td>Bazel 5.3.0</td><td>8.6</td><td>11.8</td></tr>\n"
            "<tr><td>tensorflow_gpu-1.15.0</td><td>2.7, 3.3-3.7</td><td>GCC 7.3.1</td><td>Bazel 0.26.1</td><td>7.4</td>"
            "<td>10.0</td></tr>\n</table>\n### macOS\n#### GPU\n<table>\n"
            "<tr><td>tensorflow_gpu-1.1.0</td><td>2.7</td><td>Clang</td><td>Bazel 0.4.5</td><td>5.1</td><td>8</td></tr>\n")
    assert refresh_matrix.tested_builds_from_source_md(text) == {"2.12": ("8.6", "11.8"), "1.15": ("7.4", "10.0")}
    assert refresh_matrix.tested_builds_from_source_md("no table") == {}


def test_committed_section_is_what_the_generator_writes():
    """The generated section renders back byte for byte from its own rows (so a refresh changes only facts)."""
    text = MATRIX.read_text(encoding="utf-8")
    rows = refresh_matrix.current_rows(text)
    assert refresh_matrix.replace_section(text, refresh_matrix.render_rows(rows)) == text


def test_release_facts_refresh_keeps_every_other_byte(tmp_path, monkeypatch):
    """--release-facts-only with PyPI's answer for 2.6 changed: only that row's lines change."""
    path = tmp_path / "m.yaml"
    text = MATRIX.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    files = [_f("tensorflow-2.6.5-cp37-cp37m-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.5-cp38-cp38-manylinux2010_x86_64.whl"),
             _f("tensorflow-2.6.5-cp39-cp39-manylinux2010_x86_64.whl")]
    monkeypatch.setattr(refresh_matrix, "fetch_simple_files", lambda project: files if project == "tensorflow" else None)
    assert refresh_matrix.main(["--matrix", str(path), "--release-facts-only", "--only", "2.6"]) == 0
    new = path.read_text(encoding="utf-8")
    old_lines, new_lines = text.splitlines(), new.splitlines()
    removed = [line for line in old_lines if line not in new_lines]
    assert removed == ['        "2.6.0": ["3.6", "3.7", "3.8", "3.9"]', '        "2.6.1": ["3.6", "3.7", "3.8", "3.9"]',
                       '        "2.6.2": ["3.6", "3.7", "3.8", "3.9"]', '        "2.6.3": ["3.7", "3.8", "3.9"]',
                       '        "2.6.4": ["3.7", "3.8", "3.9"]']
    assert len(new_lines) == len(old_lines) - len(removed)
    assert load(str(path)).tf_row("2.6").releases == ("2.6.5",)


# --- the checks ---------------------------------------------------------------------------------------


def _facts(python: str, dist: str, version: str, cuda: bool = True, requires_python: str | None = None) -> dict[str, Any]:
    d = Distribution(dist, version, "/venv/lib")
    env = PythonEnv("/venv/bin/python", python, "CPython", "linux", "x86_64", "/venv", True, False, (d,),
                    ("/venv/lib/tensorflow",))
    build = TFBuild(dist, version, "/venv/lib/tensorflow", "/venv/lib/tensorflow/python/platform/build_info.py",
                    cuda, False, "11.2" if cuda else None, "8" if cuda else None, (), "gcc", requires_python, (), {})
    return {"host": HostInfo("Linux", "x86_64", "6.1"), "python_env": env, "tf_build": build,
            "environment": EnvVars({})}


def _run(facts: dict[str, Any], only: tuple[str, ...]) -> dict[str, Any]:
    load_all()
    findings, crashed = run_checks(facts, load(str(MATRIX)), list(only), {})
    assert not crashed
    return {f.id: f for f in findings}


def _commands(finding: Any) -> list[str]:
    return [c for fix in finding.fixes for c in fix.commands]


@pytest.mark.parametrize("python,dist,version", [("3.6.15", "tensorflow", "2.6.2"), ("3.5.10", "tensorflow-gpu", "1.15.4"),
                                                 ("3.7.17", "tensorflow", "2.11.0"), ("3.5.10", "tensorflow", "2.3.1")])
def test_python_of_an_earlier_patch_is_supported(python, dist, version):
    """Per-series data (the newest patch's wheels) called these 'no Linux wheel': they are each release's own."""
    found = _run(_facts(python, dist, version), ("python-supported",))
    assert found["python-supported"].severity is Severity.OK, found["python-supported"].summary


@pytest.mark.parametrize("python,dist,version,other,req", [
    ("3.6.15", "tensorflow", "2.6.5", "2.6.2", "tensorflow==2.6.2"),
    ("3.5.10", "tensorflow-gpu", "1.15.5", "1.15.4", "tensorflow-gpu==1.15.4"),
    ("3.7.17", "tensorflow", "2.11.1", "2.11.0", "tensorflow==2.11.0"),
])
def test_python_dropped_by_a_later_patch_names_the_patch_that_has_it(python, dist, version, other, req):
    found = _run(_facts(python, dist, version), ("python-supported",))
    f = found["python-unsupported"]
    assert f.severity is Severity.WARNING
    assert f.summary.startswith(f"Python {python[:3]} is supported by TensorFlow {other}, not by the installed {version}")
    assert f.evidence["release_with_wheel"] == other
    assert _commands(f)[0] == f"/venv/bin/python -m pip install {req}"


def test_python_no_release_of_the_series_has():
    found = _run(_facts("3.6.15", "tensorflow", "2.7.4"), ("python-supported",))
    f = found["python-unsupported"]
    assert f.severity is Severity.WARNING and "publishes no Linux wheels for Python 3.6" in f.summary


@pytest.mark.parametrize("version", ["2.0.0", "2.0.4", "1.15.2", "1.15.5"])
def test_plain_tensorflow_cpu_wheel_is_replaced_by_tensorflow_gpu(version):
    found = _run(_facts("3.7.17", "tensorflow", version, cuda=False), ("tf-cuda-build",))
    f = found["tf-cpu-only-build"]
    assert "tensorflow-gpu" in f.detail
    assert _commands(f) == ["/venv/bin/python -m pip uninstall -y tensorflow",
                            f"/venv/bin/python -m pip install tensorflow-gpu=={version}"]


@pytest.mark.parametrize("python,req", [("3.6.15", "tensorflow==2.6.2"), ("3.5.10", "tensorflow==2.3.1"),
                                        ("3.7.17", "tensorflow==2.11.0")])
def test_install_advice_names_the_newest_release_for_the_python(python, req):
    facts = _facts(python, "tensorflow", "2.21.0")
    facts["python_env"] = PythonEnv("/venv/bin/python", python, "CPython", "linux", "x86_64", "/venv", True, False,
                                    (), ())
    facts["tf_build"] = ProbeFailure("tf_build", ProbeStatus.NOT_FOUND, "x")
    found = _run(facts, ("tf-installed",))
    cmds = _commands(found["tf-not-installed"])
    assert f"/venv/bin/python -m pip install {req}" in cmds, cmds
