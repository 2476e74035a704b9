"""TensorFlow build facts read statically: `tensorflow/python/platform/build_info.py` is parsed
(never imported or executed) and the distribution's METADATA supplies Requires-Python and the
`[and-cuda]` requirements.

Failure modes: TensorFlow is not installed in the target (not found); build_info.py is missing
(a broken or partial install: not found, with the path); it does not parse or holds no build
facts (failed, with the parser's message).
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

from tfgpu.model import ProbeStatus
from tfgpu.probes import ProbeContext, failure, probe
from tfgpu.probes.python_env import TF_FAMILY, PythonEnv
from tfgpu.records import dataclass

BUILD_INFO_REL = os.path.join("python", "platform", "build_info.py")


class BuildInfoError(ValueError):
    """build_info.py text that holds no readable build facts."""


@dataclass(frozen=True)
class TFBuild:
    distribution: str  # "tensorflow", "tensorflow-cpu", ...
    version: str
    package_dir: str
    build_info_path: str
    is_cuda_build: bool | None
    is_rocm_build: bool | None
    cuda_version: str | None
    cudnn_version: str | None
    compute_capabilities: tuple[str, ...]
    cpu_compiler: str | None
    requires_python: str | None
    and_cuda: tuple[str, ...]
    raw: dict[str, str]


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


#: Digits in one number of a version read from build_info.py; more is no version (and int() of
#: thousands of digits fails wherever it is compared).
_MAX_DIGITS = 9
#: The longest build_info.py value kept (its repr in `raw` included), and the most CC entries.
_MAX_VALUE = 200
_MAX_CCS = 64


def parse_build_info(text: str) -> dict[str, Any]:
    """Read the build facts out of build_info.py source, without executing it.

    Handles the forms TensorFlow has shipped: `build_info = {...}`,
    `build_info = collections.OrderedDict([(k, v), ...])` and, in old releases, plain module
    assignments such as `is_cuda_build = True` / `cuda_version_number = '10.0'`.

    Raises BuildInfoError, and nothing else, on text of any kind (null bytes, nesting past the
    parser's limit, integers of thousands of digits, non-literal values).
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise BuildInfoError(f"does not parse: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise BuildInfoError(f"does not parse: {type(exc).__name__}") from None
    facts: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        try:
            if target.id == "build_info":
                if isinstance(value, ast.Dict):
                    found = _literal(value)
                elif isinstance(value, ast.Call) and value.args:
                    found = dict(_literal(value.args[0]))
                else:
                    continue
                if not isinstance(found, dict):
                    raise BuildInfoError("build_info is not a mapping")
                facts.update(found)
                continue
            facts[target.id] = _literal(value)
        except BuildInfoError:
            raise
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError) as exc:
            if target.id == "build_info":
                raise BuildInfoError(f"build_info is not a literal: {_short(str(exc))}") from None
            continue
    known = {"is_cuda_build", "cuda_version", "cuda_version_number", "is_rocm_build", "cudnn_version", "cudnn_version_number"}
    if not known & {k for k in facts if isinstance(k, str)}:
        raise BuildInfoError("holds no build facts (no is_cuda_build, cuda_version or cudnn_version)")
    # Old names (TF 1.x / 2.0-2.2) mapped to the modern keys.
    if "cuda_version" not in facts and "cuda_version_number" in facts:
        facts["cuda_version"] = facts["cuda_version_number"]
    if "cudnn_version" not in facts and "cudnn_version_number" in facts:
        facts["cudnn_version"] = facts["cudnn_version_number"]
    return facts


def _short(text: str, n: int = _MAX_VALUE) -> str:
    from tfgpu.safeio import printable

    text = printable(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _as_str(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if not isinstance(value, (str, int, float)):
        return None
    try:
        text = str(value)
    except ValueError:  # an int of more than 4300 digits
        return None
    return _short(text)


def _as_version(value: Any) -> str | None:
    """A version from build_info.py ('12.5.1', '8', Windows' '64_112'), None where it is not one (a
    number of thousands of digits, a list, text): never a value a check cannot compare."""
    text = _as_str(value)
    if text is None or len(text) > 40:
        return None
    runs = re.findall(r"\d+", text)
    if not runs or any(len(r) > _MAX_DIGITS for r in runs) or not re.fullmatch(r"[0-9._]+", text):
        return None
    return text


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} that cannot be shown>"


def _as_flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def and_cuda_requirements(requires_dist: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The Requires-Dist lines that belong to the `and-cuda` extra, as written."""
    return tuple(r for r in requires_dist if "extra" in r and ("and-cuda" in r or "and_cuda" in r))


def build_from_facts(dist_name: str, version: str, package_dir: str, path: str, facts: dict[str, Any],
                     requires_python: str | None, requires_dist: tuple[str, ...]) -> TFBuild:
    ccs = facts.get("cuda_compute_capabilities") or ()
    if isinstance(ccs, str):
        ccs = [c.strip() for c in ccs.split(",") if c.strip()]
    if not isinstance(ccs, (list, tuple)):
        ccs = ()
    ccs = [c for c in (_as_str(c) for c in list(ccs)[:_MAX_CCS]) if c and len(c) <= 16]
    return TFBuild(
        distribution=dist_name,
        version=version,
        package_dir=package_dir,
        build_info_path=path,
        is_cuda_build=_as_flag(facts.get("is_cuda_build")),
        is_rocm_build=_as_flag(facts.get("is_rocm_build")),
        cuda_version=_as_version(facts.get("cuda_version")),
        cudnn_version=_as_version(facts.get("cudnn_version")),
        compute_capabilities=tuple(ccs),
        cpu_compiler=_as_str(facts.get("cpu_compiler")),
        requires_python=requires_python,
        and_cuda=and_cuda_requirements(requires_dist),
        raw={_short(str(k), 80): _short(_repr(v)) for k, v in list(facts.items())[:100]},
    )


@probe("tf_build", "TensorFlow build (static)", TFBuild, needs=("python_env",), timeout=10.0)
def probe_tf_build(ctx: ProbeContext):
    env: PythonEnv | None = ctx.fact("python_env")
    if env is None:
        return failure("tf_build", ProbeStatus.SKIPPED, "the target Python environment could not be probed")
    dists = env.tensorflow_distributions
    if not dists and not env.tensorflow_dirs:
        return failure("tf_build", ProbeStatus.NOT_FOUND, "TensorFlow is not installed in the target environment",
                       python=env.executable)
    # The distribution that owns the importable package: the one whose location holds it.
    package_dir = env.tensorflow_dirs[0] if env.tensorflow_dirs else os.path.join(dists[0].location, "tensorflow")
    location = os.path.dirname(package_dir)
    owner = next((d for d in dists if d.location == location), dists[0] if dists else None)
    path = os.path.join(package_dir, BUILD_INFO_REL)
    evidence = {"path": path, "distribution": owner.name if owner else None, "version": owner.version if owner else None}
    from tfgpu.safeio import LIMITS, BadInput, check_regular, read_head

    try:
        check_regular(path)
    except BadInput as exc:
        if exc.problem.startswith("no such file"):
            return failure("tf_build", ProbeStatus.NOT_FOUND, f"{path} is missing (a broken or partial TensorFlow install)", **evidence)
        if exc.problem == "permission denied":
            return failure("tf_build", ProbeStatus.PERMISSION_DENIED, f"{path} is not readable", **evidence)
        return failure("tf_build", ProbeStatus.FAILED, f"{path} {exc.problem}", **evidence)
    data = read_head(path, LIMITS["build_info"])
    if data is None:
        if not os.access(path, os.R_OK):
            return failure("tf_build", ProbeStatus.PERMISSION_DENIED, f"{path} is not readable", **evidence)
        return failure("tf_build", ProbeStatus.FAILED, f"{path}: cannot be read", **evidence)
    text = data.decode("utf-8", "replace")
    try:
        facts = parse_build_info(text)
    except BuildInfoError as exc:
        return failure("tf_build", ProbeStatus.FAILED, f"{path} {exc}", **evidence)
    return build_from_facts(
        owner.name if owner else "tensorflow",
        owner.version if owner else "",
        package_dir,
        path,
        facts,
        owner.requires_python if owner else None,
        owner.requires_dist if owner else (),
    )


__all__ = ["TFBuild", "parse_build_info", "and_cuda_requirements", "TF_FAMILY"]
