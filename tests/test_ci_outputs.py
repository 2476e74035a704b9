"""CI outputs and native CI integration (issue 15, items 1 and 2): `--junit`, `--markdown`,
`--output-json`, GitHub Actions (step summary, workflow commands, a folded report) and GitLab CI
(a collapsed section), off with `--no-ci-integration` and absent outside CI.

The JUnit files are validated against a published JUnit XSD, vendored unmodified in
tests/data/junit (its README names the source and licence)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import tfgpu_env, validate_report
from test_driver_machines import MACHINES
from test_driver_standin import driver_matrix_path

from tfgpu import ci
from tfgpu.matrix import load
from tfgpu.model import Finding, Fix, Report, RunOptions, Severity, Verdict, VerdictStatus
from tfgpu.render import junit, markdown
from tfgpu.render.checks import doc_link
from tfgpu.runner import build_report

XSD = Path(__file__).parent / "data" / "junit" / "junit-10.xsd"
#: The variables that switch the CI integration on; removed unless a test sets them.
CI_VARS = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI")


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for the files a test writes (tmp_path also holds the hermetic HOME)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def _run(*args: str, env: dict | None = None, cwd: Path | None = None, text: bool = True) -> subprocess.CompletedProcess:
    """tfgpu as a subprocess in the hermetic environment, with no CI variable but those in `env`
    (`text`: decoded, with universal newlines; else the bytes as written)."""
    full = tfgpu_env()
    for key in CI_VARS:
        full.pop(key, None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "tfgpu", *args], capture_output=True, text=text, timeout=120,
                          env=full, cwd=cwd, check=False)


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


# --- A report with every kind of finding -----------------------------------------------------------

class _Check:
    def __init__(self, id: str, area: str):
        self.id, self.area = id, area


FIX = Fix("Install the driver | and reboot", ("sudo apt-get install -y nvidia-driver-550", "echo '```' | cat"),
          ("https://example.org/driver",))


def _report(policy: dict | None = None, findings: tuple[Finding, ...] | None = None) -> Report:
    findings = findings if findings is not None else (
        Finding("driver-missing", "driver-present", Severity.ERROR, "No NVIDIA driver | none loaded",
                "log line:\x1b[31m red\x00 nul\ud800 lone\ufffe\nsecond line", {"x": 1}, (FIX,), area="driver"),
        Finding("gpu-memory-low", "gpu-memory", Severity.WARNING, "GPU 0 has 1 GiB free, 50% used: low",
                "", {}, (Fix("See who holds it", ("nvidia-smi",)),), area="gpu"),
        Finding("mig-mode-skipped", "mig-mode", Severity.SKIPPED, "Skipped: MIG mode is understood",
                "driver: not found", area="gpu"),
        Finding("tf-not-installed", "tf-installed", Severity.ERROR, "TensorFlow is not installed", "",
                {}, (Fix("Install it", ("python -m pip install tensorflow",)),), area="tensorflow",
                ignored="the image installs TensorFlow later"),
        Finding("check-crashed", "xla-tools", Severity.SKIPPED, "The check 'xla-tools' itself failed (KeyError: 'x')",
                area="toolkit"),
        Finding("platform-gpu-supported", "platform-gpu-support", Severity.OK, "Linux x86_64: supported",
                area="platform"),
    )
    return Report(Verdict(VerdictStatus.NOT_READY, "TensorFlow will not use a GPU: no driver"), {}, findings,
                  {"driver": 0.12, "total": 0.5}, "0.1.0", "schema 1", policy=policy or {})


CHECKS = [_Check("driver-present", "driver"), _Check("gpu-memory", "gpu"), _Check("mig-mode", "gpu"),
          _Check("tf-installed", "tensorflow"), _Check("xla-tools", "toolkit"),
          _Check("platform-gpu-support", "platform"), _Check("cuda-visible-devices", "environment")]


def _cases(doc: str) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.fromstring(doc.encode()).iter("testcase")}


# --- JUnit -------------------------------------------------------------------------------------------

def test_junit_is_valid_against_the_xsd_and_counts_what_fails(schema):
    doc = junit.render(_report(), CHECKS)
    schema.validate(doc)
    root = ET.fromstring(doc.encode())
    assert root.tag == "testsuites" and root.get("tests") == str(len(CHECKS))
    assert root.get("failures") == "1" and root.get("errors") == "1"  # the error; the crashed check
    assert len(list(root.iter("failure"))) == 1
    assert [s.get("name") for s in root.iter("testsuite")] == [
        "tfgpu.platform", "tfgpu.environment", "tfgpu.tensorflow", "tfgpu.driver", "tfgpu.gpu", "tfgpu.toolkit"]
    cases = _cases(doc)
    assert {c.get("classname") for c in cases.values()} >= {"tfgpu.driver", "tfgpu.gpu"}
    failure = cases["driver-present"].find("failure")
    assert failure is not None and failure.get("message") == "No NVIDIA driver | none loaded"
    assert failure.get("type") == "driver-missing"
    body = failure.text or ""
    assert "$ sudo apt-get install -y nvidia-driver-550" in body and doc_link("driver-present") in body
    # XML 1.0 cannot carry ESC, NUL, a lone surrogate or U+FFFE: shown as visible escapes instead.
    assert "\\x1b[31m red\\x00 nul\\ud800 lone\\ufffe\nsecond line" in body
    # The warning is output, not a failure; the crashed check an <error>; a check that found nothing passes.
    assert cases["gpu-memory"].find("failure") is None and "gpu-memory-low" in (cases["gpu-memory"].findtext("system-out") or "")
    assert cases["xla-tools"].find("error") is not None
    assert list(cases["cuda-visible-devices"]) == []
    assert cases["mig-mode"].find("skipped").get("message").startswith("Skipped: MIG mode")
    assert root.find("testsuite/properties/property[@name='verdict']").get("value") == "not_ready"
    assert root.get("time") == "0.500"


def test_an_ignored_finding_is_skipped_with_its_reason_never_a_failure(schema):
    doc = junit.render(_report(), CHECKS)
    case = _cases(doc)["tf-installed"]
    assert case.find("failure") is None
    assert case.find("skipped").get("message").startswith("ignored: the image installs TensorFlow later")


@pytest.mark.parametrize("policy, strict, failures", [
    ({}, False, 1), ({}, True, 2), ({"fail_on": "warning"}, False, 2), ({"fail_on": "error"}, True, 1)])
def test_warnings_fail_exactly_where_they_fail_the_run(schema, policy, strict, failures):
    doc = junit.render(_report(policy), CHECKS, strict=strict)
    schema.validate(doc)
    root = ET.fromstring(doc.encode())
    assert root.get("failures") == str(failures) == str(len(list(root.iter("failure"))))
    assert (_cases(doc)["gpu-memory"].find("failure") is not None) is (failures == 2)


@settings(max_examples=60, deadline=timedelta(seconds=5), derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40))
def test_junit_and_markdown_take_any_text(schema, text):
    f = Finding(f"x-{len(text)}", "x" + text[:3], Severity.ERROR, text, text, {"v": text},
                (Fix(text, (text, "ls")),), area="driver", ignored="")
    warn = Finding("y", "y", Severity.WARNING, text, text, area=text or "gpu", ignored=text)
    report = _report(findings=(f, warn))
    doc = junit.render(report, [_Check(text or "c", text)])
    schema.validate(doc)
    assert ET.fromstring(doc.encode("utf-8")).get("failures") == "1"
    md = markdown.render(report)
    md.encode("utf-8")
    row = next(line for line in md.split("\n") if line.startswith("| ❌ error"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 4, row
    assert ci.workflow_annotations(report).count("\n") == 1 + (not text)


@pytest.mark.parametrize("strict", [False, True])
def test_an_undecided_verdict_fails_the_junit_report_where_it_fails_the_run(schema, strict):
    ok = Finding("platform-gpu-supported", "platform-gpu-support", Severity.OK, "supported", area="platform")
    report = Report(Verdict(VerdictStatus.UNKNOWN, "Could not decide"), {}, (ok,), {}, "0.1.0")
    doc = junit.render(report, CHECKS, strict=strict)
    schema.validate(doc)
    root = ET.fromstring(doc.encode())
    assert root.get("failures") == ("1" if strict else "0")
    assert ("verdict" in _cases(doc)) is strict


def test_junit_of_every_named_machine_is_valid(schema, tmp_path):
    matrix = load(str(driver_matrix_path(tmp_path)))
    from tfgpu.checks import load_all

    checks = list(load_all().values())
    for name, facts in MACHINES.items():
        report = build_report(dict(facts), {"probes_total": 0.0}, matrix, None, RunOptions(fast=True))
        doc = junit.render(report, checks)
        schema.validate(doc)
        root = ET.fromstring(doc.encode())
        errors = sum(1 for f in report.findings if f.severity is Severity.ERROR and not f.ignored)
        assert root.get("failures") == str(errors), name
        assert int(root.get("tests")) >= len(checks), name


# --- Markdown ----------------------------------------------------------------------------------------

def test_markdown_has_the_verdict_an_escaped_table_and_every_fix_in_a_fence():
    text = markdown.render(_report({"fail_on": "warning", "ignore": {"tf-not-installed": "later"}}))
    assert text.startswith("## tfgpu doctor: ❌ NOT READY\n")
    assert "**TensorFlow will not use a GPU: no driver**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Severity | Finding | Summary |"
    row = next(r for r in rows if "driver-missing" in r)
    # The pipe in the summary is escaped (three cells, four unescaped pipes), the id links its check's entry.
    assert len(re.findall(r"(?<!\\)\|", row)) == 4 and "No NVIDIA driver \\| none loaded" in row
    assert f"[driver-missing]({doc_link('driver-present')})" in row
    ignored = next(r for r in rows if "tf-not-installed" in r)
    assert "(ignored)" in ignored and "ignored: the image installs TensorFlow later" in ignored
    # Commands stand in a fence longer than any run of backticks inside it.
    assert "````sh\nsudo apt-get install -y nvidia-driver-550\necho '```' | cat\n````\n" in text
    assert "```sh\nnvidia-smi\n```" in text
    # An ignored finding's fixes are not offered; the policy has its section.
    assert "python -m pip install tensorflow" not in text
    assert "### Policy" in text and "**fail\\_on**: warning" in text
    default = markdown.render(_report({"fail_on": "error", "required": {}, "ignored": [], "source": None}))
    assert "### Policy" not in default


def test_markdown_says_the_run_s_result_where_the_verdict_would_mislead():
    """A summary page must not read READY on a step that failed, nor hide a check that failed (exit 3)."""
    warn = Finding("gpu-memory-low", "gpu-memory", Severity.WARNING, "GPU 0 has 1 GiB free", area="gpu")
    ready = Verdict(VerdictStatus.READY, "TensorFlow should use the GPU")

    def md(verdict, findings, policy, failed=()):
        return markdown.render(Report(verdict, {}, findings, {}, "0.1.0", policy=policy, failed_checks=failed))

    assert "This run fails (exit 1)" in md(ready, (warn,), {"fail_on": "warning"})
    assert "This run" not in md(ready, (warn,), {"fail_on": "error"})
    unknown = Verdict(VerdictStatus.UNKNOWN, "Could not decide")
    assert "This run fails (exit 1)" in md(unknown, (), {"fail_on": "warning"})
    assert "This run" not in md(unknown, (), {"fail_on": "error"})
    ignored = Finding("tf-not-installed", "tf-installed", Severity.ERROR, "No TF", area="tensorflow", ignored="later")
    not_ready = Verdict(VerdictStatus.NOT_READY, "TensorFlow will not use a GPU")
    assert "This run passes (exit 0)" in md(not_ready, (ignored,), {"fail_on": "error"})
    assert "This run" not in md(not_ready, (replace(ignored, ignored=""),), {"fail_on": "error"})
    crashed = Finding("check-crashed", "xla-tools", Severity.SKIPPED, "The check 'xla-tools' itself failed (KeyError)",
                      area="toolkit")
    text = md(ready, (crashed,), {"fail_on": "error"}, failed=("xla-tools",))
    assert "This run fails (exit 3)" in text and "xla-tools" in text
    row = next(line for line in text.splitlines() if "[check-crashed](" in line)
    assert "check failed" in row and "KeyError" in row


def test_markdown_cells_hold_one_line_and_no_html():
    f = Finding("x-bad", "x", Severity.ERROR, "two\nlines <b>bold</b> & `code` | pipe", area="driver")
    text = markdown.render(_report(findings=(f,)))
    row = next(line for line in text.splitlines() if "x-bad" in line)
    assert "two<br>lines &lt;b&gt;bold&lt;/b&gt; &amp; \\`code\\` \\| pipe" in row
    assert "<b>" not in text


def test_markdown_key_facts_from_a_named_machine(tmp_path):
    matrix = load(str(driver_matrix_path(tmp_path)))
    facts = MACHINES["driver_535_h100_tf221"]
    text = markdown.render(build_report(dict(facts), {"probes_total": 0.0}, matrix, None, RunOptions(fast=True)))
    block = text.split("### Key facts\n", 1)[1]
    driver = facts["driver"]
    assert f"**Driver**: {driver.driver_version}" in block
    assert "H100" in block and "**GPUs**" in block
    build = facts["tf_build"]
    assert f"**TensorFlow**: {build.distribution} {build.version}" in block and f"CUDA {build.cuda_version}" in block
    assert "**Python**" in block


# --- GitHub workflow commands, GitHub groups, GitLab sections --------------------------------------

def test_workflow_command_escaping_is_githubs():
    assert ci.escape_data("50% done\r\nnext %0A") == "50%25 done%0D%0Anext %250A"
    assert ci.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = ci.workflow_command("error", "disk: 100%, full\nsee log", title="id:x,y")
    assert line == "::error title=id%3Ax%2Cy::disk: 100%25, full%0Asee log\n"
    assert ci.workflow_command("warning", "esc \x1b[2J here") == "::warning::esc \\x1b[2J here\n"


def test_annotations_one_per_error_and_warning_ignored_ones_not():
    lines = ci.workflow_annotations(_report()).splitlines()
    assert lines == ["::error title=driver-missing::No NVIDIA driver | none loaded",
                     "::warning title=gpu-memory-low::GPU 0 has 1 GiB free, 50%25 used: low",
                     "::error title=check-crashed::The check 'xla-tools' itself failed (KeyError: 'x')"]


def test_a_check_that_failed_is_annotated_as_it_fails_the_run():
    crashed = Finding("check-crashed", "xla-tools", Severity.SKIPPED, "The check 'xla-tools' itself failed (KeyError)",
                      area="toolkit")
    skipped = Finding("mig-mode-skipped", "mig-mode", Severity.SKIPPED, "Skipped: MIG mode", area="gpu")
    report = Report(Verdict(VerdictStatus.READY, "ready"), {}, (crashed, skipped), {}, "0.1.0",
                    failed_checks=("xla-tools",))
    assert ci.workflow_annotations(report) == "::error title=check-crashed::The check 'xla-tools' itself failed (KeyError)\n"


def test_the_github_group_stops_commands_inside_it():
    body = "NOT READY\n::error::a log line that looks like a command\n"
    text = ci.github_group(body)
    lines = text.splitlines()
    assert lines[0] == "::group::tfgpu doctor report" and lines[-1] == "::endgroup::"
    assert lines[1].startswith("::stop-commands::") and lines[-2] == f"::{lines[1].split('::')[2]}::"
    assert lines[1].split("::")[2] not in body and body in text


def test_the_gitlab_section_is_collapsed_and_closed():
    text = ci.gitlab_section("report\n", 1700000000.7)
    assert text == ("\x1b[0Ksection_start:1700000000:tfgpu[collapsed=true]\r\x1b[0Ktfgpu doctor report\n"
                    "report\n\x1b[0Ksection_end:1700000000:tfgpu\r\x1b[0K\n")
    assert ci.fold("", "report\n", 0) == "report\n"


def test_detection_needs_the_exact_variables():
    assert ci.detect({"GITHUB_ACTIONS": "true"}) == "github"
    assert ci.detect({"GITLAB_CI": "true"}) == "gitlab"
    assert ci.detect({"GITHUB_ACTIONS": "false", "GITLAB_CI": "1"}) == ""
    assert ci.detect({}) == ""


# --- Files -------------------------------------------------------------------------------------------

def test_write_atomic_keeps_the_mode_and_leaves_no_temporary_file(out):
    target = out / "r.xml"
    target.write_text("old")
    target.chmod(0o640)
    ci.write_atomic(str(target), "new ✔")
    assert target.read_text(encoding="utf-8") == "new ✔" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in out.iterdir()) == ["r.xml"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(out, monkeypatch):
    target = out / "r.xml"
    target.write_text("old")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ci.os, "replace", full)
    with pytest.raises(OSError):
        ci.write_atomic(str(target), "new")
    assert target.read_text() == "old" and sorted(p.name for p in out.iterdir()) == ["r.xml"]


def test_output_problems_known_before_the_run(out):
    assert ci.output_problem(str(out)) == "is a directory"
    assert "does not exist" in ci.output_problem(str(out / "missing" / "r.xml"))
    assert ci.output_problem(str(out / "r.xml")) == ""
    (out / "file").write_text("")
    assert ci.output_problem(str(out / "file" / "r.xml")) == f"{out / 'file'} is not a folder"


def test_the_step_summary_is_appended_and_never_fails_the_run(out):
    summary = out / "summary.md"
    summary.write_text("earlier step\n")
    assert ci.append_step_summary({"GITHUB_STEP_SUMMARY": str(summary)}, "## one") == ""
    assert ci.append_step_summary({"GITHUB_STEP_SUMMARY": str(summary)}, "## two\n") == ""
    assert summary.read_text() == "earlier step\n## one\n## two\n"
    assert "not written" in ci.append_step_summary({"GITHUB_STEP_SUMMARY": str(out)}, "x")
    assert ci.append_step_summary({}, "x") == ""
    big = out / "big.md"
    assert ci.append_step_summary({"GITHUB_STEP_SUMMARY": str(big)}, "é" * ci.SUMMARY_LIMIT) == ""
    assert len(big.read_bytes()) <= ci.SUMMARY_LIMIT and "cut" in big.read_text(encoding="utf-8")


# --- End to end, as a user runs it (no driver on this machine: the hermetic stand-in) --------------

def test_doctor_fast_writes_junit_and_markdown(schema, out):
    proc = _run("doctor", "--fast", "--junit", "r.xml", "--markdown", "s.md", "--output-json", "r.json", cwd=out)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((out / "r.json").read_text())
    validate_report(report)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors and report["summary"]["counts"]["error"] == len(errors)
    xml = (out / "r.xml").read_text(encoding="utf-8")
    schema.validate(xml)
    assert ET.fromstring(xml.encode()).get("failures") == str(len(errors))
    md = (out / "s.md").read_text(encoding="utf-8")
    assert md.startswith("## tfgpu doctor: ❌ NOT READY") and markdown.inline(report["verdict"]["headline"]) in md
    for f in errors:
        for fix in f["fixes"]:
            for command in fix["commands"]:
                assert f"\n{command}\n" in md, command
    # The terminal still got the Rich report, with no CI markup.
    assert proc.stdout.startswith("NOT READY") and "::" not in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["r.json", "r.xml", "s.md"]


def test_github_actions_gets_a_summary_and_one_error_line_per_error(out):
    summary = out / "summary.md"
    proc = _run("doctor", "--fast", "--output-json", "r.json", cwd=out,
                env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1, proc.stderr
    report = json.loads((out / "r.json").read_text())
    errors = sorted(f["id"] for f in report["findings"] if f["severity"] == "error")
    assert sorted(re.match(r"::error title=([^:]+)::", line).group(1) for line in _lines(proc.stdout, "::error")) == errors
    assert len(_lines(proc.stdout, "::warning")) == sum(f["severity"] == "warning" for f in report["findings"])
    assert _lines(proc.stdout, "::group::") == ["::group::tfgpu doctor report"] and "::endgroup::" in proc.stdout
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## tfgpu doctor: ❌ NOT READY") and all(f"[{e}](" in text for e in errors)


def test_an_ignored_error_is_skipped_in_junit_marked_in_markdown_and_not_annotated(schema, out):
    summary = out / "summary.md"
    proc = _run("doctor", "--fast", "--ignore", "tf-not-installed", "--junit", "r.xml", "--markdown", "s.md",
                "--output-json", "r.json", cwd=out, env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    report = json.loads((out / "r.json").read_text())
    ignored = [f for f in report["findings"] if f["id"] == "tf-not-installed"]
    assert ignored and ignored[0]["severity"] == "error" and ignored[0]["ignored"]
    errors = [f for f in report["findings"] if f["severity"] == "error" and not f.get("ignored")]
    assert proc.returncode == (1 if errors else 0)
    xml = (out / "r.xml").read_text(encoding="utf-8")
    schema.validate(xml)
    assert ET.fromstring(xml.encode()).get("failures") == str(len(errors))
    case = _cases(xml)["tf-installed"]
    assert case.find("failure") is None and case.find("skipped").get("message").startswith("ignored: ")
    row = next(line for line in (out / "s.md").read_text(encoding="utf-8").splitlines() if "[tf-not-installed](" in line)
    assert "(ignored)" in row
    assert [line for line in _lines(proc.stdout, "::error") if "tf-not-installed" in line] == []
    assert len(_lines(proc.stdout, "::error")) == len(errors)


def test_github_actions_with_json_keeps_stdout_one_document(out):
    summary = out / "summary.md"
    proc = _run("doctor", "--fast", "--json", cwd=out,
                env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    validate_report(report)
    errors = sum(f["severity"] == "error" for f in report["findings"])
    assert len(_lines(proc.stderr, "::error title=")) == errors > 0
    assert summary.read_text(encoding="utf-8").startswith("## tfgpu doctor")


def test_outside_ci_and_with_no_ci_integration_nothing_is_added(out):
    summary = out / "summary.md"
    plain = _run("doctor", "--fast", "--markdown", "-", cwd=out, env={"GITHUB_STEP_SUMMARY": str(summary)})
    off = _run("doctor", "--fast", "--markdown", "-", "--no-ci-integration", cwd=out,
               env={"GITHUB_ACTIONS": "true", "GITLAB_CI": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    gh = _run("doctor", "--fast", "--markdown", "-", cwd=out, env={"GITHUB_ACTIONS": "true"})
    assert plain.returncode == off.returncode == gh.returncode == 1
    # Byte for byte: plain stdout is the Markdown report alone; GitHub's is that, folded, then the commands.
    assert plain.stdout == off.stdout and plain.stdout.startswith("## tfgpu doctor")
    assert "::" not in plain.stdout and "\x1b" not in plain.stdout and "::" not in plain.stderr
    assert gh.stdout.startswith(ci.github_group(plain.stdout))
    assert not summary.exists()
    # The Rich report too, but for the run's own duration in its last line.
    rich = _run("doctor", "--fast", cwd=out, env={"GITHUB_STEP_SUMMARY": str(summary)})
    rich_off = _run("doctor", "--fast", "--no-ci-integration", cwd=out,
                    env={"GITHUB_ACTIONS": "true", "GITLAB_CI": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    seconds = re.compile(r"\b\d+\.\d+ s\b")
    assert seconds.sub("T s", rich.stdout) == seconds.sub("T s", rich_off.stdout)
    assert rich.stdout.startswith("NOT READY") and rich.stderr == rich_off.stderr == ""
    assert not _lines(rich.stdout, "::") and "section_start" not in rich.stdout and not summary.exists()


def test_gitlab_folds_the_report_in_a_section(out):
    proc = _run("doctor", "--fast", "--markdown", "-", cwd=out, env={"GITLAB_CI": "true"}, text=False)
    assert re.match(rb"\x1b\[0Ksection_start:\d+:tfgpu\[collapsed=true\]\r\x1b\[0Ktfgpu doctor report\n## tfgpu doctor",
                    proc.stdout)
    assert re.search(rb"\x1b\[0Ksection_end:\d+:tfgpu\r\x1b\[0K\n$", proc.stdout) and b"::error" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    (("--json", "--markdown", "-"), "tfgpu: --markdown - and --json both print on stdout"),
    (("--junit", "missing/r.xml"), "tfgpu: --junit missing/r.xml: its folder"),
    (("--output-json", "."), "tfgpu: --output-json .: is a directory"),
    (("--junit", "-"), "tfgpu: --junit -: only --markdown can print on stdout"),
    (("--junit", "r.out", "--markdown", "./r.out"), "tfgpu: --markdown ./r.out: also given to --junit"),
])
def test_a_bad_output_path_is_a_usage_error_before_the_run(out, args, message):
    proc = _run("doctor", "--fast", *args, cwd=out)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert list(out.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to fill a disk")
def test_a_write_that_fails_after_the_run_is_exit_3(out):
    proc = _run("doctor", "--fast", "--junit", "/dev/full", "--markdown", "s.md", cwd=out)
    assert proc.returncode == 3
    assert proc.stderr.splitlines()[-1].startswith("tfgpu: --junit /dev/full: ") and "Traceback" not in proc.stderr
    assert proc.stdout.startswith("NOT READY") and (out / "s.md").read_text().startswith("## tfgpu doctor")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written in place, never replaced
