"""The report a person reads (issue 13): one cause once (consequences folded under it, a
`root_cause` link in --json), identical GPUs grouped, no fix command twice, numbered next steps,
-q/-v, hanging indents within the width, no wrapping for pipes, and every suggested tfgpu command
rebuilt from the invocation."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_tfgpu, validate_report
from test_driver_machines import MACHINES, gpu, H100, driver, machine

from tfgpu.invocation import doctor_command
from tfgpu.matrix import load
from tfgpu.model import Finding, Fix, Report, RunOptions, Severity, Verdict, VerdictStatus
from tfgpu.render.json import report_to_dict
from tfgpu.render.rich import render
from tfgpu.runner import build_report
from tfgpu.verdict import link_root_causes
from test_driver_standin import driver_matrix_path


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    return load(str(driver_matrix_path(tmp_path_factory.mktemp("m"))))


def _report(matrix, facts, **opts) -> Report:
    return build_report(dict(facts), {"probes_total": 0.0}, matrix, None, RunOptions(fast=True, **opts))


def _commands(text: str) -> list[str]:
    """Every command line the text report shows: `$ ` lines, and the next-steps block's lines."""
    out, block = [], False
    for line in text.split("\n"):
        if line.startswith("Next steps"):
            block = True
            continue
        stripped = line.strip()
        if stripped.startswith("$ "):
            out.append(stripped[2:])
        elif block and stripped and not stripped.startswith("#") and line.startswith("  "):
            out.append(stripped)
        elif block and not stripped:
            block = False
    return out


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_no_fix_command_twice_on_any_named_machine(matrix, name):
    report = _report(matrix, MACHINES[name], argv=("doctor", "--python", "/srv/venv/bin/python"))
    for level in ("normal", "verbose", "quiet"):
        text = render(report, width=80, level=level, rerun=doctor_command(report and RunOptions(argv=("doctor",))))
        twice = [c for c, n in Counter(_commands(text)).items() if n > 1]
        assert not twice, (name, level, twice)
    validate_report(report_to_dict(report))


def test_no_driver_is_one_cause_with_its_consequences(matrix):
    report = _report(matrix, MACHINES["no_driver"])
    by_id = {f.id: f for f in report.findings}
    assert by_id["driver-missing"].root_cause == ""
    for skipped in ("driver-supports-tf-cuda-skipped", "gpu-compute-capability-skipped", "gpu-memory-skipped"):
        assert by_id[skipped].root_cause == "driver-missing"
    data = report_to_dict(report)
    linked = [f for f in data["findings"] if f.get("root_cause") == "driver-missing"]
    assert linked and all(f["summary"] and "evidence" in f for f in linked)  # every fact kept
    assert "root_cause" not in next(f for f in data["findings"] if f["id"] == "driver-missing")
    validate_report(data)
    text = render(report, width=80)
    assert text.count("Because of this:") >= 1
    assert text.count("[driver-missing]") == 1


def _live_finding(fid: str, summary: str, fixes=()) -> Finding:
    return Finding(fid, "tf-live", Severity.ERROR, summary, fixes=tuple(fixes), area="live")


def test_live_no_gpu_and_its_log_fold_under_the_static_cause():
    pip = Fix("Install [and-cuda]", ("python -m pip install 'tensorflow[and-cuda]==2.21.*'",))
    findings = [
        Finding("driver-missing", "driver-present", Severity.ERROR, "No NVIDIA driver",
                fixes=(Fix("Install a driver", ("sudo apt-get install -y nvidia-driver-580", "sudo reboot")),),
                area="driver"),
        Finding("cuda-lib-missing", "cuda-libraries-loadable", Severity.ERROR, "9 libraries missing", fixes=(pip,),
                area="libraries"),
        Finding("and-cuda-missing", "and-cuda-requirements", Severity.ERROR, "no [and-cuda]", fixes=(pip,),
                area="libraries"),
        _live_finding("tf-live-no-gpu", "listed no GPU", [Fix("check", ("nvidia-smi",))]),
        _live_finding("cuinit-failed", "cuInit 303"),
        Finding("tf-live-imported", "tf-live", Severity.INFO, "imported", area="live"),
    ]
    linked = {f.id: f.root_cause for f in link_root_causes({}, findings)}
    assert linked == {"driver-missing": "", "cuda-lib-missing": "and-cuda-missing", "and-cuda-missing": "",
                      "tf-live-no-gpu": "driver-missing", "cuinit-failed": "driver-missing", "tf-live-imported": ""}
    report = Report(Verdict(VerdictStatus.NOT_READY, "no"), {}, tuple(link_root_causes({}, findings)),
                    {"total": 1.0}, "0")
    text = render(report, width=80)
    assert text.count("pip install 'tensorflow[and-cuda]==2.21.*'") == 1
    assert "nvidia-smi" not in _commands(text)  # a consequence's fix is not offered again
    steps = text[text.index("Next steps"):]
    # Numbered, in the chain's order, the reboot last.
    assert steps.index("# 1.") < steps.index("nvidia-driver-580") < steps.index("# 2.") < steps.index("[and-cuda]")
    assert steps.index("[and-cuda]") < steps.index("sudo reboot")


def test_identical_gpus_are_one_line_and_stay_per_gpu_in_json(matrix):
    eight = driver("535.104.05", "12.2", *(gpu(i, *H100) for i in range(8)))
    report = _report(matrix, machine(eight))
    jit = [f for f in report.findings if f.id == "gpu-ptx-jit"]
    assert len(jit) == 8 and len(report_to_dict(report)["findings"]) == len(report.findings)
    text = render(report, width=120)
    assert "GPUs 0–7 (NVIDIA H100 80GB HBM3)" in text
    assert text.count("[gpu-ptx-jit]") == 1


def test_quiet_and_verbose(matrix):
    report = _report(matrix, MACHINES["driver_470_t4_tf221"])
    normal = render(report, width=100)
    quiet = render(report, width=100, level="quiet")
    verbose = render(report, width=100, level="verbose")
    assert quiet.splitlines()[0].startswith("NOT READY") and "Next steps" in quiet
    assert "Host " not in quiet and "[driver-too-old]" in quiet
    assert len(quiet.splitlines()) < len(normal.splitlines()) < len(verbose.splitlines())
    assert "✔" in verbose and "[tf-cuda-build]" in verbose
    assert "[tf-cuda-build]" not in normal  # OK checks fold into one line
    assert normal.rstrip().splitlines()[-1].startswith("NOT READY")  # the last line is the verdict, not counts


def test_ready_report_is_short_and_says_predicted_once(matrix):
    report = _report(matrix, MACHINES["driver_555_h100_tf221"])
    text = render(report, width=100)
    assert text.count("predicted") <= 1
    assert sum(1 for line in text.splitlines() if line.lstrip().startswith("✔")) <= 3


def test_hanging_indents_hold_at_80_columns(matrix):
    for name in ("no_driver", "driver_470_t4_tf221", "container_without_gpus", "a100_busy"):
        text = render(_report(matrix, MACHINES[name]), width=80)
        commands = set(_commands(text))
        for line in text.splitlines():
            stripped = line.strip()
            if len(line) > 80:
                # Only what must stay pasteable runs past the width: a command or a link.
                assert stripped in commands or stripped.lstrip("$ ") in commands or stripped.startswith("http"), line
            # A wrapped line never restarts at column 0 under an indented block, and no id stands alone.
            assert not re.fullmatch(r"\[[a-z0-9-]+\]", stripped), line


def test_unbounded_width_does_not_wrap(matrix):
    report = _report(matrix, MACHINES["no_driver"])
    text = render(report, width=None)
    summary = next(f.summary for f in report.findings if f.id == "driver-missing")
    assert any(summary in line for line in text.splitlines())


def test_piped_doctor_is_not_hard_wrapped(tmp_path):
    env = {"COLUMNS": ""}
    proc = run_tfgpu("doctor", "--fast", env=env)
    long_lines = [ln for ln in proc.stdout.splitlines() if len(ln) > 100]
    assert long_lines, "nothing on this report is longer than 100 characters: the test proves nothing"


@pytest.mark.parametrize("argv, want", [
    (("doctor", "--python", "/home/me/my env/bin/python", "--live-timeout", "200"),
     "tfgpu doctor --python '/home/me/my env/bin/python' --live-timeout 300"),
    (("doctor", "tf-live", "--python", "/p/python", "--fast", "--matrix", "m.yaml"),
     "tfgpu doctor tf-live --python /p/python --matrix m.yaml --live-timeout 300"),
    ((), "tfgpu doctor --live-timeout 300"),
])
def test_suggested_commands_keep_the_invocation(argv, want):
    got = doctor_command(RunOptions(argv=argv), {"--live-timeout": "300"}, drop=("--fast",))
    assert got == want
    assert shlex.split(got)[0] == "tfgpu"
    save = doctor_command(RunOptions(argv=argv), {"--json": None}, redirect="tfgpu-report.json")
    assert save.endswith("--json > tfgpu-report.json") and ("--python" in save) == ("--python" in argv)


def test_the_cli_records_its_invocation(tmp_path):
    from tfgpu.doctor import _doctor_argv

    argv = _doctor_argv(["tf-live"], "/x/python", False, True, 30.0, 300.0, None, True, Path("m.yaml"))
    assert argv == ("doctor", "tf-live", "--python", "/x/python", "--matrix", "m.yaml", "--no-smoke", "--strict",
                    "--live-timeout", "300")


def test_recommend_groups_reasons_and_takes_sm_form():
    proc = run_tfgpu("recommend", "--driver", "470.82.01", "--cc", "sm_75", "--python-version", "3.11",
                     "--os", "windows", env={"COLUMNS": "80"})
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "GPU cc 7.5" in out
    assert "2.11–2.21: no NVIDIA GPU support on windows-native" in out
    assert out.count("no NVIDIA GPU support on windows-native") == 1
    assert "on WSL2 (same Windows machine): TensorFlow 2.14" in out
    ok = run_tfgpu("recommend", "--driver", "560.94", "--cc", "sm_86", "--python-version", "3.12", "--os", "linux")
    assert ok.returncode == 0 and "python -m pip install" in ok.stdout and "\n        pip install" not in ok.stdout


def test_matrix_fits_80_columns_and_release_card():
    table = run_tfgpu("matrix", env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in table.splitlines()) <= 80
    card = run_tfgpu("matrix", "--tf", "2.16", env={"COLUMNS": "80"}).stdout
    assert card.splitlines()[0].startswith("TensorFlow 2.16")
    assert "python -m pip install 'tensorflow[and-cuda]==2.16." in card
    for label in ("CUDA", "GPUs", "Python", "Driver (Linux)"):
        assert any(line.startswith(label) for line in card.splitlines()), label
    assert max(len(line) for line in card.splitlines()) <= 80


def _closing_line(report: Report) -> str:
    return render(report, width=None).rstrip("\n").splitlines()[-1]


@pytest.mark.parametrize("fail_on, expect_note", [("warning", True), ("error", False)])
def test_the_footer_says_a_ready_run_fails_on_its_warnings_only_under_fail_on_warning(fail_on, expect_note):
    warning = Finding("vram-in-use", "gpu-memory", Severity.WARNING, "GPU 0 has 300 MiB in use", area="gpu")
    report = Report(Verdict(VerdictStatus.READY, "TensorFlow will use 1 GPU"), {}, (warning,), {"total": 0.1},
                    "0", policy={"fail_on": fail_on})
    line = _closing_line(report)
    assert line.startswith("READY")
    assert ("exit 1: the policy fails on warnings" in line) is expect_note


def test_the_footer_says_a_not_ready_run_passes_when_the_policy_ignores_every_error():
    error = Finding("driver-missing", "driver-present", Severity.ERROR, "no driver", area="driver",
                    ignored="--ignore on the command line")
    report = Report(Verdict(VerdictStatus.NOT_READY, "no driver"), {}, (error,), {"total": 0.1}, "0",
                    policy={"fail_on": "error"})
    assert "exit 0: the policy ignores every error found" in _closing_line(report)
    counted = Report(Verdict(VerdictStatus.NOT_READY, "no driver"), {}, (Finding(
        "driver-missing", "driver-present", Severity.ERROR, "no driver", area="driver"),), {"total": 0.1}, "0")
    assert "exit 0" not in _closing_line(counted)
