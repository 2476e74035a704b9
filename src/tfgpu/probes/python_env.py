"""Target Python environment probe: asks the *target* interpreter (not tfgpu's own) what it is
and which distributions that matter are installed, without importing any of them.

Failure modes: the interpreter is missing or not executable (not found / permission denied);
it is not Python or too old to run the inquiry (failed, with its output); it hangs, e.g. on a
stuck network mount in sys.path or a .pth file that blocks (timed out); it crashes (signal).
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass

from tfgpu.model import ProbeStatus
from tfgpu.probes import ProbeContext, _children, failure, probe

#: Distributions that carry TensorFlow or decide how it behaves. nvidia-* wheels are added by prefix.
TF_FAMILY = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tf-nightly",
    "tf-nightly-cpu",
    "tf-nightly-gpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tensorflow-aarch64",
    "tensorflow-cpu-aws",
    "intel-tensorflow",
)
RELATED = ("tensorflow-metal", "keras", "tf-keras", "keras-nightly", "tensorrt", "tensorrt-libs", "jax", "jaxlib", "torch")

#: Between these, the inquiry's answer (`tfgpu.probes._children.env`, which defines the same).
MARK = "@@TFGPU-ENV@@"


def child_script() -> str:
    """The inquiry's source, as the target runs it (`python -c SOURCE *child_args()`)."""
    return _children.source(_children.ENV)


def child_args() -> list[str]:
    """The inquiry's arguments: the TensorFlow family, the related packages, and those read in full."""
    return [",".join(TF_FAMILY), ",".join(RELATED), ",".join(TF_FAMILY)]


@dataclass(frozen=True)
class Distribution:
    name: str
    version: str
    location: str
    metadata_dir: str = ""
    requires_python: str | None = None
    requires_dist: tuple[str, ...] = ()
    provides_extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class PythonEnv:
    executable: str
    version: str
    implementation: str
    platform: str  # sys.platform: "linux", "win32", "darwin"
    machine: str
    prefix: str
    is_venv: bool
    is_conda: bool
    distributions: tuple[Distribution, ...]
    tensorflow_dirs: tuple[str, ...]
    sys_path: tuple[str, ...] = ()
    #: A tensorflow/ folder in the directory tfgpu ran from: scripts started there import it
    #: instead of the installed package (`python script.py` puts the script's folder first).
    cwd_tensorflow: str | None = None

    def find(self, name: str) -> Distribution | None:
        for dist in self.distributions:
            if dist.name == name:
                return dist
        return None

    @property
    def tensorflow_distributions(self) -> tuple[Distribution, ...]:
        return tuple(d for d in self.distributions if d.name in TF_FAMILY)

    @property
    def nvidia_wheels(self) -> tuple[Distribution, ...]:
        return tuple(d for d in self.distributions if d.name.startswith("nvidia-"))


def default_python(environ: dict[str, str] | os._Environ) -> str:
    """The target interpreter when --python is not given: the active virtualenv or conda env
    where it differs from tfgpu's own, else tfgpu's own interpreter.

    An active env whose interpreter is gone (a dangling link after a system Python upgrade) is
    returned as it is, so that the probe reports it broken rather than silently inspecting
    tfgpu's own environment instead.
    """
    own_prefix = os.path.realpath(sys.prefix)
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = environ.get(var)
        if not prefix or os.path.realpath(prefix) == own_prefix:
            continue
        candidates = [os.path.join(prefix, rel) for rel in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe")]
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return next((c for c in candidates if os.path.lexists(c)), candidates[0])
    return sys.executable


def parse_child_output(stdout: str) -> dict | None:
    """The inquiry's record: a Python literal between two MARKs (read as a literal, never run)."""
    parts = stdout.split(MARK)
    if len(parts) < 3:
        return None
    try:
        data = ast.literal_eval(parts[1])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@probe("python_env", "Target Python environment", PythonEnv, timeout=20.0)
def probe_python_env(ctx: ProbeContext):
    python = ctx.python
    env = dict(ctx.environ)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Not isolated: the inquiry must see the user's sys.path (PYTHONPATH, user site-packages, .pth files).
    result = ctx.run_child(_children.ENV, python=python, isolated=False, args=child_args(),
                           timeout=min(ctx.timeout, 20.0), env=env)
    evidence = {"command": f"{python} -c <inquiry>", "outcome": result.describe()}
    if result.start_error == "not found":
        return failure("python_env", ProbeStatus.NOT_FOUND, f"{python}: no such interpreter", **evidence)
    if result.start_error == "permission denied":
        return failure("python_env", ProbeStatus.PERMISSION_DENIED, f"{python}: not executable", **evidence)
    if result.start_error:
        return failure("python_env", ProbeStatus.FAILED, f"{python}: {result.start_error}", **evidence)
    if result.timed_out:
        return failure("python_env", ProbeStatus.TIMED_OUT, f"{python} did not answer within {result.seconds:.0f} s", **evidence)
    if result.signal is not None:
        return failure("python_env", ProbeStatus.CRASHED, f"{python} {result.describe()}", stderr_tail=_tail(result.stderr), **evidence)
    data = parse_child_output(result.stdout)
    if data is None:
        return failure(
            "python_env",
            ProbeStatus.FAILED,
            f"{python} did not answer as a Python 3 interpreter ({result.describe()})",
            stdout_tail=_tail(result.stdout),
            stderr_tail=_tail(result.stderr),
            **evidence,
        )
    dists = tuple(
        Distribution(
            name=d.get("name", ""),
            version=d.get("version", ""),
            location=d.get("location", ""),
            metadata_dir=d.get("metadata_dir", ""),
            requires_python=d.get("requires_python"),
            requires_dist=tuple(d.get("requires_dist") or ()),
            provides_extra=tuple(d.get("provides_extra") or ()),
        )
        for d in data.get("distributions", [])
    )
    return PythonEnv(
        executable=data.get("executable") or python,
        version=data.get("version", ""),
        implementation=data.get("implementation", ""),
        platform=data.get("platform", ""),
        machine=data.get("machine", ""),
        prefix=data.get("prefix", ""),
        is_venv=bool(data.get("is_venv")),
        is_conda=bool(data.get("is_conda")),
        distributions=dists,
        tensorflow_dirs=tuple(data.get("tensorflow_dirs", [])),
        cwd_tensorflow=data.get("cwd_tensorflow"),
        sys_path=tuple(data.get("sys_path", [])),
    )


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
