"""Target Python environment probe: asks the *target* interpreter (not tfgpu's own) what it is
and which distributions that matter are installed, without importing any of them.

Failure modes: the interpreter is missing or not executable (not found / permission denied);
it is not Python or too old to run the inquiry (failed, with its output); it hangs, e.g. on a
stuck network mount in sys.path or a .pth file that blocks (timed out); it crashes (signal).
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Mapping

from tfgpu import proc
from tfgpu.model import ProbeStatus
from tfgpu.probes import ProbeContext, _children, failure, probe
from tfgpu.records import dataclass
from tfgpu.versions import normalize_name

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
RELATED = ("tensorflow-metal", "keras", "tf-keras", "keras-nightly", "tensorrt", "tensorrt-libs", "jax", "jaxlib", "torch",
           # Other frameworks whose CUDA wheels share the environment with TensorFlow's (checks/shared_env.py):
           # their Requires-Dist is read in full, so the check can say which package pulled which nvidia-* wheel.
           "onnxruntime-gpu", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt",
           "cupy-cuda12x", "cupy-cuda13x", "paddlepaddle-gpu")

#: Between these, the inquiry's answer (`tfgpu.probes._children.env`, which defines the same).
MARK = "@@TFGPU-ENV@@"


def child_script() -> str:
    """The inquiry's source, as the target runs it (`python -c SOURCE *child_args()`)."""
    return _children.source(_children.ENV)


def child_args() -> list[str]:
    """The inquiry's arguments: the TensorFlow family, the related packages, and those read in full."""
    return [",".join(TF_FAMILY), ",".join(RELATED), ",".join(TF_FAMILY + RELATED)]


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
    #: Why this interpreter is the target ("--python", "the active virtualenv (VIRTUAL_ENV)", ...).
    chosen_because: str = ""

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


#: Folders of the isolated environments tool installers give an application (pipx, uv tool): tfgpu
#: run from one of them has no TensorFlow of the user's beside it.
_TOOL_ENV_MARKS = (os.sep + os.path.join("pipx", "venvs") + os.sep, os.sep + os.path.join("uv", "tools") + os.sep)


def choose_python(environ: dict[str, str] | os._Environ) -> tuple[str, str]:
    """(the target interpreter when --python is not given, why it was chosen): the active virtualenv
    or conda env where it differs from tfgpu's own; else, where tfgpu runs from its own pipx/uv tool
    environment, the user's `python3` on PATH; else tfgpu's own interpreter."""
    own_prefix = os.path.realpath(sys.prefix)
    for var, what in (("VIRTUAL_ENV", "the active virtualenv"), ("CONDA_PREFIX", "the active conda env")):
        prefix = environ.get(var)
        if not prefix or os.path.realpath(prefix) == own_prefix:
            continue
        candidates = [os.path.join(prefix, rel) for rel in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe")]
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate, f"{what} (${var})"
        return next((c for c in candidates if os.path.lexists(c)), candidates[0]), f"{what} (${var})"
    if any(mark in own_prefix + os.sep for mark in _TOOL_ENV_MARKS):
        import shutil

        found = shutil.which("python3", path=environ.get("PATH", os.defpath))
        if found and not os.path.realpath(found).startswith(own_prefix + os.sep):
            return found, "python3 on PATH, as tfgpu runs from its own pipx/uv tool environment"
    return sys.executable, "tfgpu's own, as no virtualenv or conda env is active (--python chooses another)"


def default_python(environ: dict[str, str] | os._Environ) -> str:
    """The target interpreter when --python is not given (see `choose_python`, which also says why).

    An active env whose interpreter is gone (a dangling link after a system Python upgrade) is
    returned as it is, so that the probe reports it broken rather than silently inspecting
    tfgpu's own environment instead.
    """
    return choose_python(environ)[0]


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


#: Variables that make an interpreter run code of their own accord (a startup file, an interactive
#: prompt after -c, a warning category imported by name): never passed to a child of the target.
CODE_VARIABLES = ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONWARNINGS")


def child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's environment for a child of the target, less CODE_VARIABLES, writing no bytecode."""
    env = {k: v for k, v in environ.items() if k not in CODE_VARIABLES}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _user_cwd() -> str:
    """The folder tfgpu was started from ('' where it is gone): a tensorflow/ there shadows the package."""
    try:
        return os.getcwd()
    except OSError:
        return ""


def interpreter_problem(path: str) -> str | None:
    """Why `path` cannot be a --python interpreter, in words ('is a directory, not a Python
    interpreter'), or None where it may be one (the inquiry then decides). Never runs it, never
    blocks: stat first, only a regular file is opened (O_NONBLOCK), and only its first line read."""
    from tfgpu.safeio import LIMITS, BadInput, read_head

    if not path or not path.strip():
        return "is empty: give the path of a Python interpreter"
    if "\0" in path:
        return "holds a NUL byte: not a path"
    try:
        if not os.path.isabs(path):
            os.getcwd()  # a relative path is relative to a working folder that must still exist
    except OSError:
        return "is relative, and the working folder it is relative to no longer exists"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "permission denied"
    except (OSError, ValueError) as exc:
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    import stat

    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a Python interpreter"
    if not stat.S_ISREG(st.st_mode):
        from tfgpu.safeio import check_regular

        try:
            check_regular(path)
        except BadInput as exc:
            return f"{exc.problem}: not a Python interpreter"
        return "not a regular file: not a Python interpreter"
    if not os.access(path, os.X_OK):
        return "not executable"
    # Read (never run) its first line: a script whose #! names Python is a program, not an
    # interpreter, and running it with -c would run the script. Shell wrappers (pyenv shims) pass.
    head = (read_head(path, LIMITS["interpreter"]) or b"").split(b"\n", 1)[0]
    name = os.path.basename(path)
    if head.startswith(b"#!") and b"python" in head.split(b"/")[-1].lower() and not name.startswith("python"):
        return "is a Python script, not a Python interpreter"
    return None


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@probe("python_env", "Target Python environment", PythonEnv, timeout=20.0)
def probe_python_env(ctx: ProbeContext):
    python = ctx.python
    env = child_environ(ctx.environ)
    # -S, not -I: the inquiry sees PYTHONPATH as the user's program does, finds the site-packages
    # folders as files and reads their .pth files as text (see _children/env.py for each flag); in
    # an empty working folder, so nothing where tfgpu was started from can be imported.
    import shutil

    neutral = proc.empty_folder("tfgpu-env-")
    try:
        result = ctx.run_child(_children.ENV, python=python, isolated=False, site=False,
                               args=[*child_args(), _user_cwd()], timeout=min(ctx.timeout, 20.0),
                               env=env, cwd=neutral)
    finally:
        shutil.rmtree(neutral, ignore_errors=True)
    evidence = {"command": f"{python} -S -c <inquiry>", "outcome": result.describe()}
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
    from tfgpu.safeio import printable

    def text(value: object, default: str = "") -> str:
        """A string of the record, shown safe to print (a METADATA header may hold anything)."""
        return printable(value) if isinstance(value, str) else default

    def texts(value: object) -> tuple[str, ...]:
        return tuple(printable(v) for v in value if isinstance(v, str)) if isinstance(value, (list, tuple)) else ()

    def optional(value: object) -> str | None:
        return printable(value) if isinstance(value, str) else None

    dists = tuple(
        Distribution(
            name=text(d.get("name")),
            version=text(d.get("version")),
            location=text(d.get("location")),
            metadata_dir=text(d.get("metadata_dir")),
            requires_python=optional(d.get("requires_python")),
            requires_dist=texts(d.get("requires_dist")),
            provides_extra=texts(d.get("provides_extra")),
        )
        for d in (data.get("distributions") or [])
        if isinstance(d, dict)
    )
    return PythonEnv(
        executable=text(data.get("executable")) or python,
        version=text(data.get("version")),
        implementation=text(data.get("implementation")),
        platform=text(data.get("platform")),
        machine=text(data.get("machine")),
        prefix=text(data.get("prefix")),
        is_venv=bool(data.get("is_venv")),
        is_conda=bool(data.get("is_conda")),
        distributions=dists,
        tensorflow_dirs=texts(data.get("tensorflow_dirs")),
        cwd_tensorflow=optional(data.get("cwd_tensorflow")),
        sys_path=texts(data.get("sys_path")),
        chosen_because=str(ctx.option("target_reason", "") or ""),
    )


normalize = normalize_name  # the name the checks import it by
