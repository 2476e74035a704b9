"""The live TensorFlow probe: the real wheel on this GPU-less machine, and stand-in `tensorflow`
packages that segfault, hang, raise, flood the log, or list GPUs and run (or fail) the smoke ops."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import findings_by_id, json_report, run_tfgpu, tf_python

BUILD_INFO_221 = (Path(__file__).parent / "data" / "build_info" / "build_info_2.21.0.py").read_text()


def standin_env(tmp_path: Path, init_py: str) -> str:
    """A virtualenv whose `tensorflow` package runs `init_py` on import (plus a real build_info)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    pkg = site / "tensorflow"
    (pkg / "python" / "platform").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(init_py))
    (pkg / "python" / "__init__.py").write_text("")
    (pkg / "python" / "platform" / "__init__.py").write_text("")
    (pkg / "python" / "platform" / "build_info.py").write_text(BUILD_INFO_221)
    meta = site / "tensorflow-2.21.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.21.0\nRequires-Python: >=3.10\n\n")
    return str(python)


FAKE_TF = '''
import sys, os
__version__ = "2.21.0"
sys.stderr.write("I0000 00:00:1712345678.123456   4242 cuda_executor.cc:1001] successful NUMA node read from SysFS had negative value (-1), but there must be at least one NUMA node, so returning NUMA node zero.\\n")
class _Dev:
    def __init__(self, i): self.name = "/physical_device:GPU:%d" % i; self.device_type = "GPU"
class _T:
    def __init__(self, device): self.device = device
    def numpy(self): return 0
class _Ctx:
    def __init__(self, d): self.d = d
    def __enter__(self): _Ctx.current = self.d
    def __exit__(self, *a): _Ctx.current = None
_Ctx.current = None
def device(d): return _Ctx(d)
def _placed():
    return "/job:localhost/replica:0/task:0/device:" + _Ctx.current.strip("/")
class config:
    @staticmethod
    def list_physical_devices(kind): return [_Dev(0)]
    class experimental:
        @staticmethod
        def set_memory_growth(d, v): pass
        @staticmethod
        def get_device_details(d): return {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}
class sysconfig:
    @staticmethod
    def get_build_info(): return {"cuda_version": "12.5.1", "cudnn_version": "9", "is_cuda_build": True}
class linalg:
    @staticmethod
    def matmul(a, b): return _T(_placed())
class nn:
    @staticmethod
    def conv2d(*a, **k):
        CONV
    @staticmethod
    def relu(x): return x
def ones(shape): return 1.0
def reduce_sum(x): return _T(_placed())
def function(jit_compile=False):
    def wrap(fn):
        return lambda *a: _T(_placed())
    return wrap
'''


def fake_tf(conv_body: str) -> str:
    return FAKE_TF.replace("CONV", conv_body)


def test_standin_gpu_that_runs_everything_is_ready(tmp_path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())"))
    data, _ = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(0,))
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "ok" and live["gpus"][0]["details"]["device_name"] == "NVIDIA H100 80GB HBM3"
    ops = {r["op"]: r for r in live["gpus"][0]["smoke"]}
    assert set(ops) == {"matmul", "conv2d", "xla_jit"} and all(r["ok"] for r in ops.values())
    assert ops["conv2d"]["device"].endswith("device:GPU:0")
    by = findings_by_id(data)
    assert len(by["gpu-smoke-ok"]) == 3
    assert "noise-numa-node" in by["log-noise"][0]["evidence"]["noise"]
    assert data["verdict"] == {"status": "ready", "predicted": False,
                               "headline": "TensorFlow 2.21.0 listed 1 GPU and ran conv2d on /GPU:0"}


def test_the_live_child_skips_the_teardown_but_runs_the_atexit_functions(tmp_path):
    """After its last stage the child ends without the interpreter's teardown of TensorFlow (where a
    broken stack can hang): a stand-in whose teardown would wait forever (a non-daemon thread, an
    object whose finaliser sleeps) still gives an ok outcome well inside --live-timeout, and the
    atexit function it registered has run."""
    marker = tmp_path / "atexit-ran"
    teardown = f"""
import atexit, threading, time
atexit.register(lambda: open({str(marker)!r}, "w").write("yes"))
threading.Thread(target=time.sleep, args=(600,), daemon=False).start()
class _Slow:
    def __del__(self): time.sleep(600)
_slow = _Slow()
"""
    python = standin_env(tmp_path, fake_tf("return _T(_placed())") + teardown)
    data, _ = json_report("doctor", "--json", "--python", python, "--live-timeout", "60", "tf-live", expect_codes=(0,))
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "ok", live
    assert marker.read_text() == "yes"


def test_an_atexit_run_that_raises_does_not_bring_the_teardown_back(tmp_path):
    """Python 3.9 and older re-raise an atexit callback's exception (SystemExit too) from
    atexit._run_exitfuncs: the child still ends with os._exit, so a teardown that would wait
    forever (a non-daemon thread) is still skipped."""
    raising = """
import atexit, threading, time
def _raise():
    raise SystemExit(3)
atexit._run_exitfuncs = _raise
threading.Thread(target=time.sleep, args=(600,), daemon=False).start()
"""
    python = standin_env(tmp_path, fake_tf("return _T(_placed())") + raising)
    data, _ = json_report("doctor", "--json", "--python", python, "--live-timeout", "60", "tf-live", expect_codes=(0,))
    assert data["facts"]["tf_live"]["data"]["outcome"] == "ok"


def test_standin_conv2d_failure_is_classified(tmp_path):
    python = standin_env(tmp_path, fake_tf("raise RuntimeError('UnimplementedError: DNN library is not found.')"))
    data, _ = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(1,))
    by = findings_by_id(data)
    assert "cudnn-missing" in by, sorted(by)
    assert "conv2d failed on /GPU:0" in by["cudnn-missing"][0]["summary"]
    assert by["cudnn-missing"][0]["fixes"]
    assert data["verdict"]["status"] == "not_ready"


def test_standin_that_segfaults(tmp_path):
    python = standin_env(tmp_path, "import os, signal, sys\nsys.stderr.write('about to crash\\n')\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    data, proc = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(1,))
    f = findings_by_id(data)["tf-import-crashed"][0]
    assert "signal 11 (SIGSEGV)" in f["summary"] and "about to crash" in f["evidence"]["log_tail"]
    assert "Traceback" not in proc.stderr


def test_standin_that_aborts(tmp_path):
    python = standin_env(tmp_path, "import os\nos.abort()\n")
    data, _ = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(1,))
    assert "SIGABRT" in findings_by_id(data)["tf-import-crashed"][0]["summary"]


def test_standin_that_raises(tmp_path):
    python = standin_env(tmp_path, "raise ImportError('libcudart.so.11.0: cannot open shared object file')\n")
    data, _ = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(1,))
    f = findings_by_id(data)["tf-import-failed"][0]
    assert "libcudart.so.11.0" in f["summary"] and f["fixes"][0]["commands"]


def test_standin_that_hangs_is_bounded(tmp_path):
    python = standin_env(tmp_path, "import time\ntime.sleep(600)\n")
    t0 = time.monotonic()
    data, _ = json_report("doctor", "--json", "--python", python, "--live-timeout", "3", "tf-live", expect_codes=(1,))
    assert time.monotonic() - t0 < 30
    f = findings_by_id(data)["tf-import-hung"][0]
    assert data["facts"]["tf_live"]["data"]["stage"] == "start" and f["severity"] == "error"


def test_standin_that_floods_the_log_is_bounded(tmp_path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())").replace(
        "class _Dev:", "for _i in range(1000000):\n    sys.stderr.write('I0000 00:00:1.0  1 x.cc:1] line %d\\n' % _i)\nclass _Dev:", 1))
    t0 = time.monotonic()
    data, proc = json_report("doctor", "--json", "--python", python, "tf-live", timeout=300, expect_codes=(0,))
    assert time.monotonic() - t0 < 120
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "ok" and len(live["log"]) <= 301
    assert len(proc.stdout) < 2_000_000


def test_fast_never_runs_the_live_probe(tmp_path):
    python = standin_env(tmp_path, "import os\nos.abort()\n")
    data, _ = json_report("doctor", "--json", "--fast", "--python", python, expect_codes=(1,))  # no driver
    assert "tf_live" not in data["facts"] and data["verdict"]["predicted"] is True


def test_no_smoke_lists_without_running_work(tmp_path):
    python = standin_env(tmp_path, fake_tf("raise RuntimeError('never called')"))
    data, _ = json_report("doctor", "--json", "--no-smoke", "--python", python, "tf-live", expect_codes=(0,))
    assert data["facts"]["tf_live"]["data"]["gpus"][0]["smoke"] == []
    assert "gpu-listed" in findings_by_id(data)


def test_live_facts_replay(tmp_path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())"))
    data, _ = json_report("doctor", "--json", "--python", python, expect_codes=(1,))  # no driver
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(data))
    replay, _ = json_report("doctor", "--json", "--from-facts", str(saved), expect_codes=(1,))
    assert replay["verdict"] == data["verdict"]
    assert [f["id"] for f in replay["findings"]] == [f["id"] for f in data["findings"]]


@pytest.mark.real_tf
def test_real_tensorflow_221_without_gpu():
    python = tf_python()
    data, proc = json_report("doctor", "--json", "--python", python, expect_codes=(1,), timeout=300)
    live = data["facts"]["tf_live"]["data"]
    assert live["outcome"] == "ok" and live["version"] == "2.21.0" and live["gpus"] == []
    assert live["build_info"]["cuda_version"] == "12.5.1"
    by = findings_by_id(data)
    assert "tf-live-no-gpu" in by
    live_ids = {f["id"] for f in data["findings"] if f["check"] == "tf-live"}
    # This machine has no driver: TensorFlow says so, and fails cuInit. The driver's absence is
    # one finding (the static check's), carrying TensorFlow's own log lines as evidence.
    assert "cuinit-failed" in live_ids, live_ids
    # The static check names the driver's absence (inside a container without /dev/nvidia*, as CI runs:
    # a container started without GPU access); what TensorFlow's log says of it points there as its root.
    in_container = bool(data["facts"]["host"]["data"].get("container"))
    cause = "container-no-gpu-passthrough" if in_container else "driver-missing"
    assert [f["check"] for f in by[cause] if not f.get("root_cause")] == ["driver-present"]
    for f in data["findings"]:
        if f["check"] == "tf-live" and f["id"] in ("driver-missing", "cuinit-failed"):
            assert f["root_cause"] == cause, f
    # "Could not find cuda drivers" is libcudart's stub failing to load the CUDA runtime (a TensorFlow
    # without its [and-cuda] wheels), not the driver: explain files it as cuda-runtime-missing, whose
    # root cause is the missing [and-cuda] extra.
    (runtime,) = by["cuda-runtime-missing"]
    assert runtime["check"] == "tf-live" and runtime["root_cause"] == "and-cuda-missing", runtime
    assert any("Could not find cuda drivers" in ln["text"] for ln in runtime["evidence"]["lines"])
    assert data["verdict"]["status"] == "not_ready" and data["verdict"]["predicted"] is False
    text = run_tfgpu("doctor", "--python", python, timeout=300).stdout
    assert "Live     TensorFlow 2.21.0 imported in" in text and "lists no GPU" in text


def test_secrets_never_reach_the_report_with_the_live_probe(tmp_path):
    python = standin_env(tmp_path, fake_tf("return _T(_placed())"))
    proc = run_tfgpu("doctor", "--json", "--python", python, env={"TF_VAR_password": "s3cr3t-value", "AWS_SECRET_ACCESS_KEY": "s3cr3t-2"})
    assert proc.returncode == 1, proc.stderr[-2000:]  # no driver
    assert "s3cr3t" not in proc.stdout and "s3cr3t" not in proc.stderr


def test_prerelease_install_commands_pin_exactly():
    from tfgpu.fixes import tf_requirement

    assert tf_requirement("2.22.0rc0") == "tensorflow[and-cuda]==2.22.0rc0"
    assert tf_requirement("2.21.0") == "tensorflow[and-cuda]==2.21.*"


def test_a_chosen_check_that_reads_no_live_fact_runs_no_live_import(tmp_path):
    """`doctor driver-present` answers without importing TensorFlow (the live probe is the slow one); a
    chosen check that reads the live facts still gets them."""
    marker = tmp_path / "imported"
    python = standin_env(tmp_path, f"open({str(marker)!r}, 'w').write('x')\n" + fake_tf("return _T(_placed())"))
    data, _ = json_report("doctor", "--json", "--python", python, "driver-present", expect_codes=(1,))
    assert "tf_live" not in data["facts"] and not marker.exists()
    data, _ = json_report("doctor", "--json", "--python", python, "tf-live", expect_codes=(0,))
    assert "tf_live" in data["facts"] and marker.exists()
