"""Checks on the TensorFlow installed in the target environment: present, single, a CUDA build,
with a readable build record, and run by a Python it supports."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from tfgpu.checks import CheckContext, check
from tfgpu.checks.shared_env import marker_holds
from tfgpu.fixes import install_tf, is_arm, pinnable, pip, tf_requirement
from tfgpu.matrix import TFRow
from tfgpu.model import Area, Finding, Fix, ProbeStatus, Severity
from tfgpu.pep508 import InvalidRequirement, Requirement
from tfgpu.probes.python_env import Distribution, PythonEnv, normalize
from tfgpu.versions import numeric_key, pep440, short


@check("tf-installed", "TensorFlow is installed in the target environment", Area.TENSORFLOW, needs=("python_env",), uses=("environment",),
       emits=("tf-installed", "tf-no-metadata", "tf-not-installed", "tf-package-shadowed", "tf-package-shadowed-here"))
def tf_installed(ctx: CheckContext) -> Iterator[Finding]:
    """A TensorFlow distribution is installed in the target environment, with its metadata, and no folder named
    tensorflow shadows it."""
    env = ctx.python_env
    if env is None:
        return
    dists = env.tensorflow_distributions
    if not dists and not env.tensorflow_dirs:
        yield ctx.finding(
            "tf-not-installed",
            Severity.ERROR,
            f"TensorFlow is not installed for {env.executable} (Python {env.version})",
            "tfgpu looks at the TensorFlow of the target interpreter; pass --python to point at another "
            "virtualenv or conda env.",
            {"python": env.executable, "prefix": env.prefix, "python_version": env.version},
            install_tf_for_target(ctx, env),
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
                 (f"rm -rf {shlex.quote(env.tensorflow_dirs[0])}", pip(env.executable, "install", tf_requirement()))),),
        )
        return
    shadow = shadowing_package(env)
    if shadow is not None:
        owner = imported_distribution(env)
        folder = os.path.dirname(shadow)
        yield ctx.finding(
            "tf-package-shadowed",
            Severity.ERROR,
            tf_package_shadowed_text(shadow, owner),
            f"{folder} comes before {owner.location} on sys.path and holds a folder named tensorflow, so "
            "'import tensorflow' loads that folder and never the installed distribution. Reinstalling TensorFlow "
            "changes nothing while it is there.",
            {"package_dir": shadow, "folder": folder, "distribution": owner.name, "version": owner.version,
             "location": owner.location, "sys_path": list(env.sys_path)},
            shadowed_package_fixes(ctx, env, shadow),
        )
        return
    d = dists[0]
    yield ctx.finding("tf-installed", Severity.OK, f"{d.name} {d.version} is installed", "",
                      {"distribution": d.name, "version": d.version, "location": d.location})
    if env.cwd_tensorflow and not any(env.cwd_tensorflow == t for t in env.tensorflow_dirs[:1]):
        yield ctx.finding(
            "tf-package-shadowed-here", Severity.WARNING,
            f"This directory holds a tensorflow/ folder ({env.cwd_tensorflow}): scripts run from here import it "
            f"instead of the installed {d.name} {d.version}",
            "Python puts the script's own folder (or the current one, for python -c and notebooks) first on "
            "sys.path. A TensorFlow source checkout is the usual culprit.",
            {"folder": env.cwd_tensorflow, "distribution": d.name, "version": d.version},
            (Fix("Run your scripts from another directory, or rename the folder",
                 (f"mv {shlex.quote(env.cwd_tensorflow)} {shlex.quote(env.cwd_tensorflow + '_src')}",)),),
        )


# --- TensorFlow for the target's Python, when none is installed ------------------------------------------


def _sorted_pythons(pythons: set[str]) -> list[str]:
    return sorted(pythons, key=numeric_key)


def install_tf_for_target(ctx: CheckContext, env: PythonEnv) -> tuple[Fix, ...]:
    """How to get a GPU TensorFlow for the target's own Python: the newest matrix release that has
    wheels for its major.minor; where that release has no [and-cuda] extra, with the system CUDA and
    cuDNN it needs; where none has, a new virtualenv with a Python current TensorFlow supports."""
    if not env.platform.startswith("linux") or ctx.matrix is None or is_arm(env.machine):
        # Linux on Arm: PyPI's aarch64 wheels are CPU builds, so install_tf says where NVIDIA's come from.
        return (install_tf(env.executable, env.platform, machine=env.machine),)
    py = short(env.version)
    rows = ctx.matrix.tf_rows_newest_first()
    if py is None or not rows:
        return (install_tf(env.executable, env.platform, machine=env.machine),)
    newest = rows[0]
    # Per release, not per series: 2.6.0-2.6.2 have Python 3.6 wheels, 2.6.3 on do not (PyPI's file lists).
    row = next((r for r in rows if r.newest_release_for_python(py)), None)
    release = row.newest_release_for_python(py) if row is not None else None
    current = _sorted_pythons(set(newest.python))
    fresh = _new_venv_fix(current, newest.series)
    if row is None or release is None:
        known = _sorted_pythons({p for r in rows for p in r.pythons()})
        return (Fix(f"No TensorFlow release has wheels for Python {py} (TensorFlow has published wheels for Python "
                    f"{known[0]} to {known[-1]}; the newest, {newest.series}, for {', '.join(current)}): create a new "
                    "virtualenv with one of those and install TensorFlow there", fresh.commands, fresh.links),)
    latest = row is newest and release == newest.release
    if row.and_cuda:
        req = tf_requirement() if latest else row.gpu_requirement(release)
        what = "" if latest else f" {release}, the newest release with wheels for Python {py},"
        fix = Fix(f"Install TensorFlow{what} with its CUDA libraries as pip wheels (only the NVIDIA driver comes from "
                  "the system)", (pip(env.executable, "install", req),), ("https://www.tensorflow.org/install/pip#linux",))
        return (fix,) if latest else (fix, Fix(f"Or {fresh.summary[0].lower()}{fresh.summary[1:]}",
                                                 fresh.commands, fresh.links))
    cudnn = row.cudnn_tested or row.cudnn or "?"
    old = Fix(f"TensorFlow {release} is the newest release with wheels for Python {py}; it has no [and-cuda] extra, "
              f"so it needs CUDA {row.cuda} and cuDNN {cudnn} installed on the system (e.g. from conda-forge) and on "
              "LD_LIBRARY_PATH", (pip(env.executable, "install", _requirement_for(row, release)),),
              ("https://www.tensorflow.org/install/source#gpu",))
    return (Fix(f"Better: {fresh.summary[0].lower()}{fresh.summary[1:]}", fresh.commands, fresh.links), old)


def _requirement_for(row: TFRow, release: str) -> str:
    """The series' wildcard where its newest release has the wheel (pip takes that one), else the exact
    earlier patch that has it; always the GPU package (tensorflow-gpu for 1.15 and 2.0)."""
    if release == row.release and row.package == "tensorflow":
        return tf_requirement(row.release, and_cuda=False)
    return row.gpu_requirement(release)


def _new_venv_fix(pythons: list[str], series: str) -> Fix:
    py = f"python{pythons[-1]}" if pythons else "python3"
    return Fix(f"Create a new virtualenv with a Python the newest TensorFlow ({series}) supports "
               f"({', '.join(pythons) or 'see its Requires-Python'}) and install it there",
               (f"{py} -m venv .venv-tf", pip(".venv-tf/bin/python", "install", tf_requirement())),
               ("https://www.tensorflow.org/install/pip#linux",))


# --- a tensorflow package that is not the installed one ---------------------------------------------------


def imported_distribution(env: PythonEnv) -> Distribution:
    """The TensorFlow distribution first on sys.path (plain 'tensorflow' preferred among equals)."""
    rank = {os.path.normpath(p): i for i, p in reversed(list(enumerate(env.sys_path)))}
    dists = list(env.tensorflow_distributions)
    return min(dists, key=lambda d: (rank.get(os.path.normpath(d.location), len(rank)),
                                     normalize(d.name) != "tensorflow"))


def shadowing_package(env: PythonEnv) -> str | None:
    """The tensorflow package Python imports (the first on sys.path), where it lies outside every
    installed TensorFlow distribution's location; None where it is an installed one's."""
    if not env.tensorflow_dirs or not env.tensorflow_distributions:
        return None
    first = env.tensorflow_dirs[0]
    locations = {os.path.normpath(d.location) for d in env.tensorflow_distributions}
    return None if os.path.normpath(os.path.dirname(first)) in locations else first


def tf_package_shadowed_text(package_dir: str, owner: Distribution) -> str:
    return (f"The tensorflow package Python imports is {package_dir}, not the installed {owner.name} {owner.version} "
            f"in {owner.location}")


def _pythonpath_without(value: str, folder: str) -> tuple[str, bool]:
    parts = [p for p in value.split(os.pathsep)]
    keep = [p for p in parts if p and os.path.normpath(p) != os.path.normpath(folder)]
    return os.pathsep.join(keep), len(keep) != len([p for p in parts if p])


def shadowed_package_fixes(ctx: CheckContext, env: PythonEnv, package_dir: str) -> tuple[Fix, ...]:
    folder = os.path.dirname(package_dir)
    environ = ctx.environment
    pythonpath = environ.get("PYTHONPATH") if environ is not None else None
    fixes = []
    if pythonpath is not None:
        rest, found = _pythonpath_without(pythonpath, folder)
        if found:
            fixes.append(Fix(f"Take {folder} off PYTHONPATH (and out of ~/.bashrc, the env's activate script or the "
                             "container's ENV, wherever it is set)",
                             (f"export PYTHONPATH={shlex.quote(rest)}" if rest else "unset PYTHONPATH",)))
    if not fixes:
        fixes.append(Fix(f"Find how {folder} gets on sys.path (PYTHONPATH, a .pth file, or running from that folder) "
                         "and take it off; do not run Python from a folder that holds a tensorflow/ of its own",
                         (f"{shlex.quote(env.executable)} -m site", "echo \"PYTHONPATH=$PYTHONPATH\"")))
    fixes.append(Fix(f"Or, if {package_dir} is a folder of your own, rename it so that it no longer hides TensorFlow",
                     (f"mv {shlex.quote(package_dir)} {shlex.quote(package_dir + '_local')}",)))
    return tuple(fixes)


#: The per-user site-packages (`pip install --user`) on Linux, macOS framework builds and Windows
#: (Python docs, site.USER_SITE); it comes before the environment's own site-packages on sys.path.
_USER_SITE_RE = re.compile(
    r"([/\\]\.local[/\\]lib[/\\]python\d+\.\d+[/\\]site-packages"
    r"|[/\\]Library[/\\]Python[/\\]\d+\.\d+[/\\]lib[/\\]python[/\\]site-packages"
    r"|[/\\]AppData[/\\]Roaming[/\\]Python[/\\]Python\d+[/\\]site-packages)[/\\]?$"
)


def is_user_site(location: str) -> bool:
    """Whether `location` is a per-user site-packages folder (where `pip install --user` puts things)."""
    return bool(_USER_SITE_RE.search(location))


def copies_by_name(env: PythonEnv) -> dict[str, list[Distribution]]:
    """TensorFlow distributions by normalised name, each name's copies in import order (the folder
    first on sys.path first; one copy per folder)."""
    rank = {os.path.normpath(p): i for i, p in reversed(list(enumerate(env.sys_path)))}
    out: dict[str, list[Distribution]] = {}
    for d in env.tensorflow_distributions:
        copies = out.setdefault(normalize(d.name), [])
        if all(os.path.normpath(c.location) != os.path.normpath(d.location) for c in copies):
            copies.append(d)
    for copies in out.values():
        copies.sort(key=lambda d: rank.get(os.path.normpath(d.location), len(rank)))
    return out


def tf_shadowed_copy_text(first: Distribution, hidden: list[Distribution]) -> str:
    """'tensorflow 2.21.0 in <user site> shadows tensorflow 2.20.0 in <site-packages>'."""
    others = " and ".join(f"{d.name} {d.version} in {d.location}" for d in hidden)
    return f"{first.name} {first.version} in {first.location} shadows {others}"


def _remove_shadowing_fix(env: PythonEnv, first: Distribution) -> Fix:
    if is_user_site(first.location):
        # pip has no 'uninstall --user': it removes the first copy on sys.path, which is the user
        # site's (pip/_internal/metadata: get_distribution takes the first match in sys.path order).
        return Fix(f"Remove the --user copy in {first.location}; pip uninstalls the copy first on sys.path, which "
                   "is this one (run it once)", (pip(env.executable, "uninstall", "-y", first.name),))
    paths = [os.path.join(first.location, "tensorflow")] + ([first.metadata_dir] if first.metadata_dir else [])
    return Fix(f"Remove the copy in {first.location} (a folder on PYTHONPATH or a --target install, which pip "
               "will not uninstall from inside this environment): delete its package and metadata folders, and "
               "take the folder off PYTHONPATH if it holds nothing else you need",
               ("rm -rf " + " ".join(shlex.quote(p) for p in paths),))


def dependency_distributions(env: PythonEnv) -> set[str]:
    """TensorFlow-family names that another installed TensorFlow-family distribution requires on this
    platform (its Requires-Dist, markers evaluated for the target): parts of one install, not a second one."""
    family = {normalize(d.name) for d in env.tensorflow_distributions}
    systems = {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}
    marker_env = {"extra": "", "platform_system": systems.get(env.platform, env.platform), "sys_platform": env.platform,
                  "platform_machine": env.machine, "python_version": ".".join(env.version.split(".")[:2]),
                  "python_full_version": env.version, "os_name": "nt" if env.platform == "win32" else "posix"}
    out: set[str] = set()
    for d in env.tensorflow_distributions:
        for line in d.requires_dist:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                req = None
            name = normalize(req.name) if req is not None else ""
            if req is not None and name in family and name != normalize(d.name) and (
                    req.marker is None or marker_holds(req.marker, marker_env)):
                out.add(name)
    return out


@check("tf-single-distribution", "Only one TensorFlow distribution is installed", Area.TENSORFLOW, needs=("python_env",),
       emits=("tf-multiple-distributions", "tf-shadowed-copy"))
def tf_single_distribution(ctx: CheckContext) -> Iterator[Finding]:
    """Only one TensorFlow distribution (tensorflow, tensorflow-cpu, tf-nightly, ...) is installed, and no second copy
    sits on sys.path."""
    env = ctx.python_env
    if env is None:
        return
    by_name = copies_by_name(env)
    for copies in by_name.values():
        if len(copies) < 2:
            continue
        first, hidden = copies[0], copies[1:]
        yield ctx.finding(
            "tf-shadowed-copy",
            Severity.WARNING,
            tf_shadowed_copy_text(first, hidden),
            f"Python imports the copy in the folder that comes first on sys.path ({first.location}); the other is "
            "never imported. An install that lands in the other folder (sudo pip, the system's package manager, pip "
            "without --user) changes nothing that runs, and removing the first copy brings the other back"
            + (", at another version." if any(d.version != first.version for d in hidden) else "."),
            {"imported": {"version": first.version, "location": first.location},
             "shadowed": [{"version": d.version, "location": d.location} for d in hidden],
             "user_site": is_user_site(first.location)},
            (_remove_shadowing_fix(env, first),),
        )
    # tensorflow on Windows requires tensorflow-intel (2.11-2.18), on macOS arm64 tensorflow-macos (2.13-2.15),
    # on Linux aarch64 tensorflow-cpu-aws: one install, two distributions, read from the Requires-Dist.
    pulled = dependency_distributions(env)
    by_name = {name: copies for name, copies in by_name.items() if name not in pulled}
    if len(by_name) <= 1:
        return
    imported = [copies[0] for copies in by_name.values()]
    names = [f"{d.name} {d.version}" for d in imported]
    keep = next((d for d in imported if normalize(d.name) == "tensorflow"), imported[0])
    yield ctx.finding(
        "tf-multiple-distributions",
        Severity.ERROR,
        f"{len(imported)} TensorFlow distributions are installed together: {', '.join(names)}",
        "They all install into the same 'tensorflow' package folder, so whichever was installed last "
        "overwrote the others' files; uninstalling one then breaks the rest. Remove them all and "
        "install the one you want.",
        {"distributions": names},
        (
            Fix(
                "Uninstall every TensorFlow distribution, then install one GPU build",
                (
                    pip(env.executable, "uninstall", "-y", *[d.name for d in imported]),
                    pip(env.executable, "install", tf_requirement(pinnable(keep.version))),
                ),
            ),
        ),
    )


@check("tf-cuda-build", "The installed TensorFlow is a CUDA build", Area.TENSORFLOW, needs=("python_env",), uses=("tf_build",),
       emits=("tf-build-info-unreadable", "tf-cpu-only-build", "tf-cuda-build", "tf-rocm-build"))
def tf_cuda_build(ctx: CheckContext) -> Iterator[Finding]:
    """The installed TensorFlow's build information says it is a CUDA build (not a CPU-only or a ROCm one)."""
    env = ctx.python_env
    if env is None:
        return
    fail = ctx.failure("tf_build")
    build = ctx.tf_build
    if build is None:
        if fail is None or fail.status in (ProbeStatus.SKIPPED,) or not (env.tensorflow_distributions or env.tensorflow_dirs):
            return  # nothing installed: tf-installed says so
        shadow = shadowing_package(env)
        if shadow is not None:
            owner = imported_distribution(env)
            # tf-package-shadowed (from tf-installed) is the root cause and holds the fixes; a reinstall
            # cannot help while that folder comes first on sys.path.
            yield ctx.finding(
                "tf-build-info-unreadable",
                Severity.SKIPPED,
                f"TensorFlow's build record was not read: Python imports {shadow}, which is not the installed "
                f"{owner.name} {owner.version} (see tf-package-shadowed)",
                f"The installed TensorFlow in {owner.location} may be fine; reinstalling it changes nothing while "
                "that folder comes first on sys.path.",
                {**dict(fail.evidence), "package_dir": shadow, "installed_location": owner.location},
            )
            return
        version = env.tensorflow_distributions[0].version if env.tensorflow_distributions else None
        yield ctx.finding(
            "tf-build-info-unreadable",
            Severity.ERROR,
            f"TensorFlow's build record could not be read: {fail.message}",
            "build_info.py says which CUDA, cuDNN and GPU architectures TensorFlow was built for. "
            "Without it the install is broken or partial, and TensorFlow itself will fail to import.",
            dict(fail.evidence),
            (Fix("Reinstall TensorFlow",
                 (pip(env.executable, "install", "--force-reinstall", "--no-deps",
                     tf_requirement(pinnable(version), and_cuda=False)),)),),
        )
        return
    ev = {"distribution": build.distribution, "version": build.version, "is_cuda_build": build.is_cuda_build,
          "cuda_version": build.cuda_version, "cudnn_version": build.cudnn_version,
          "compute_capabilities": list(build.compute_capabilities)}
    if build.is_cuda_build:
        row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
        if row is not None and not (build.cuda_version and build.cudnn_version):
            ev["matrix_cuda"], ev["matrix_cudnn"] = row.cuda, row.cudnn
        yield ctx.finding(
            "tf-cuda-build",
            Severity.OK,
            tf_cuda_build_text(build.version, build.cuda_version, build.cudnn_version, build.compute_capabilities,
                               row.cuda if row is not None else None, row.cudnn if row is not None else None),
            evidence=ev,
        )
        return
    if build.is_rocm_build:
        yield ctx.finding("tf-rocm-build", Severity.ERROR,
                          f"{build.distribution} {build.version} is a ROCm (AMD) build; it cannot use an NVIDIA GPU",
                          evidence=ev,
                          fixes=(Fix("Replace it with the CUDA build",
                                     (pip(env.executable, "uninstall", "-y", build.distribution),
                                      pip(env.executable, "install", tf_requirement(pinnable(build.version))))),))
        return
    detail = "This build has no GPU support compiled in; it will only ever use the CPU."
    if build.distribution == "tensorflow-cpu":
        detail = "The tensorflow-cpu distribution is built without CUDA. " + detail
    row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
    gpu_package = row is not None and build.version is not None and (
        row.package != "tensorflow" or row.plain_tensorflow_is_cpu_only(build.version))
    if gpu_package and row is not None and normalize(build.distribution) != normalize(row.package):
        # tensorflow 1.15.2-1.15.5 and 2.0.x are CPU-only wheels; their CUDA build is tensorflow-gpu (the
        # wheels' build_info.py, in the matrix as cpu_only_tensorflow).
        detail = (f"The plain tensorflow wheel of {build.version} is built without CUDA; the GPU build of "
                  f"{row.series} is the separate {row.package} package. " + detail)
    fixes = []
    if env.platform.startswith("linux") and not is_arm(env.machine):
        req = row.gpu_requirement(build.version) if gpu_package and row is not None else tf_requirement(pinnable(build.version))
        fixes.append(Fix("Replace it with the CUDA build of the same release",
                         (pip(env.executable, "uninstall", "-y", build.distribution),
                          pip(env.executable, "install", req))))
    else:
        fixes.append(install_tf(env.executable, env.platform, pinnable(build.version), env.machine))
    yield ctx.finding("tf-cpu-only-build", Severity.ERROR,
                      f"{build.distribution} {build.version} is a CPU-only build (is_cuda_build is False)",
                      detail, ev, fixes)


def tf_cuda_build_text(version: str, cuda: str | None, cudnn: str | None, ccs: tuple[str, ...],
                       matrix_cuda: str | None = None, matrix_cudnn: str | None = None) -> str:
    """Summary for a CUDA build, from what its build record (and, where that is silent, tfgpu's
    matrix) says. TensorFlow's build_info.py dropped the CUDA and cuDNN versions and the compute
    capabilities in 2.22.0rc0, keeping only is_cuda_build (read from the wheels' build_info.py)."""
    archs = f" ({', '.join(ccs)})" if ccs else ""
    if cuda and cudnn:
        return f"TensorFlow {version} is built for CUDA {cuda} and cuDNN {cudnn}{archs}"
    named = [f"CUDA {cuda}" if cuda else None, f"cuDNN {cudnn}" if cudnn else None]
    missing = " or ".join(n for n, v in (("CUDA", cuda), ("cuDNN", cudnn)) if not v)
    text = f"TensorFlow {version} is a CUDA build"
    if any(named):
        text += f" for {' and '.join(n for n in named if n)}{archs}"
    text += (f"; its build record names no {missing} version (TensorFlow's build_info.py dropped them in "
             "2.22.0rc0)")
    from_matrix = [f"CUDA {matrix_cuda}" if matrix_cuda and not cuda else None,
                   f"cuDNN {matrix_cudnn}" if matrix_cudnn and not cudnn else None]
    if any(from_matrix):
        text += f"; tfgpu's matrix says {' and '.join(x for x in from_matrix if x)}"
    return text


def _fresh_venv_fix(tested: list[str], version: str) -> Fix:
    py = f"python{tested[-1]}" if tested else "python3"
    return Fix(f"Use a Python that TensorFlow {version} supports ({', '.join(tested) or 'see its Requires-Python'}), "
               "in a fresh virtualenv",
               (f"{py} -m venv .venv-tf", pip(".venv-tf/bin/python", "install", tf_requirement(pinnable(version)))))


@check("python-supported", "The target Python is one the installed TensorFlow supports", Area.TENSORFLOW,
       needs=("tf_build",), uses=("python_env",),
       emits=("python-supported", "python-unsupported"))
def python_supported(ctx: CheckContext) -> Iterator[Finding]:
    """The target Python's version is one the installed TensorFlow release supports (from the matrix)."""
    env = ctx.python_env
    build = ctx.tf_build
    if build is None:
        return
    if env is None:
        return
    pyv = pep440(env.version)
    if pyv is None:
        return
    spec_text = build.requires_python
    row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
    # The wheels of this very release (PyPI's file lists, per patch release); the series' newest where the
    # matrix does not list it (a pre-release, a local build).
    own = row.python_for(build.version) if row is not None else None
    tested = list(own if own is not None else (row.python if row is not None else ()))
    ev: dict[str, object] = {"python": env.version, "requires_python": spec_text, "wheels_for": tested}
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
    other = row.newest_release_for_python(short) if row is not None and tested and short not in tested else None
    if row is not None and other is not None:
        ev["release_with_wheel"] = other
        yield ctx.finding(
            "python-unsupported", Severity.WARNING,
            f"Python {short} is supported by TensorFlow {other}, not by the installed {build.version}: "
            f"{build.version} publishes no Linux wheel for Python {short} (it has {', '.join(tested)})",
            f"TensorFlow dropped Python {short} within the {row.series} series; {other} is the newest {row.series} "
            f"release with a Linux wheel for it (PyPI's file lists). This install was forced, copied in or built "
            "from source, and was never built or tested by TensorFlow.",
            ev, (Fix(f"Install TensorFlow {other}, the newest {row.series} release built for Python {short}",
                     (pip(env.executable, "install", row.gpu_requirement(other)),)),
                 _fresh_venv_fix(tested, build.version)))
        return
    if tested and short not in tested:
        yield ctx.finding(
            "python-unsupported", Severity.WARNING,
            f"TensorFlow {build.version} publishes no Linux wheels for Python {short} (it has {', '.join(tested)})",
            "This combination was never built or tested by TensorFlow.", ev)
        return
    yield ctx.finding("python-supported", Severity.OK, f"Python {env.version} is supported by TensorFlow {build.version}",
                      evidence=ev)
