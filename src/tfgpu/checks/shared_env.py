"""Shared environments: PyTorch, JAX, ONNX Runtime (and other CUDA frameworks) installed beside
TensorFlow pin their own nvidia-* wheels. There is one copy of each wheel per environment, so the
framework installed last decides which cuDNN, cuBLAS or NCCL the others load.

The check compares the installed nvidia-* wheels with TensorFlow's [and-cuda] requirements (the
installed distribution's Requires-Dist, else the matrix row's `and_cuda`) and with each other
framework's requirements (its Requires-Dist where the python_env probe recorded it), names which
package pulled which wheel, and looks in the matrix for a TensorFlow release whose [and-cuda] pins
agree with the other framework's; where none does, it says that two environments are needed.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from packaging.specifiers import SpecifierSet

from tfgpu.checks import CheckContext, check
from tfgpu.fixes import pip
from tfgpu.matrix import Matrix, TFRow
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.pep508 import InvalidRequirement, Marker, MarkerError, Requirement
from tfgpu.probes.python_env import Distribution, PythonEnv, normalize
from tfgpu.records import dataclass
from tfgpu.versions import pep440

#: Frameworks that pin nvidia-* wheels of their own (normalised distribution names).
FRAMEWORKS = (
    "torch", "jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin", "jax-cuda13-pjrt",
    "onnxruntime-gpu", "cupy-cuda12x", "cupy-cuda13x", "paddlepaddle-gpu",
)
_TF_NAMES = ("tensorflow", "tf-nightly", "tensorflow-cpu", "tensorflow-gpu")
_SYSTEMS = {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}
#: Names of libraries that do not carry the CUDA major in their soname: a -cu12 and a -cu13 wheel of
#: these ship the same file name, and in one process the first one loaded is the one every caller gets.
_SAME_SONAME = {"nvidia-cudnn": "libcudnn.so.9", "nvidia-nccl": "libnccl.so.2", "nvidia-cusparselt": "libcusparseLt.so.0"}
VENV_LINK = "https://docs.python.org/3/library/venv.html"


@dataclass(frozen=True)
class Pin:
    """One requirement on an nvidia-* wheel, and who made it."""

    wheel: str  # normalised name, e.g. nvidia-cudnn-cu12
    spec: SpecifierSet
    owner: str  # "torch 2.5.1", "TensorFlow 2.17.1 [and-cuda]"

    def text(self) -> str:
        return f"{self.wheel}{self.spec}" if str(self.spec) else self.wheel


def _marker_env(env: PythonEnv, extra: str) -> dict[str, str]:
    parts = env.version.split(".")
    return {"extra": extra, "platform_system": _SYSTEMS.get(env.platform, env.platform),
            "sys_platform": env.platform, "platform_machine": env.machine or "x86_64",
            "python_version": ".".join(parts[:2]), "python_full_version": env.version,
            "os_name": "nt" if env.platform == "win32" else "posix", "implementation_name": "cpython",
            "platform_python_implementation": env.implementation or "CPython"}


def marker_holds(marker: Marker, environment: dict[str, str]) -> bool:
    """Whether a requirement's marker holds; False for one that names what we cannot judge."""
    try:
        return marker.evaluate(environment)
    except MarkerError:
        return False


def nvidia_pins(lines: tuple[str, ...], env: PythonEnv, owner: str, extras: tuple[str, ...]) -> list[Pin]:
    """The nvidia-* requirements among Requires-Dist `lines` that hold on this environment with one of
    `extras` ("" for none) active."""
    out: list[Pin] = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = normalize(req.name)
        if not name.startswith("nvidia-"):
            continue
        if req.marker is None or any(marker_holds(req.marker, _marker_env(env, e)) for e in extras):
            out.append(Pin(name, req.specifier, owner))
    return out


def _holds(spec: SpecifierSet, version: str) -> bool:
    v = pep440(version)
    return v is not None and spec.contains(v, prereleases=True)


def _bounds(spec: SpecifierSet) -> list[str]:
    return [s.version.rstrip(".*") for s in spec if s.operator in ("==", "===", ">=", "~=", ">")]


def specs_overlap(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether some version satisfies both: a pin of one side must satisfy the other; two ranges
    overlap where a lower bound of one lies in both."""
    if not str(a) or not str(b):
        return True
    return any(_holds(a, v) and _holds(b, v) for v in _bounds(a) + _bounds(b))


def _tf_dist(env: PythonEnv) -> Distribution | None:
    return next((d for name in _TF_NAMES for d in env.tensorflow_distributions if normalize(d.name) == name), None)


def tf_pins(env: PythonEnv, tf_version: str | None, row: TFRow | None) -> tuple[list[Pin], str]:
    """TensorFlow's [and-cuda] pins on this environment, and where they were read."""
    dist = _tf_dist(env)
    label = f"TensorFlow {tf_version or (dist.version if dist else '?')} [and-cuda]"
    if dist is not None and dist.requires_dist:
        pins = nvidia_pins(dist.requires_dist, env, label, ("and-cuda",))
        if pins:
            return pins, "the installed distribution's Requires-Dist"
    if row is not None and row.and_cuda:
        return nvidia_pins(row.and_cuda, env, label, ("",)), "tfgpu's matrix"
    return [], ""


def framework_pins(env: PythonEnv) -> tuple[dict[str, list[Pin]], list[str]]:
    """{'torch 2.5.1': pins} for every framework present whose requirements the probe recorded, and the
    frameworks present whose requirements it did not record."""
    recorded: dict[str, list[Pin]] = {}
    unread: list[str] = []
    for d in env.distributions:
        name = normalize(d.name)
        if name not in FRAMEWORKS:
            continue
        owner = f"{d.name} {d.version}"
        if not d.requires_dist:
            unread.append(owner)
            continue
        extras = ("",) + tuple(e for e in d.provides_extra if "cuda" in e)
        recorded[owner] = nvidia_pins(d.requires_dist, env, owner, extras)
    return recorded, unread


def agreeing_release(matrix: Matrix, env: PythonEnv, others: list[Pin]) -> tuple[TFRow, str] | None:
    """The newest TensorFlow release with [and-cuda] wheels for this Python whose pins overlap every
    pin of the other frameworks on the same wheels."""
    py = ".".join(env.version.split(".")[:2])
    for row in matrix.tf_rows_newest_first():
        release = row.newest_release_for_python(py) if row.and_cuda else None
        if release is None:
            continue
        ours = {p.wheel: p.spec for p in nvidia_pins(row.and_cuda, env, row.series, ("",))}
        shared = [p for p in others if p.wheel in ours]
        if shared and all(specs_overlap(ours[p.wheel], p.spec) for p in shared):
            return row, release
    return None


def _venv_fixes(env: PythonEnv, tf_requirement: str) -> Fix:
    return Fix("Keep TensorFlow in an environment of its own (and the other framework in this one)",
               (f"{shlex.quote(env.executable)} -m venv .venv-tf", pip(".venv-tf/bin/python", "install", tf_requirement)),
               (VENV_LINK,))


@check("shared-env-nvidia-wheels", "Other CUDA frameworks in the environment agree with TensorFlow's NVIDIA wheels",
       Area.TENSORFLOW, needs=("python_env",), uses=("tf_build",),
       emits=("shared-env-cuda-major-mix", "shared-env-nvidia-conflict", "shared-env-nvidia-wheels"))
def shared_env_nvidia_wheels(ctx: CheckContext) -> Iterator[Finding]:
    """Other CUDA frameworks in the same environment (PyTorch, JAX, ONNX Runtime GPU, CuPy, Paddle) against
    TensorFlow's NVIDIA wheels: pins that conflict, or wheels of another CUDA major."""
    env = ctx.python_env
    if env is None or not env.platform.startswith("linux"):
        return
    recorded, unread = framework_pins(env)
    if not recorded and not unread:
        return  # TensorFlow alone: the libraries checks judge its wheels
    build = ctx.tf_build
    dist = _tf_dist(env)
    tf_version = build.version if build is not None else (dist.version if dist is not None else None)
    if tf_version is None:
        return
    row = ctx.matrix.tf_row(tf_version) if ctx.matrix is not None else None
    tf, tf_source = tf_pins(env, tf_version, row)
    installed = {normalize(d.name): d.version for d in env.nvidia_wheels}
    others = [p for pins in recorded.values() for p in pins]
    present = list(recorded) + unread
    ev: dict[str, object] = {"frameworks": present, "tensorflow": tf_version, "tf_pins_from": tf_source,
                             "installed": installed, "requirements_recorded": sorted(recorded),
                             "requirements_not_recorded": unread}
    yield from _cuda_major_mix(ctx, env, tf, installed, recorded, unread, ev,
                               row.gpu_requirement(tf_version) if row is not None else "tensorflow[and-cuda]")
    conflicts: list[str] = []
    for pin in tf:
        have = installed.get(pin.wheel)
        if have is None or _holds(pin.spec, have):
            continue
        pulled = [p.owner for p in others if p.wheel == pin.wheel and _holds(p.spec, have)]
        who = (f"pinned by {', '.join(pulled)}" if pulled else
               f"installed beside {', '.join(unread)}" if unread else "installed by hand or by another package")
        conflicts.append(f"{pin.wheel} {have} ({who}) is outside {pin.owner}'s {pin.spec}")
    for p in others:
        have = installed.get(p.wheel)
        tf_pin = next((t for t in tf if t.wheel == p.wheel), None)
        if have is None or tf_pin is None or _holds(p.spec, have) or not _holds(tf_pin.spec, have):
            continue
        conflicts.append(f"{p.wheel} {have} (pinned by {tf_pin.owner} {tf_pin.spec}) is outside {p.owner}'s {p.spec}")
    if not conflicts:
        if tf and recorded:
            yield ctx.finding("shared-env-nvidia-wheels", Severity.OK,
                              f"{', '.join(recorded)} and TensorFlow {tf_version} agree on the installed NVIDIA wheels",
                              evidence=ev)
        return
    ev["conflicts"] = conflicts
    fixes: list[Fix] = []
    detail = ("One copy of each nvidia-* wheel serves the whole environment, so the framework installed last decides "
              "which version the others load; a cuDNN, cuBLAS or NCCL older than a framework was built with fails at "
              "run time (TensorFlow: 'Loaded runtime CuDNN library ... but source was compiled with').")
    if ctx.matrix is not None and others:
        found = agreeing_release(ctx.matrix, env, others)
        if found is not None:
            agree_row, release = found
            ev["agreeing_release"] = release
            fixes.append(Fix(f"Install TensorFlow {release}: its [and-cuda] pins agree with {', '.join(recorded)}'s on "
                             "every shared NVIDIA wheel, so pip can satisfy both",
                             (pip(env.executable, "install", agree_row.gpu_requirement(release)),
                              pip(env.executable, "check"))))
        else:
            ev["agreeing_release"] = None
            detail += (f" No TensorFlow release with [and-cuda] wheels for Python {'.'.join(env.version.split('.')[:2])} "
                       f"pins NVIDIA wheels that {', '.join(recorded)} also accepts: they need two environments.")
    elif unread:
        detail += (f" tfgpu could not read {', '.join(unread)}'s own requirements in this environment, so which wheel it "
                   "pins is inferred from what is installed.")
        fixes.append(Fix("See which package pins which NVIDIA wheel", (pip(env.executable, "check"),)))
    fixes.append(_venv_fixes(env, row.gpu_requirement(tf_version) if row is not None else "tensorflow[and-cuda]"))
    yield ctx.finding("shared-env-nvidia-conflict", Severity.ERROR,
                      f"TensorFlow {tf_version} shares this environment's NVIDIA wheels with {', '.join(present)} and "
                      f"they disagree: {'; '.join(conflicts[:3])}" + (f" (and {len(conflicts) - 3} more)" if len(conflicts) > 3 else ""),
                      detail, ev, fixes)


def _cuda_major_mix(ctx: CheckContext, env: PythonEnv, tf: list[Pin], installed: dict[str, str],
                    recorded: dict[str, list[Pin]], unread: list[str], ev: dict[str, object],
                    tf_requirement: str) -> Iterator[Finding]:
    """-cu13 wheels beside TensorFlow's -cu12 ones: which framework pulled them, and the libraries whose
    file names are the same in both; the fresh environment offered gets this TensorFlow release again
    (`tf_requirement`), not whichever is newest."""
    tf_majors = {p.wheel.rsplit("-cu", 1)[1] for p in tf if "-cu" in p.wheel}
    if not tf_majors:
        return
    foreign = sorted(w for w in installed if "-cu" in w and w.rsplit("-cu", 1)[1] not in tf_majors)
    if not foreign:
        return
    owners = sorted({owner for owner, pins in recorded.items() for p in pins if p.wheel in foreign}) or unread
    same = sorted({lib for w in foreign for fam, lib in _SAME_SONAME.items()
                   if w.startswith(fam + "-cu") and any(t.wheel.startswith(fam + "-cu") for t in tf)})
    majors = sorted({w.rsplit("-cu", 1)[1] for w in foreign})
    detail = (f"TensorFlow loads its CUDA {'/'.join(sorted(tf_majors))} wheels; the CUDA {'/'.join(majors)} ones belong to "
              f"{', '.join(owners) or 'another package'} and need a driver that supports that CUDA.")
    if same:
        detail += (f" {', '.join(same)} {'is' if len(same) == 1 else 'are'} the same file name in both CUDA majors: in one "
                   "process the framework imported first decides which copy the other one gets.")
    yield ctx.finding(
        "shared-env-cuda-major-mix", Severity.WARNING,
        f"CUDA {'/'.join(majors)} wheels ({', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}) from "
        f"{', '.join(owners) or 'another package'} sit beside TensorFlow's CUDA {'/'.join(sorted(tf_majors))} wheels",
        detail, {**ev, "foreign_wheels": foreign, "same_soname": same},
        (Fix("Import TensorFlow and the CUDA " + "/".join(majors) + " framework in separate processes, or keep them in "
             "separate environments", _venv_fixes(env, tf_requirement).commands, (VENV_LINK,)),))
