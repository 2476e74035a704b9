"""The compatibility matrix: validation with clear errors, the `matrix` and `recommend` commands,
and the compute-capability and driver rules they rest on."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO, run_tfgpu

from tfgpu.matrix import MatrixError, load, validate
from tfgpu.recommend import Machine, classify_cc, recommend
from tfgpu.versions import driver_at_least

MATRIX = REPO / "compat_matrix.yaml"


def test_shipped_matrix_loads_and_covers_every_minor():
    m = load(str(MATRIX))
    series = {r.series for r in m.tensorflow}
    assert {"1.15"} | {f"2.{i}" for i in range(22)} <= series
    assert m.schema_version == 1 and m.data_date
    for row in m.tensorflow:
        assert row.source in m.sources
    assert len(m.gpus) > 100 and len(m.cuda) > 20 and len(m.cudnn) > 20


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda t: re.sub(r'(?m)^ *cuda: "12.5.1"\n', "", t, count=1), None),  # optional field: still loads
        (lambda t: t.replace('schema_version: 1', 'schema_version: 7'), "schema_version 7 is not supported"),
        (lambda t: t.replace('- series: "2.21"', '- series: "two.21"', 1), "'series': 'two.21' is not a version"),
        (lambda t: t.replace('{name: "12.5 Update 1", full: "12.5.1", linux: "555.42.06"',
                             '{name: "12.5 Update 1", full: "12.5.1", linux: "555.42.x6"', 1), "cuda[12.5].releases[1]"),
        (lambda t: re.sub(r'(?m)^ *release: "2.21.0"\n', "", t, count=1), "missing required field 'release'"),
        (lambda t: t + "\n  bad: [unclosed\n", "YAML syntax error"),
        (lambda t: "", "the file is empty"),
        (lambda t: t.replace("\ngpus:\n", "\ngpu:\n", 1), "top level: unknown key 'gpu'"),  # a misspelt section
    ],
)
def test_broken_matrix_is_one_line_and_exit_2(tmp_path, mutate, needle):
    text = MATRIX.read_text()
    broken = mutate(text)
    assert broken != text or needle is None
    path = tmp_path / "matrix.yaml"
    path.write_text(broken)
    proc = run_tfgpu("matrix", "--matrix", str(path), "--json", env={"TFGPU_NO_CACHE": "1"})
    if needle is None:
        assert proc.returncode == 0
        return
    assert proc.returncode == 2, proc.stdout[:500]
    assert proc.stderr.count("\n") == 1 and str(path) in proc.stderr and needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    doctor = run_tfgpu("doctor", "--fast", "--matrix", str(path), env={"TFGPU_NO_CACHE": "1"})
    assert doctor.returncode == 2 and needle in doctor.stderr


def test_validation_names_the_entry():
    with pytest.raises(MatrixError) as err:
        validate({"schema_version": 1, "data_date": "2026-01-01", "sources": {},
                  "tensorflow": [{"series": "2.1", "release": "2.1.0", "package": "tensorflow", "source": "nope"}]}, "m.yaml")
    assert str(err.value) == "m.yaml: tensorflow[2.1.0]: source 'nope' is not defined under 'sources'"


def test_unknown_top_level_keys_are_refused_by_name():
    """A misspelt or foreign section would otherwise be silently unread: the error names every unknown key."""
    base = _small_matrix("10.1")
    assert validate(base, "m.yaml").gpus == ()
    with pytest.raises(MatrixError) as err:
        validate({**base, "gpu": [{"name": "Tesla T4", "cc": "7.5"}]}, "m.yaml")
    assert str(err.value).startswith("m.yaml: top level: unknown key 'gpu' (a schema-1 matrix has: schema_version, ")
    assert "gpus" in str(err.value)
    with pytest.raises(MatrixError) as err:
        validate({**base, "cudnn_rows": [], 7: "x"}, "m.yaml")
    assert "unknown keys 'cudnn_rows', 7 (" in str(err.value)
    # A file of another schema says so, not that its new sections are unknown.
    with pytest.raises(MatrixError, match="schema_version 2 is not supported"):
        validate({**base, "schema_version": 2, "gpu_families": []}, "m.yaml")


def test_matrix_tf_216_json():
    proc = run_tfgpu("matrix", "--tf", "2.16", "--json")
    assert proc.returncode == 0
    row = json.loads(proc.stdout)["tensorflow"]
    assert row["cuda"] == "12.3" and row["cudnn_tested"] == "8.9"
    assert row["compute_capabilities"] == ["sm_50", "sm_60", "sm_70", "sm_80", "compute_90"]
    assert row["libraries"]["cudnn"] == "libcudnn.so.8"
    assert row["driver"]["linux"] == {"toolkit": "545.23.06", "minor_compat": "525.60.13"}
    assert row["gpu_platforms"]["linux-x86_64"] == "nvidia-cuda" and row["gpu_platforms"]["windows-native"] == "none"
    assert row["gpu_platforms"]["macos-arm64"] == "apple-metal" and row["gpu_platforms"]["linux-aarch64"] == "none"


def test_platform_rows_decide_windows_support():
    m = load(str(MATRIX))
    assert m.nvidia_gpu_on("windows-native", "2.10") is True
    assert m.nvidia_gpu_on("windows-native", "2.11") is False
    assert m.nvidia_gpu_on("wsl2", "2.21") is True
    assert all(p.source in m.sources for p in m.platforms)


def test_matrix_cuda_124_json():
    proc = run_tfgpu("matrix", "--cuda", "12.4", "--json")
    data = json.loads(proc.stdout)
    assert data["driver"]["linux"]["toolkit_min"] == "550.54.14"
    assert data["driver"]["linux"]["minor_compat_min"] == "525.60.13"


def test_matrix_table_and_unknown_series():
    proc = run_tfgpu("matrix")
    assert proc.returncode == 0 and "2.21" in proc.stdout and "12.5.1" in proc.stdout
    bad = run_tfgpu("matrix", "--tf", "9.9")
    assert bad.returncode == 2 and "not in the matrix" in bad.stderr


def test_recommend_for_an_old_driver_offers_cuda_11():
    proc = run_tfgpu("recommend", "--driver", "470.82.01", "--cc", "7.5", "--python-version", "3.10", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    m = load(str(MATRIX))
    best = m.tf_row(data["recommendations"][0]["tensorflow"])
    assert best.cuda.startswith("11.")
    # The exact newest patch of the series with a cp310 wheel (per-release wheel tags from PyPI).
    release = best.newest_release_for_python("3.10")
    assert release is not None and release.startswith(best.series + ".")
    assert data["recommendations"][0]["install"] == f'pip install "tensorflow[and-cuda]=={release}"'
    excluded = {e["tensorflow"]: e["reason"] for e in data["excluded"]}
    for series in ("2.15", "2.16", "2.17", "2.18", "2.19", "2.20", "2.21"):
        assert "525.60.13" in excluded[series] and "CUDA 12" in excluded[series]


def test_recommend_rejects_bad_flags():
    assert run_tfgpu("recommend", "--cc", "eight", "--driver", "535.1").returncode == 2
    assert run_tfgpu("recommend", "--os", "beos", "--driver", "535.1", "--cc", "8.0").returncode == 2


@pytest.mark.parametrize(
    "cc,expected",
    [
        ("8.6", ("sass", "sm_80")),  # same major, higher minor: SASS runs
        ("8.9", ("sass", "sm_89")),
        ("9.0", ("ptx", "compute_90")),  # H100 on TF 2.21: PTX JIT only
        ("12.0", ("ptx", "compute_90")),  # Blackwell: PTX JIT
        ("7.5", ("sass", "sm_70")),
        ("3.7", ("none", None)),  # K80: nothing runs
        ("5.2", ("none", None)),  # Maxwell dropped in 2.17
    ],
)
def test_classify_cc_against_tf_221(cc, expected):
    assert classify_cc(cc, ("sm_60", "sm_70", "sm_80", "sm_89", "compute_90")) == expected


def test_driver_version_comparison_is_numeric():
    assert driver_at_least("535.104.05", "525.60.13")
    assert not driver_at_least("525.60.9", "525.60.13")
    assert driver_at_least("1000.1", "999.99.99")


def test_recommend_h100_with_535_skips_ptx_only_builds():
    m = load(str(MATRIX))
    advice = recommend(m, Machine(driver="535.104.05", ccs=("9.0",), python="3.11"))
    assert advice.recommendations[0].tensorflow == "2.15"
    assert any("PTX JIT" in e.reason and e.tensorflow == "2.21" for e in advice.excluded)


@pytest.mark.parametrize("os_name,machine,needle", [("windows", "x86_64", "windows-native"), ("macos", "arm64", "macOS"),
                                                    ("linux", "aarch64", "linux-aarch64")])
def test_recommend_platforms(os_name, machine, needle):
    m = load(str(MATRIX))
    advice = recommend(m, Machine(driver="560.35.03", ccs=("8.6",), python="3.10", os=os_name, machine=machine))
    if os_name == "windows":
        assert advice.recommendations[0].tensorflow == "2.10"
    else:
        assert not advice.recommendations
    assert any(needle in e.reason for e in advice.excluded)


def test_recommend_reads_this_machines_driver_and_gpus(cc, tmp_path_factory):
    """Without flags, `recommend` asks NVML (here the stand-in libnvidia-ml.so.1) for the driver and GPUs."""
    from test_driver_standin import H100, build_fake_nvml, nvml_env

    lib = build_fake_nvml(cc, tmp_path_factory.mktemp("nvml"))
    proc = run_tfgpu("recommend", "--python-version", "3.11", "--json", env=nvml_env(lib, H100))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["machine"]["driver"] == "535.104.05" and data["machine"]["ccs"] == ["9.0"]
    assert data["recommendations"][0]["tensorflow"] == "2.15"
    assert "PTX JIT" in {e["tensorflow"]: e["reason"] for e in data["excluded"]}["2.21"]


def _small_matrix(tf_cuda: str, cuda_versions: tuple[str, ...] = ("10.0", "10.1", "12.5")) -> dict:
    return {
        "schema_version": 1, "data_date": "2026-01-01", "sources": {"s": {"title": "t"}},
        "tensorflow": [{"series": "2.2", "release": "2.2.3", "package": "tensorflow", "cuda": tf_cuda, "source": "s"}],
        "cuda": [{"version": v, "releases": [{"name": f"{v} GA", "full": f"{v}.0", "linux": "410.48"}], "sources": ["s"]}
                 for v in cuda_versions],
    }


def test_tf_row_cuda_needs_a_cuda_row():
    """A TensorFlow row whose `cuda` matches no `cuda:` row (by major.minor) gets no driver check: refuse it."""
    with pytest.raises(MatrixError) as err:
        validate(_small_matrix("10"), "m.yaml")
    assert str(err.value) == "m.yaml: tensorflow[2.2.3]: cuda '10' has no row under 'cuda'"
    with pytest.raises(MatrixError, match=r"tensorflow\[2.2.3\]: cuda '11.2' has no row under 'cuda'"):
        validate(_small_matrix("11.2"), "m.yaml")
    assert validate(_small_matrix("10.1"), "m.yaml").tensorflow[0].cuda == "10.1"
    assert validate(_small_matrix("12.5.1"), "m.yaml").cuda_row("12.5.1") is not None  # a patch level matches its minor


def test_shipped_cuda_10_rows_are_major_minor():
    """build_info.py of 1.15, 2.0 and 2.2 says only "10"; the rows carry cuda_config.h's TF_CUDA_VERSION."""
    m = load(str(MATRIX))
    want = {"1.15": "10.0", "2.0": "10.0", "2.1": "10.1", "2.2": "10.1", "2.3": "10.1"}
    for series, cuda in want.items():
        row = m.tf_row(series)
        assert row is not None and row.cuda == cuda, (series, row and row.cuda)
        assert m.cuda_row(row.cuda) is not None
    assert [r.series for r in m.tensorflow if r.cuda_build_info] == ["1.15", "2.0", "2.2"]
    assert all(r.cuda_build_info == "10" for r in m.tensorflow if r.cuda_build_info)


def test_recommend_for_a_driver_older_than_cuda_10():
    """390.46 (CUDA 9.1's driver) runs no CUDA 10.x build: 10.0 needs 410.48, 10.1 needs 418.39."""
    proc = run_tfgpu("recommend", "--driver", "390.46", "--cc", "7.0", "--python-version", "3.7", "--json")
    assert proc.returncode == 1, proc.stderr  # nothing to recommend
    data = json.loads(proc.stdout)
    m = load(str(MATRIX))
    for rec in data["recommendations"]:
        row = m.tf_row(rec["tensorflow"])
        assert row is not None and not (row.cuda or "").startswith("10"), rec
    excluded = {e["tensorflow"]: e["reason"] for e in data["excluded"]}
    for series in ("1.15", "2.0"):
        assert "410.48" in excluded[series], excluded.get(series)
    for series in ("2.1", "2.2", "2.3"):
        assert "418.39" in excluded[series], excluded.get(series)
    for row in m.tensorflow:
        if (row.cuda or "").startswith("10"):
            assert "410.48" in excluded[row.series] or "418.39" in excluded[row.series]
