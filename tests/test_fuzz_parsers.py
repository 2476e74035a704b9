"""Property-based fuzzing (hypothesis) of every parser of outside input: build_info.py, METADATA,
nvcc and nvidia-smi output, cuDNN headers, ELF, the matrix and report loaders, the env inquiry's
answer and explain's reader. Each may answer None or raise its documented "bad input" error, and
nothing else, within a time bound per example (hypothesis' `deadline`).
"""

from __future__ import annotations

import copy
import io
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfgpu import elf, matrix, serde
from tfgpu.probes import _disk_versions as dv
from tfgpu.probes import driver, python_env, tf_build, toolkit

REPO = Path(__file__).resolve().parent.parent

#: Per example: generous for a shared CI core, far below what a quadratic or unbounded parser takes.
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Text that looks like the inputs: the characters they are made of, control characters, huge numbers.
_alphabet = st.characters(codec="utf-8", exclude_categories=("Cs",))
_tokens = st.sampled_from([
    "#define ", "CUDNN_MAJOR ", "CUDNN_MINOR ", "CUDNN_PATCHLEVEL ", "CUDART_VERSION ", "9" * 5000, "12", ".", "\n",
    "build_info = ", "{", "}", "[", "]", "(", ")", "'cuda_version': ", "'12.5'", ", ", "is_cuda_build = True\n",
    "cuda_version_number = ", "Cuda compilation tools, release ", "V12.4.131", "\x1b]0;PWNED\x07", "\x00",
    "Name: tensorflow\n", "Version: ", "Requires-Dist: ", "nvidia-cudnn-cu12==9.3.0.75; extra == \"and-cuda\"\n",
    "0, NVIDIA A100, GPU-1, 00000000:00:04.0, 535.104.05, 40960, 0, 8.0\n", '"', ",",
])
text_like = st.one_of(st.text(_alphabet, max_size=400), st.lists(_tokens, max_size=40).map("".join))


@FUZZ
@given(text_like)
def test_build_info_parser(text):
    try:
        facts = tf_build.parse_build_info(text)
    except tf_build.BuildInfoError:
        return
    build = tf_build.build_from_facts("tensorflow", "2.15.0", "/x", "/x/b.py", facts, None, ())
    for value in (build.cuda_version, build.cudnn_version):
        assert value is None or (len(value) <= 40 and "\x1b" not in value)
    assert all("\x1b" not in v for v in build.raw.values())


@FUZZ
@given(st.dictionaries(st.sampled_from(["cuda_version", "cudnn_version", "is_cuda_build", "cuda_compute_capabilities",
                                        "cpu_compiler"]),
                       st.one_of(st.integers(min_value=-10**5000, max_value=10**5000), st.text(_alphabet, max_size=50),
                                 st.booleans(), st.none(), st.lists(st.integers(), max_size=5),
                                 st.text("0123456789.", min_size=4000, max_size=6000))))
def test_build_facts_of_any_value(facts):
    build = tf_build.build_from_facts("tensorflow", "2.15.0", "/x", "/x/b.py", facts, None, ())
    assert build.is_cuda_build in (True, False, None)
    for value in (build.cuda_version, build.cudnn_version):
        assert value is None or len(value) <= 40


@FUZZ
@given(text_like)
def test_cudnn_and_version_headers(text):
    defines = dv._defines(text)
    assert all(isinstance(v, int) and v < 10**9 for v in defines.values())
    for key, (_names, read) in dv.HEADERS.items():
        try:
            read(defines)
        except KeyError:
            pytest.fail(f"{key}: KeyError on {defines}")
    toolkit.parse_cudnn_header(text)


@FUZZ
@given(text_like)
def test_nvcc_and_version_json(text):
    toolkit.parse_nvcc_version(text)
    toolkit.parse_version_json(text)


@FUZZ
@given(text_like)
def test_nvidia_smi_csv(text):
    driver.parse_smi_csv(text, driver.SMI_FIELDS)


def test_nvidia_smi_csv_bare_cr_and_runaway_rows():
    assert driver.parse_smi_csv("\r0", driver.SMI_FIELDS) == (None, [])
    row = ", ".join(["0", "GPU", "550.54.15"] + ["[N/A]"] * (len(driver.SMI_FIELDS) - 3))
    _drv, gpus = driver.parse_smi_csv("\n".join([row] * 5000), driver.SMI_FIELDS)
    assert len(gpus) == driver.MAX_SMI_GPUS


@FUZZ
@given(st.binary(max_size=300), st.text("0123456789.", max_size=30))
def test_disk_version_spelling(blob, text):
    dv._numbers(text)
    dv.soname_major("libcudnn.so." + text)
    dv.from_filename("cudnn", "libcudnn.so.9", "/l/libcudnn.so." + text)


@FUZZ
@given(st.one_of(st.binary(max_size=600),
                 st.binary(max_size=600).map(lambda b: b"\x7fELF\x02\x01\x01" + b),
                 st.binary(max_size=600).map(lambda b: b"\x7fELF\x01\x02\x01" + b)))
def test_elf_reader(data):
    try:
        elf.read_dynamic(data)
    except elf.ElfError:
        pass


_SO = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6")
            if os.path.exists(p)), None)


@pytest.mark.skipif(_SO is None, reason="no libc.so.6 to mutate")
@FUZZ
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=4095), st.integers(min_value=0, max_value=255)),
                min_size=1, max_size=12))
def test_elf_reader_on_a_damaged_real_library(flips):
    with open(_SO, "rb") as fh:
        data = bytearray(fh.read(64 * 1024))
    for offset, value in flips:
        data[offset % len(data)] = value
    try:
        elf.read_dynamic(bytes(data))
    except elf.ElfError:
        pass


@FUZZ
@given(text_like)
def test_metadata_headers(text):
    """The env inquiry's METADATA reader (it runs in the target; here as a module)."""
    from tfgpu.probes._children import env as child

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "METADATA")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as fh:
            fh.write(text)
        out = child.headers(path)
    assert all(len(v) <= child.VALUE_CHARS for v in out.values() if isinstance(v, str))


@FUZZ
@given(st.one_of(text_like, st.recursive(st.one_of(st.text(max_size=20), st.integers(), st.none()),
                                          lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                                          max_leaves=30).map(lambda v: python_env.MARK + repr(v) + python_env.MARK)))
def test_env_inquiry_answer(stdout):
    data = python_env.parse_child_output(stdout)
    assert data is None or isinstance(data, dict)


# --- the matrix ---------------------------------------------------------------------------------

_MATRIX = yaml.load((REPO / "compat_matrix.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _paths(data, prefix=()):
    """Every (path, value) in nested data, the root first."""
    out = [(prefix, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_paths(v, (*prefix, i)))
    return out


_MATRIX_PATHS = [p for p, _v in _paths(_MATRIX) if p]
_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30), st.floats(),
                    st.text(_alphabet, max_size=30), st.sampled_from(["580.1", "9" * 5000, "2.x", "", "sm_9999999999"]),
                    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


@settings(max_examples=120, deadline=timedelta(seconds=3), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.sampled_from(_MATRIX_PATHS), _values), min_size=1, max_size=4))
def test_matrix_validation_of_mutated_data(mutations):
    data = copy.deepcopy(_MATRIX)
    for path, value in mutations:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        matrix.validate(data, "<fuzz>")
    except matrix.MatrixError:
        pass


@FUZZ
@given(st.one_of(text_like, st.lists(st.sampled_from(["a: ", "- ", "&x ", "*x", "[", "]", "{", "}", "\n", "  ", "'",
                                                      "schema_version: 1\n", "9" * 5000, "!!python/object:os.system",
                                                      "<<: *x\n"]), max_size=60).map("".join)))
def test_matrix_yaml_reader(text):
    try:
        data = matrix._parse_yaml("<fuzz>", text.encode("utf-8", "surrogatepass"))
        matrix.validate(data, "<fuzz>")
    except matrix.MatrixError:
        pass


# --- the report loader (--from-facts) -----------------------------------------------------------

_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                               st.text(_alphabet, max_size=20)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                     max_leaves=40)
_fact_entry = st.one_of(_json, st.fixed_dictionaries({"status": st.sampled_from(["ok", "failed", "not_found", "x"])},
                                                     optional={"data": _json, "message": _json, "evidence": _json}))
_reports = st.one_of(
    _json,
    st.fixed_dictionaries({"facts": st.dictionaries(st.sampled_from(["python_env", "host", "driver", "tf_build", "x"]),
                                                    _fact_entry, max_size=4)},
                          optional={"schema_version": st.one_of(st.integers(), st.text(max_size=3), st.booleans())}),
)


def _load_bytes(raw: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.json")
        with open(path, "wb") as fh:
            fh.write(raw)
        return serde.load_report(path)


@FUZZ
@given(st.one_of(_reports.map(lambda r: json.dumps(r).encode()), st.binary(max_size=200),
                 st.sampled_from([b"[" * 100000, b'{"facts": {}, "schema_version": ' + b"9" * 5000 + b"}",
                                  b'{"facts": {"x": {"status": "failed", "evidence": "abc"}}}', b"NaN", b"\xff\xfe"])))
def test_report_loader(raw):
    from tfgpu.probes import load_all
    from tfgpu.render.json import facts_from_dict

    try:
        data = _load_bytes(raw)
    except serde.DecodeError:
        return
    assert isinstance(data, dict) and isinstance(data["facts"], dict)
    try:
        facts_from_dict(data["facts"], {name: p.fact_type for name, p in load_all().items()})
    except serde.DecodeError:
        pass


# --- explain's reader ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_explain_reader(data):
    from tfgpu.explain.reader import iter_binary_lines

    for line in iter_binary_lines(io.BytesIO(data)):
        assert isinstance(line, str)
        assert "\n" not in line and "\r" not in line


@FUZZ
@given(st.lists(st.sampled_from([b"a", b"\xc3\xa9", b"\r", b"\n", b"\r\n"]), max_size=400),
       st.sampled_from([1, 2, 3, 7, 1 << 20]))
def test_explain_reader_breaks_lines_at_lf_cr_and_crlf(parts, chunk):
    """LF, CR and CR LF each end one line, wherever the chunks the reader reads are cut (issue #14 item 11)."""
    from tfgpu.explain import reader

    data = b"".join(parts)
    old = reader.CHUNK_BYTES
    reader.CHUNK_BYTES = chunk
    try:
        assert list(reader.iter_binary_lines(io.BytesIO(data))) == data.decode().splitlines()
    finally:
        reader.CHUNK_BYTES = old
