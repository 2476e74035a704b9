"""Checks on the TensorFlow installed in the target environment: present, single, a CUDA build,
with a readable build record, and run by a Python it supports."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from tfgpu.checks import CheckContext, check
from tfgpu.fixes import install_tf, pip, tf_requirement
from tfgpu.model import Fix, ProbeStatus, Severity
from tfgpu.probes.python_env import PythonEnv
from tfgpu.probes.tf_build import TFBuild


@check("tf-installed", "TensorFlow is installed in the target environment", "tensorflow", needs=("python_env",))
def tf_installed(ctx: CheckContext):
    env: PythonEnv = ctx.fact("python_env")
    dists = env.tensorflow_distributions
    if not dists and not env.tensorflow_dirs:
        yield ctx.finding(
            "tf-not-installed",
            Severity.ERROR,
            f"TensorFlow is not installed for {env.executable} (Python {env.version})",
            "tfgpu looks at the TensorFlow of the target interpreter; pass --python to point at another "
            "virtualenv or conda env.",
            {"python": env.executable, "prefix": env.prefix},
            (install_tf(env.executable, env.platform, machine=env.machine),),
        )
        return
    if not dists:
        yield ctx.finding(
            "tf-no-metadata",
            Severity.WARNING,
            f"A tensorflow package exists at {env.tensorflow_dirs[0]} but no installed distribution owns it",
            "It was copied in or left behind by an uninstall; pip cannot see or upgrade it.",
            {"package_dir": env.tensorflow_dirs[0]},
            (Fix("Remove the orphaned folder and install TensorFlow with pip",
                 (f"rm -rf {env.tensorflow_dirs[0]}", pip(env.executable, "install", tf_requirement()))),),
        )
        return
    d = dists[0]
    yield ctx.finding("tf-installed", Severity.OK, f"{d.name} {d.version} is installed", "",
                      {"distribution": d.name, "version": d.version, "location": d.location})


@check("tf-single-distribution", "Only one TensorFlow distribution is installed", "tensorflow", needs=("python_env",))
def tf_single_distribution(ctx: CheckContext):
    env: PythonEnv = ctx.fact("python_env")
    dists = env.tensorflow_distributions
    if len(dists) <= 1:
        return
    names = [f"{d.name} {d.version}" for d in dists]
    keep = next((d for d in dists if d.name == "tensorflow"), dists[0])
    yield ctx.finding(
        "tf-multiple-distributions",
        Severity.ERROR,
        f"{len(dists)} TensorFlow distributions are installed together: {', '.join(names)}",
        "They all install into the same 'tensorflow' package folder, so whichever was installed last "
        "overwrote the others' files; uninstalling one then breaks the rest. Remove them all and "
        "install the one you want.",
        {"distributions": names},
        (
            Fix(
                "Uninstall every TensorFlow distribution, then install one GPU build",
                (
                    pip(env.executable, "uninstall", "-y", *[d.name for d in dists]),
                    pip(env.executable, "install", tf_requirement(keep.version)),
                ),
            ),
        ),
    )


@check("tf-cuda-build", "The installed TensorFlow is a CUDA build", "tensorflow", needs=("python_env",))
def tf_cuda_build(ctx: CheckContext):
    env: PythonEnv = ctx.fact("python_env")
    fail = ctx.failure("tf_build")
    build: TFBuild | None = ctx.fact("tf_build")
    if build is None:
        if fail is None or fail.status in (ProbeStatus.SKIPPED,) or not (env.tensorflow_distributions or env.tensorflow_dirs):
            return  # nothing installed: tf-installed says so
        version = env.tensorflow_distributions[0].version if env.tensorflow_distributions else None
        yield ctx.finding(
            "tf-build-info-unreadable",
            Severity.ERROR,
            f"TensorFlow's build record could not be read: {fail.message}",
            "build_info.py says which CUDA, cuDNN and GPU architectures TensorFlow was built for. "
            "Without it the install is broken or partial, and TensorFlow itself will fail to import.",
            dict(fail.evidence),
            (Fix("Reinstall TensorFlow",
                 (pip(env.executable, "install", "--force-reinstall", "--no-deps", tf_requirement(version, and_cuda=False)),)),),
        )
        return
    ev = {"distribution": build.distribution, "version": build.version, "is_cuda_build": build.is_cuda_build,
          "cuda_version": build.cuda_version, "cudnn_version": build.cudnn_version,
          "compute_capabilities": list(build.compute_capabilities)}
    if build.is_cuda_build:
        yield ctx.finding(
            "tf-cuda-build",
            Severity.OK,
            f"TensorFlow {build.version} is built for CUDA {build.cuda_version} and cuDNN {build.cudnn_version} "
            f"({', '.join(build.compute_capabilities)})",
            evidence=ev,
        )
        return
    if build.is_rocm_build:
        yield ctx.finding("tf-rocm-build", Severity.ERROR,
                          f"{build.distribution} {build.version} is a ROCm (AMD) build; it cannot use an NVIDIA GPU",
                          evidence=ev,
                          fixes=(Fix("Replace it with the CUDA build",
                                     (pip(env.executable, "uninstall", "-y", build.distribution),
                                      pip(env.executable, "install", tf_requirement(build.version)))),))
        return
    detail = "This build has no GPU support compiled in; it will only ever use the CPU."
    if build.distribution == "tensorflow-cpu":
        detail = "The tensorflow-cpu distribution is built without CUDA. " + detail
    fixes = []
    if env.platform == "linux":
        fixes.append(Fix("Replace it with the CUDA build of the same release",
                         (pip(env.executable, "uninstall", "-y", build.distribution),
                          pip(env.executable, "install", tf_requirement(build.version)))))
    else:
        fixes.append(install_tf(env.executable, env.platform, build.version, env.machine))
    yield ctx.finding("tf-cpu-only-build", Severity.ERROR,
                      f"{build.distribution} {build.version} is a CPU-only build (is_cuda_build is False)",
                      detail, ev, fixes)


def _fresh_venv_fix(tested: list[str], version: str) -> Fix:
    py = f"python{tested[-1]}" if tested else "python3"
    return Fix(f"Use a Python that TensorFlow {version} supports ({', '.join(tested) or 'see its Requires-Python'}), "
               "in a fresh virtualenv",
               (f"{py} -m venv .venv-tf", pip(".venv-tf/bin/python", "install", tf_requirement(version))))


def _target_python_version(env: PythonEnv) -> Version | None:
    try:
        return Version(env.version)
    except InvalidVersion:
        return None


@check("python-supported", "The target Python is one the installed TensorFlow supports", "tensorflow",
       needs=("tf_build",))
def python_supported(ctx: CheckContext):
    env: PythonEnv | None = ctx.fact("python_env")
    build: TFBuild = ctx.fact("tf_build")
    if env is None:
        return
    pyv = _target_python_version(env)
    if pyv is None:
        return
    spec_text = build.requires_python
    row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
    tested = list(row.python) if row else []
    ev = {"python": env.version, "requires_python": spec_text, "wheels_for": tested}
    short = f"{pyv.major}.{pyv.minor}"
    if spec_text:
        try:
            spec = SpecifierSet(spec_text)
        except InvalidSpecifier:
            spec = None
        if spec is not None and pyv not in spec:
            yield ctx.finding(
                "python-unsupported", Severity.ERROR,
                f"Python {env.version} is outside TensorFlow {build.version}'s Requires-Python {spec_text}",
                "pip should have refused this install; it was forced or copied in, and may fail to import.",
                ev, (_fresh_venv_fix(tested, build.version),))
            return
    if tested and short not in tested:
        yield ctx.finding(
            "python-unsupported", Severity.WARNING,
            f"TensorFlow {build.version} publishes no Linux wheels for Python {short} (it has {', '.join(tested)})",
            "This combination was never built or tested by TensorFlow.", ev)
        return
    yield ctx.finding("python-supported", Severity.OK, f"Python {env.version} is supported by TensorFlow {build.version}",
                      evidence=ev)
