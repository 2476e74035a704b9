"""Target Python environment probe: asks the *target* interpreter (not tfgpu's own) what it is
and which distributions that matter are installed, without importing any of them.

Failure modes: the interpreter is missing or not executable (not found / permission denied);
it is not Python or too old to run the inquiry (failed, with its output); it hangs, e.g. on a
stuck network mount in sys.path or a .pth file that blocks (timed out); it crashes (signal).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass

from tfgpu.model import ProbeStatus
from tfgpu.probes import ProbeContext, failure, probe

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

MARK = "@@TFGPU-ENV@@"

# Runs inside the target interpreter. Python 3 of any age: no f-strings, no walrus, stdlib only
# (tests/test_target_pythons.py runs it under 3.6 and up where those interpreters exist).
# It lists dist-info/egg-info folders on sys.path and reads only the METADATA headers it needs.
# Python 2 would run the rest of it just as well, so it refuses first: it prints no answer, and the
# probe reports that the interpreter "did not answer as a Python 3 interpreter".
CHILD_SCRIPT = r"""
import json, os, sys, platform, re
if sys.version_info[0] < 3:
    sys.stderr.write("tfgpu: this is Python %%s; the target must be Python 3\n" %% sys.version.split()[0])
    sys.exit(3)
WANT = set(%(want)s)
RELATED = set(%(related)s)
FULL = set(%(full)s)
def norm(n):
    return re.sub(r"[-_.]+", "-", n).lower()
def headers(path):
    out = {"Requires-Dist": [], "Provides-Extra": []}
    try:
        fh = open(path, "rb")
    except (IOError, OSError):
        return out
    try:
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                break
            if ":" not in line or line[:1] in " \t":
                continue
            k, v = line.split(":", 1)
            v = v.strip()
            if k in ("Requires-Dist", "Provides-Extra"):
                out[k].append(v)
            elif k not in out:
                out[k] = v
    finally:
        fh.close()
    return out
dists = []
seen = set()
for entry in sys.path:
    if not entry or not os.path.isdir(entry):
        continue
    try:
        names = os.listdir(entry)
    except OSError:
        continue
    for name in sorted(names):
        if name.endswith(".dist-info"):
            meta = "METADATA"
        elif name.endswith(".egg-info"):
            meta = "PKG-INFO"
        else:
            continue
        base = name.rsplit(".", 1)[0]
        dname = norm(base.split("-")[0])
        if not (dname in WANT or dname in RELATED or dname.startswith("nvidia-")):
            continue
        mpath = os.path.join(entry, name, meta) if os.path.isdir(os.path.join(entry, name)) else os.path.join(entry, name)
        h = headers(mpath)
        real = norm(h.get("Name", dname) or dname)
        key = (real, entry)
        if key in seen:
            continue
        seen.add(key)
        rec = {"name": real, "version": h.get("Version", ""), "location": entry, "metadata_dir": os.path.join(entry, name)}
        if real in FULL:
            rec["requires_python"] = h.get("Requires-Python")
            rec["requires_dist"] = h["Requires-Dist"]
            rec["provides_extra"] = h["Provides-Extra"]
        dists.append(rec)
pkg_dirs = []
for entry in sys.path:
    if entry and os.path.isdir(os.path.join(entry, "tensorflow")):
        pkg_dirs.append(os.path.join(entry, "tensorflow"))
conda = os.path.isdir(os.path.join(sys.prefix, "conda-meta"))
info = {
    "version": "%%d.%%d.%%d" %% tuple(sys.version_info[:3]),
    "implementation": platform.python_implementation(),
    "executable": sys.executable,
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "platform": sys.platform,
    "machine": platform.machine(),
    "is_venv": getattr(sys, "base_prefix", sys.prefix) != sys.prefix,
    "is_conda": conda,
    "sys_path": [p for p in sys.path if p],
    "distributions": dists,
    "tensorflow_dirs": pkg_dirs,
    "cwd_tensorflow": os.path.join(os.getcwd(), "tensorflow") if os.path.isdir(os.path.join(os.getcwd(), "tensorflow")) else None,
}
sys.stdout.write("%(mark)s" + json.dumps(info) + "%(mark)s")
"""


def child_script() -> str:
    return CHILD_SCRIPT % {
        "want": repr(list(TF_FAMILY)),
        "related": repr(list(RELATED)),
        "full": repr(list(TF_FAMILY)),
        "mark": MARK,
    }


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
    parts = stdout.split(MARK)
    if len(parts) < 3:
        return None
    try:
        data = json.loads(parts[1])
    except ValueError:
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
    result = ctx.run_command([python, "-c", child_script()], timeout=min(ctx.timeout, 20.0), env=env)
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
