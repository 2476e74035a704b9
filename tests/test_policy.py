"""Policy (issue 15): what "ready" means for a pipeline, from flags and [tool.tfgpu] / --config.

Units: loading and validating the policy, each requirement against facts, ignoring (with the
consequences folded under an ignored cause), the verdict. End to end (tfgpu as a subprocess, the
hermetic "no driver" stand-in, or the stand-in NVML with two GPUs): exit codes, the JSON `policy`
and a finding's `ignored`, config precedence, bad input as exit 2 in one line.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import findings_by_id, json_report, run_tfgpu, validate_report
from hypothesis import given, settings
from hypothesis import strategies as st
from test_driver_standin import A100, T4, build_fake_nvml, nvml_env

from tfgpu import policy as pol
from tfgpu.model import Finding, ProbeFailure, ProbeStatus, Report, RunOptions, Severity, Verdict, VerdictStatus
from tfgpu.probes.driver import DriverInfo, GpuInfo
from tfgpu.probes.environment import EnvVars
from tfgpu.verdict import decide

GIB = 1024**3
#: The ids the driver-present check gives a machine without a driver: driver-missing, or in a
#: container started without GPU access (this test machine may be one), container-no-gpu-passthrough.
NO_DRIVER_IDS = ("driver-missing", "container-no-gpu-passthrough")


# --- loading ---------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_flags_and_no_config_is_no_policy(tmp_path):
    policy, notes = pol.load(pol.Flags(), cwd=str(tmp_path))
    assert policy == pol.Policy() and notes == []
    assert policy.to_dict() == {"fail_on": "error", "required": {}, "ignored": [], "source": None}


def test_flags_alone(tmp_path):
    flags = pol.Flags(require_gpus=2, require_vram=16, require_cc="sm_80", require_tf=">=2.16, <2.22",
                      fail_on="warning", ignore=("driver-missing",))
    policy, _ = pol.load(flags, cwd=str(tmp_path))
    assert policy.to_dict() == {
        "fail_on": "warning", "required": {"gpus": 2, "vram_gib": 16.0, "cc": "8.0", "tf": ">=2.16, <2.22"},
        "ignored": [{"id": "driver-missing", "reason": pol.FLAG_REASON}], "source": "flags"}


def test_pyproject_table_and_flags_win_key_by_key(tmp_path):
    write(tmp_path / "pyproject.toml", """
[project]
name = "trainer"

[tool.tfgpu]
require-gpus = 4
require-cc = "8.0"
fail-on = "warning"
ignore = [{id = "driver-missing", reason = "CPU runner"}, "gpu-ptx-jit"]
""")
    policy, notes = pol.load(pol.Flags(require_gpus=2, ignore=("gpu-ptx-jit", "mig-enabled")), cwd=str(tmp_path))
    assert notes == []
    assert policy.source == "pyproject.toml"
    assert (policy.require_gpus, policy.require_cc, policy.fail_on) == (2, "8.0", "warning")
    assert {i.id: i.reason for i in policy.ignore} == {
        "driver-missing": "CPU runner", "gpu-ptx-jit": pol.FLAG_REASON, "mig-enabled": pol.FLAG_REASON}


def test_config_file_replaces_the_working_directorys_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.tfgpu]\nrequire-gpus = 4\nrequire-vram = 8\n")
    top = write(tmp_path / "ci" / "tfgpu.toml", "require-gpus = 1\n")
    policy, _ = pol.load(pol.Flags(), config=str(top), cwd=str(tmp_path))
    assert (policy.require_gpus, policy.require_vram_gib, policy.source) == (1, None, str(top))
    nested = write(tmp_path / "other" / "pyproject.toml", "[tool.tfgpu]\nrequire-tf = '==2.21.*'\n")
    policy, _ = pol.load(pol.Flags(), config=str(nested), cwd=str(tmp_path))
    assert (policy.require_gpus, policy.require_tf) == (None, "==2.21.*")


def test_a_pyproject_without_the_table_is_no_policy(tmp_path):
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n[tool.ruff]\nline-length = 100\n")
    assert pol.load(pol.Flags(), cwd=str(tmp_path)) == (pol.Policy(), [])


def test_a_broken_pyproject_not_named_is_a_note_unless_it_holds_the_table(tmp_path):
    write(tmp_path / "pyproject.toml", "[project\nname = 'x'\n[tool]\ntfgpu = {}\n")
    policy, notes = pol.load(pol.Flags(require_gpus=1), cwd=str(tmp_path))
    assert policy.require_gpus == 1 and policy.source == "flags"
    assert len(notes) == 1 and "pyproject.toml: not valid TOML" in notes[0] and "going on" in notes[0]
    write(tmp_path / "pyproject.toml", "[project\nname = 'x'\n")  # no tfgpu key: not even parsed
    assert pol.load(pol.Flags(require_gpus=1), cwd=str(tmp_path))[1] == []
    write(tmp_path / "pyproject.toml", "[tool.tfgpu]\nrequire-gpus = = 2\n")
    with pytest.raises(pol.PolicyError, match="not valid TOML"):
        pol.load(pol.Flags(), cwd=str(tmp_path))


@pytest.mark.parametrize("table, message", [
    ("require-gpus = '2'", "require-gpus: expected a whole number"),
    ("require-gpus = true", "require-gpus: expected a whole number"),
    ("require-gpus = -1", "require-gpus: expected a whole number"),
    ("require-vram = 0", "require-vram: expected GiB"),
    ("require-vram = nan", "require-vram: expected GiB"),
    ("require-cc = 8.6", "require-cc: expected a compute capability"),
    ("require-cc = 'eight'", "require-cc: expected a compute capability"),
    ("require-tf = '2.16'", "is not a PEP 440 version specifier"),
    ("require-tf = '>=2.16,=>2'", "is not a PEP 440 version specifier"),
    ("fail-on = 'info'", "fail-on: expected 'error' or 'warning'"),
    ("ignore = 'driver-missing'", "ignore: expected a list"),
    ("ignore = ['Driver Missing']", "ignore[0]: expected a finding or check id"),
    ("ignore = [{id = 'driver-missing', why = 'x'}]", "ignore[0]: unknown key 'why'"),
    ("ignore = [{reason = 'x'}]", "ignore[0]: missing id"),
    ("require-gpu = 2", "unknown key 'require-gpu'"),
])
def test_bad_table_values_name_the_key(tmp_path, table, message):
    cfg = write(tmp_path / "tfgpu.toml", table + "\n")
    with pytest.raises(pol.PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        pol.load(pol.Flags(), config=str(cfg), cwd=str(tmp_path))


@pytest.mark.parametrize("flags, message", [
    (pol.Flags(strict=True, fail_on="error"), "--strict .* and --fail-on error: choose one"),
    (pol.Flags(require_cc="9"), "--require-cc: expected"),
    (pol.Flags(require_tf="tensorflow>=2"), "not a PEP 440 version specifier"),
    (pol.Flags(ignore=("ok", "bad id")), "--ignore: expected a finding or check id"),
])
def test_bad_flags(tmp_path, flags, message):
    with pytest.raises(pol.PolicyError, match=message):
        pol.load(flags, cwd=str(tmp_path))


def test_strict_is_fail_on_warning(tmp_path):
    assert pol.load(pol.Flags(strict=True), cwd=str(tmp_path))[0].fail_on == "warning"
    assert pol.load(pol.Flags(strict=True, fail_on="warning"), cwd=str(tmp_path))[0].fail_on == "warning"


@pytest.mark.parametrize("name, text, message", [
    ("missing.toml", None, "no such file"),
    ("dir.toml", "", "is a directory"),
    ("bad.toml", "require-gpus = [", "not valid TOML"),
    ("pyproject.toml", "[project]\nname = 'x'\n", "no \\[tool.tfgpu\\] table"),
    ("latin1.toml", b"# caf\xe9\n", "not UTF-8"),
])
def test_unusable_config_file(tmp_path, name, text, message):
    path = tmp_path / name
    if name == "dir.toml":
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(pol.PolicyError, match=message):
        pol.load(pol.Flags(), config=str(path), cwd=str(tmp_path))


# --- the requirements against facts ----------------------------------------------------------------


def gpu(index: int, cc: str = "8.0", free_gib: float | None = 70.0, uuid: str | None = None) -> GpuInfo:
    return GpuInfo(index, "NVIDIA A100-SXM4-80GB", uuid=uuid or f"GPU-{index:08d}", compute_capability=cc,
                   memory_total_bytes=80 * GIB, memory_free_bytes=None if free_gib is None else int(free_gib * GIB))


def report_of(findings: tuple[Finding, ...] = (), **facts) -> Report:
    return Report(Verdict(VerdictStatus.UNKNOWN, "?"), dict(facts), findings, {}, "0")


def driver(*gpus: GpuInfo) -> DriverInfo:
    return DriverInfo("nvml", "535.104.05", "12.2", "12.535", tuple(gpus))


NO_DRIVER = ProbeFailure("driver", ProbeStatus.NOT_FOUND, "libnvidia-ml.so.1 could not be loaded")


def test_gpus_by_nvml_after_cuda_visible_devices():
    two = driver(gpu(0), gpu(1))
    ok = pol.check_gpus(report_of(driver=two), 2)
    assert (ok.id, ok.severity, ok.evidence["measured"], ok.evidence["source"]) == \
        ("policy-gpus", Severity.OK, 2, "nvml")
    hidden = pol.check_gpus(report_of(driver=two, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "1"})), 2)
    assert hidden.severity is Severity.ERROR and hidden.evidence["measured"] == 1
    assert "1 GPU visible" in hidden.summary and "2 required" in hidden.summary
    assert hidden.fixes[0].commands == ("unset CUDA_VISIBLE_DEVICES",)
    # CUDA stops at the first entry that names no device: "0,7,1" shows only GPU 0.
    cut = pol.check_gpus(report_of(driver=two, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "0,7,1"})), 2)
    assert cut.evidence["measured"] == 1
    by_uuid = pol.visible_gpus(report_of(driver=two, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "GPU-00000001"})))[0]
    assert by_uuid is not None and [g.index for g in by_uuid.gpus] == [1]
    short = pol.check_gpus(report_of(driver=driver(gpu(0))), 2)
    assert short.severity is Severity.ERROR and "at least 2 GPUs" in short.fixes[0].summary


def test_gpus_live_counts_what_tensorflow_listed():
    two = driver(gpu(0), gpu(1))
    live = SimpleNamespace(outcome="ok", gpus=(SimpleNamespace(name="/GPU:0"),), error=None)
    f = pol.check_gpus(report_of(driver=two, tf_live=live), 2)
    assert f.severity is Severity.ERROR and f.evidence["source"] == "tensorflow" and f.evidence["measured"] == 1
    assert f.summary == "1 GPU visible to TensorFlow, 2 required"
    failed = SimpleNamespace(outcome="import_error", gpus=(), error="ModuleNotFoundError: No module named 'tensorflow'")
    f = pol.check_gpus(report_of(driver=two, tf_live=failed), 1)
    assert f.id == "policy-unmeasurable" and f.check == "policy-gpus" and "No module named" in f.summary


def test_no_driver_is_unmeasurable_with_why():
    for check in (lambda r: pol.check_gpus(r, 1), lambda r: pol.check_vram(r, 8), lambda r: pol.check_cc(r, "8.0")):
        f = check(report_of(driver=NO_DRIVER))
        assert (f.id, f.severity, f.area) == ("policy-unmeasurable", Severity.ERROR, "policy")
        assert "could not be loaded" in f.summary and f.evidence["measured"] is None and f.evidence["why"]


def test_vram_is_free_memory_on_every_visible_gpu():
    two = driver(gpu(0, free_gib=70), gpu(1, free_gib=3.5))
    f = pol.check_vram(report_of(driver=two), 16)
    assert f.severity is Severity.ERROR and f.summary.startswith("GPU 1 (NVIDIA A100-SXM4-80GB) has 3.5 GiB free")
    assert "16 GiB required" in f.summary and f.evidence["measured"] == {"0": 70.0, "1": 3.5}
    only_0 = report_of(driver=two, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "0"}))
    assert pol.check_vram(only_0, 16).severity is Severity.OK
    unknown = pol.check_vram(report_of(driver=driver(gpu(0, free_gib=None))), 16)
    assert unknown.id == "policy-unmeasurable" and "GPU 0" in unknown.summary
    hidden = pol.check_vram(report_of(driver=two, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "-1"})), 16)
    assert hidden.id == "policy-unmeasurable" and "no GPU is visible" in hidden.summary


def test_cc_on_every_visible_gpu_and_the_gpus_that_would_do():
    mixed = driver(gpu(0, cc="7.5"), gpu(1, cc="9.0"))
    f = pol.check_cc(report_of(driver=mixed), "8.0")
    assert f.severity is Severity.ERROR and "compute capability 7.5" in f.summary and "8.0 or higher" in f.summary
    assert f.evidence == {"required": "8.0", "measured": {"0": "7.5", "1": "9.0"}}
    pci = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}  # indexes in NVML's order (see the next test otherwise)
    chosen = report_of(driver=mixed, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "0", **pci}))
    f = pol.check_cc(chosen, "8.0")
    # One command, never an export and an unset in a row (pasted, the unset would show GPU 0 again); by
    # UUID, as CUDA's index order (fastest first) need not be NVML's.
    assert f.severity is Severity.ERROR and f.fixes[0].commands == ("export CUDA_VISIBLE_DEVICES=GPU-00000001",)
    no_uuid = driver(gpu(0, cc="7.5"), GpuInfo(1, "NVIDIA H100", uuid=None, compute_capability="9.0"))
    f = pol.check_cc(report_of(driver=no_uuid, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "0", **pci})), "8.0")
    assert f.fixes[0].commands == ("export CUDA_VISIBLE_DEVICES=1",)
    assert pol.check_cc(report_of(driver=mixed, environment=EnvVars({"CUDA_VISIBLE_DEVICES": "1", **pci})),
                        "8.0").severity is Severity.OK
    assert pol.check_cc(report_of(driver=mixed), "10.0").severity is Severity.ERROR  # 10.0 > 9.0, numerically


def test_an_index_into_gpus_of_different_models_is_unknown_unless_cuda_numbers_them_in_pci_order():
    # CUDA's default order is fastest first (the rest unspecified); NVML's is PCI order. With mixed
    # models, "1" may name either GPU: the per-GPU requirements cannot be judged, and say how to fix that.
    mixed = driver(gpu(0, cc="7.5"), GpuInfo(1, "NVIDIA H100", uuid="GPU-00000001", compute_capability="9.0",
                                              memory_free_bytes=70 * GIB))
    env = EnvVars({"CUDA_VISIBLE_DEVICES": "1"})
    for f in (pol.check_cc(report_of(driver=mixed, environment=env), "8.0"),
              pol.check_vram(report_of(driver=mixed, environment=env), 16)):
        assert f.id == "policy-unmeasurable" and "fastest first" in f.summary
        assert f.fixes[0].commands == ("export CUDA_DEVICE_ORDER=PCI_BUS_ID",)
    # The count is right either way; a UUID, the PCI order, or GPUs of one model make it known.
    assert pol.check_gpus(report_of(driver=mixed, environment=env), 1).severity is Severity.OK
    for known in (EnvVars({"CUDA_VISIBLE_DEVICES": "GPU-00000001"}),
                  EnvVars({"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})):
        assert pol.check_cc(report_of(driver=mixed, environment=known), "8.0").severity is Severity.OK
    same = driver(gpu(0), gpu(1))
    assert pol.check_cc(report_of(driver=same, environment=env), "8.0").severity is Severity.OK


def test_tf_specifier_on_the_installed_version():
    build = SimpleNamespace(version="2.21.0", distribution="tensorflow")
    assert pol.check_tf(report_of(tf_build=build), ">=2.16,<2.22").severity is Severity.OK
    f = pol.check_tf(report_of(tf_build=build), "<2.20")
    assert f.severity is Severity.ERROR and f.summary == "tensorflow 2.21.0 installed, <2.20 required"
    assert f.fixes and "'tensorflow[and-cuda]<2.20'" in f.fixes[0].commands[0] and len(f.fixes[0].commands) == 1
    # Another distribution of TensorFlow goes first: installed beside it, tensorflow overwrites its files.
    cpu = SimpleNamespace(version="2.21.0", distribution="tensorflow-cpu")
    (fix,) = pol.check_tf(report_of(tf_build=cpu), "<2.20").fixes
    assert len(fix.commands) == 2 and fix.commands[0].endswith("uninstall -y tensorflow-cpu")
    assert "'tensorflow[and-cuda]<2.20'" in fix.commands[1]
    rc = SimpleNamespace(version="2.22.0rc1", distribution="tensorflow")
    # What is installed is judged, a pre-release or not.
    assert pol.check_tf(report_of(tf_build=rc), ">=2.21").severity is Severity.OK
    missing = ProbeFailure("tf_build", ProbeStatus.NOT_FOUND, "TensorFlow is not installed")
    f = pol.check_tf(report_of(tf_build=missing), ">=2.16")
    assert f.id == "policy-tf" and f.severity is Severity.ERROR and f.evidence["measured"] is None


# --- ignoring and the verdict ----------------------------------------------------------------------


def finding(id: str, severity: Severity = Severity.ERROR, check: str = "", root_cause: str = "",
            area: str = "driver") -> Finding:
    return Finding(id, check or id, severity, f"summary of {id}", area=area, root_cause=root_cause)


def test_ignored_by_id_or_check_and_consequences_follow_their_cause():
    findings = [finding("driver-missing", check="driver-present"),
                finding("gpu-memory-skipped", Severity.SKIPPED, root_cause="driver-missing"),
                finding("tf-live-no-gpu", root_cause="driver-missing", area="live"),
                finding("cuinit-failed", root_cause="tf-live-no-gpu", area="live"),
                finding("tf-not-installed"),
                finding("policy-unmeasurable", check="policy-gpus", area="policy")]
    marked = {f.id: f.ignored for f in pol.mark_ignored(findings, [pol.Ignore("driver-present", "CPU runner")])}
    assert marked["driver-missing"] == "CPU runner"
    assert marked["gpu-memory-skipped"] == marked["tf-live-no-gpu"] == \
        "follows from driver-missing, ignored: CPU runner"
    assert marked["cuinit-failed"].startswith("follows from tf-live-no-gpu")  # a chain, to its end
    assert marked["tf-not-installed"] == "" and marked["policy-unmeasurable"] == ""  # a requirement is never folded
    report = report_of(tuple(pol.mark_ignored(findings[:4], [pol.Ignore("driver-missing", "x")])))
    assert report.worst is Severity.OK  # every problem ignored


def test_a_failed_requirement_makes_a_ready_machine_not_ready():
    ready = [Finding("tf-cuda-build", "tf-cuda-build", Severity.OK, "ok", area="tensorflow"),
             Finding("driver-ok", "driver-supports-tf-cuda", Severity.OK, "ok", area="driver")]
    facts = {"driver": driver(gpu(0))}
    assert decide(facts, ready, RunOptions()).status is VerdictStatus.READY
    unmet = finding("policy-gpus", area="policy")
    verdict = decide(facts, [*ready, unmet], RunOptions())
    assert verdict.status is VerdictStatus.NOT_READY
    assert verdict.headline == "TensorFlow does not meet this pipeline's requirements: summary of policy-gpus"
    machine = decide(facts, [*ready, unmet, finding("driver-too-old")], RunOptions())
    assert machine.headline.endswith("will not use a GPU: summary of driver-too-old")  # the machine's error first


def test_apply_adds_findings_and_the_policy_and_notes_unknown_ignores(tmp_path):
    from tfgpu.checks import load_all

    base = report_of((finding("driver-missing", check="driver-present"),), driver=NO_DRIVER)
    policy, _ = pol.load(pol.Flags(require_gpus=1, ignore=("driver-missing", "driver-misisng")), cwd=str(tmp_path))
    out, notes = pol.apply(base, policy, registry=load_all())
    assert [f.id for f in out.findings] == ["driver-missing", "policy-unmeasurable"]
    assert out.findings[0].ignored == pol.FLAG_REASON and out.policy["required"] == {"gpus": 1}
    assert len(notes) == 1 and "driver-misisng" in notes[0] and "did you mean driver-missing" in notes[0]


def test_apply_offers_only_requirement_fixes_that_can_work_for_that_release(tmp_path):
    # Every fix passes the command check a check's fixes pass: 'tensorflow[and-cuda]<2.14' names an extra
    # that no release before 2.14 has (pip would install no CUDA library), so it is not offered.
    from tfgpu.matrix import load

    build = SimpleNamespace(version="2.21.0", distribution="tensorflow")
    python = SimpleNamespace(executable="/srv/venv/bin/python", version="3.11.7")
    commands = {}
    for spec in ("<2.14", ">=2.16,<2.19"):
        policy, _ = pol.load(pol.Flags(require_tf=spec), cwd=str(tmp_path))
        out, _ = pol.apply(report_of(tf_build=build, python_env=python), policy, matrix=load(None))
        (f,) = [f for f in out.findings if f.check == "policy-tf"]
        assert f.severity is Severity.ERROR
        commands[spec] = [c for fix in f.fixes for c in fix.commands]
    assert not any("[and-cuda]<2.14" in c for c in commands["<2.14"])
    assert any("'tensorflow[and-cuda]>=2.16,<2.19'" in c for c in commands[">=2.16,<2.19"])


# --- end to end ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_gpus(cc, tmp_path_factory) -> dict[str, str]:
    return nvml_env(build_fake_nvml(cc, tmp_path_factory.mktemp("nvml")), f"{A100};{A100}")


def errors_counted(report: dict) -> list[str]:
    return [f["id"] for f in report["findings"] if f["severity"] == "error" and "ignored" not in f]


def test_require_gpus_without_a_driver_exits_1_with_a_policy_finding():
    report, _ = json_report("doctor", "--fast", "--json", "--require-gpus", "1", expect_codes=(1,))
    (f,) = [f for f in report["findings"] if f["check"] == "policy-gpus"]
    assert f["id"].startswith("policy-") and f["severity"] == "error" and f["area"] == "policy"
    assert f["evidence"]["required"] == 1 and f["evidence"]["why"]
    assert report["policy"] == {"fail_on": "error", "required": {"gpus": 1}, "ignored": [], "source": "flags"}


def test_without_a_policy_the_report_says_so():
    report, _ = json_report("doctor", "--fast", "--json", expect_codes=(1,))
    assert report["policy"] == {"fail_on": "error", "required": {}, "ignored": [], "source": None}
    assert not any(f["area"] == "policy" or "ignored" in f for f in report["findings"])


def test_two_standin_gpus_meet_require_gpus_2_not_3(two_gpus):
    # tf-installed is ignored: this tfgpu's own Python has no TensorFlow, and only the GPU count is in question.
    two, _ = json_report("doctor", "--fast", "--json", "--ignore", "tf-installed", "--require-gpus", "2",
                         env=two_gpus, expect_codes=(0,))
    (f,) = findings_by_id(two)["policy-gpus"]
    assert f["severity"] == "ok" and f["evidence"]["measured"] == 2 and f["evidence"]["source"] == "nvml"
    assert errors_counted(two) == []
    three, _ = json_report("doctor", "--fast", "--json", "--ignore", "tf-installed", "--require-gpus", "3",
                           env=two_gpus, expect_codes=(1,))
    (f,) = findings_by_id(three)["policy-gpus"]
    assert f["severity"] == "error" and (f["evidence"]["required"], f["evidence"]["measured"]) == (3, 2)
    assert f["summary"] == "2 GPUs visible to NVML, 3 required"
    assert errors_counted(three) == ["policy-gpus"]
    assert three["verdict"]["status"] == "not_ready"
    hidden, _ = json_report("doctor", "--fast", "--json", "--ignore", "tf-installed", "--require-gpus", "2",
                            env={**two_gpus, "CUDA_VISIBLE_DEVICES": "1"}, expect_codes=(1,))
    (f,) = findings_by_id(hidden)["policy-gpus"]
    assert f["evidence"]["measured"] == 1 and f["fixes"][0]["commands"] == ["unset CUDA_VISIBLE_DEVICES"]


def test_vram_and_cc_against_the_standin(cc, tmp_path):
    env = nvml_env(build_fake_nvml(cc, tmp_path / "nvml"), f"{A100},used=78000;{T4}")
    report, _ = json_report("doctor", "--fast", "--json", "--require-vram", "8", "--require-cc", "8.0",
                            env=env, expect_codes=(1,))
    found = findings_by_id(report)
    (vram,) = found["policy-vram"]
    assert vram["severity"] == "error" and vram["summary"].startswith("GPU 0 (NVIDIA A100-SXM4-80GB) has ")
    (cap,) = found["policy-cc"]
    assert cap["severity"] == "error" and "GPU 1 (Tesla T4) has compute capability 7.5" in cap["summary"]


def test_ignore_the_no_driver_finding_keeps_it_marked_and_out_of_the_exit_code():
    plain, _ = json_report("doctor", "--fast", "--json", expect_codes=(1,))
    (driver_id,) = [i for i in NO_DRIVER_IDS if i in findings_by_id(plain)]
    others = [i for i in errors_counted(plain) if i != driver_id]
    assert others == ["tf-not-installed"]  # tfgpu's own Python here has no TensorFlow
    one, proc = json_report("doctor", "--fast", "--json", "--ignore", driver_id, expect_codes=(1,))
    (f,) = findings_by_id(one)[driver_id]
    assert f["severity"] == "error" and f["ignored"] == "--ignore on the command line"
    assert errors_counted(one) == ["tf-not-installed"] and one["summary"]["worst"] == "error"
    assert one["policy"]["ignored"] == [{"id": driver_id, "reason": "--ignore on the command line"}]
    folded = [g for g in one["findings"] if g.get("root_cause") == driver_id]
    assert folded and all(g["ignored"].startswith(f"follows from {driver_id}") for g in folded)
    both, _ = json_report("doctor", "--fast", "--json", "--ignore", driver_id, "--ignore", "tf-not-installed",
                          expect_codes=(0,))
    assert errors_counted(both) == [] and both["verdict"]["status"] == "not_ready"  # the verdict stays true
    by_check, _ = json_report("doctor", "--fast", "--json", "--ignore", "driver-present", "--ignore",
                              "tf-installed", expect_codes=(0,))
    assert findings_by_id(by_check)[driver_id][0]["ignored"]
    assert "tfgpu:" not in proc.stderr  # known ids: no note


def test_rich_view_shows_ignored_findings_as_ignored_not_as_steps():
    proc = run_tfgpu("doctor", "--fast", "--ignore", "driver-present", "--require-tf", ">=2.16")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "ignored (error): --ignore on the command line" in out
    assert "Policy (this pipeline's requirements)" in out and "[policy-tf]" in out
    steps = out[out.index("Next steps"):]
    # Two steps, both TensorFlow's (the ignored driver finding's fixes are no step).
    assert "# 2. " in steps and "# 3. " not in steps and "'tensorflow[and-cuda]>=2.16'" in steps
    assert "1 ignored" in out.splitlines()[-1]
    # Check again, same policy (long form, flag and value as two words since 4288661).
    assert "--ignore driver-present" in steps and "--require-tf '>=2.16'" in steps


def test_fail_on_warning_and_strict(two_gpus, tmp_path):
    # A GPU older than the matrix knows gives a warning, not an error, on this stand-in; use --fail-on.
    env = {**two_gpus, "CUDA_VISIBLE_DEVICES": "0,9"}  # '9' names no GPU: CUDA ignores the rest (a warning)
    base = ("doctor", "--fast", "--json", "--ignore", "tf-installed")
    report, _ = json_report(*base, env=env, expect_codes=(0,))
    assert "warning" in {f["severity"] for f in report["findings"] if "ignored" not in f}
    json_report(*base, "--fail-on", "warning", env=env, expect_codes=(1,))
    json_report(*base, "--strict", env=env, expect_codes=(1,))
    json_report(*base, "--strict", "--fail-on", "warning", env=env, expect_codes=(1,))
    proc = run_tfgpu(*base, "--strict", "--fail-on", "error", env=env)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    cfg = write(tmp_path / "tfgpu.toml", "fail-on = 'warning'\n")
    report, _ = json_report(*base, "--config", str(cfg), env=env, expect_codes=(1,))
    assert report["policy"]["fail_on"] == "warning" and report["policy"]["source"] == str(cfg)
    json_report(*base, "--config", str(cfg), "--fail-on", "error", env=env, expect_codes=(0,))  # flags win


def test_config_precedence_end_to_end(two_gpus, tmp_path):
    write(tmp_path / "pyproject.toml", """[tool.tfgpu]
require-gpus = 3
ignore = [{id = "tf-installed", reason = "the job installs TensorFlow itself"}]
""")
    args = ("doctor", "--fast", "--json")

    def run(*extra: str, code: int) -> dict:
        proc = run_tfgpu(*args, *extra, env=two_gpus, cwd=str(tmp_path))
        assert proc.returncode == code, proc.stderr
        data = json.loads(proc.stdout)
        validate_report(data)
        return data

    from_pyproject = run(code=1)
    assert from_pyproject["policy"]["source"] == "pyproject.toml"
    assert from_pyproject["policy"]["ignored"] == [
        {"id": "tf-installed", "reason": "the job installs TensorFlow itself"}]
    assert findings_by_id(from_pyproject)["tf-not-installed"][0]["ignored"] == "the job installs TensorFlow itself"
    assert findings_by_id(from_pyproject)["policy-gpus"][0]["evidence"]["required"] == 3
    flag_wins = run("--require-gpus", "2", code=0)
    assert flag_wins["policy"]["required"] == {"gpus": 2} and flag_wins["policy"]["source"] == "pyproject.toml"
    cfg = write(tmp_path / "ci" / "tfgpu.toml", "require-gpus = 2\nignore = ['tf-installed']\n")
    from_config = run("--config", str(cfg), code=0)
    assert from_config["policy"]["source"] == str(cfg)
    assert from_config["policy"]["ignored"] == [{"id": "tf-installed", "reason": f"ignored in {cfg}"}]


@pytest.mark.parametrize("files, args, expect", [
    ({"pyproject.toml": "[tool.tfgpu]\nrequire-gpus = 'two'\n"}, (), "pyproject.toml [tool.tfgpu] require-gpus"),
    ({"pyproject.toml": "[tool.tfgpu]\nrequire-gpus = \n"}, (), "pyproject.toml: not valid TOML"),
    ({"p.toml": "require-tf = '>>2'\n"}, ("--config", "p.toml"), "not a PEP 440 version specifier"),
    ({"p.toml": "require-cc = '8'\n"}, ("--config", "p.toml"), "require-cc: expected a compute capability"),
    ({"p.toml": "colour = 'red'\n"}, ("--config", "p.toml"), "unknown key 'colour'"),
    ({}, ("--config", "nowhere.toml"), "nowhere.toml: no such file"),
    ({}, ("--require-tf", "2.16"), "--require-tf: '2.16' is not a PEP 440"),
    ({}, ("--require-gpus", "-2"), "--require-gpus: expected a whole number"),
    ({}, ("--fail-on", "fatal"), "--fail-on: expected 'error' or 'warning'"),
    ({}, ("--ignore", "Not_An_Id"), "--ignore: expected a finding or check id"),
])
def test_bad_policy_input_is_exit_2_in_one_line(tmp_path, files, args, expect):
    for name, text in files.items():
        write(tmp_path / name, text)
    proc = run_tfgpu("doctor", "--fast", "--json", *args, cwd=str(tmp_path))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("tfgpu: ") and expect in line


def test_a_broken_pyproject_not_named_warns_and_goes_on(tmp_path):
    # It has a `tfgpu` key (so it may hold the table) but not as tool.tfgpu: a note, not an error.
    write(tmp_path / "pyproject.toml", "[project\n[tool]\ntfgpu = { fail-on = 'warning' }\n")
    proc = run_tfgpu("doctor", "--fast", "--json", cwd=str(tmp_path))
    assert proc.returncode == 1 and json.loads(proc.stdout)["policy"]["source"] is None
    (line,) = proc.stderr.splitlines()
    assert "pyproject.toml: not valid TOML" in line and "going on without a policy" in line


def test_a_pyproject_with_no_tfgpu_key_is_not_parsed_broken_or_not(tmp_path):
    write(tmp_path / "pyproject.toml", "[project\nname = \"uses-tfgpu\"\n# tfgpu runs in CI\n")
    proc = run_tfgpu("doctor", "--fast", "--json", cwd=str(tmp_path))
    assert proc.returncode == 1 and json.loads(proc.stdout)["policy"]["source"] is None
    assert proc.stderr == ""  # none of tfgpu's business


#: (pyproject.toml text, whether it holds a [tool.tfgpu] table) in the forms TOML allows.
_FORMS = [
    ("[tool.tfgpu]\nfail-on = 'warning'\n", True), ('[ tool . "tfgpu" ]\nfail-on = "warning"\n', True),
    ("[tool]\ntfgpu = { fail-on = 'warning' }\n", True), ("tool.tfgpu.fail-on = 'warning'\n", True),
    ("tool = { tfgpu = { fail-on = 'warning' } }\n", True), ("[tool.'tfgpu']\nfail-on = 'warning'\n", True),
    ("[tool]\ntfgpu.fail-on = 'warning'\n", True), ('[tool."tf\\u0067pu"]\nfail-on = "warning"\n', True),
    ("[tool.tfgpu.extra]\nx = 1\n", True), ("tool.\ttfgpu\t.fail-on='warning'\n", True),
    ("[project]\nname = 'tfgpu-user'\ndependencies = ['tfgpu>=0.2']\n# tfgpu\n", False),
    ("[tool.not-tfgpu]\nx = 1\n[tool.ruff]\nline-length = 99\n", False),
]


@pytest.mark.parametrize("text,holds", _FORMS)
def test_the_pre_check_never_skips_a_file_that_holds_the_table(text, holds):
    from tfgpu.policy import _MAY_HOLD_TABLE

    tomllib = pytest.importorskip("tomllib")

    assert ("tfgpu" in tomllib.loads(text).get("tool", {})) is holds  # the case is what it claims
    if holds:
        assert _MAY_HOLD_TABLE.search(text)


def test_unknown_ignore_id_is_a_note_not_an_error():
    report, proc = json_report("doctor", "--fast", "--json", "--ignore", "driver-mising", expect_codes=(1,))
    (line,) = proc.stderr.splitlines()
    assert "--ignore driver-mising" in line and "did you mean driver-missing" in line
    assert report["policy"]["ignored"] == [{"id": "driver-mising", "reason": "--ignore on the command line"}]


def test_from_facts_replays_an_old_report_under_this_runs_policy(two_gpus, tmp_path):
    saved, _ = json_report("doctor", "--fast", "--json", env=two_gpus, expect_codes=(1,))
    saved.pop("policy")  # written before the policy existed
    for f in saved["findings"]:
        f.pop("ignored", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(saved))
    replay, _ = json_report("doctor", "--json", "--from-facts", str(path), "--require-gpus", "2", "--ignore",
                            "tf-installed", expect_codes=(0,))
    (f,) = findings_by_id(replay)["policy-gpus"]
    assert f["severity"] == "ok" and f["evidence"]["measured"] == 2


def test_the_checks_reference_names_every_requirement():
    """docs/checks.md (tfgpu.render.checks) has a section per requirement: the same ids as the policy's."""
    from tfgpu.render import checks as reference

    assert {p[0] for p in reference.POLICY_CHECKS} == set(pol.CHECKS.values())
    assert reference.POLICY_UNMEASURABLE == pol.UNMEASURABLE
    keys = {p[2] for p in reference.POLICY_CHECKS}
    assert keys <= set(pol.KEYS)


# --- any input: a policy or one PolicyError, nothing else ------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                     st.text(max_size=20),
                     st.sampled_from(["8.6", "sm_90", ">=2.16", "error", "warning", "driver-missing"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["id", "reason", "why"]), inner, max_size=3)),
    max_leaves=8)
_FUZZ = settings(max_examples=200, deadline=timedelta(seconds=2), derandomize=True)


@_FUZZ
@given(st.dictionaries(st.sampled_from([*pol.KEYS, "other"]), _VALUES, max_size=6))
def test_any_table_is_a_policy_or_one_policy_error(table):
    try:
        values = pol.read_table({k: v for k, v in table.items() if v is not None}, "tfgpu.toml")
    except pol.PolicyError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("tfgpu.toml")
        return
    assert set(values) <= {"require_gpus", "require_vram_gib", "require_cc", "require_tf", "fail_on", "ignore"}


@_FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_is_one_policy_error(text):
    try:
        data = pol.parse_toml(text, "tfgpu.toml")
    except pol.PolicyError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(data, dict)


def test_a_broken_table_header_in_pyproject_is_still_an_error(tmp_path):
    # `[tool.tfgpu` (a typo) fails the key pre-check but plainly means tfgpu's table: an error, as before.
    for header in ("[tool.tfgpu\n", "[tool.tfgpu}\n"):
        write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n" + header + "fail-on = 'warning'\n")
        with pytest.raises(pol.PolicyError, match="not valid TOML"):
            pol.load(pol.Flags(), cwd=str(tmp_path))


def test_the_pre_check_keeps_a_key_spelled_with_a_toml_1_1_hex_escape():
    from tfgpu.policy import _MAY_HOLD_TABLE

    assert _MAY_HOLD_TABLE.search('[tool."tf\\x67pu"]\nrequire-gpus = 4\n')  # tomli (Python 3.10) reads \x67
