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
from dataclasses import dataclass
from typing import Any

from tfgpu.model import ProbeStatus
from tfgpu.probes import ProbeContext, failure, probe
from tfgpu.probes.python_env import TF_FAMILY, PythonEnv

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


def parse_build_info(text: str) -> dict[str, Any]:
    """Read the build facts out of build_info.py source, without executing it.

    Handles the forms TensorFlow has shipped: `build_info = {...}`,
    `build_info = collections.OrderedDict([(k, v), ...])` and, in old releases, plain module
    assignments such as `is_cuda_build = True` / `cuda_version_number = '10.0'`.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise BuildInfoError(f"does not parse: {exc.msg} (line {exc.lineno})") from None
    facts: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        if target.id == "build_info":
            if isinstance(value, ast.Dict):
                try:
                    facts.update(_literal(value))
                except ValueError as exc:
                    raise BuildInfoError(f"build_info is not a literal: {exc}") from None
            elif isinstance(value, ast.Call) and value.args:
                try:
                    facts.update(dict(_literal(value.args[0])))
                except (ValueError, TypeError) as exc:
                    raise BuildInfoError(f"build_info is not a literal: {exc}") from None
            continue
        try:
            facts[target.id] = _literal(value)
        except ValueError:
            continue
    known = {"is_cuda_build", "cuda_version", "cuda_version_number", "is_rocm_build", "cudnn_version", "cudnn_version_number"}
    if not known & set(facts):
        raise BuildInfoError("holds no build facts (no is_cuda_build, cuda_version or cudnn_version)")
    # Old names (TF 1.x / 2.0-2.2) mapped to the modern keys.
    if "cuda_version" not in facts and "cuda_version_number" in facts:
        facts["cuda_version"] = facts["cuda_version_number"]
    if "cudnn_version" not in facts and "cudnn_version_number" in facts:
        facts["cudnn_version"] = facts["cudnn_version_number"]
    return facts


def _as_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def and_cuda_requirements(requires_dist: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The Requires-Dist lines that belong to the `and-cuda` extra, as written."""
    return tuple(r for r in requires_dist if "extra" in r and ("and-cuda" in r or "and_cuda" in r))


def build_from_facts(dist_name: str, version: str, package_dir: str, path: str, facts: dict[str, Any],
                     requires_python: str | None, requires_dist: tuple[str, ...]) -> TFBuild:
    ccs = facts.get("cuda_compute_capabilities") or ()
    if isinstance(ccs, str):
        ccs = [c.strip() for c in ccs.split(",") if c.strip()]
    return TFBuild(
        distribution=dist_name,
        version=version,
        package_dir=package_dir,
        build_info_path=path,
        is_cuda_build=facts.get("is_cuda_build"),
        is_rocm_build=facts.get("is_rocm_build"),
        cuda_version=_as_str(facts.get("cuda_version")),
        cudnn_version=_as_str(facts.get("cudnn_version")),
        compute_capabilities=tuple(str(c) for c in ccs),
        cpu_compiler=_as_str(facts.get("cpu_compiler")),
        requires_python=requires_python,
        and_cuda=and_cuda_requirements(requires_dist),
        raw={str(k): repr(v) for k, v in facts.items()},
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
    try:
        with open(path, "rb") as fh:
            text = fh.read(1_000_000).decode("utf-8", "replace")
    except FileNotFoundError:
        return failure("tf_build", ProbeStatus.NOT_FOUND, f"{path} is missing (a broken or partial TensorFlow install)", **evidence)
    except PermissionError:
        return failure("tf_build", ProbeStatus.PERMISSION_DENIED, f"{path} is not readable", **evidence)
    except OSError as exc:
        return failure("tf_build", ProbeStatus.FAILED, f"{path}: {exc}", **evidence)
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
