"""`tfgpu explain` as a user runs it: files, stdin, --json against the schema, broken bytes, big logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_tfgpu, validate_report

LOGS = Path(__file__).parent / "data" / "logs"
NOISE_LOG = LOGS / "microwakeword8_noise_only_tf217.txt"
LIB_LOG = LOGS / "behaviormetrics385_cusolver_cudnn_missing.txt"


def _run_bytes(args: list[str], data: bytes, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "tfgpu", *args], input=data, capture_output=True,
                          timeout=timeout, env=env)


def test_file_with_problems_exits_1_and_shows_lines_and_fixes() -> None:
    proc = run_tfgpu("explain", str(LIB_LOG))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert out.startswith("NOT READY")
    assert "[cuda-lib-missing]" in out and "[cudnn-missing]" in out and "[cannot-dlopen-gpu-libs]" in out
    assert out.index("Root causes") < out.index("Consequences")
    assert "libcusolver.so.11" in out
    assert "$ python -m pip install nvidia-cusolver-cu11" in out  # the log's stream_executor path: CUDA 11 era


def test_json_validates_against_the_report_schema() -> None:
    proc = run_tfgpu("explain", "--json", str(LIB_LOG))
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    validate_report(data)
    assert data["kind"] == "explain"
    assert data["verdict"]["status"] == "not_ready"
    by_id = {f["id"]: f for f in data["findings"]}
    lib = by_id["cuda-lib-missing"]
    assert lib["check"] == "explain"
    assert lib["evidence"]["values"]["soname"] == ["libcusolver.so.11"]
    assert lib["evidence"]["lines"][0]["line"] >= 1
    assert data["facts"]["log"]["status"] == "ok"


def test_noise_only_log_json_and_text() -> None:
    proc = run_tfgpu("explain", "--json", str(NOISE_LOG))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    validate_report(data)
    assert data["verdict"]["headline"].startswith("Nothing in this log is wrong")
    assert data["findings"] and all(f["severity"] == "info" and f["summary"].startswith("Harmless")
                                    for f in data["findings"])
    text = run_tfgpu("explain", str(NOISE_LOG)).stdout
    assert "Harmless (you can ignore these lines)" in text


def test_stdin_with_dash_and_without_argument() -> None:
    data = LIB_LOG.read_bytes()
    for args in (["explain", "-"], ["explain"]):
        proc = _run_bytes(args, data)
        assert proc.returncode == 1, proc.stderr
        assert b"[cuda-lib-missing]" in proc.stdout
        assert b"<stdin>" in proc.stdout


def test_invalid_utf8_bytes_are_tolerated(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    log.write_bytes(b"\xff\xfe\xfd garbage \xc3\x28\n"
                    b"2023-01-01 00:00:00.000001: E tensorflow/stream_executor/cuda/cuda_driver.cc:271] "
                    b"failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected \x80\x81\n"
                    b"\x00\x01\x02 binary tail without newline \xe2\x82")
    proc = run_tfgpu("explain", "--json", str(log))
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    validate_report(data)
    ids = {f["id"] for f in data["findings"]}
    assert {"cuinit-failed", "no-cuda-device"} <= ids


def test_utf16_log_from_powershell(tmp_path: Path) -> None:
    log = tmp_path / "ps.log"
    text = ("2023-01-01 00:00:00.000001: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] "
            "Could not load dynamic library 'cudart64_110.dll'; dlerror: cudart64_110.dll not found\r\n")
    log.write_bytes(text.encode("utf-16"))
    proc = run_tfgpu("explain", "--json", str(log))
    data = json.loads(proc.stdout)
    validate_report(data)
    f = next(f for f in data["findings"] if f["id"] == "cuda-lib-missing")
    assert f["evidence"]["values"]["soname"] == ["cudart64_110.dll"]
    assert any("wsl" in c for fix in f["fixes"] for c in fix["commands"])


def test_empty_input_is_unknown(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    data = json.loads(run_tfgpu("explain", "--json", str(log)).stdout)
    validate_report(data)
    assert data["verdict"]["status"] == "unknown"
    assert data["findings"] == []


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_tfgpu("explain", str(tmp_path / "nope.log"))
    assert proc.returncode == 2


def test_large_log_streams(tmp_path: Path) -> None:
    """~100 MB of log (one very long line included) is read in bounded memory and in reasonable time."""
    log = tmp_path / "big.log"
    noise = LOGS.joinpath("rlinf221_noise_only_ray_prefix.txt").read_bytes()
    block = b"".join(line + b"\n" for line in noise.splitlines() if not line.startswith(b"# "))
    problem = (b"2023-01-01 00:00:00.000001: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] "
               b"Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open "
               b"shared object file: No such file or directory\n")
    with open(log, "wb") as fh:
        fh.write(b"x" * (5 * 1024 * 1024) + b"\n")  # one 5 MB line
        written = 0
        while written < 100 * 1024 * 1024:
            fh.write(block)
            written += len(block)
        fh.write(problem)
    t0 = time.monotonic()
    proc = run_tfgpu("explain", "--json", str(log), timeout=300)
    elapsed = time.monotonic() - t0
    data = json.loads(proc.stdout)
    validate_report(data)
    lib = next(f for f in data["findings"] if f["id"] == "cuda-lib-missing")
    assert lib["evidence"]["values"]["soname"] == ["libcudart.so.11.0"]
    assert data["facts"]["log"]["data"]["lines_read"] > 400_000
    noise_ids = [f for f in data["findings"] if f["id"].startswith("noise-")]
    assert all(len(f["evidence"]["lines"]) <= 5 for f in noise_ids)  # bounded evidence
    assert elapsed < 60, elapsed


def _one_line_error(err: str, path: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"tfgpu: {path}: "), lines[0]
    return lines[0]


def test_unreadable_log_is_one_line_and_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_text("TensorFlow version: 2.21.0\n")
    log.chmod(0)
    try:
        if os.access(log, os.R_OK):  # root reads anything: the in-process tests below cover it
            pytest.skip("running as root: chmod 000 does not stop reading")
        proc = run_tfgpu("explain", str(log))
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert "ermission denied" in _one_line_error(proc.stderr, str(log))
        assert proc.stdout == ""
    finally:
        log.chmod(0o600)


def _explain_in_process(monkeypatch, *args: str) -> int:
    """Run `tfgpu explain ARGS` through the CLI's entry point in this process; return its exit code."""
    from tfgpu import launch

    monkeypatch.setattr(sys, "argv", ["tfgpu", "explain", *args])
    return launch.run(["explain", *args])


def test_open_error_in_process_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    """A path that cannot be opened as a file (a directory here, so that it fails as root too)."""
    from tfgpu.explain import ExplainFailed, explain_file

    with pytest.raises(ExplainFailed) as failed:
        explain_file(str(tmp_path), None)
    assert failed.value.code == 2
    assert "directory" in _one_line_error(f"tfgpu: {failed.value.message}", str(tmp_path))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # it writes nothing itself: the CLI does


def test_io_error_mid_read_is_one_line_and_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    import errno

    from tfgpu.explain import reader

    def failing(path):
        yield "TensorFlow version: 2.21.0"
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    log = tmp_path / "run.log"
    log.write_text("TensorFlow version: 2.21.0\n")
    monkeypatch.setattr(reader, "iter_log_lines", failing)
    assert _explain_in_process(monkeypatch, str(log), "--json") == 2
    captured = capsys.readouterr()
    assert os.strerror(errno.EIO) in _one_line_error(captured.err, str(log))
    assert captured.out == ""


def test_broken_signature_file_is_one_line_and_exit_3(tmp_path: Path, monkeypatch, capsys) -> None:
    import tfgpu.explain as explain_mod
    from tfgpu.explain import KnowledgeError

    def broken():
        raise KnowledgeError("signatures.yaml: line 3: not a mapping")

    log = tmp_path / "run.log"
    log.write_text("TensorFlow version: 2.21.0\n")
    monkeypatch.setattr(explain_mod, "load_knowledge", broken)
    assert _explain_in_process(monkeypatch, str(log)) == 3
    captured = capsys.readouterr()
    assert captured.err.strip() == "tfgpu: broken signature file: signatures.yaml: line 3: not a mapping"
    assert captured.out == ""
