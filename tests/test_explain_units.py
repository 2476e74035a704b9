"""Units of `tfgpu explain`: the knowledge file's rules, the reader, matrix cross-checks and the verdict."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from conftest import validate_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfgpu.explain import explain_lines, load_knowledge, report_to_dict
from tfgpu.explain.knowledge import NESTED_QUANTIFIER_RE, KnowledgeError, parse_knowledge
from tfgpu.explain.reader import MAX_LINE_CHARS, iter_binary_lines
from tfgpu.explain.report import cudnn_from_number
from tfgpu.explain.scan import MAX_EVIDENCE_LINES, scan
from tfgpu.matrix import TFRow
from tfgpu.matrix import load as load_matrix

PREFIX = "2024-01-01 00:00:00.000001: "
DOCTOR_IDS = {
    "cuda-lib-missing", "cannot-dlopen-gpu-libs", "cudnn-version-mismatch", "cudnn-missing", "driver-too-old",
    "driver-library-mismatch", "driver-missing", "cuinit-failed", "no-cuda-device", "gpu-cc-unsupported",
    "gpu-ptx-jit", "ptx-unsupported-version", "xla-libdevice-missing", "xla-ptxas-missing", "ptxas-too-new",
    "gpu-oom", "cudnn-init-failed", "tf-cpu-only-build", "keras3-tf-keras", "cuda-visible-devices-hides-all",
    "noise-numa-node", "noise-factory-registration", "noise-tensorrt", "noise-cpu-instructions", "noise-onednn",
    "noise-absl-init",
}


def _minimal(**sig) -> dict:
    base = {"id": "x-y", "role": "cause", "severity": "error", "summary": "s",
            "patterns": [{"literal": "abc"}], "threads": ["https://example.org/1"]}
    base.update(sig)
    return {"schema_version": 1, "signatures": [base]}


def test_shipped_knowledge_covers_the_doctor_ids_and_is_safe() -> None:
    k = load_knowledge()
    ids = {s.id for s in k.signatures}
    assert DOCTOR_IDS <= ids
    for sig in k.signatures:
        assert sig.threads
        if sig.role == "noise":
            assert sig.severity.value == "info" and sig.summary.startswith("Harmless")
        for p in sig.patterns:
            assert p.literal
            if p.regex is not None:
                assert not NESTED_QUANTIFIER_RE.search(p.regex.pattern), (sig.id, p.regex.pattern)


@pytest.mark.parametrize("bad, message", [
    (_minimal(patterns=[{"literal": "a", "regex": "(a+)+b"}]), "nests quantifiers"),
    (_minimal(patterns=[{"literal": "zzz", "regex": "abc"}]), "does not occur"),
    (_minimal(patterns=[{"regex": "abc"}]), "literal"),
    (_minimal(role="noise", summary="Nothing"), "Harmless"),
    (_minimal(threads=[]), "threads"),
    (_minimal(id="Bad_Id"), "kebab"),
    (_minimal(follows=["nope"]), "unknown id"),
])
def test_bad_knowledge_is_rejected_with_the_entry(bad: dict, message: str) -> None:
    with pytest.raises(KnowledgeError, match=message):
        parse_knowledge(bad, "test.yaml")


def test_no_catastrophic_backtracking_on_hostile_lines() -> None:
    k = load_knowledge()
    hostile = [
        "Could not load dynamic library '" + "a" * 4000,
        "Loaded runtime CuDNN library: " + "9." * 2000,
        "kernel version " + "1." * 2000 + " does not match DSO version ",
        "failed call to cuInit: " + "UNKNOWN ERROR (" * 250,
        "E0000 00:00:00.000000 " + " " * 3000 + "x.cc:1]",
        "A" * 3000 + "Error" + "." * 1000,
    ]
    import time

    t0 = time.monotonic()
    scan(hostile * 50, k)
    assert time.monotonic() - t0 < 2.0


# --- every pattern is linear: adversarial lines built from each regex's own pieces ---------------

#: The line length the bound is for (the reader keeps at most MAX_LINE_CHARS of a line).
ADVERSARIAL_CHARS = 4096
#: Seconds one search of one adversarial line may take: a linear pattern needs well under a
#: millisecond on 4 KB; the quadratic ones this catches took 10-100 ms.
PER_LINE_BOUND = 0.005


def _sre(part: str):
    """The standard library's regex parser or its constants (re._parser, sre_parse before 3.11)."""
    import importlib

    try:
        return importlib.import_module(f"re.{part}")
    except ImportError:
        return importlib.import_module({"_parser": "sre_parse", "_constants": "sre_constants"}[part])


def _class_sample(items: list) -> str:
    """A character a regex character class accepts (a negated class: one it does not exclude)."""
    C = _sre("_constants")

    if any(op is C.NEGATE for op, _ in items):
        excluded = {chr(av) for op, av in items if op is C.LITERAL}
        excluded |= {chr(c) for op, av in items if op is C.RANGE for c in range(av[0], av[1] + 1)}
        return next(c for c in "a7 ./\\:-_'\"()[]=,;" if c not in excluded)
    for op, av in items:
        if op is C.LITERAL:
            return chr(av)
        if op is C.RANGE:
            return chr(av[0])
        if op is C.CATEGORY:
            return {C.CATEGORY_DIGIT: "7", C.CATEGORY_SPACE: " ", C.CATEGORY_NOT_WORD: "-"}.get(av, "a")
    return "a"


def _instance(items: list) -> str:
    """A short text the regex items match (each repeat at its minimum, at least once)."""
    C = _sre("_constants")

    out = []
    for op, av in items:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.NOT_LITERAL:
            out.append("b" if av == ord("a") else "a")
        elif op is C.IN:
            out.append(_class_sample(av))
        elif op is C.ANY:
            out.append("a")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            out.append(_instance(list(av[2])) * max(1, av[0]))
        elif op is C.SUBPATTERN:
            out.append(_instance(list(av[-1])))
        elif op is C.BRANCH:
            out.append(_instance(list(av[1][0])))
        elif op is C.CATEGORY:
            out.append(_class_sample([(op, av)]))
    return "".join(out)


def _repeat_samples(items: list, inside: bool = False) -> set[str]:
    """Characters that the regex's repeats (and anything inside them) accept."""
    C = _sre("_constants")

    found: set[str] = set()
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
            found |= _repeat_samples(list(av[2]), inside=inside or av[1] > 1)
        elif op is C.SUBPATTERN:
            found |= _repeat_samples(list(av[-1]), inside)
        elif op is C.BRANCH:
            for branch in av[1]:
                found |= _repeat_samples(list(branch), inside)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found |= _repeat_samples(list(av[1]), inside)
        elif inside and op in (C.IN, C.CATEGORY, C.ANY, C.LITERAL, C.NOT_LITERAL):
            found.add(_instance([(op, av)]))
            if op is C.IN:
                found |= {chr(a[1]) for o, a in av if o is C.RANGE}
    return found


def adversarial_lines(regex: str, literal: str, size: int = ADVERSARIAL_CHARS) -> list[str]:
    """Lines of `size` characters built to make a backtracking search slow: long runs of each
    prefix of the regex (as far as each of its items), of the characters its repeats accept, and of
    each prefix followed by such a character; each with the pattern's literal after the run, before
    it, and after it behind a space (so that the run itself never completes a match: a near miss)."""
    items = list(_sre("_parser").parse(regex))
    pieces = {_instance(items[:k]) for k in range(1, len(items) + 1)} | {literal}
    chars = _repeat_samples(items)
    units = {u for u in pieces | chars | {p + c for p in pieces for c in chars} if u}
    lines = set()
    for unit in units:
        run = (unit * (size // len(unit) + 1))[: size - len(literal) - 1]
        lines |= {run + literal, literal + run, run + " " + literal}
    return sorted(lines)


def _all_patterns() -> list[tuple[str, str, re.Pattern[str]]]:
    """(where, literal, compiled regex) of every regex explain runs on a line: signatures, facts,
    vetoes, the scanner's error-line shapes (with the gate that lets a line reach them) and the reader's."""
    import importlib

    scan_module = importlib.import_module("tfgpu.explain.scan")
    reader_module = importlib.import_module("tfgpu.explain.reader")
    k = load_knowledge()
    out = [("scan", ": E ", scan_module._TF_ERROR_RE), ("scan", "E", scan_module._ABSL_ERROR_RE),
           ("scan", "Error", scan_module._PY_ERROR_RE), ("reader", "\x1b[", reader_module._ANSI_RE)]
    for owner, patterns in [(s.id, s.patterns) for s in k.signatures] + [(f.name, f.patterns) for f in k.facts]:
        for p in patterns:
            for rx in (p.regex, p.unless_regex):
                if rx is not None:
                    out.append((owner, p.literal, rx))
    return out


def _search_seconds(rx: re.Pattern[str], line: str) -> float:
    """The time of one search; a slow one is timed twice more and the fastest kept (a busy machine)."""
    import time

    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        rx.search(line)
        best = min(best, time.perf_counter() - t0)
        if best < PER_LINE_BOUND / 2:
            break
    return best


def test_every_pattern_is_linear_on_adversarial_lines() -> None:
    """Issue #14 item 5: no signature, fact or veto regex backtracks quadratically. Every regex the
    scanner runs is searched in 4 KB lines made of its own pieces (tfgpu explain runs a regex only
    on lines that hold its literal, so every line holds it); each search stays under PER_LINE_BOUND."""
    slow = []
    count = 0
    for owner, literal, rx in _all_patterns():
        for line in adversarial_lines(rx.pattern, literal):
            count += 1
            seconds = _search_seconds(rx, line)
            if seconds > PER_LINE_BOUND:
                slow.append((owner, rx.pattern, f"{seconds * 1000:.1f} ms", line[:60]))
    assert count > 1000
    assert not slow, slow[:5]


@pytest.mark.parametrize("regex, literal, line", [
    # The shapes issue #14 item 5 reported (a run of letters before ".dll"; drive-letter paths),
    # and two more found by the test above; the adversarial lines must contain each.
    (r"(?P<platform>[A-Za-z]+64_\d+)\.dll", ".dll", "z" * 4091 + ".dll"),
    (r"(?P<platform>[A-Za-z]):\\\S*\\site-packages\\", "\\site-packages\\", "\\site-packages\\" + "A:\\" * 1360),
    (r"(?P<f>[\w./+-]{1,300}): wrong ELF class: ", "wrong ELF class: ", "a" * 4078 + "wrong ELF class: "),
])
def test_the_adversarial_lines_catch_the_quadratic_shapes(regex: str, literal: str, line: str) -> None:
    lines = adversarial_lines(regex, literal)
    assert any(candidate.startswith(line[:200]) or candidate.endswith(line[-200:]) for candidate in lines)
    assert any(_search_seconds(re.compile(regex), candidate) > PER_LINE_BOUND for candidate in lines)


def test_reader_caps_lines_and_replaces_bad_bytes() -> None:
    data = b"a" * (MAX_LINE_CHARS * 3) + b"\nsecond \xff line\r\n\x1b[31mred\x1b[0m\nlast"
    lines = list(iter_binary_lines(io.BytesIO(data)))
    assert len(lines) == 4
    assert len(lines[0]) == MAX_LINE_CHARS
    assert lines[1] == "second \ufffd line"
    assert lines[2] == "red"
    assert lines[3] == "last"


def test_reader_utf8_bom_and_utf16() -> None:
    assert list(iter_binary_lines(io.BytesIO(b"\xef\xbb\xbfhello\n"))) == ["hello"]
    assert list(iter_binary_lines(io.BytesIO("one\r\ntwo\r\n".encode("utf-16")))) == ["one", "two"]


@pytest.mark.parametrize("name", ["tf22525_kernel_newer_than_dso.txt", "directml18_wsl1_libcuda_missing.txt",
                                  "deepface739_no_cuda_drivers_tf213.txt"])
@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_a_corpus_log_with_old_mac_or_windows_line_ends_gives_the_same_findings(name: str, newline: str,
                                                                                 tmp_path) -> None:
    """Issue #14 item 11: a carriage return alone ends a line (old Mac), CR LF is one break."""
    from test_explain_corpus import LOGS, read_corpus_log

    from tfgpu.explain.reader import iter_log_lines

    _header, body = read_corpus_log(LOGS / name)
    log = tmp_path / "log.txt"
    log.write_bytes(newline.join(body).encode() + newline.encode())
    lines = list(iter_log_lines(str(log)))
    assert lines == body
    matrix = load_matrix()
    want, got = explain_lines(body, matrix), explain_lines(iter_log_lines(str(log)), matrix)
    assert len(want.findings) >= 2
    assert [(f.id, f.evidence.get("lines")) for f in got.findings] == \
        [(f.id, f.evidence.get("lines")) for f in want.findings]


def test_evidence_is_bounded_but_counted() -> None:
    line = PREFIX + "I external/local_xla/xla/stream_executor/cuda/cuda_executor.cc:1] successful NUMA node read " \
                    "from SysFS had negative value (-1), but there must be at least one NUMA node"
    report = explain_lines([line] * 1000)
    (f,) = report.findings
    assert f.id == "noise-numa-node" and f.evidence["matches"] == 1000
    assert len(f.evidence["lines"]) == MAX_EVIDENCE_LINES


def test_created_gpu_device_and_no_error_is_ready() -> None:
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1748720218.610720      27 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/"
        "device:GPU:0 with 13272 MB memory:  -> device: 0, name: NVIDIA A100, pci bus id: 0000:2b:00.0, "
        "compute capability: 8.0",
    ]
    report = explain_lines(lines)
    assert report.verdict.status.value == "ready"
    assert "GPU:0" in report.verdict.headline
    validate_report(report_to_dict(report))


def test_unrecognized_errors_are_listed_with_line_numbers() -> None:
    lines = ["hello", PREFIX + "E tensorflow/core/foo.cc:12] Something odd happened",
             "RuntimeError: weird thing", PREFIX + "E tensorflow/core/foo.cc:12] Something odd happened"]
    report = explain_lines(lines)
    (f,) = report.findings
    assert f.id == "unrecognized-error" and f.severity.value == "warning"
    assert [e["line"] for e in f.evidence["lines"]] == [2, 3]
    assert f.evidence["matches"] == 3
    assert any("tfgpu doctor" in c for fix in f.fixes for c in fix.commands)
    assert report.verdict.status.value == "unknown"


def test_cuinit_codes_by_number_and_name() -> None:
    k = load_knowledge()
    assert k.cuinit_code("UNKNOWN ERROR (303)").name == "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED"
    assert k.cuinit_code("CUDA_ERROR_UNKNOWN").number == 999
    report = explain_lines([PREFIX + "E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed "
                            "call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error"])
    f = next(f for f in report.findings if f.id == "cuinit-failed")
    assert "999" in f.summary
    assert any("modprobe nvidia_uvm" in c for fix in f.fixes for c in fix.commands)


def test_cudnn_number_encodings() -> None:
    assert cudnn_from_number("8600") == "8.6.0"
    assert cudnn_from_number("90300") == "9.3.0"
    assert cudnn_from_number("x") is None


# --- cross-checks against the matrix -----------------------------------------------------------


@pytest.fixture()
def matrix_with_tf():
    m = load_matrix()
    row = TFRow(series="2.17", release="2.17.1", package="tensorflow", requires_python=">=3.9",
                python=("3.9", "3.12"), cuda="12.3", cudnn="8", cudnn_headers="8.9.6",
                compute_capabilities=("sm_60", "sm_70", "sm_80", "sm_89", "compute_90"), and_cuda=(),
                libraries={}, nvidia_runpath=(), glibc=None, wheel=None, source="tf-wheels")
    return replace(m, tensorflow=(row,))


def test_driver_version_in_log_below_what_tf_needs(matrix_with_tf) -> None:
    lines = ["TensorFlow version: 2.17.1",
             PREFIX + "I external/local_xla/xla/stream_executor/cuda/cuda_diagnostics.cc:1] "
                      "libcuda reported version is: 470.82.1"]
    report = explain_lines(lines, matrix_with_tf)
    f = next(f for f in report.findings if f.id == "driver-too-old")
    assert f.severity.value == "error"
    assert "470.82.1" in f.summary and "12.3" in f.summary
    assert f.evidence["values"]["driver"] == "470.82.1"
    assert f.evidence["lines"][0]["line"] == 2
    assert report.verdict.status.value == "not_ready"


def test_new_enough_driver_is_quiet(matrix_with_tf) -> None:
    lines = ["TensorFlow version: 2.17.1", "libcuda reported version is: 550.54.14"]
    assert not [f for f in explain_lines(lines, matrix_with_tf).findings if f.id == "driver-too-old"]


def test_cudnn_major_and_compute_capability_checks(matrix_with_tf) -> None:
    lines = ["TensorFlow version: 2.17.1",
             "I0000 00:00:1.0 1 cuda_dnn.cc:529] Loaded cuDNN version 90300",
             "I0000 00:00:1.0 1 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:GPU:0 "
             "with 1 MB memory:  -> device: 0, name: X, pci bus id: 0, compute capability: 12.0",
             "I0000 00:00:1.0 1 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:GPU:1 "
             "with 1 MB memory:  -> device: 1, name: Y, pci bus id: 1, compute capability: 5.2"]
    report = explain_lines(lines, matrix_with_tf)
    ids = {f.id: f for f in report.findings}
    # cuDNN 9 for a build compiled with cuDNN 8.9.6: another major.
    f = ids["cudnn-version-mismatch"]
    assert "9.3.0" in f.summary and "8.9.6" in f.summary and f.severity.value == "error" and f.fixes
    # 12.0 (Blackwell) is not served by the compute_90 PTX: TF 2.17's CUDA 12.3 toolkit cannot target sm_120
    # (CUDA's first toolkit for it is 12.8; tensorflow/tensorflow#89272, #99592). 5.2 has no code at all.
    assert "gpu-ptx-jit" not in ids
    unsupported = [f.summary for f in report.findings if f.id == "gpu-cc-unsupported"]
    assert any("12.0" in s and "12.8" in s for s in unsupported), unsupported
    assert any("5.2" in s for s in unsupported), unsupported


def test_cudnn_minor_older_than_the_build_is_a_mismatch(matrix_with_tf) -> None:
    """The doctor's rule: same major and at least the minor the build was compiled with (8.9.6 here)."""
    def ids(number: str) -> set[str]:
        lines = ["TensorFlow version: 2.17.1", f"I0000 00:00:1.0 1 cuda_dnn.cc:529] Loaded cuDNN version {number}"]
        return {f.id for f in explain_lines(lines, matrix_with_tf).findings}

    assert "cudnn-version-mismatch" in ids("8600")
    assert "cudnn-version-mismatch" not in ids("8907")


H100_LINE = ("I0000 00:00:1.0 1 gpu_device.cc:2019] Created device /job:localhost/replica:0/task:0/device:GPU:0 "
             "with 79091 MB memory:  -> device: 0, name: NVIDIA H100 80GB HBM3, pci bus id: 0000:00:05.0, "
             "compute capability: 9.0")


def test_ptx_only_gpu_on_a_minor_compat_driver_is_driver_too_old() -> None:
    """TF 2.21 (CUDA 12.5.1) has only compute_90 PTX for an H100; driver 530 runs CUDA 12 SASS through
    minor-version compatibility but cannot JIT PTX from 12.5, which needs 555.42.06."""
    lines = ["TensorFlow version: 2.21.0",
             "I0000 00:00:1.0 1 cuda_diagnostics.cc:1] kernel reported version is: 530.30.2", H100_LINE]
    report = explain_lines(lines, load_matrix())
    ids = {f.id: f for f in report.findings}
    assert ids["driver-too-old"].severity.value == "error"
    assert "555.42.06" in ids["driver-too-old"].summary and "compute_90" in ids["driver-too-old"].summary
    assert ids["gpu-ptx-jit"].severity.value == "warning"
    assert report.verdict.status.value == "not_ready"


def test_sass_gpu_on_a_minor_compat_driver_is_a_warning() -> None:
    lines = ["TensorFlow version: 2.21.0", "I0000 00:00:1.0 1 cuda_diagnostics.cc:1] kernel reported version is: 530.30.2",
             H100_LINE.replace("H100 80GB HBM3", "A100-SXM4-80GB").replace("capability: 9.0", "capability: 8.0")]
    ids = {f.id: f for f in explain_lines(lines, load_matrix()).findings}
    assert set(ids) == {"driver-minor-compat"}
    assert ids["driver-minor-compat"].severity.value == "warning" and ids["driver-minor-compat"].fixes


def test_arch_specific_targets_run_only_on_their_own_cc(matrix_with_tf) -> None:
    """sm_90a runs on CC 9.0 only (rules.cc_support): a 9.0 GPU runs it; a 10.0 GPU would fall back to the
    compute_90 PTX, but TF 2.17's CUDA 12.3 toolkit cannot target Blackwell at all (CUDA's first toolkit for
    sm_100 is 12.8: NVIDIA's CUDA 12.8 release notes), so it is unsupported (rules.toolkit_gap)."""
    m = replace(matrix_with_tf, tensorflow=(replace(matrix_with_tf.tensorflow[0],
                                                    compute_capabilities=("sm_80", "sm_90a", "compute_90")),))
    for cc, want in (("9.0", set()), ("10.0", {"gpu-cc-unsupported"})):
        lines = ["TensorFlow version: 2.17.1", H100_LINE.replace("capability: 9.0", f"capability: {cc}")]
        assert {f.id for f in explain_lines(lines, m).findings} == want, cc


def test_wsl2_log_uses_the_windows_driver_column() -> None:
    """Under WSL2 the driver is the Windows one: 537.13 is below the Linux minor-compat floor's numbering
    only by column; by the Windows column (minimum 528.33) it runs TF 2.21 through minor compatibility."""
    base = ["TensorFlow version: 2.21.0", "| NVIDIA-SMI 535.00   Driver Version: 537.13   CUDA Version: 12.2 |",
            H100_LINE.replace("H100 80GB HBM3", "GeForce RTX 4090").replace("capability: 9.0", "capability: 8.9")]
    linux = explain_lines(base, load_matrix())
    wsl = explain_lines(base + ["Linux box 5.15.153.1-microsoft-standard-WSL2 #1 SMP x86_64 GNU/Linux"], load_matrix())
    assert {f.id for f in wsl.findings} == {"driver-minor-compat"}
    f = next(f for f in wsl.findings if f.id == "driver-minor-compat")
    assert f.evidence["values"]["driver_column"] == "windows"
    assert next(f for f in linux.findings if f.id == "driver-minor-compat").evidence["values"]["driver_column"] == "linux"


def test_windows_path_with_keras3_means_no_native_gpu() -> None:
    lines = [r'  File "C:\Users\u\envs\x\Lib\site-packages\keras\src\ops.py", line 1, in f',
             "ValueError: A KerasTensor cannot be used as input to a TensorFlow function."]
    ids = {f.id for f in explain_lines(lines).findings}
    assert ids == {"keras3-tf-keras", "windows-native-gpu-unsupported"}


def test_library_fix_names_the_pip_wheel_for_the_cuda_era() -> None:
    """libcusolver.so.11 is CUDA 11.2-11.8 and 12.x (matrix rows): the log's source path picks the era."""
    def fixes_for(path: str) -> str:
        line = (PREFIX + f"W {path}/dso_loader.cc:64] Could not load dynamic library 'libcusolver.so.11'; "
                "dlerror: libcusolver.so.11: cannot open shared object file: No such file or directory")
        f = next(f for f in explain_lines([line], load_matrix()).findings if f.id == "cuda-lib-missing")
        return " ".join(c for fix in f.fixes for c in fix.commands)

    assert "nvidia-cusolver-cu11" in fixes_for("tensorflow/stream_executor/platform/default")
    assert "nvidia-cusolver-cu12" in fixes_for("external/local_tsl/tsl/platform/default")


def test_no_fix_command_keeps_an_unfilled_placeholder() -> None:
    from test_explain_corpus import LOG_FILES, read_corpus_log

    for path in LOG_FILES:
        report = explain_lines(read_corpus_log(path)[1], load_matrix())
        for f in report.findings:
            for fix in f.fixes:
                for cmd in fix.commands:
                    assert not re.search(r"\{\w+\}", cmd), (f.id, cmd)


def test_given_knowledge_means_no_file_is_read(monkeypatch) -> None:
    """The doctor loads the signature knowledge once and passes it in: explain_lines then reads nothing."""
    import builtins

    from test_explain_corpus import LOG_FILES, read_corpus_log

    import tfgpu.explain as explain_pkg
    import tfgpu.explain.knowledge as knowledge_mod
    import tfgpu.matrix as matrix_mod

    know, m = load_knowledge(), load_matrix()
    bodies = [read_corpus_log(p)[1] for p in LOG_FILES]
    wsl_h100 = ["TensorFlow version: 2.21.0", "Linux b 5.15.1-microsoft-standard-WSL2", "Driver Version: 530.30.02",
                H100_LINE, "I0000 00:00:1.0 1 cuda_dnn.cc:529] Loaded cuDNN version 90100"]
    expected = [explain_lines(b, m, "x", know).findings for b in [*bodies, wsl_h100]]

    def refuse(*_a, **_k):
        raise AssertionError("explain read a file although knowledge and matrix were given")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    monkeypatch.setattr(explain_pkg, "load_knowledge", refuse)
    monkeypatch.setattr(knowledge_mod, "load_knowledge", refuse)
    monkeypatch.setattr(knowledge_mod, "_load_cached", refuse)
    monkeypatch.setattr(matrix_mod, "load", refuse)
    got = [explain_lines(b, m, "x", know).findings for b in [*bodies, wsl_h100]]
    assert got == expected
    assert {f.id for f in got[-1]} >= {"driver-too-old", "gpu-ptx-jit", "cudnn-version-mismatch"}


# --- the timestamp shortcut (tfgpu.explain.stamps) gives what a plain scan gives ---------------


@pytest.mark.parametrize("regex, blind", [
    (r"Could not load dynamic library '(?P<soname>[^']{1,200})'", True),
    (r"(?:visible )?gpu device \((?P<device>[^)]{1,300})\)", True),
    (r"\bPython (?P<v>3\.\d{1,2})", True),
    (r"(?P<mb>\d+) MB memory", False),  # a digit can begin inside the timestamp
    (r"(?:1)?bar", False),
    (r"x*", False),  # matches the empty text anywhere
    (r"^\s*torch", False),  # a space is a timestamp character
    (r"(?<![A-Za-z])cudart64_\d+\.dll", False),  # looks behind its start
    (r"(?=abc)abc", True),
])
def test_stamp_blind_regexes(regex: str, blind: bool) -> None:
    from tfgpu.explain.stamps import regex_is_blind

    assert regex_is_blind(regex) is blind


def _corpus_bodies() -> list[str]:
    from test_explain_corpus import LOG_FILES, read_corpus_log

    from tfgpu.explain.stamps import STAMP_RE

    return sorted({STAMP_RE.sub("", line, count=1) for path in LOG_FILES for line in read_corpus_log(path)[1]})


_BODIES = _corpus_bodies()
_STAMPS = ["", "2024-05-01 12:00:00.123456", "0000-00-00 00:00:00.000000", "2099-12-31 23:59:59.999999",
           "1999-01-01 01:01:01.000001: E "]


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_BODIES), st.sampled_from(_STAMPS)), min_size=1, max_size=200),
       st.sampled_from([1, 3, 4096]))
def test_the_timestamp_shortcut_changes_no_result(parts: list[tuple[str, str]], batch: int) -> None:
    """Corpus messages under assorted timestamps (and none): the scanner, which searches and
    remembers stamp-blind patterns by the text after the timestamp, gives the result of a scanner
    that treats every literal as stamp-sensitive."""
    import importlib

    scan_module = importlib.import_module("tfgpu.explain.scan")
    k = load_knowledge()
    lines = [stamp + body for body, stamp in parts]
    plain = scan_module.Scanner(k)
    plain._blind = frozenset()
    plain._build_keys()
    for i in range(0, len(lines), batch):
        plain.feed_batch(lines[i:i + batch])
    assert scan(lines, k, batch) == plain.result
