"""The live step says what it is doing (issue #13): the live child's stage records are read as they
arrive, so a terminal's spinner names the stage (starting Python, importing TensorFlow, listing GPUs,
smoke test on GPU 0...), the seconds spent and the limit, and that --fast skips the step. The fact
itself is the same as when the output is read only at the end; pipes and --json see nothing of it."""

from __future__ import annotations

import dataclasses
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import tf_python, tfgpu_env
from test_live import fake_tf, standin_env

from tfgpu import proc
from tfgpu.probes import ProbeContext
from tfgpu.probes.tf_live import MARK, LiveProgress, probe_tf_live, progress

SLOW_IMPORT = "import time\ntime.sleep(1.0)\n"

STANDIN_STAGES = ["starting Python", "importing TensorFlow", "reading TensorFlow's build info", "listing GPUs",
                  "smoke test on GPU 0", "listing the CUDA libraries loaded", "finishing",
                  "waiting for TensorFlow to exit"]


def _probe(python: str, **options) -> tuple:
    ctx = ProbeContext(python=python, environ=dict(os.environ), timeout=30.0,
                       options={"live_timeout": 120.0, "smoke": True, **options})
    fact = probe_tf_live(ctx)
    watched = progress()
    assert watched is not None
    return fact, watched, ctx


def test_stages_of_a_standin_arrive_in_order_while_it_runs(tmp_path: Path):
    python = standin_env(tmp_path, SLOW_IMPORT + fake_tf("return _T(_placed())"))
    fact, watched, _ctx = _probe(python)
    assert fact.outcome == "ok", fact
    names = [name for name, _at in watched.history]
    assert names == STANDIN_STAGES
    at = dict(watched.history)
    # Seen as it happened, not all at the end: the one-second import lies between two stage changes.
    assert at["reading TensorFlow's build info"] - at["importing TensorFlow"] >= 0.9, watched.history
    assert [t for _n, t in watched.history] == sorted(t for _n, t in watched.history)


def test_the_fact_is_the_same_as_when_stdout_is_read_at_the_end(tmp_path: Path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())"))
    streamed, _w, _ctx = _probe(python)

    def whole(argv, **kw):  # a runner that is not proc.run: the probe reads stdout only at the end
        return proc.run(argv, **kw)

    ctx = ProbeContext(python=python, environ=dict(os.environ), timeout=30.0,
                       options={"live_timeout": 120.0, "smoke": True}, run_command=whole)
    at_end = probe_tf_live(ctx)
    watched = progress()
    assert _untimed(streamed) == _untimed(at_end)
    assert [n for n, _t in watched.history] == STANDIN_STAGES  # the stages are still told, after the fact


def _untimed(fact):
    """The fact without what the clock decides (seconds of each step)."""
    gpus = tuple(dataclasses.replace(g, smoke=tuple(dataclasses.replace(r, seconds=0.0) for r in g.smoke))
                 for g in fact.gpus)
    return dataclasses.replace(fact, seconds=0.0, import_seconds=None, gpus=gpus)


def test_progress_takes_records_split_anywhere_and_ignores_other_output():
    watch = LiveProgress(60.0, smoke=True)
    stream = (b"hello from a plugin\n" + MARK.encode() + b'{"stage": "start"}\n' + MARK.encode()
              + b'{"stage": "imported", "version": "2.21.0"}\n' + MARK.encode() + b'{"stage": "build_info"}\n'
              + MARK.encode() + b'{"stage": "gpus", "gpus": [{"name": "a"}, {"name": "b"}]}\n' + MARK.encode()
              + b'{"stage": "smoke", "device": "/GPU:0"}\n' + MARK.encode() + b"not json\n")
    for i in range(0, len(stream), 7):
        watch.feed(stream[i:i + 7])
    stage, seconds, limit = watch.snapshot()
    assert stage == "smoke test on GPU 1" and limit == 60.0 and seconds >= 0
    assert [n for n, _t in watch.history][-2:] == ["smoke test on GPU 0", "smoke test on GPU 1"]


def test_no_smoke_and_no_gpu_go_from_listing_to_finishing():
    watch = LiveProgress(10.0, smoke=False)
    watch.feed(MARK.encode() + b'{"stage": "gpus", "gpus": [{"name": "a"}]}\n')
    assert watch.snapshot()[0] == "finishing"


def test_stages_of_the_real_tensorflow_arrive_in_order():
    python = tf_python()
    fact, watched, _ctx = _probe(python)
    names = [n for n, _t in watched.history]
    assert names[:4] == ["starting Python", "importing TensorFlow", "reading TensorFlow's build info", "listing GPUs"]
    assert names[-1] == "waiting for TensorFlow to exit" and fact.version, (fact.outcome, fact.error)
    at = dict(watched.history)
    assert at["reading TensorFlow's build info"] > at["importing TensorFlow"]  # the import took its time


def _run_on_a_terminal(args: list[str], env: dict) -> tuple[int, bytes, str]:
    """tfgpu with stderr on a pseudo-terminal (the spinner's place) and stdout on a pipe."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "tfgpu", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=tfgpu_env({**env, "COLUMNS": "120", "TERM": "xterm"}))
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's other end closed: tfgpu ended
                    break
                if not chunk:
                    break
                seen += chunk
            elif p.poll() is not None:
                break
        out = p.stdout.read().decode() if p.stdout else ""
        code = p.wait(30)
    finally:
        os.close(master)
        if p.stdout:
            p.stdout.close()
    return code, seen, out


def test_a_terminal_sees_the_stage_the_seconds_the_limit_and_the_hint(tmp_path: Path):
    python = standin_env(tmp_path, "import time\ntime.sleep(2.5)\n" + fake_tf("return _T(_placed())"))
    code, seen, out = _run_on_a_terminal(["doctor", "--python", python, "--live-timeout", "60", "tf-live"], {})
    text = seen.decode("utf-8", "replace")
    assert code == 0, (text[-2000:], out[-2000:])
    assert "importing TensorFlow" in text and "of 60 s" in text and "--fast skips this step" in text, text[-2000:]
    assert "Waiting for: nothing" not in text and "nothing" not in text
    assert re.search(r"importing TensorFlow [\u00b7-] 2 s of 60 s", text), "the seconds are counted while the import runs"
    assert len(set(re.findall(r" ([\u00b7-]) \d+ s of 60 s", text))) == 1, "one separator throughout (rich's stderr proxy)"
    assert "importing TensorFlow" not in out  # the report (stdout) carries none of it


def test_a_pipe_sees_no_spinner(tmp_path: Path):
    python = standin_env(tmp_path, SLOW_IMPORT + fake_tf("return _T(_placed())"))
    p = subprocess.run([sys.executable, "-m", "tfgpu", "doctor", "--python", python, "tf-live"], capture_output=True,
                       text=True, env=tfgpu_env(), timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "importing TensorFlow" not in p.stderr + p.stdout and "skips this step" not in p.stderr
