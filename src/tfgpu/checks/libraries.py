"""Checks on the CUDA libraries TensorFlow will load, the pip `[and-cuda]` wheels, system toolkits and XLA's ptxas/libdevice."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Iterator

from packaging.version import InvalidVersion, Version

from tfgpu.checks import CheckContext, check
from tfgpu.checks.common import build_cuda, gpu_cc, gpu_label, python_of
from tfgpu.fixes import pinnable, pip, tf_requirement
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.pep508 import InvalidRequirement, MarkerError, Requirement
from tfgpu.probes.libraries import (
    ORIGIN_CONDA,
    ORIGIN_LD,
    ORIGIN_RPATH,
    Libraries,
    LibraryCopy,
    LibraryStatus,
    is_stub,
)
from tfgpu.probes.python_env import PythonEnv, normalize
from tfgpu.probes.tf_build import TFBuild
from tfgpu.rules import built_cudnn, cc_text, cudnn_gap, cudnn_gap_text, cudnn_plan, cudnn_problem
from tfgpu.versions import major_minor, major_of, short

#: Library key -> pip wheel stem (append -cu11 / -cu12); the NVIDIA wheels TensorFlow's [and-cuda] pins.
WHEEL_OF = {
    "cudart": "nvidia-cuda-runtime", "cublas": "nvidia-cublas", "cublasLt": "nvidia-cublas",
    "cufft": "nvidia-cufft", "curand": "nvidia-curand", "cusolver": "nvidia-cusolver",
    "cusparse": "nvidia-cusparse", "cupti": "nvidia-cuda-cupti", "cudnn": "nvidia-cudnn",
    "nccl": "nvidia-nccl", "nvJitLink": "nvidia-nvjitlink", "nvrtc": "nvidia-cuda-nvrtc",
}

#: The pip wheel stem with XLA's ptxas and libdevice (nvidia/cuda_nvcc).
NVCC_WHEEL = "nvidia-cuda-nvcc"

#: The first release whose wheel has [and-cuda] and an nvidia RUNPATH (docs/knowledge.md, "TensorFlow builds").
AND_CUDA_SINCE = (2, 14)

_FAMILY_RE = re.compile(r"^nvidia-.+-cu(\d+)$")


# --- small pure helpers ----------------------------------------------------------------------------


def has_and_cuda(build: TFBuild) -> bool:
    """Whether the release has the [and-cuda] extra: its METADATA lists it, its version is 2.14 or
    newer, or it is built for CUDA 12 or newer (every CUDA 12 build is 2.15 or newer), which still
    answers where the version is empty or garbled."""
    st = major_minor(build.version)
    cuda_major = major_of(build.cuda_version)
    return (bool(build.and_cuda) or (st is not None and st >= AND_CUDA_SINCE)
            or (cuda_major is not None and cuda_major >= 12))


def _tf_label(build: TFBuild) -> str:
    return f"TensorFlow {build.version}" if build.version else "this TensorFlow (its version is unknown)"


def _where(copy: LibraryCopy | None) -> str:
    if copy is None:
        return "nowhere"
    how = {ORIGIN_LD: "from LD_LIBRARY_PATH", ORIGIN_RPATH: "from TensorFlow's RPATH",
           "RUNPATH": "through TensorFlow's RUNPATH", "ld.so.cache": "from the ld.so cache",
           "default": "from a default system folder"}.get(copy.origin, f"from {copy.origin}")
    return f"{copy.path} ({how})"


def and_cuda_lines(ctx: CheckContext, build: TFBuild) -> list[str]:
    """The [and-cuda] requirement lines: the installed METADATA's (already picked out of Requires-Dist
    by `tfgpu.probes.tf_build.and_cuda_requirements`), else the matrix row's."""
    if build.and_cuda:
        return list(build.and_cuda)
    row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
    return list(row.and_cuda) if row is not None else []


def wheel_requirement_named(ctx: CheckContext, build: TFBuild, stem: str) -> str | None:
    """TensorFlow's [and-cuda] requirement for the wheel `stem`-cuNN ('nvidia-cuda-nvcc-cu12<13.0,>=12.5.82'),
    else the bare wheel name for the build's CUDA major, else None."""
    for line in and_cuda_lines(ctx, build):
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if re.match(rf"^{re.escape(stem)}-cu\d+$", normalize(req.name)):
            return requirement_text(req)
    major = major_of(build_cuda(ctx, build))
    return f"{stem}-cu{major}" if major else None


def marker_environment(env: PythonEnv) -> dict[str, str]:
    """PEP 508 marker variables for the *target* interpreter, with extra = and-cuda."""
    system = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}.get(env.platform, env.platform)
    short = ".".join(env.version.split(".")[:2])
    return {
        "python_version": short, "python_full_version": env.version, "sys_platform": env.platform,
        "platform_system": system, "platform_machine": env.machine, "os_name": "nt" if env.platform == "win32" else "posix",
        "implementation_name": (env.implementation or "cpython").lower(),
        "platform_python_implementation": env.implementation or "CPython", "extra": "and-cuda",
    }


def evaluate_requirements(lines: Iterable[str], env: PythonEnv) -> list[tuple[Requirement, str | None, str]]:
    """(requirement, installed version or None, verdict) for each line whose marker applies.
    verdict: "ok", "missing", "violated" or "unparsable"."""
    installed = {normalize(d.name): d.version for d in env.distributions}
    menv = marker_environment(env)
    out: list[tuple[Requirement, str | None, str]] = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None:
            try:
                if not req.marker.evaluate(menv):
                    continue
            except MarkerError:
                pass
        have = installed.get(normalize(req.name))
        if have is None:
            out.append((req, None, "missing"))
            continue
        try:
            ok = req.specifier.contains(Version(have), prereleases=True)
        except InvalidVersion:
            out.append((req, have, "unparsable"))
            continue
        out.append((req, have, "ok" if ok else "violated"))
    return out


def requirement_text(req: Requirement) -> str:
    """'nvidia-cudnn-cu12<10.0,>=9.3.0.75' without the marker (what to hand to pip)."""
    return f"{req.name}{req.specifier}"


def wheel_requirement(ctx: CheckContext, build: TFBuild, key: str) -> str | None:
    """The [and-cuda] requirement of the wheel that provides library `key` ("cudnn")."""
    stem = WHEEL_OF.get(key)
    return wheel_requirement_named(ctx, build, stem) if stem is not None else None


def ld_library_path_without(value: str | None, drop: Iterable[str]) -> str:
    """LD_LIBRARY_PATH with the folders in `drop` removed (compared by normalised path)."""
    gone = {os.path.normpath(d) for d in drop}
    keep = [p for p in (value or "").split(":") if p and os.path.normpath(p) not in gone]
    return ":".join(keep)


def _unshadow_fix(libs: Libraries, dirs: list[str], what: str = "the pip wheels") -> Fix:
    rest = ld_library_path_without(libs.ld_library_path, dirs)
    cmd = f"export LD_LIBRARY_PATH={shlex.quote(rest)}" if rest else "unset LD_LIBRARY_PATH"
    return Fix(
        f"Take {', '.join(dirs)} off LD_LIBRARY_PATH so that TensorFlow finds {what} through its RUNPATH "
        "(and remove it from ~/.bashrc, the conda env's activate.d or the container's ENV, wherever it is set)",
        (cmd,),
    )


def _reinstall_and_cuda(ctx: CheckContext, build: TFBuild, force: bool = False) -> Fix:
    version = pinnable(build.version)
    args = ["install", *(["--force-reinstall"] if force else []), tf_requirement(version)]
    what = f"TensorFlow {version}" if version else "TensorFlow"
    return Fix(
        f"Install {what} with its CUDA libraries as pip wheels ([and-cuda]); only the NVIDIA "
        "driver comes from the system",
        (pip(python_of(ctx), *args),),
        ("https://www.tensorflow.org/install/pip#linux",),
    )


def _system_cuda_fix(ctx: CheckContext, build: TFBuild) -> Fix:
    """A release without [and-cuda] (2.13 and older): CUDA and cuDNN come from the system. conda-forge's
    `cudatoolkit` package stops at 11.8; CUDA 12 there is `cuda-version` + `cuda-cudart` and friends, and
    every CUDA 12 TensorFlow has the pip [and-cuda] route anyway."""
    cuda_full = build_cuda(ctx, build) or ""
    cuda = ".".join(cuda_full.split(".")[:2])
    major = major_of(cuda)
    if major is not None and major >= 12:
        return _reinstall_and_cuda(ctx, build)
    row = ctx.matrix.tf_row(build.version) if ctx.matrix is not None and build.version else None
    cudnn = (row.cudnn_tested or row.cudnn) if row is not None else None
    cudnn = cudnn or build.cudnn_version
    if not cuda:
        return Fix(f"{_tf_label(build)} has no [and-cuda] extra and its build record names no CUDA version: install "
                   "the CUDA and cuDNN it was built for and put their lib folder on LD_LIBRARY_PATH, or install a "
                   "current TensorFlow with its CUDA libraries as pip wheels",
                   (pip(python_of(ctx), "install", tf_requirement()),),
                   ("https://www.tensorflow.org/install/source#gpu",))
    # TensorFlow needs the major it was built with and at least its minor (rules.cudnn_problem); a range,
    # because conda-forge has no build of some minors (no cudnn 8.6: anaconda.org/conda-forge/cudnn/files).
    cudnn_mm, cudnn_major = major_minor(cudnn), major_of(cudnn)
    if cudnn_mm is not None:
        cudnn_spec = f" 'cudnn>={cudnn_mm[0]}.{cudnn_mm[1]},<{cudnn_mm[0] + 1}'"
    elif cudnn_major is not None:
        cudnn_spec = f" 'cudnn>={cudnn_major},<{cudnn_major + 1}'"
    else:
        cudnn_spec = " cudnn"
    return Fix(
        f"{_tf_label(build)} predates the pip CUDA wheels: install CUDA {cuda}"
        + (f" and cuDNN {cudnn}" if cudnn else " and the cuDNN it was built for")
        + " (conda-forge has both) and put their lib folder on LD_LIBRARY_PATH",
        (f"conda install -c conda-forge cudatoolkit={cuda}{cudnn_spec}",
         'export LD_LIBRARY_PATH="$CONDA_PREFIX/lib:$LD_LIBRARY_PATH"'),
        ("https://www.tensorflow.org/install/source#gpu",),
    )


def _lib_evidence(lib: LibraryStatus) -> dict:
    return {
        "soname": lib.soname,
        "winner": lib.winner.path if lib.winner else None,
        "winner_origin": lib.winner.origin if lib.winner else None,
        "expected": lib.expected.path if lib.expected else None,
        "copies": [f"{c.path} [{c.origin}{'' if c.on_loader_path else ', not on the loader path'}]" for c in lib.copies],
        "load": lib.load.status,
        "version": lib.load.version,
        "version_source": lib.load.version_source,
        "version_from": lib.load.version_from,
        "from_disk": lib.load.from_disk,
        "error": lib.load.error,
    }


def _searched(libs: Libraries) -> list[str]:
    return [f"{d.origin}: {d.path}{'' if d.exists else ' (absent)'}" for d in libs.search_path if d.on_loader_path]


def _bad_winner(ctx: CheckContext, libs: Libraries, build: TFBuild, lib: LibraryStatus) -> str | None:
    """Why the winning copy is unusable, or None: unloadable, wrong CUDA major, too old a cuDNN."""
    if lib.load.status in ("failed", "crashed", "timed_out"):
        return f"it does not load ({lib.load.error})"
    if lib.key == "cudart" and lib.load.version and major_of(lib.load.version) != libs.cuda_major:
        return f"it is CUDA runtime {lib.load.version}, not {libs.cuda_major}.x"
    if lib.key == "cudnn" and lib.load.version:
        want, _src = built_cudnn(ctx.matrix, build.version, build.cudnn_version)
        problem = cudnn_problem(lib.load.version, want)
        if problem:
            return problem
    return None


# --- libraries ------------------------------------------------------------------------------------


@check("cuda-libraries-loadable", "Every CUDA library TensorFlow loads is found and loads", Area.LIBRARIES,
       needs=("libraries",), uses=("python_env", "tf_build"),
       emits=("cuda-lib-crashed", "cuda-lib-missing", "cuda-lib-unloadable", "cuda-libs-ok"))
def cuda_libraries_loadable(ctx: CheckContext) -> Iterator[Finding]:
    """Each CUDA library TensorFlow opens by name (cudart, cuBLAS, cuFFT, cuDNN, ...) is found where the loader and
    TensorFlow look (the loader path, the pip nvidia wheels) and loads in an isolated child process."""
    libs = ctx.libraries
    if libs is None:
        return
    build = ctx.tf_build
    if build is None:
        return
    direct = [lib for lib in libs.libraries if lib.direct]
    missing = [lib for lib in direct if lib.winner is None]
    bad = False
    if missing:
        bad = True
        names = ", ".join(lib.soname for lib in missing)
        elsewhere = {lib.soname: [c.path for c in lib.copies if not c.on_loader_path] + list(lib.other_versions)
                     for lib in missing}
        found_else = [f"{s}: only {', '.join(p)}" for s, p in elsewhere.items() if p]
        detail = (f"TensorFlow {build.version} dlopen()s {names} and the dynamic loader finds no copy on its path "
                  f"(LD_LIBRARY_PATH, TensorFlow's RUNPATH, the ld.so cache, the default folders). "
                  "TensorFlow will log 'Cannot dlopen some GPU libraries' and run on the CPU only.")
        if found_else:
            detail += " Copies that do not count (other versions, or folders the loader does not search): " + "; ".join(found_else) + "."
        fixes = [_reinstall_and_cuda(ctx, build)] if has_and_cuda(build) else [_system_cuda_fix(ctx, build)]
        yield ctx.finding(
            "cuda-lib-missing", Severity.ERROR,
            f"{len(missing)} of the {len(direct)} CUDA libraries TensorFlow {build.version} loads are missing: {names}",
            detail,
            {"missing": [lib.soname for lib in missing], "searched": _searched(libs),
             "elsewhere": {k: v for k, v in elsewhere.items() if v}},
            fixes,
        )
    for lib in libs.libraries:
        if lib.winner is None:
            continue
        if lib.load.status == "failed":
            bad = True
            dep = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", lib.load.error or "")
            dep_name = dep.group(1) if dep and dep.group(1) != lib.soname else None
            fixes = []
            if dep_name:
                dep_key = dep_name.split(".so")[0][3:]
                req = wheel_requirement(ctx, build, dep_key) if has_and_cuda(build) else None
                if req:
                    fixes.append(Fix(f"Install the wheel that provides {dep_name}", (pip(python_of(ctx), "install", req),)))
            if has_and_cuda(build):
                fixes.append(_reinstall_and_cuda(ctx, build, force=True))
            summary = (f"{lib.soname} is found at {lib.winner.path} but does not load: "
                       + (f"it needs {dep_name}, which is missing" if dep_name else (lib.load.error or "dlopen failed")))
            yield ctx.finding("cuda-lib-unloadable", Severity.ERROR, summary,
                              (f"Predicted from the file (--fast loads nothing): {lib.load.error}" if lib.load.from_disk
                               else f"dlopen() said: {lib.load.error}"), _lib_evidence(lib), fixes)
        elif lib.load.status in ("crashed", "timed_out"):
            bad = True
            what = "crashed the process that loaded it" if lib.load.status == "crashed" else "hung while loading"
            fixes = [_reinstall_and_cuda(ctx, build, force=True)] if lib.winner.pip_wheel or has_and_cuda(build) else []
            if lib.winner.origin == ORIGIN_LD:
                fixes.insert(0, _unshadow_fix(libs, [os.path.dirname(lib.winner.path)]))
            yield ctx.finding(
                "cuda-lib-crashed", Severity.ERROR, f"{lib.soname} at {lib.winner.path} {what}: {lib.load.error}",
                "tfgpu loads each library in a separate child; TensorFlow loads it in your process, where the same "
                "happens and takes Python down with it. A corrupt or foreign file under a CUDA library's name does this.",
                {**_lib_evidence(lib), "signal": lib.load.signal}, fixes)
    if not bad and not any(lib.winner is not None and _bad_winner(ctx, libs, build, lib) for lib in libs.libraries):
        loaded = [f"{lib.soname} {lib.load.version or '?'}" for lib in direct]
        yield ctx.finding(
            "cuda-libs-ok", Severity.OK,
            (f"All {len(direct)} CUDA libraries TensorFlow {build.version} loads are found and load: {', '.join(loaded)}"
             if libs.loaded else
             f"All {len(direct)} CUDA libraries TensorFlow {build.version} loads are found (not loaded: --fast; "
             f"versions read from disk): {', '.join(loaded)}"),
            "", {lib.key: {"path": lib.winner.path if lib.winner else None, "version": lib.load.version,
                           "origin": lib.winner.origin if lib.winner else None} for lib in libs.libraries})


@check("cudart-version", "The CUDA runtime TensorFlow loads is the major it was built for", Area.LIBRARIES,
       needs=("libraries",), uses=("python_env", "tf_build"),
       emits=("cudart-major-mismatch",))
def cudart_version(ctx: CheckContext) -> Iterator[Finding]:
    """The CUDA runtime that would be loaded has the major version the installed TensorFlow was built with."""
    libs = ctx.libraries
    if libs is None:
        return
    build = ctx.tf_build
    lib = libs.get("cudart")
    if build is None or lib is None or lib.winner is None or not lib.load.version or libs.cuda_major is None:
        return
    have = major_of(lib.load.version)
    if have == libs.cuda_major:
        return
    fixes = []
    if lib.winner.origin == ORIGIN_LD:
        fixes.append(_unshadow_fix(libs, [os.path.dirname(lib.winner.path)]))
    if has_and_cuda(build):
        fixes.append(_reinstall_and_cuda(ctx, build, force=True))
    yield ctx.finding(
        "cudart-major-mismatch", Severity.ERROR,
        f"{lib.soname} at {lib.winner.path} is CUDA runtime {lib.load.version}, but TensorFlow {build.version} "
        f"was built for CUDA {build_cuda(ctx, build) or libs.cuda_major}",
        "The file carries the soname TensorFlow asks for but holds another major (a renamed or symlinked copy); "
        "TensorFlow's kernels will fail to launch or the import will fail on missing symbols.",
        _lib_evidence(lib), fixes)


@check("cudnn-version", "The cuDNN TensorFlow loads matches the one it was built with", Area.LIBRARIES,
       needs=("libraries",), uses=("python_env", "tf_build"),
       emits=("cudnn-version-mismatch",))
def cudnn_version(ctx: CheckContext) -> Iterator[Finding]:
    """The cuDNN that would be loaded has the major version the installed TensorFlow was built with, and at least its
    minor."""
    libs = ctx.libraries
    if libs is None:
        return
    build = ctx.tf_build
    lib = libs.get("cudnn")
    if build is None or lib is None or lib.winner is None or not lib.load.version:
        return
    built, source = built_cudnn(ctx.matrix, build.version, build.cudnn_version)
    problem = cudnn_problem(lib.load.version, built)
    if problem is None or built is None:
        return
    ev = {**_lib_evidence(lib), "built_with": built, "built_with_source": source,
          "compared": "major.minor" if major_minor(built) else "major", "cudnn_cudart": lib.load.cudart_version}
    fixes: list[Fix] = []
    good_pip = pip_cudnn_that_fits(ctx, build, lib, built)
    if lib.winner.origin in (ORIGIN_LD, ORIGIN_RPATH) and lib.expected is not None:
        what = (f"the pip cuDNN it already has ({good_pip[0]} {good_pip[1]}, which it accepts)" if good_pip
                else "the pip wheels")
        fixes.append(_unshadow_fix(libs, [os.path.dirname(lib.winner.path)], what))
    if good_pip is not None:
        # The pip cuDNN TensorFlow would load is already right: installing it again changes nothing while
        # the other copy wins; only taking that copy off the loader's path helps.
        ev["pip_cudnn"] = {"distribution": good_pip[0], "version": good_pip[1],
                           "path": lib.expected.path if lib.expected is not None else None}
    elif has_and_cuda(build):
        req = wheel_requirement(ctx, build, "cudnn")
        if req:
            fixes.append(Fix(f"Install a cuDNN that {_tf_label(build)} accepts", (pip(python_of(ctx), "install", req),)))
    else:
        fixes.append(_system_cuda_fix(ctx, build))
    where = _where(lib.winner)
    shadow = (f", shadowing the pip copy at {lib.expected.path}" if lib.shadowed and lib.expected is not None else "")
    # One id for one root cause, as explain names TensorFlow's log line; the summary says which case.
    yield ctx.finding(
        "cudnn-version-mismatch", Severity.ERROR,
        cudnn_mismatch_text(lib.load.version, f"{where}{shadow}", built, build.version),
        cudnn_mismatch_detail(lib.load.version, built),
        ev, fixes)


@check("cudnn-supports-gpus", "The cuDNN TensorFlow loads has kernels for every GPU", Area.LIBRARIES,
       needs=("libraries", "driver"), uses=("python_env", "tf_build"),
       emits=("cudnn-gpu-unsupported",))
def cudnn_supports_gpus(ctx: CheckContext) -> Iterator[Finding]:
    """The installed cuDNN (the loaded version, or under --fast the version on disk) against each visible
    GPU's compute capability: cuDNN >= 9.11 has no kernels for CC < 7.5 (tfgpu.rules.cudnn_gap)."""
    libs, driver, matrix = ctx.libraries, ctx.driver, ctx.matrix
    if libs is None or driver is None or matrix is None:
        return
    lib = libs.get("cudnn")
    if lib is None or lib.winner is None or not lib.load.version:
        return
    version = lib.load.version
    gaps = []
    for g in driver.gpus:
        cc = gpu_cc(g, matrix)[0] if g.health == "ok" else None
        gap = cudnn_gap(matrix, version, cc) if cc is not None else None
        if gap is not None:
            gaps.append((g, gap))
    if not gaps:
        return
    build = ctx.tf_build
    gap = gaps[0][1]
    names = ", ".join(f"{gpu_label(g)}, CC {cc_text(x.cc)}" for g, x in gaps)
    how = {"loaded": "as loaded", "dist-info": "read from its pip wheel", "filename": "read from its file name",
           "header": "read from its header"}.get(str(lib.load.version_source or "loaded"), "read from disk")
    ev = {**_lib_evidence(lib), "version_source": lib.load.version_source, "gpus": [g.index for g, _ in gaps],
          "compute_capabilities": [cc_text(x.cc) for _, x in gaps], "cudnn_series": gap.row.version,
          "cudnn_min_cc": gap.row.min_cc, "cudnn_max_cc": gap.row.max_cc, "first_without": gap.first_without,
          "last_with": gap.last_with}
    fixes: list[Fix] = []
    plan = cudnn_plan(matrix, and_cuda_lines(ctx, build), [x.cc for _, x in gaps]) if build is not None else None
    if plan is not None and plan.pin_with_floor:
        fixes.append(Fix(f"Keep cuDNN at {plan.serves}, the newest series inside "
                         f"{_tf_label(build) if build is not None else 'TensorFlow'}'s [and-cuda] range that serves "
                         f"{'this GPU' if len(gaps) == 1 else 'these GPUs'}",
                         (pip(python_of(ctx), "install", plan.pin_with_floor),)))
        ev["pin"] = plan.pin_with_floor
    elif gap.last_with:
        fixes.append(Fix(f"Use a cuDNN {major_of(gap.last_with)} no newer than {gap.last_with}, the last series with "
                         f"compute capability {cc_text(gap.cc)}, in place of {version}"))
    if lib.winner.origin == ORIGIN_LD and not lib.winner.pip_wheel:
        fixes.append(_unshadow_fix(libs, [os.path.dirname(lib.winner.path)]))
    why = (f"pip takes the newest cuDNN inside TensorFlow's [and-cuda] range ({plan.requirement}). " if plan is not None
           and lib.winner.pip_wheel else "")
    since = f"cuDNN {short(gap.first_without)} and later" if gap.first_without else f"cuDNN {gap.row.version}"
    yield ctx.finding(
        "cudnn-gpu-unsupported", Severity.ERROR,
        f"{names}: {cudnn_gap_text(gap)}; TensorFlow loads cuDNN {version} (version {how})",
        f"{why}{since} list compute capability {gap.row.min_cc} and newer only (cuDNN 9.11 dropped Maxwell, "
        f"Pascal and Volta; the matrix's cudnn rows name the sources). TensorFlow loads {lib.winner.path}; its "
        "convolutions and other cuDNN operations on these GPUs fail, because that cuDNN has no kernels for them.",
        ev, fixes)


def pip_cudnn_that_fits(ctx: CheckContext, build: TFBuild, lib: LibraryStatus,
                        built: str) -> tuple[str, str] | None:
    """(wheel name, version) of the installed pip cuDNN, where TensorFlow's own copy (the one it finds
    through its RUNPATH) is that wheel's and the wheel satisfies both the [and-cuda] pin and TensorFlow's
    cuDNN rule; None otherwise."""
    env = ctx.python_env
    expected = lib.expected
    if env is None or expected is None or not expected.pip_wheel or lib.winner is None:
        return None
    if os.path.normpath(lib.winner.realpath or lib.winner.path) == os.path.normpath(expected.realpath or expected.path):
        return None
    req_text = wheel_requirement(ctx, build, "cudnn")
    try:
        req = Requirement(req_text) if req_text else None
    except InvalidRequirement:
        req = None
    for dist in env.nvidia_wheels:
        name = normalize(dist.name)
        if not re.match(r"^nvidia-cudnn-cu\d+$", name):
            continue
        if req is not None and normalize(req.name) != name:
            continue
        try:
            if req is not None and not req.specifier.contains(Version(dist.version), prereleases=True):
                continue
        except InvalidVersion:
            continue
        if cudnn_problem(dist.version, built) is None:
            return dist.name, dist.version
    return None


def cudnn_mismatch_text(loaded: str, where: str, built: str, tf_version: str) -> str:
    """Summary for a cuDNN TensorFlow rejects: another major, or an older minor of the same major."""
    if major_of(loaded) != major_of(built):
        shown = built if major_minor(built) else f"{built}.x"
        return (f"cuDNN {loaded} at {where} is another major than the cuDNN {shown} TensorFlow {tf_version} "
                "was built with")
    return f"cuDNN {loaded} at {where} is older than the cuDNN {built} TensorFlow {tf_version} was built with"


def cudnn_mismatch_detail(loaded: str, built: str) -> str:
    rule = "CuDNN library needs to have matching major version and equal or higher minor version"
    if major_minor(built) is None:
        return (f"TensorFlow will log 'Loaded runtime CuDNN library: {loaded} but source was compiled with: "
                f"{built}.x.y. {rule}' and every convolution will fail (DNN library initialization failed). The build "
                f"record names only cuDNN's major ({built}), so only the major was compared.")
    return (f"TensorFlow will log 'Loaded runtime CuDNN library: {loaded} but source was compiled with: {built}. "
            f"{rule}' and every convolution will fail (DNN library initialization failed).")


@check("library-shadowing", "No other copy shadows the CUDA libraries TensorFlow expects", Area.LIBRARIES,
       needs=("libraries",), uses=("tf_build",),
       emits=("library-shadowed",))
def library_shadowing(ctx: CheckContext) -> Iterator[Finding]:
    """Whether another copy of a CUDA library (on LD_LIBRARY_PATH, from a system CUDA) is found before the one
    TensorFlow expects."""
    libs = ctx.libraries
    if libs is None:
        return
    build = ctx.tf_build
    if build is None:
        return
    for lib in libs.libraries:
        if not lib.shadowed or lib.winner is None or lib.expected is None:
            continue
        why_bad = _bad_winner(ctx, libs, build, lib)
        severity = Severity.ERROR if why_bad else Severity.WARNING
        in_conda = bool(libs.conda_prefix) and lib.winner.path.startswith(os.path.join(libs.conda_prefix or "", "lib") + os.sep)
        summary = (f"{lib.soname} at {_where(lib.winner)}{' (a conda package in this env)' if in_conda else ''} "
                   f"shadows the pip copy TensorFlow expects at {lib.expected.path}"
                   + (f", and {why_bad}" if why_bad else ""))
        detail = ("The dynamic loader searches LD_LIBRARY_PATH before TensorFlow's RUNPATH, so this copy is loaded "
                  "instead of the one that came with tensorflow[and-cuda]. "
                  + ("It is unusable for this TensorFlow." if why_bad else
                     "It works today, but it will break when either side is upgraded on its own."))
        fixes = [_unshadow_fix(libs, [os.path.dirname(lib.winner.path)])] if lib.winner.origin == ORIGIN_LD else []
        yield ctx.finding("library-shadowed", severity, summary, detail, _lib_evidence(lib), fixes)


#: The activation script conda runs for an env (TensorFlow's install guide for 2.5-2.13 used it).
CONDA_ACTIVATE_SCRIPT = "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"


def conda_loader_path_fix() -> Fix:
    """Put the conda env's lib folder on the loader path at every `conda activate`."""
    return Fix(
        "Put the conda env's lib folder on the loader path whenever the env is activated (TensorFlow "
        "does not search $CONDA_PREFIX/lib by itself), then re-activate or source the script",
        ("mkdir -p $CONDA_PREFIX/etc/conda/activate.d",
         f"echo 'export LD_LIBRARY_PATH=$CONDA_PREFIX/lib:$LD_LIBRARY_PATH' >> {CONDA_ACTIVATE_SCRIPT}",
         f"source {CONDA_ACTIVATE_SCRIPT}"),
        ("https://www.tensorflow.org/install/pip#linux",),
    )


@check("loader-path-traps", "The loader path holds no conda-only copies and no toolkit stub libcuda", Area.LIBRARIES,
       needs=("libraries",), uses=("tf_build",),
       emits=("conda-libs-not-on-loader-path", "libcuda-stub-on-loader-path"))
def loader_path_traps(ctx: CheckContext) -> Iterator[Finding]:
    """Two ways the loader path itself defeats a correct install: CUDA libraries that exist only in the
    conda env's lib folder (which the loader does not search), and the toolkit's stub libcuda.so.1
    found before the driver's."""
    libs = ctx.libraries
    if libs is None:
        return
    build = ctx.tf_build
    conda_only = [lib for lib in libs.libraries if lib.direct and lib.winner is None
                  and any(c.origin == ORIGIN_CONDA for c in lib.copies)]
    if conda_only:
        where = sorted({os.path.dirname(c.path) for lib in conda_only for c in lib.copies if c.origin == ORIGIN_CONDA})
        names = ", ".join(lib.soname for lib in conda_only)
        tf = _tf_label(build) if build is not None else "TensorFlow"
        yield ctx.finding(
            "conda-libs-not-on-loader-path", Severity.ERROR,
            f"{names} {'is' if len(conda_only) == 1 else 'are'} installed in the conda env ({', '.join(where)}) "
            f"but not on the loader path, so {tf} cannot load {'it' if len(conda_only) == 1 else 'them'}",
            "conda install cudatoolkit / cudnn puts the libraries in $CONDA_PREFIX/lib. TensorFlow finds its "
            "CUDA libraries through the dynamic loader (LD_LIBRARY_PATH, its RUNPATH, the ld.so cache), and none "
            "of these names that folder unless LD_LIBRARY_PATH does.",
            {"missing": [lib.soname for lib in conda_only], "conda_copies": {
                lib.soname: [c.path for c in lib.copies if c.origin == ORIGIN_CONDA] for lib in conda_only},
             "conda_prefix": libs.conda_prefix, "ld_library_path": libs.ld_library_path},
            [conda_loader_path_fix()],
        )
    win = libs.libcuda
    if win is not None and is_stub(win.realpath or win.path):
        real = [c.path for c in libs.libcuda_copies if not is_stub(c.realpath or c.path)]
        stub_dir = os.path.dirname(win.path)
        fixes = []
        if win.origin == ORIGIN_LD:
            fixes.append(_unshadow_fix(libs, [stub_dir], "the driver's libcuda.so.1"))
        if os.path.basename(win.path) == "libcuda.so.1" and is_stub(win.path):
            fixes.append(Fix(f"Remove the libcuda.so.1 inside {stub_dir} (the toolkit ships only libcuda.so there; "
                             "a libcuda.so.1 beside it was made by hand)", (f"ls -l {shlex.quote(win.path)}",)))
        fixes.append(Fix("Check which libcuda.so.1 the loader finds now", ("ldconfig -p | grep 'libcuda.so.1'",)))
        yield ctx.finding(
            "libcuda-stub-on-loader-path", Severity.ERROR,
            f"The loader finds the CUDA toolkit's stub libcuda.so.1 ({win.path}) before the driver's"
            + (f" ({real[0]})" if real else ""),
            "lib64/stubs/libcuda.so exists only to link programs on machines without a driver and has no "
            "implementation: TensorFlow loads it instead of the NVIDIA driver's library and cuInit fails "
            "(CUDA_ERROR_STUB_LIBRARY).",
            {"winner": win.path, "winner_realpath": win.realpath, "winner_origin": win.origin,
             "driver_copies": real, "ld_library_path": libs.ld_library_path},
            fixes,
        )


# --- pip wheels -----------------------------------------------------------------------------------


@check("and-cuda-requirements", "The pip CUDA wheels satisfy TensorFlow's [and-cuda] requirements", Area.LIBRARIES,
       needs=("tf_build",), uses=("libraries", "python_env"),
       emits=("and-cuda-missing", "and-cuda-satisfied", "and-cuda-violated"))
def and_cuda_requirements_check(ctx: CheckContext) -> Iterator[Finding]:
    """The installed nvidia-* wheels against the requirements of TensorFlow's [and-cuda] extra: missing ones, or ones
    of versions outside the pins."""
    build = ctx.tf_build
    if build is None:
        return
    env = ctx.python_env
    if env is None or not build.is_cuda_build or env.platform != "linux":
        return
    lines = and_cuda_lines(ctx, build)
    if not lines:
        return
    results = evaluate_requirements(lines, env)
    nvidia = [r for r in results if normalize(r[0].name).startswith("nvidia-")]
    if not nvidia:
        return
    libs = ctx.libraries
    missing_libs = [lib.soname for lib in libs.libraries if lib.direct and lib.winner is None] if libs else None
    if all(v == "missing" for _r, _h, v in nvidia):
        ok_elsewhere = missing_libs == []
        yield ctx.finding(
            "and-cuda-missing", Severity.INFO if ok_elsewhere else Severity.ERROR,
            (f"TensorFlow {build.version} is installed without its [and-cuda] extra; the CUDA libraries come from "
             "the system instead" if ok_elsewhere else
             f"TensorFlow {build.version} is installed without its [and-cuda] extra, so none of its CUDA libraries "
             "(nvidia-* wheels) are installed"),
            "Since 2.14 TensorFlow finds the CUDA libraries as pip wheels through its RUNPATH; 'pip install tensorflow' "
            "alone installs none of them." + ("" if ok_elsewhere else " TensorFlow will run on the CPU only."),
            {"requirements": [requirement_text(r) for r, _h, _v in nvidia], "missing_libraries": missing_libs},
            () if ok_elsewhere else (_reinstall_and_cuda(ctx, build),))
        return
    wrong = [(r, h, v) for r, h, v in nvidia if v != "ok"]
    if not wrong:
        yield ctx.finding("and-cuda-satisfied", Severity.OK,
                          f"All {len(nvidia)} nvidia-* wheels satisfy TensorFlow {build.version}'s [and-cuda] requirements",
                          evidence={normalize(r.name): h for r, h, _v in nvidia})
        return
    parts = [f"{r.name} is not installed (needs {r.specifier or 'any version'})" if h is None
             else f"{r.name} {h} is outside {r.specifier}" for r, h, _v in wrong]
    yield ctx.finding(
        "and-cuda-violated", Severity.WARNING,
        f"{len(wrong)} nvidia-* wheel{'s' if len(wrong) != 1 else ''} do not satisfy TensorFlow {build.version}'s "
        f"[and-cuda] requirements: {'; '.join(parts)}",
        "pip installed these outside the versions TensorFlow was released with (a later 'pip install' of another "
        "package moved them, or --no-deps was used). The library checks say whether it breaks anything today.",
        {"violations": {r.name: {"installed": h, "required": str(r.specifier)} for r, h, _v in wrong}},
        (Fix("Put the nvidia-* wheels back within TensorFlow's requirements",
             (pip(env.executable, "install", *[requirement_text(r) for r, _h, _v in wrong]),)),
         _reinstall_and_cuda(ctx, build)))


@check("cuda-wheel-families", "pip CUDA wheels are all of TensorFlow's CUDA major", Area.LIBRARIES,
       needs=("python_env",), uses=("tf_build",),
       emits=("cuda-wheel-mix",))
def cuda_wheel_families(ctx: CheckContext) -> Iterator[Finding]:
    """Whether pip CUDA wheels of several CUDA majors (cu11, cu12, cu13) are mixed in the environment."""
    env = ctx.python_env
    if env is None:
        return
    build = ctx.tf_build
    families: dict[str, list[str]] = {}
    for dist in env.nvidia_wheels:
        m = _FAMILY_RE.match(normalize(dist.name))
        if m:
            families.setdefault(m.group(1), []).append(f"{dist.name} {dist.version}")
    cuda = build_cuda(ctx, build) if build is not None else None
    want = str(major_of(cuda)) if cuda else None
    foreign = {fam: names for fam, names in families.items() if want is not None and fam != want}
    if len(families) <= 1 and not foreign:
        return
    ev = {f"cu{fam}": names for fam, names in sorted(families.items())}
    drop = [n.split()[0] for fam, names in foreign.items() for n in names]
    fixes = (Fix(f"Uninstall the wheels of other CUDA majors than TensorFlow's CUDA {want}",
                 (pip(env.executable, "uninstall", "-y", *drop),)),) if drop else ()
    yield ctx.finding(
        "cuda-wheel-mix", Severity.WARNING,
        f"pip CUDA wheels of {len(families)} CUDA majors are installed together "
        f"({', '.join('cu' + f for f in sorted(families))})" if len(families) > 1 else
        f"pip CUDA wheels for CUDA {', '.join(sorted(foreign))} are installed, but TensorFlow is built for CUDA {want}",
        "Each major installs into the same site-packages/nvidia/* folders under different file names; another "
        "framework (PyTorch, JAX) usually brought them. TensorFlow only uses its own major's, but a mix often means "
        "one framework's requirements overwrote the other's.",
        ev, fixes)


