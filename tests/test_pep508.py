"""tfgpu.pep508 gives packaging's answers: generated Requires-Dist lines (the forms wheels write
and others it hands to packaging) are read by both, and their names, extras, specifiers, URLs and
marker evaluations in generated environments must agree; a line packaging refuses is refused.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.markers import Marker as PMarker
from packaging.requirements import InvalidRequirement as PInvalid
from packaging.requirements import Requirement as PRequirement
from packaging.utils import canonicalize_name

from tfgpu import pep508

_NAMES = ["tensorflow", "nvidia-cudnn-cu12", "nvidia_cublas_cu12", "Absl.Py", "x", "a-b_c.d", "tf-nightly"]
_OPS = ["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in"]
_VERSIONS = ["1", "1.0", "2.21.0", "9.3.0.75", "13.0", "1.0.*", "1.0a1", "2!1.0", "1.0+local", "abc", "3.1x"]
_VARIABLES = ["python_version", "python_full_version", "sys_platform", "platform_system", "platform_machine",
              "os_name", "implementation_name", "platform_python_implementation", "extra", "platform_release",
              "os.name", "sys.platform", "implementation_version", "bogus"]
_LITERALS = ["linux", "win32", "Linux", "Windows", "x86_64", "aarch64", "posix", "nt", "cpython", "CPython",
             "and-cuda", "And_CUDA", "gcs-filesystem", "3.11", "3.13", "3.9", "3.11.7", "3", "", "5.10"]


_PLAIN_OPS = ["==", "!=", "<", "<=", ">", ">=", "~="]
_PLAIN_VERSIONS = ["1.0", "2.21.0", "9.3.0.75", "13.0", "0.5.1", "3.11"]


@st.composite
def specifier_lists(draw: Any) -> str:
    """Mostly what wheels write (valid), sometimes anything."""
    odd = draw(st.integers(0, 4)) == 0
    ops, versions = (_OPS[:8], _VERSIONS) if odd else (_PLAIN_OPS, _PLAIN_VERSIONS)
    items = [f"{draw(st.sampled_from(ops))}{draw(st.sampled_from(['', ' ']))}{draw(st.sampled_from(versions))}"
             for _ in range(draw(st.integers(0, 3)))]
    text = draw(st.sampled_from([",", ", ", " ,"])).join(items)
    return f"({text})" if text and draw(st.booleans()) else text


@st.composite
def markers(draw: Any, depth: int = 0) -> str:
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        left, right = draw(markers(depth + 1)), draw(markers(depth + 1))
        joined = f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
        return f"({joined})" if draw(st.booleans()) else joined
    if draw(st.integers(0, 2)) == 0:  # anything: packaging decides, or refuses
        variable, op, value = (draw(st.sampled_from(_VARIABLES)), draw(st.sampled_from(_OPS)),
                               draw(st.sampled_from(_LITERALS)))
    elif draw(st.booleans()):  # a version comparison, as wheels write them
        variable, op = draw(st.sampled_from(["python_version", "python_full_version"])), draw(st.sampled_from(_PLAIN_OPS))
        value = draw(st.sampled_from(["3.9", "3.11", "3.12", "3.13", "3.11.7", "3"]))
    else:  # a name comparison
        variable, op = draw(st.sampled_from(_VARIABLES[2:9])), draw(st.sampled_from(["==", "!="]))
        value = draw(st.sampled_from(_LITERALS))
    quote = draw(st.sampled_from(["'", '"']))
    literal = f"{quote}{value}{quote}"
    space = draw(st.sampled_from(["", " "]))
    if draw(st.integers(0, 9)) == 0:
        return f"{literal}{space}{op}{space}{variable}"  # a literal on the left
    return f"{variable}{space}{op}{space}{literal}"


@st.composite
def requirement_lines(draw: Any) -> str:
    name = draw(st.sampled_from(_NAMES))
    extras = draw(st.sampled_from(["", "[and-cuda]", "[a, b]", "[ and_cuda ]", "[]", "[x,]"]))
    specs = draw(specifier_lists())
    url = " @ https://example.invalid/x.whl" if draw(st.integers(0, 9)) == 0 else ""
    marker = f"{draw(st.sampled_from([';', ' ;', '; ']))}{draw(markers())}" if draw(st.booleans()) else ""
    if url and marker:
        marker = " " + marker.lstrip()
    gap = draw(st.sampled_from(["", " "]))
    return f"{draw(st.sampled_from(['', ' ']))}{name}{gap}{extras}{gap}{specs}{url}{marker}"


@st.composite
def environments(draw: Any) -> dict[str, str]:
    env = {
        "python_version": draw(st.sampled_from(["3.9", "3.11", "3.12", "3.13"])),
        "python_full_version": draw(st.sampled_from(["3.11.7", "3.13.0rc1", "3.12.1+", "3.9.0"])),
        "sys_platform": draw(st.sampled_from(["linux", "win32", "darwin"])),
        "platform_system": draw(st.sampled_from(["Linux", "Windows", "Darwin"])),
        "platform_machine": draw(st.sampled_from(["x86_64", "aarch64", "AMD64"])),
        "os_name": draw(st.sampled_from(["posix", "nt"])),
        "implementation_name": "cpython",
        "platform_python_implementation": draw(st.sampled_from(["CPython", "PyPy"])),
        "extra": draw(st.sampled_from(["", "and-cuda", "AND_CUDA", "gcs.filesystem"])),
    }
    for key in draw(st.sets(st.sampled_from(sorted(env)), max_size=2)):
        del env[key]  # packaging fills what is missing from its own interpreter
    return env


def _ours(line: str) -> Any:
    try:
        return pep508.Requirement(line)
    except pep508.InvalidRequirement:
        return None


def _theirs(line: str) -> Any:
    try:
        return PRequirement(line)
    except PInvalid:
        return None


def _evaluate(marker: Any, env: dict[str, str], errors: tuple[type[BaseException], ...]) -> Any:
    try:
        return marker.evaluate(env)
    except errors:
        return "undecidable"


@settings(max_examples=600, deadline=None)
@given(line=requirement_lines(), envs=st.lists(environments(), min_size=1, max_size=4))
def test_requirements_read_as_packaging_reads_them(line: str, envs: list[dict[str, str]]) -> None:
    ours, theirs = _ours(line), _theirs(line)
    assert (ours is None) == (theirs is None), line
    if theirs is None:
        return
    assert ours.name == theirs.name
    assert ours.extras == theirs.extras
    assert str(ours.specifier) == str(theirs.specifier) and ours.specifier == theirs.specifier
    assert ours.url == theirs.url
    assert (ours.marker is None) == (theirs.marker is None)
    if theirs.marker is None:
        assert str(ours) == str(theirs)
        return
    for env in envs:
        want = _evaluate(theirs.marker, env, (UndefinedComparison, UndefinedEnvironmentName))
        assert _evaluate(ours.marker, env, (pep508.MarkerError,)) == want, (line, env)
        # A marker read again from its text (as checks/shared_env does) still says the same.
        again = pep508.Marker(str(ours.marker))
        assert _evaluate(again, env, (pep508.MarkerError,)) == want, (line, env)


@settings(max_examples=300, deadline=None)
@given(text=markers(), env=environments())
def test_markers_evaluate_as_packaging_evaluates_them(text: str, env: dict[str, str]) -> None:
    try:
        theirs = PMarker(text)
    except InvalidMarker:
        with pytest.raises(pep508.MarkerError):
            pep508.Marker(text)
        return
    want = _evaluate(theirs, env, (UndefinedComparison, UndefinedEnvironmentName))
    assert _evaluate(pep508.Marker(text), env, (pep508.MarkerError,)) == want


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_is_read_or_refused_as_by_packaging(text: str) -> None:
    ours, theirs = _ours(text), _theirs(text)
    assert (ours is None) == (theirs is None), text
    if theirs is not None:
        assert (ours.name, ours.extras, str(ours.specifier), ours.url) == \
            (theirs.name, theirs.extras, str(theirs.specifier), theirs.url)


@given(name=st.text(alphabet="aB9-_.", min_size=1, max_size=20))
def test_names_normalise_as_packaging_normalises_them(name: str) -> None:
    assert pep508.normalize_name(name) == canonicalize_name(name)


def test_the_tensorflow_and_cuda_lines_are_read_without_packaging_requirements() -> None:
    """The forms of TensorFlow's own METADATA take the fast path: nothing of packaging's requirement
    and marker machinery is imported to read and judge them."""
    lines = ['nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"', "gast!=0.5.0,!=0.5.1,!=0.5.2,>=0.2.1",
             'tensorflow-io-gcs-filesystem>=0.23.1; (sys_platform != "win32" and python_version < "3.13") and '
             'extra == "gcs-filesystem"', "packaging", "google_pasta>=0.1.1"]
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": "gcs-filesystem"}
    code = (f"import sys; from tfgpu import pep508\n"
            f"rs = [pep508.Requirement(l) for l in {lines!r}]\n"
            f"print([r.marker.evaluate({env!r}) for r in rs if r.marker is not None])\n"
            f"print(sorted(m for m in sys.modules if m in ('packaging.requirements', 'packaging.markers', "
            f"'packaging.utils', 'packaging.tags', 'logging', 'platform')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[False, True]"
    assert out[1] == "[]"


_ENV = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
        "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
        "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": "and-cuda"}


@pytest.mark.parametrize("line", [
    'x; platform_machine == "x86\\x5f64"',  # packaging decodes the escape
    'x; extra == "and\\u002dcuda"',
    'x; extra == "and-\ncuda"',  # packaging refuses a line break in a literal
    "a; " + "(" * 40 + 'extra=="and-cuda"' + ")" * 40,  # deeper than this module goes
    "a; " + "(" * 250 + 'extra=="a"' + ")" * 250,  # deeper than packaging goes
    "a; " + " and ".join(['extra=="and-cuda"'] * 2000),  # long, flat
    "a; " + " or ".join(['extra=="x"'] * 2000),
    'a; platform_system != "1"',  # a version-like literal on a name variable
    'a; sys_platform != "1.0"',
    'a; extra == "v1"',
])
def test_forms_packaging_reads_its_own_way(line: str) -> None:
    ours, theirs = _ours(line), _theirs(line)
    assert (ours is None) == (theirs is None)
    if theirs is not None:
        for env in (_ENV, {**_ENV, "platform_system": "1.0", "extra": "v1"}):
            want = _evaluate(theirs.marker, env, (UndefinedComparison, UndefinedEnvironmentName, ValueError))
            assert _evaluate(ours.marker, env, (pep508.MarkerError, ValueError)) == want


def test_a_checkout_build_of_python_is_packaging_s_to_judge() -> None:
    """python_full_version "3.12.1+" (a build from a source checkout): packaging 26 repairs it,
    older releases refuse it; this module hands it to packaging either way."""
    marker = pep508.Marker('python_full_version >= "3.12"')
    env = {**_ENV, "python_full_version": "3.12.1+"}
    want = _evaluate(PMarker('python_full_version >= "3.12"'), env, (UndefinedComparison, ValueError))
    assert _evaluate(marker, env, (pep508.MarkerError, ValueError)) == want
