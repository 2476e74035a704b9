"""Fix commands as functions of what was found, so that every check words them the same way."""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tfgpu.model import Fix
from tfgpu.versions import pep440


def pip(python: str | None, *args: str) -> str:
    """`<python> -m pip ARGS`, quoted for a POSIX shell (the target's own pip, never a stray one)."""
    exe = shlex.quote(python) if python else "python"
    return " ".join([exe, "-m", "pip", *[shlex.quote(a) for a in args]])


def pinnable(version: str | None) -> str | None:
    """`version` where a requirement can pin it, else None (an unpinned requirement): a garbled
    METADATA Version ('not-a-version!!') must never become 'tensorflow==not-a-version!!.*'."""
    if not version:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return None
    return version


def tf_requirement(version: str | None = None, and_cuda: bool = True) -> str:
    """'tensorflow[and-cuda]==2.21.*' style requirement for a release series, or the newest."""
    name = "tensorflow[and-cuda]" if and_cuda else "tensorflow"
    if not version:
        return name
    from packaging.version import InvalidVersion, Version

    try:
        if Version(version).is_prerelease:
            return f"{name}=={version}"  # a wildcard never matches a pre-release
    except InvalidVersion:
        pass
    parts = version.split(".")
    return f"{name}=={'.'.join(parts[:2])}.*"


def install_tf(python: str | None, platform: str, version: str | None = None, machine: str = "x86_64") -> Fix:
    """The way to get a GPU TensorFlow on this platform."""
    if platform == "win32":
        return Fix(
            "TensorFlow 2.10 was the last release with GPU support on native Windows: use WSL2 "
            "(and run tfgpu inside it), or pin 2.10 with CUDA 11.2 / cuDNN 8.1 from conda",
            ("wsl --install", pip(python, "install", "tensorflow<2.11")),
            ("https://www.tensorflow.org/install/pip#windows-wsl2",),
        )
    if platform == "darwin":
        return Fix(
            "macOS has no CUDA; TensorFlow uses the Apple GPU through the tensorflow-metal plugin",
            (pip(python, "install", "tensorflow", "tensorflow-metal"),),
            ("https://developer.apple.com/metal/tensorflow-plugin/",),
        )
    cmd = pip(python, "install", tf_requirement(version))
    return Fix(
        "Install TensorFlow with its CUDA libraries as pip wheels (only the NVIDIA driver comes from the system)",
        (cmd,),
        ("https://www.tensorflow.org/install/pip#linux",),
    )


# --- Every install command is checked against the matrix before it is offered --------------------
#
# A fix that cannot work is worse than none (pip warns about an unknown extra and installs no CUDA
# library; conda finds no such package). `command_problems` reads a command the way a POSIX shell
# splits it and judges each `pip install` and `conda install` in it against the matrix: the
# TensorFlow series exists, `[and-cuda]` only where the release has that extra, NVIDIA's pip wheels
# only for a CUDA major some release pins them for (none for CUDA 10), conda's cudatoolkit and cudnn
# only in versions the matrix knows and the channel holds. Pure: no I/O, no registry is asked.

_PIP_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
                      "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
                      "--platform", "--python-version", "--implementation", "--abi", "--progress-bar",
                      "--only-binary", "--no-binary", "--upgrade-strategy", "--src", "--report"}
_CONDA_VALUE_OPTIONS = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--override-channels-from"}
_SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&"}
_NVIDIA_WHEEL_RE = re.compile(r"^nvidia-(?P<base>[a-z0-9-]+?)-cu(?P<major>\d+)$")


def _tokens(command: str) -> list[str] | None:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return None


def _segments(tokens: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for tok in tokens:
        if tok in _SEPARATORS or tok.startswith("$("):
            out.append([])
        else:
            out[-1].append(tok)
    return [s for s in out if s]


def _pip_args(seg: list[str]) -> list[str] | None:
    """The arguments after `pip install` (or `python -m pip install`), None if `seg` is no pip install."""
    for i, tok in enumerate(seg[:-1]):
        is_pip = tok in ("pip", "pip3") or tok.endswith(("/pip", "/pip3"))
        if tok == "-m" and seg[i + 1] == "pip":
            is_pip, i = True, i + 1
        if is_pip and i + 1 < len(seg) and seg[i + 1] == "install":
            return seg[i + 2:]
    return None


def _operands(args: list[str], value_options: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Positional arguments, and the values of the options that take one."""
    operands: list[str] = []
    values: dict[str, list[str]] = {}
    skip_for: str | None = None
    for arg in args:
        if skip_for is not None:
            values.setdefault(skip_for, []).append(arg)
            skip_for = None
        elif arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if name in value_options:
                if eq:
                    values.setdefault(name, []).append(value)
                else:
                    skip_for = name
        else:
            operands.append(arg)
    return operands, values


def _releases(row: Any) -> list[Version]:
    rels = getattr(row, "releases", None) or (row.release,)
    out = []
    for rel in rels:
        try:
            out.append(Version(str(rel)))
        except InvalidVersion:
            continue
    return out


def _beyond_matrix(spec: SpecifierSet, newest: Version) -> bool:
    """Whether the specifier names a version newer than the matrix knows (then it is not judged)."""
    for clause in spec:
        if clause.operator in ("==", "===", "~=", ">=", ">"):
            v = pep440(clause.version.rstrip("*").rstrip("."))
            if v is not None and v > newest:
                return True
    return False


def _tf_problems(req: Requirement, matrix: Any) -> list[str]:
    rows = list(getattr(matrix, "tensorflow", ()) or ())
    if not rows:
        return []
    spec = req.specifier
    newest = max(Version(r.release) for r in rows)
    pre = any(pep440(c.version.rstrip("*").rstrip(".")) is not None
              and (pep440(c.version.rstrip("*").rstrip(".")) or newest).is_prerelease for c in spec)
    admitted = [(r, [v for v in _releases(r) if spec.contains(v, prereleases=True)]) for r in rows]
    admitted = [(r, vs) for r, vs in admitted if vs]
    if not admitted:
        if _beyond_matrix(spec, newest) or pre:
            return []
        first = min(rows, key=lambda r: Version(r.release)).series
        return [f"no TensorFlow release matches {req.name}{spec} (the matrix lists {first} to {newest})"]
    problems = []
    extras = {e.lower() for e in req.extras}
    if extras - {"and-cuda"}:
        problems.append(f"tensorflow has no extra {', '.join(sorted(extras - {'and-cuda'}))}")
    if "and-cuda" in extras and not any(getattr(r, "and_cuda", ()) for r, _vs in admitted):
        with_extra = [r.series for r in sorted(rows, key=lambda r: Version(r.release)) if getattr(r, "and_cuda", ())]
        since = f" (it exists from {with_extra[0]})" if with_extra else ""
        problems.append(f"{req.name}{spec} has no [and-cuda] extra{since}: pip would install no CUDA library")
    if canonicalize_name(req.name) == "tensorflow" and not extras:
        cpu_only = [all(getattr(r, "plain_tensorflow_is_cpu_only", lambda _v: False)(str(v)) for v in vs)
                    for r, vs in admitted]
        if all(cpu_only):
            problems.append(f"the plain tensorflow{spec} wheel is CPU-only; its GPU build is "
                            f"{admitted[0][0].package}")
    return problems


def _nvidia_wheel_names(matrix: Any) -> set[str]:
    names: set[str] = set()
    for row in getattr(matrix, "tensorflow", ()) or ():
        for text in getattr(row, "and_cuda", ()) or ():
            try:
                names.add(str(canonicalize_name(Requirement(text).name)))
            except InvalidRequirement:
                continue
    return names


def _nvidia_problems(req: Requirement, major: str, matrix: Any, cuda: str | None) -> list[str]:
    name = canonicalize_name(req.name)
    problems = []
    known = _nvidia_wheel_names(matrix)
    if known and name not in known:
        problems.append(f"{name} is pinned by no TensorFlow release in the matrix")
    if cuda:
        want = cuda.split(".")[0]
        if int(want) < 11:
            problems.append(f"CUDA {cuda} has no pip wheels ({name} is a CUDA {major} wheel)")
        elif want != major:
            problems.append(f"{name} is a CUDA {major} wheel, but this TensorFlow was built with CUDA {cuda}")
    if name.startswith("nvidia-cudnn-") and req.specifier.contains("99", prereleases=True):
        problems.append(f"{name}{req.specifier} has no upper bound: pip takes the newest cuDNN major")
    return problems


def _pip_problems(args: list[str], matrix: Any, cuda: str | None) -> list[str]:
    if any(a in ("<", ">", "<<", ">>") for a in args):
        return ["an unquoted < or > in a requirement is a shell redirection"]
    operands, _values = _operands(args, _PIP_VALUE_OPTIONS)
    problems: list[str] = []
    for text in operands:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            problems.append(f"{text!r} is not a pip requirement")
            continue
        name = canonicalize_name(req.name)
        if name in ("tensorflow", "tensorflow-gpu"):
            problems += _tf_problems(req, matrix)
        elif m := _NVIDIA_WHEEL_RE.match(name):
            problems += _nvidia_problems(req, m.group("major"), matrix, cuda)
    return problems


def _conda_problems(seg: list[str], matrix: Any, conda: Mapping[str, Mapping[str, Sequence[str]]] | None
                    ) -> list[str]:
    operands, values = _operands(seg[2:], _CONDA_VALUE_OPTIONS)
    channels = values.get("-c", []) + values.get("--channel", []) or ["defaults"]
    specs: dict[str, str | None] = {}
    ranges: dict[str, str] = {}
    for text in operands:
        m = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", text)
        if m is None:
            continue
        name, rest = m.group(1).lower(), m.group(2)
        if rest.startswith(("<", ">", "!")):
            ranges[name] = rest  # a version range, e.g. cudnn>=8.6,<9
            specs[name] = None
            continue
        pinned = rest.lstrip("=").split("=")[0]
        pinned = pinned[:-2] if pinned.endswith(".*") else pinned.rstrip("*")
        specs[name] = pinned or None
    problems: list[str] = []
    for pkg in ("cudatoolkit", "cudnn"):
        if pkg not in specs:
            continue
        version = specs[pkg]
        if conda is not None:
            held = [v for ch in channels for v in (conda.get(ch, {}).get(pkg) or ())]
            if not held:
                problems.append(f"{pkg} is not a package whose versions on {', '.join(channels)} were read")
            elif version and not any(v == version or v.startswith(version + ".") for v in held):
                problems.append(f"{', '.join(channels)} has no {pkg} {version}")
            elif pkg in ranges and not _any_in_range(held, ranges[pkg]):
                problems.append(f"{', '.join(channels)} has no {pkg}{ranges[pkg]}")
        if version and pkg == "cudatoolkit" and matrix is not None and matrix.cuda_row(version) is None:
            problems.append(f"CUDA {version} is not a CUDA release in the matrix")
        if version and pkg == "cudnn" and matrix is not None:
            rows = [r for r in getattr(matrix, "cudnn", ()) or () if r.version == version
                    or r.version.startswith(version + ".") or version.startswith(r.version.rsplit(".", 1)[0] + ".")]
            if not rows:
                problems.append(f"cuDNN {version} is not a cuDNN release in the matrix")
            elif (toolkit := specs.get("cudatoolkit")) and not any(toolkit.split(".")[0] in r.cuda for r in rows):
                problems.append(f"cuDNN {version} has no build for CUDA {toolkit} (matrix: CUDA {', '.join(rows[0].cuda)})")
    return problems


def _any_in_range(versions: Sequence[str], spec_text: str) -> bool:
    """Whether any of `versions` satisfies a conda range such as '>=8.6,<9' (an unreadable range: True)."""
    try:
        spec = SpecifierSet(spec_text)
    except InvalidSpecifier:
        return True
    for v in versions:
        try:
            if Version(v) in spec:
                return True
        except InvalidVersion:
            continue
    return False


def command_problems(command: str, matrix: Any, *, tf_version: str | None = None, cuda: str | None = None,
                     conda: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> list[str]:
    """Why `command` cannot work as a fix, judged against the matrix; empty when nothing is wrong.

    `tf_version` is the TensorFlow the fix is for (its row's CUDA applies to NVIDIA wheels), or
    `cuda` the CUDA release the fix targets; `conda` maps a channel to the versions it holds per
    package (the signature file's `conda_packages`). Commands other than pip and conda installs
    are not judged."""
    tokens = _tokens(command)
    if tokens is None:
        return ["the command is not valid shell (unbalanced quotes)"]
    if cuda is None and tf_version and matrix is not None:
        row = matrix.tf_row(tf_version)
        cuda = str(row.cuda) if row is not None and getattr(row, "cuda", None) else None
    problems: list[str] = []
    for seg in _segments(tokens):
        args = _pip_args(seg)
        if args is not None:
            problems += _pip_problems(args, matrix, cuda)
        elif len(seg) > 1 and seg[0] in ("conda", "mamba", "micromamba") and seg[1] in ("install", "create"):
            problems += _conda_problems(seg, matrix, conda)
    return problems


def checked_fixes(fixes: Sequence[Fix], matrix: Any, *, tf_version: str | None = None, cuda: str | None = None,
                  conda: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> tuple[Fix, ...]:
    """`fixes` without the commands that cannot work; a fix that loses every command is dropped."""
    if matrix is None:
        return tuple(fixes)
    out = []
    for fix in fixes:
        kept = tuple(c for c in fix.commands
                     if not command_problems(c, matrix, tf_version=tf_version, cuda=cuda, conda=conda))
        if fix.commands and not kept:
            continue
        out.append(fix if kept == fix.commands else Fix(fix.summary, kept, fix.links))
    return tuple(out)
