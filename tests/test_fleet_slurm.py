"""`tfgpu fleet slurm` and `tfgpu fleet healthcheck`: the commands they build, the node name, the
drain reason, when a node is (never) drained; then the same against a real one-node Slurm
(munged, slurmctld, slurmd from the distribution's packages, tests/slurm_cluster.py)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
import typer
from conftest import run_tfgpu, tfgpu_env, validate_report

from tfgpu import proc
from tfgpu.fleet import cmd_slurm
from tfgpu.fleet import slurm as sl

# ---------------------------------------------------------------- units, no Slurm needed


def test_the_node_name_is_slurmds_else_the_short_host_name(monkeypatch):
    assert sl.node_name({"SLURMD_NODENAME": "gpu017"}) == "gpu017"
    monkeypatch.setattr(sl.socket, "gethostname", lambda: "gpu018.cluster.example.org")
    assert sl.node_name({}) == "gpu018"
    assert sl.node_name({"SLURMD_NODENAME": "  "}) == "gpu018"


def test_the_drain_reason_is_one_safe_line_of_bounded_length():
    assert sl.drain_reason("TensorFlow will not use a GPU: driver 470 is too old") == \
        "tfgpu: TensorFlow will not use a GPU: driver 470 is too old"
    nasty = 'no "GPU"\nfound; it\'s `rm -rf` \\ \x1b[31mred\x1b[0m\tend é'
    reason = sl.drain_reason(nasty)
    assert not set(reason) & set("\"'`\\\n\t\x1b") and reason.isascii() and reason.isprintable()
    assert reason.startswith("tfgpu: no GPU found; it s rm -rf") and reason.endswith("end")
    long = sl.drain_reason("x" * 1000)
    assert len(long) == sl.REASON_MAX and long.endswith("...")
    assert sl.drain_reason("") == "tfgpu: the doctor says this node is not ready"


def test_the_drain_command_is_an_argv_with_the_reason_as_one_item():
    argv = sl.drain_argv("gpu017", "tfgpu: a b=c")
    assert argv == ["scontrol", "update", "NodeName=gpu017", "State=DRAIN", "Reason=tfgpu: a b=c"]


def test_the_srun_command_runs_one_doctor_per_node_within_the_time_limit(tmp_path):
    plan = sl.srun_plan(tmp_path, ["--fast"], nodes=4, partition="gpu", time_limit=90, job_name="j1")
    argv = plan.argv
    assert argv[0] == "srun" and "--ntasks-per-node=1" in argv and "--job-name=j1" in argv
    assert argv[argv.index("--nodes") + 1] == "4" and argv[argv.index("--partition") + 1] == "gpu"
    assert "--time=2" in argv and plan.timeout == 2 * 60 + sl.SRUN_GRACE  # 90 s: two whole minutes
    assert f"--output={tmp_path}/%N.json" in argv and f"--error={tmp_path}/stderr/%N.stderr" in argv
    command = argv[argv.index(sys.executable):]
    assert command == [sys.executable, "-I", "-m", "tfgpu", "doctor", "--json", "--fast"]
    by_list = sl.srun_plan(tmp_path, nodelist="gpu[001-003]").argv
    assert by_list[by_list.index("--nodelist") + 1] == "gpu[001-003]" and "--nodes" not in by_list
    assert "--time=5" in by_list and "--partition" not in by_list
    assert sl.slurm_minutes(1) == 1 and sl.slurm_minutes(60) == 1 and sl.slurm_minutes(61) == 2


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_hung_srun_is_killed_and_its_job_cancelled(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    record = tmp_path / "scancel.args"
    _script(bin_ / "scancel", f'#!/bin/sh\necho "$@" > {record}\n')
    plan = sl.SrunPlan(argv=["sleep", "30"], job_name="tfgpu-doctor-x", timeout=0.5)
    t0 = time.monotonic()
    result = sl.run_srun(plan, env={**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"})
    assert result.timed_out and time.monotonic() - t0 < 10
    assert record.read_text().split() == ["--name=tfgpu-doctor-x"]


def _healthcheck_with(monkeypatch, code: int, stdout: str = "", stderr: str = "", **kwargs) -> tuple[int, list]:
    """Run the healthcheck command in this process, the doctor child replaced by a result."""
    drained: list = []
    monkeypatch.setattr(proc, "run", lambda argv, timeout, **kw: proc.CommandResult(
        tuple(argv), returncode=code, stdout=stdout, stderr=stderr))
    monkeypatch.setattr(sl, "drain", lambda node, reason, **kw: drained.append((node, reason)))
    monkeypatch.setenv("SLURMD_NODENAME", "gpu017")
    with pytest.raises(typer.Exit) as exc:
        cmd_slurm.healthcheck(doctor_args=None, drain=kwargs.get("drain", True), full=False, time_limit=60.0)
    return exc.value.exit_code, drained


def test_healthcheck_drains_only_a_node_the_doctor_says_is_not_ready(monkeypatch, capsys):
    not_ready = json.dumps({"verdict": {"status": "not_ready", "headline": 'driver "470" too old'}})
    assert _healthcheck_with(monkeypatch, 1, stdout=not_ready) == (1, [("gpu017", "tfgpu: driver 470 too old")])
    assert _healthcheck_with(monkeypatch, 1, stdout=not_ready, drain=False) == (1, [])
    assert _healthcheck_with(monkeypatch, 0) == (0, [])
    assert _healthcheck_with(monkeypatch, 3, stderr="tfgpu: a check crashed") == (3, [])
    assert _healthcheck_with(monkeypatch, 2, stderr="No such option: --x") == (2, [])
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert lines[-2] == "tfgpu: healthcheck: the doctor itself failed (exited with code 3): tfgpu: a check crashed; node not drained"
    assert lines[-1] == "tfgpu: healthcheck: the doctor refused its arguments: No such option: --x"


def test_healthcheck_never_drains_when_the_doctor_times_out_or_crashes(monkeypatch):
    drained: list = []
    for result in (proc.CommandResult(("x",), timed_out=True), proc.CommandResult(("x",), signal=9),
                   proc.CommandResult(("x",), start_error="not found")):
        monkeypatch.setattr(proc, "run", lambda argv, timeout, result=result, **kw: result)
        monkeypatch.setattr(sl, "drain", lambda node, reason, **kw: drained.append(node))
        with pytest.raises(typer.Exit) as exc:
            cmd_slurm.healthcheck(doctor_args=None, drain=True, full=False, time_limit=1.0)
        assert exc.value.exit_code == 3
    assert drained == []


def _fake_scontrol(tmp_path: Path) -> tuple[Path, Path]:
    bin_ = tmp_path / "fakebin"
    bin_.mkdir()
    record = tmp_path / "scontrol.json"
    _script(bin_ / "scontrol", f"#!{sys.executable}\nimport json, sys\n"
                               f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    return bin_, record


def test_healthcheck_on_this_machine_drains_through_scontrol_with_the_headline(tmp_path):
    # No driver here (the hermetic stand-in): the doctor says not ready, exit 1.
    bin_, record = _fake_scontrol(tmp_path)
    env = {"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}", "SLURMD_NODENAME": "gpu017"}
    done = run_tfgpu("fleet", "healthcheck", "--drain", env=env)
    assert done.returncode == 1, done.stderr
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("tfgpu: not ready: TensorFlow will not use a GPU") and "(node gpu017 drained)" in done.stderr
    argv = json.loads(record.read_text())
    assert argv[:3] == ["update", "NodeName=gpu017", "State=DRAIN"]
    assert argv[3].startswith("Reason=tfgpu: TensorFlow will not use a GPU") and len(argv) == 4
    record.unlink()
    done = run_tfgpu("fleet", "healthcheck", "--drain", "--", "--no-such-flag", env=env)
    assert done.returncode == 2 and not record.exists() and len(done.stderr.splitlines()) == 1
    done = run_tfgpu("fleet", "healthcheck", env=env)  # no --drain: the exit code and one line, no scontrol
    assert done.returncode == 1 and not record.exists() and done.stdout == ""


def test_fleet_slurm_without_srun_is_one_line_and_exit_2(tmp_path):
    done = run_tfgpu("fleet", "slurm", "--nodes", "2", "--out", str(tmp_path / "out"), env={"PATH": str(tmp_path)})
    assert done.returncode == 2 and done.stderr.startswith("tfgpu: srun is not on PATH") and len(done.stderr.splitlines()) == 1
    done = run_tfgpu("fleet", "slurm", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "--nodes N" in done.stderr
    done = run_tfgpu("fleet", "slurm", "-N", "1", "-w", "gpu1", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "--nodes N" in done.stderr
    done = run_tfgpu("fleet", "slurm", "-N", "1", "--json", "--markdown", "-", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "choose one" in done.stderr and not (tmp_path / "out").exists()


def test_fleet_slurm_refuses_a_folder_that_already_holds_reports(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _script(bin_ / "srun", "#!/bin/sh\nexit 99\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.json").write_text("{}")
    done = run_tfgpu("fleet", "slurm", "-N", "1", "--out", str(out), env={"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 2 and "already holds reports" in done.stderr


def test_fleet_slurm_says_why_when_no_report_came_back(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _script(bin_ / "srun", "#!/bin/sh\necho 'srun: error: invalid partition specified: nope' >&2\nexit 1\n")
    done = run_tfgpu("fleet", "slurm", "-N", "1", "-p", "nope", "--out", str(tmp_path / "out"),
                     env={"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == ("tfgpu: no report came back: srun exited with code 1: "
                                            "srun: error: invalid partition specified: nope")


FAKE_SRUN = """#!{python}
# A stand-in srun: runs the command for node gpu001 into --output/--error (%N filled in), then hangs.
import os, subprocess, sys, time
args = sys.argv[1:]
opts = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
command = args[args.index({python!r}):]
with open(opts["output"].replace("%N", "gpu001"), "w") as out, open(opts["error"].replace("%N", "gpu001"), "w") as err:
    subprocess.run(command, stdout=out, stderr=err, env=dict(os.environ, SLURMD_NODENAME="gpu001"))
time.sleep(60)
"""


@pytest.mark.slow
def test_fleet_slurm_kills_a_hung_srun_cancels_its_job_and_merges_what_came_back(tmp_path, monkeypatch, capsys):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _script(bin_ / "srun", FAKE_SRUN.format(python=sys.executable))
    record = tmp_path / "scancel.args"
    _script(bin_ / "scancel", f'#!/bin/sh\necho "$@" > {record}\n')
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    real_plan = sl.srun_plan
    # The real bound is the job's minutes plus a minute; here a few seconds.
    monkeypatch.setattr(sl, "srun_plan", lambda *a, **kw: sl.SrunPlan(**{**real_plan(*a, **kw).__dict__, "timeout": 8.0}))
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(typer.Exit) as exc:
        cmd_slurm.slurm(doctor_args=["--fast"], nodes=2, nodelist=None, partition=None, out=out, time_limit=60.0,
                        as_json=True, markdown=None, junit=None)
    assert time.monotonic() - t0 < 30
    said = capsys.readouterr()
    assert exc.value.exit_code == 1, said.err
    job = record.read_text().split()
    assert len(job) == 1 and job[0].startswith("--name=tfgpu-doctor-")
    assert f"tfgpu: srun timed out after 8.0 s: killed, job {job[0][7:]} cancelled; merging the reports that came back" \
        in said.err.splitlines()
    doc = json.loads(said.out)
    assert doc["counts"]["reports"] == 1 and [g["nodes"] for g in doc["groups"]] == ["gpu001"]


COPYING_SRUN = """#!/bin/sh
# A stand-in srun: one node, gpu001, whose report is a copy of {report}.
for a in "$@"; do case "$a" in --output=*) out="${{a#--output=}}";; esac; done
cp {report} "$(echo "$out" | sed 's/%N/gpu001/')"
"""


def test_fleet_slurm_passes_its_output_options_to_the_merge(tmp_path):
    """--markdown, --junit and --nodelist (as --expect) reach the merge, whose exit code is the
    command's; a --junit path that cannot be written is bad input (exit 2), the view not printed."""
    report = json.loads((Path(__file__).parent.parent / "docs" / "screens" / "rtx4090-ready.json").read_text())
    report["facts"]["host"]["data"]["hostname"] = "gpu001"
    saved = tmp_path / "gpu001-report.json"
    saved.write_text(json.dumps(report))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _script(bin_ / "srun", COPYING_SRUN.format(report=saved))
    env = {"PATH": f"{bin_}{os.pathsep}{os.environ['PATH']}"}
    done = run_tfgpu("fleet", "slurm", "-w", "gpu[001-002]", "--out", str(tmp_path / "a"), "--markdown", "-",
                     "--junit", str(tmp_path / "fleet.xml"), env=env)
    assert done.returncode == 1, done.stderr  # gpu002 is missing
    assert done.stdout.startswith("## ") and "gpu002" in done.stdout and "missing" in done.stdout
    assert 'name="gpu002"' in (tmp_path / "fleet.xml").read_text()
    done = run_tfgpu("fleet", "slurm", "-N", "1", "--out", str(tmp_path / "b"), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["ready"] == 1
    done = run_tfgpu("fleet", "slurm", "-N", "1", "--out", str(tmp_path / "c"), "--junit",
                     str(tmp_path / "no-such-dir" / "fleet.xml"), env=env)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert "--junit" in done.stderr.splitlines()[-1] and "cannot write" in done.stderr.splitlines()[-1]


def test_the_real_slurm_tests_skip_only_where_slurm_cannot_be_installed(monkeypatch):
    import slurm_cluster as cluster_mod

    monkeypatch.setattr(cluster_mod, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    assert cluster_mod.ensure_installed().startswith("Slurm is not installed (munged, slurmctld")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 1000)
    assert cluster_mod.ensure_installed().endswith(": not root, cannot install")
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster_mod.shutil, "which", lambda name, **kw: None)
    assert cluster_mod.ensure_installed().endswith(": no apt-get to install it with")


# ---------------------------------------------------------------- a real Slurm


@pytest.fixture(scope="module")
def slurm_cluster(request):
    import slurm_cluster as cluster_mod

    why = cluster_mod.ensure_installed()
    if why is not None:
        pytest.skip(why)
    cluster = cluster_mod.start()
    request.addfinalizer(cluster.stop)
    return cluster


@pytest.mark.slow
def test_fleet_slurm_on_a_real_slurm_brings_back_one_report_per_node(slurm_cluster, tmp_path):
    slurm_cluster.wait_state(("idle",))  # else srun would queue until the time limit
    out = tmp_path / "reports"
    t0 = time.monotonic()
    done = run_tfgpu("fleet", "slurm", "--nodes", "1", "--out", str(out), "--time-limit", "60", "--", "--fast",
                     env=slurm_cluster.env, timeout=200)
    seconds = time.monotonic() - t0
    reports = sorted(out.glob("*.json"))
    # srun names each node's file by its short host name (%N).
    assert [p.name for p in reports] == [f"{sl.node_name({})}.json"], (done.stderr, slurm_cluster.logs())
    data = json.loads(reports[0].read_text())
    validate_report(data)
    assert data["kind"] == "doctor" and data["verdict"]["status"] == "not_ready"  # no driver in this container
    assert data["verdict"]["predicted"] is True  # the doctor arguments reached it: --fast predicts
    assert (out / "stderr").is_dir() and (out / "stderr" / "srun.log").exists()
    # The merge ran on the folder: this node is not ready, so exit 1, and it is named (by the
    # Slurm node name the report carries, from SLURMD_NODENAME).
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:], done.stdout[-2000:])
    assert "Traceback" not in done.stderr and slurm_cluster.node in done.stdout
    assert seconds < 60
    assert slurm_cluster.node_state() == "idle"


@pytest.mark.slow
def test_fleet_slurm_on_a_real_slurm_by_node_list_merges_as_json(slurm_cluster, tmp_path):
    slurm_cluster.wait_state(("idle",))  # else srun would queue until the time limit
    out = tmp_path / "by-list"
    done = run_tfgpu("fleet", "slurm", "--nodelist", slurm_cluster.node, "--partition", "debug", "--out", str(out),
                     "--time-limit", "60", "--json", "--", "--fast", env=slurm_cluster.env, timeout=200)
    assert done.returncode == 1, (done.stderr[-2000:], slurm_cluster.logs())
    doc = json.loads(done.stdout)
    assert doc["kind"] == "fleet" and doc["verdict"]["status"] == "not_ready"
    counts = doc["counts"]
    assert (counts["nodes"], counts["reports"], counts["not_ready"], counts["missing"]) == (1, 1, 1, 0), counts
    assert [g["nodes"] for g in doc["groups"]] == [slurm_cluster.node]


@pytest.mark.slow
def test_healthcheck_drain_on_a_real_slurm_drains_the_node_with_the_doctors_headline(slurm_cluster):
    # Through srun, as slurmd would run it: SLURMD_NODENAME comes from Slurm itself.
    import subprocess

    from slurm_cluster import which

    env = tfgpu_env(slurm_cluster.env)
    try:
        done = subprocess.run([str(which("srun")), "--nodes=1", "--time=2", sys.executable, "-m", "tfgpu", "fleet",
                               "healthcheck", "--drain"], capture_output=True, text=True, env=env, timeout=120,
                              check=False)
        assert done.returncode == 1, (done.stderr, slurm_cluster.logs())
        assert f"(node {slurm_cluster.node} drained)" in done.stderr
        state = slurm_cluster.wait_state(("drained",), timeout=30)
        assert state == "drained"
        node, _, reason = slurm_cluster.reasons().partition("|")
        assert node == slurm_cluster.node
        assert reason.startswith("tfgpu: TensorFlow will not use a GPU"), reason
        show = slurm_cluster.client("scontrol", "show", "node", slurm_cluster.node).stdout
        assert "DRAIN" in show and f"Reason={reason}" in show
    finally:  # the module's other tests need the node back (a drained node takes no job: srun would wait)
        slurm_cluster.client("scontrol", "update", f"NodeName={slurm_cluster.node}", "State=RESUME")
    assert slurm_cluster.wait_state(("idle",)) == "idle"


@pytest.mark.slow
def test_fleet_slurm_on_a_real_slurm_names_a_node_whose_doctor_failed_with_its_stderr(slurm_cluster, tmp_path):
    slurm_cluster.wait_state(("idle",))  # else srun would queue until the time limit
    out = tmp_path / "bad"
    done = run_tfgpu("fleet", "slurm", "-N", "1", "--out", str(out), "--time-limit", "60", "--", "--no-such-flag",
                     env=slurm_cluster.env, timeout=200)
    host = sl.node_name({})
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert (out / f"{host}.json").read_text() == ""  # the doctor refused its arguments: no report
    assert "No such option: --no-such-flag" in (out / "stderr" / f"{host}.stderr").read_text()
    assert f"{host}: no report: an empty file" in done.stdout


def _healthcheck_wrapped() -> tuple[list[str], dict[str, str]]:
    """`tfgpu fleet healthcheck --drain` and the environment its wrapper script sets."""
    env = tfgpu_env()
    keep = {k: env[k] for k in ("PATH", "HOME", "XDG_CACHE_HOME", "LD_LIBRARY_PATH", "NO_COLOR") if k in env}
    return [sys.executable, "-m", "tfgpu", "fleet", "healthcheck", "--drain"], keep


def _assert_drained_by_tfgpu(cluster, key: str) -> None:
    node, _, reason = cluster.reasons().partition("|")
    assert node == cluster.node and reason.startswith("tfgpu: TensorFlow will not use a GPU"), (reason, cluster.logs())
    said = (cluster.root / "log" / f"{key}.err").read_text()
    assert said.startswith("tfgpu: not ready: ") and said.rstrip().endswith(f"(node {cluster.node} drained)")
    assert len(said.splitlines()) == 1


@pytest.mark.slow
def test_slurmd_itself_runs_healthcheck_as_its_health_check_program_and_the_node_is_drained(slurm_cluster):
    # A second cluster (its own folder, key and ports; the module's fixture only decides the skip)
    # whose slurm.conf names a HealthCheckProgram: slurmd runs it as it starts.
    import slurm_cluster as cluster_mod

    cluster = cluster_mod.start(scripts={"HealthCheckProgram": _healthcheck_wrapped()}, wanted=("drained",))
    try:
        _assert_drained_by_tfgpu(cluster, "HealthCheckProgram")
    finally:
        cluster.stop()
    assert not cluster.root.exists()


@pytest.mark.slow
def test_healthcheck_as_a_prolog_fails_the_job_and_drains_the_node_with_its_reason(slurm_cluster):
    import slurm_cluster as cluster_mod

    cluster = cluster_mod.start(scripts={"Prolog": _healthcheck_wrapped()})
    try:
        done = cluster.client("srun", "--nodes=1", "--time=1", "true", timeout=60)
        assert done.returncode != 0 and "prolog failed" in done.stderr.lower(), done.stderr
        cluster.wait_state(("drained",))
        # Slurm drains a node whose prolog fails; the reason stays the doctor's headline.
        _assert_drained_by_tfgpu(cluster, "Prolog")
    finally:
        cluster.stop()
