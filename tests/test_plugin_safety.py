"""Check plugins cannot sink the run (issue #14 item 10): a plugin check that returns something other than
findings, raises, calls sys.exit, hangs, or prints to stdout is that check failing (exit 3, the plugin named,
the rest of the report intact), each check runs under the run's --timeout, and what a check prints never
reaches stdout (the --json document stays one valid document). Each plugin is a real installed distribution
(test_foundation_cli's dist-info with entry_points.txt, on the tfgpu process's PYTHONPATH)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conftest import findings_by_id, run_tfgpu, validate_report
from test_foundation_cli import _plugin_dir


def _install(tmp_path: Path, body: str) -> dict:
    root = _plugin_dir(tmp_path, body, name="bad-plugin-check")
    return {"PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _doctor(env: dict, *args: str) -> tuple[dict, str, int, float]:
    t0 = time.monotonic()
    proc = run_tfgpu("doctor", "--json", "--fast", *args, env=env, timeout=120)
    seconds = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    data = json.loads(proc.stdout)  # one valid document, whatever the plugin did
    validate_report(data)
    return data, proc.stderr, proc.returncode, seconds


def _failed_plugin(data: dict) -> dict:
    assert data["summary"]["failed_checks"] == ["bad-plugin-check"]
    (crash,) = [f for f in findings_by_id(data)["check-crashed"] if f["check"] == "bad-plugin-check"]
    assert "plugin check 'bad-plugin-check' (tfgpu_testplugin:check_it) failed" in crash["summary"]
    assert "tfgpu bug" not in crash["summary"]
    return crash


def _rest_is_intact(data: dict) -> None:
    """The built-in checks still reported (the hermetic machine has no driver: its findings are there)."""
    checks = {f["check"] for f in data["findings"]}
    assert len(checks - {"bad-plugin-check", "plugins"}) >= 5, checks
    assert data["verdict"]["status"]


def test_a_plugin_returning_other_objects_is_a_failed_check(tmp_path: Path):
    env = _install(tmp_path, """
        def check_it(ctx):
            '''Returns strings and numbers.'''
            return ["not a finding", 42]
    """)
    data, _err, code, _s = _doctor(env)
    assert code == 3
    assert "returned a str where a Finding belongs" in _failed_plugin(data)["summary"]
    _rest_is_intact(data)


def test_a_plugin_returning_a_non_iterable_or_bad_fields(tmp_path: Path):
    env = _install(tmp_path, """
        from tfgpu.model import Finding, Severity
        def check_it(ctx):
            '''Finding with a severity that is a plain string and evidence that is no mapping.'''
            return [Finding("bad-sev", "bad-plugin-check", "error", "s")]
    """)
    data, _err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 3 and "severity is a str" in _failed_plugin(data)["summary"]

    other = tmp_path / "b"
    other.mkdir()
    env = _install(other, """
        def check_it(ctx):
            '''Returns a number.'''
            return 42
    """)
    data, _err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 3 and "returned a int where a Finding belongs" in _failed_plugin(data)["summary"]


def test_evidence_that_cannot_be_json_is_refused(tmp_path: Path):
    env = _install(tmp_path, """
        from tfgpu.model import Severity
        def check_it(ctx):
            '''Evidence keyed by a tuple.'''
            yield ctx.finding("odd-evidence", Severity.INFO, "odd", evidence={("a", "b"): 1})
    """)
    data, _err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 3 and "cannot be written as JSON" in _failed_plugin(data)["summary"]


def test_a_raising_plugin_and_one_calling_sys_exit(tmp_path: Path):
    env = _install(tmp_path, """
        import sys
        def check_it(ctx):
            '''Exits the process, it thinks.'''
            print("about to exit")
            sys.exit(0)
    """)
    data, _err, code, _s = _doctor(env)
    assert code == 3
    crash = _failed_plugin(data)
    assert "raised SystemExit" in crash["summary"] and crash["evidence"]["printed"] == "about to exit\n"
    _rest_is_intact(data)


def test_a_hung_plugin_is_timed_out_and_the_run_goes_on(tmp_path: Path):
    env = _install(tmp_path, """
        import time
        def check_it(ctx):
            '''Hangs.'''
            time.sleep(600)
    """)
    data, _err, code, seconds = _doctor(env, "--timeout", "2")
    assert code == 3
    crash = _failed_plugin(data)
    assert "did not finish within 2 s and was abandoned" in crash["summary"]
    assert "cannot be killed" in crash["summary"]
    assert seconds < 30, seconds
    _rest_is_intact(data)


def test_what_a_plugin_prints_never_reaches_stdout(tmp_path: Path):
    env = _install(tmp_path, """
        import os, sys
        from tfgpu.model import Severity
        def check_it(ctx):
            '''Chatty.'''
            print("hello from print")
            sys.stdout.write("{not json\\n")
            os.write(1, b"raw bytes on fd 1\\n")
            yield ctx.finding("chatty-said", Severity.INFO, "chatty plugin ran")
    """)
    data, err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 0, err
    assert findings_by_id(data)["chatty-said"][0]["check"] == "bad-plugin-check"
    assert "the check 'bad-plugin-check' printed to standard output (kept out of the report): hello from print" in err
    assert "raw bytes on fd 1" in err  # the descriptor itself pointed at stderr while checks ran


def test_a_hung_plugin_printing_after_its_limit_does_not_corrupt_the_json(tmp_path: Path):
    env = _install(tmp_path, """
        import time
        def check_it(ctx):
            '''Wakes up after its limit and prints while the report is written.'''
            time.sleep(1.02)
            for _ in range(2000):
                print("LATE" * 50)
                time.sleep(0.002)
    """)
    data, _err, code, _s = _doctor(env, "--timeout", "1")
    assert code == 3 and "did not finish within 1 s" in _failed_plugin(data)["summary"]
    assert "LATE" not in json.dumps(data)


def test_a_plugin_printing_when_imported_does_not_corrupt_the_json(tmp_path: Path):
    env = _install(tmp_path, """
        print("imported!")
        from tfgpu.model import Severity
        def check_it(ctx):
            '''Quiet once imported.'''
            yield ctx.finding("import-chatty", Severity.INFO, "ran")
    """)
    data, err, code, _s = _doctor(env)
    assert code == 1 and "imported!" in err  # 1: the hermetic machine has no driver
    assert findings_by_id(data)["import-chatty"]


def test_what_a_failing_plugin_said_before_it_failed_is_kept(tmp_path: Path):
    env = _install(tmp_path, """
        from tfgpu.model import Severity
        def check_it(ctx):
            '''Says one thing, then breaks.'''
            yield ctx.finding("said-first", Severity.INFO, "said before failing")
            yield "not a finding"
            yield ctx.finding("never-seen", Severity.INFO, "after the bad one")
    """)
    data, _err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 3 and "returned a str where a Finding belongs" in _failed_plugin(data)["summary"]
    by = findings_by_id(data)
    assert by["said-first"][0]["check"] == "bad-plugin-check" and "never-seen" not in by

    other = tmp_path / "b"
    other.mkdir()
    env = _install(other, """
        from tfgpu.model import Severity
        def check_it(ctx):
            '''Says one thing, then raises.'''
            yield ctx.finding("said-first", Severity.INFO, "said before raising")
            raise RuntimeError("broke")
    """)
    data, _err, code, _s = _doctor(env, "bad-plugin-check")
    assert code == 3 and "raised RuntimeError: broke" in _failed_plugin(data)["summary"]
    assert findings_by_id(data)["said-first"]
