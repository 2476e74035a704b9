"""tfgpu.launch: a plain `tfgpu doctor ...` is read without Typer (tfgpu.doctor_argv, generated from
tfgpu.cli), and must be read exactly as Typer reads it; everything else goes to Typer. Also the
process's end: flushed output, atexit functions run, the exit code as SystemExit gave it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_tfgpu, tfgpu_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tfgpu.doctor as doctor_mod
from tfgpu.doctor_argv import DEFAULTS, OPTIONS
from tfgpu.launch import doctor_params

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_doctor_argv  # noqa: E402


def typer_reading(argv: list[str], monkeypatch) -> dict | None:
    """The keyword arguments Typer passes to tfgpu.doctor.run for `argv`; None where it refuses it."""
    from tfgpu.cli import app

    got: list[dict] = []
    with monkeypatch.context() as m:
        m.setattr(doctor_mod, "run", lambda **kw: got.append(kw) or 0)
        try:
            app(argv, standalone_mode=False, prog_name="tfgpu")
        except SystemExit:
            pass
        except Exception as exc:  # Click's usage errors
            if type(exc).__name__ not in ("UsageError", "NoSuchOption", "BadParameter", "BadOptionUsage",
                                          "BadArgumentUsage", "MissingParameter"):
                raise
            return None
    return got[0] if got else None


# --- the table ---------------------------------------------------------------------------------------


def test_the_table_is_what_the_script_generates_from_the_cli():
    committed = (ROOT / "src" / "tfgpu" / "doctor_argv.py").read_text(encoding="utf-8")
    assert committed == make_doctor_argv.generate(), "stale: run python tools/make_doctor_argv.py"


def test_the_script_refuses_an_option_the_reader_cannot_read(monkeypatch):
    import typer

    from tfgpu import cli

    # A --x/--no-x pair: the reader does not know secondary names; the table must not be written.
    extra = typer.Typer()

    @extra.callback()
    def root() -> None:
        pass

    @extra.command()
    def doctor(color: bool = typer.Option(True, "--color/--no-color")) -> None:
        pass

    monkeypatch.setattr(cli, "app", extra)
    with pytest.raises(make_doctor_argv.Unsupported, match="color"):
        make_doctor_argv.generate()


def test_every_option_of_the_command_is_in_the_table(monkeypatch):
    import typer.main

    from tfgpu.cli import app

    command = typer.main.get_command(app).get_command(None, "doctor")  # type: ignore[attr-defined]
    names = {name for p in command.params if p.param_type_name == "option" for name in p.opts}
    assert names == set(OPTIONS)
    assert typer_reading(["doctor"], monkeypatch) == DEFAULTS


# --- the two readings agree --------------------------------------------------------------------------

PLAIN = [
    ["doctor"],
    ["doctor", "--fast"],
    ["doctor", "--fast", "--json", "--python", "/usr/bin/python3"],
    ["doctor", "--python=/opt/venv", "--timeout", "5", "--live-timeout=300.5"],
    ["doctor", "driver-present", "cudnn", "--json", "-q"],
    ["doctor", "-v", "--strict", "--from-facts", "report.json", "--matrix", "m.yaml"],
    ["doctor", "--junit", "r.xml", "--markdown", "s.md", "--output-json", "o.json"],
    ["doctor", "--require-gpus", "2", "--require-vram=-1", "--require-vram", "7.5", "--require-cc", "8.0"],
    ["doctor", "--require-tf", ">=2.16,<2.22", "--fail-on", "warning", "--config", "ci.toml"],
    ["doctor", "--ignore", "a", "--ignore=b", "x", "--ignore", "c", "y", "--no-ci-integration", "--no-smoke"],
    ["doctor", "--list", "--json"],
    ["doctor", "--python", "", "--fast"],  # an empty --python: doctor.run refuses it, as it would via Typer
    ["doctor", "--python=", "--timeout=0010"],
]

#: Command lines the reader leaves to Typer: help, other commands, and forms Typer might read otherwise.
LEFT_TO_TYPER = [
    [], ["--help"], ["--version"], ["matrix"], ["doctor", "--help"], ["doctor", "-h"], ["doctor", "-qv"],
    ["doctor", "--timeout", "0.5"], ["doctor", "--timeout", "1e3"], ["doctor", "--timeout", "inf"],
    ["doctor", "--python"], ["doctor", "--python", "-q"], ["doctor", "--json=1"], ["doctor", "--jsn"],
    ["doctor", "--", "x"], ["doctor", "-"], ["doctor", ""], ["doctor", "--require-gpus", "2.0"],
    ["doctor", "--require-gpus", "+2"], ["doctor", "--require-gpus", "1_0"], ["doctor", "--from-facts="],
    ["doctor", "--timeout", "\u0661\u0662"], ["Doctor"], ["doc"],
]


@pytest.mark.parametrize("argv", PLAIN, ids=lambda a: " ".join(a) or "-")
def test_a_plain_command_line_is_read_as_typer_reads_it(argv, monkeypatch):
    fast = doctor_params(argv)
    assert fast is not None, "the launcher's reader should take this command line on"
    assert fast == typer_reading(argv, monkeypatch)


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=lambda a: " ".join(a) or "-")
def test_anything_else_is_left_to_typer(argv):
    assert doctor_params(argv) is None


_VALUES = st.one_of(
    st.sampled_from(["", "0", "1", "2", "30", "1.5", "0.5", "-1", "-", "--fast", "-q", "x", "a b", "1e3", "2.",
                     ".5", "inf", "nan", "+3", "1_0", "0010", "\u0661", "report.json", ">=2.16"]),
    st.text(alphabet="-=.0123456789abq_ \u00e9", max_size=6),
)
_TOKENS = st.one_of(
    st.sampled_from(sorted(OPTIONS)),
    st.sampled_from(sorted(OPTIONS)).flatmap(lambda name: _VALUES.map(lambda v: f"{name}={v}")),
    _VALUES,
    st.sampled_from(["--", "-", "-qv", "--help", "-h", "--jsn", "--list", "driver-present"]),
)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(_TOKENS, max_size=7))
def test_wherever_the_reader_takes_a_command_line_typer_reads_it_the_same(words, monkeypatch):
    argv = ["doctor", *words]
    fast = doctor_params(argv)
    if fast is not None:
        assert fast == typer_reading(argv, monkeypatch), argv


# --- end to end --------------------------------------------------------------------------------------

_RECORD = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("typer", "click", "rich")))))
sys.argv = ["tfgpu", *sys.argv[2:]]
runpy.run_module("tfgpu", run_name="__main__", alter_sys=True)
"""


def _saved_report(tmp_path: Path) -> Path:
    report = run_tfgpu("doctor", "--fast", "--json")
    assert report.returncode == 1  # the hermetic "no driver" stand-in: an error finding
    path = tmp_path / "report.json"
    path.write_text(report.stdout)
    return path


def test_a_plain_doctor_run_imports_no_typer_and_gives_what_the_typer_path_gives(tmp_path):
    saved = _saved_report(tmp_path)
    args = ["doctor", "--from-facts", str(saved), "--json"]
    out = tmp_path / "modules.json"
    fast = subprocess.run([sys.executable, "-c", _RECORD, str(out), *args], capture_output=True, text=True,
                          env=tfgpu_env(), timeout=120, check=False)
    assert json.loads(out.read_text()) == []  # neither Typer (nor its Click) nor Rich
    # The same command line through Typer (tfgpu.cli's app, as every other command runs).
    via_typer = subprocess.run(
        [sys.executable, "-c", "import sys; from tfgpu.cli import app; app(sys.argv[1:], prog_name='tfgpu')", *args],
        capture_output=True, text=True, env=tfgpu_env(), timeout=120, check=False)
    assert (fast.returncode, via_typer.returncode) == (1, 1)
    drop = ("timings",)
    a, b = json.loads(fast.stdout), json.loads(via_typer.stdout)
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    assert fast.stderr == via_typer.stderr


def test_other_command_lines_still_get_typers_answers():
    help_text = run_tfgpu("doctor", "--help")
    assert help_text.returncode == 0 and "--fast" in help_text.stdout and "--require-gpus" in help_text.stdout
    bad = run_tfgpu("doctor", "--timeout", "0.5")
    assert bad.returncode == 2 and "0.5" in bad.stderr  # Click's range error, one usage message
    typo = run_tfgpu("doctor", "--jsn")
    assert typo.returncode == 2 and "--json" in typo.stderr  # "did you mean"


def test_usage_errors_found_by_doctor_itself_are_exit_2_on_both_paths(tmp_path):
    missing = tmp_path / "nope.json"
    res = run_tfgpu("doctor", "--from-facts", str(missing))
    assert res.returncode == 2 and "nope.json" in res.stderr and "Traceback" not in res.stderr
    both = run_tfgpu("doctor", "-q", "-v", "--fast")
    assert both.returncode == 2 and "choose one" in both.stderr


def _end(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the launcher with tfgpu.doctor.run replaced by `code` (a function body)."""
    script = (
        "import sys, atexit, tfgpu.doctor as d\n"
        f"atexit.register(lambda: open({str(tmp_path / 'atexit')!r}, 'w').write('ran'))\n"
        f"def run(**kw):\n" + "".join(f"    {line}\n" for line in code.splitlines()) +
        "d.run = run\nsys.argv = ['tfgpu', 'doctor']\nfrom tfgpu.launch import main\nmain()\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=tfgpu_env(),
                          timeout=60, check=False)


@pytest.mark.parametrize("body,code,stdout,stderr", [
    ("sys.stdout.write('partial line, no newline'); return 1", 1, "partial line, no newline", ""),
    ("raise SystemExit(2)", 2, "", ""),
    ("raise SystemExit('a message')", 1, "", "a message\n"),
    ("raise SystemExit(None)", 0, "", ""),
    ("raise SystemExit(256)", 0, "", ""),  # as the interpreter's own exit: the low 8 bits
    ("raise SystemExit(-1)", 255, "", ""),
    ("return 0", 0, "", ""),
])
def test_the_process_ends_with_its_output_flushed_and_atexit_run(body, code, stdout, stderr, tmp_path):
    res = _end(body, tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (code, stdout, stderr)
    assert (tmp_path / "atexit").read_text() == "ran"


def test_a_child_left_running_is_killed_at_the_end(tmp_path):
    # tfgpu.proc's atexit function kills what a timed-out probe left behind; os._exit must not skip it.
    pid_file = tmp_path / "pid"
    body = ("import threading, time\n"
            "from tfgpu import proc\n"
            f"threading.Thread(target=lambda: proc.run(['sleep', '30'], timeout=60), daemon=True).start()\n"
            "time.sleep(0.5)\n"
            f"open({str(pid_file)!r}, 'w').write(' '.join(str(p.pid) for p in list(proc._RUNNING)))\n"
            "return 0")
    res = _end(body, tmp_path)
    assert res.returncode == 0, res.stderr

    pids = [int(p) for p in pid_file.read_text().split()]
    assert pids, "the stand-in child did not start"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_the_launcher_imports_where_the_platform_has_no_sighup(monkeypatch):
    # Native Windows: no signal.SIGHUP. tfgpu must start there (it explains why there is no GPU).
    import importlib
    import signal

    import tfgpu.launch as launch

    monkeypatch.delattr(signal, "SIGHUP")
    try:
        fresh = importlib.reload(launch)
        assert set(fresh._ENDINGS) == {signal.SIGINT, signal.SIGTERM}
    finally:
        monkeypatch.undo()
        importlib.reload(launch)
    assert signal.SIGHUP in launch._ENDINGS


def test_a_bad_policy_is_exit_2_before_any_child_starts(tmp_path):
    # A stand-in target interpreter that leaves a mark when anything runs it (the python_env inquiry,
    # the live import): a usage error must come first, with no child started and nothing left behind.
    mark = tmp_path / "ran"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {mark}\nexec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    for args in (("--require-cc", "abc"), ("--fail-on", "sometimes"), ("--config", str(tmp_path / "missing.toml"))):
        for fast in ((), ("--fast",)):
            res = run_tfgpu("doctor", *fast, "--python", str(fake), *args)
            assert res.returncode == 2, (args, res.stderr)
            assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
            assert not mark.exists(), f"the target ran before the usage error ({args})"
    ok = run_tfgpu("doctor", "--fast", "--python", str(fake))
    assert ok.returncode == 1 and mark.exists()  # the stand-in does mark a run that starts


_ENDING = """
import json, os, subprocess, sys, threading, time
from tfgpu import proc

real = subprocess.Popen
def slow(*a, **k):  # a start still in progress when the process ends
    time.sleep(0.5)
    return real(*a, **k)
proc.subprocess.Popen = slow
threading.Thread(target=lambda: proc.run(["sleep", "30"], timeout=60), daemon=True).start()
time.sleep(0.1)
t0 = time.monotonic()
proc.kill_running()
waited = time.monotonic() - t0
pids = [p.pid for p in proc._RUNNING]
time.sleep(0.2)
alive = []
for pid in pids:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            alive.append(fh.read().split(")")[-1].split()[0] != "Z")
    except OSError:
        alive.append(False)
after = proc.run(["true"], timeout=5)
print(json.dumps({"waited": waited, "pids": pids, "alive": alive, "after": after.start_error}))
"""


def test_the_end_of_the_process_kills_a_child_still_being_started(tmp_path):
    res = subprocess.run([sys.executable, "-c", _ENDING], capture_output=True, text=True, timeout=60,
                         env=tfgpu_env(), check=False)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["waited"] >= 0.2  # it waited for the start in progress to register
    assert len(out["pids"]) == 1 and out["alive"] == [False]  # and killed it
    assert "ending" in out["after"]  # no child starts once the process is ending
