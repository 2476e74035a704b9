"""Checks on system CUDA toolkits and XLA's tools: a toolkit of another CUDA major in TensorFlow's way
(LD_LIBRARY_PATH, the ptxas or libdevice XLA picks), and XLA finding ptxas and libdevice at all."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator

from tfgpu.checks import CheckContext, check
from tfgpu.checks.common import build_cuda, python_of
from tfgpu.checks.libraries import NVCC_WHEEL, has_and_cuda, ld_library_path_without, wheel_requirement_named
from tfgpu.fixes import pip
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.probes.tf_build import TFBuild
from tfgpu.probes.toolkit import PathNvcc, Toolkit, Toolkits
from tfgpu.versions import major_of


def _toolkit_on_ld_path(tk: Toolkit, ld_library_path: str | None) -> list[str]:
    ld = [os.path.normpath(p) for p in (ld_library_path or "").split(":") if p]
    mine = {os.path.normpath(d) for d in tk.lib_dirs} | {os.path.normpath(os.path.join(tk.realpath, r)) for r in ("lib64", "lib")}
    return [p for p in ld if p in mine]

def xla_flags_with_data_dir(current: str | None, root: str) -> str:
    """XLA_FLAGS with --xla_gpu_cuda_data_dir=`root`, keeping every other flag already set (an earlier
    --xla_gpu_cuda_data_dir is replaced). XLA splits XLA_FLAGS on whitespace, so `root` must hold none."""
    return " ".join([*_other_xla_flags(current), f"--xla_gpu_cuda_data_dir={root}"])

def _other_xla_flags(current: str | None) -> list[str]:
    """The flags in XLA_FLAGS other than --xla_gpu_cuda_data_dir (XLA splits the value on whitespace)."""
    return [w for w in (current or "").split() if not w.startswith("--xla_gpu_cuda_data_dir=")]

def xla_flags_command(current: str | None, root: str) -> str:
    """`export XLA_FLAGS=...` pointing XLA at `root`, appended to the flags already set."""
    return f"export XLA_FLAGS={shlex.quote(xla_flags_with_data_dir(current, root))}"

def _current_xla_flags(ctx: CheckContext) -> str | None:
    env = ctx.environment
    return env.get("XLA_FLAGS") if env is not None and hasattr(env, "get") else None

def _has_space(path: str) -> bool:
    return any(c.isspace() for c in path)

def _xla_point_at(ctx: CheckContext, root: str, link_name: str) -> tuple[tuple[str, ...], str]:
    """(commands that point XLA at `root`, a note for the fix's text). A path with whitespace cannot go
    into XLA_FLAGS (XLA splits it on whitespace): link it from a path without spaces first."""
    current = _current_xla_flags(ctx)
    others = _other_xla_flags(current)
    kept = " (keeping the XLA_FLAGS already set)" if others else ""
    if not _has_space(root):
        return (xla_flags_command(current, root),), kept
    link = f"$HOME/{link_name}"
    # Double quotes so that $HOME expands; the flags already set are escaped for them.
    escaped = " ".join(["".join("\\" + c if c in '"\\$`' else c for c in w) for w in others]
                       + [f"--xla_gpu_cuda_data_dir={link}"])
    return ((f'ln -sfn {shlex.quote(root)} "{link}"', f'export XLA_FLAGS="{escaped}"'),
            f"; its path {root!r} has whitespace, which XLA_FLAGS cannot hold (XLA splits the flags on whitespace), "
            f"so link it from {link} first{kept}")

def _xla_data_dir_fix(ctx: CheckContext, tks: Toolkits, build: TFBuild, want: int | None) -> Fix:
    """Point XLA at the pip nvidia-cuda-nvcc wheel next to TensorFlow (installing it first where absent)."""
    root = tks.pip_nvcc_root or os.path.normpath(os.path.join(build.package_dir, "..", "nvidia", "cuda_nvcc"))
    commands, note = _xla_point_at(ctx, root, f"cuda-nvcc-{want}" if want else "cuda-nvcc")
    cuda = f"CUDA {want} " if want else ""
    if tks.pip_nvcc_root:
        return Fix(f"Point XLA at the {cuda}ptxas and libdevice of the pip nvidia-cuda-nvcc wheel "
                   f"(XLA prefers PATH and /usr/local/cuda over it otherwise){note}", commands)
    req = wheel_requirement_named(ctx, build, NVCC_WHEEL) or NVCC_WHEEL
    return Fix(f"Install the {cuda}ptxas and libdevice as a pip wheel and point XLA at it{note}",
               (pip(python_of(ctx), "install", req), *commands))

def _differs(tk: Toolkit, want: int | None) -> bool:
    """A toolkit with an nvcc of a known CUDA major other than TensorFlow's: system-toolkit-differs judges it."""
    return tk.nvcc is not None and tk.major is not None and tk.major != want


_STANDS_IN = {"conda-env": "in the conda environment {root}", "cuda-toolkit": "in the CUDA toolkit at {root}",
              "pip-wheel": "from a pip NVIDIA wheel ({folder})"}


def describe_path_nvcc(n: PathNvcc) -> str:
    """What `nvcc --version` runs, in words: the file on PATH, what it is, the binary behind it, its
    version and the folder it stands in ("/usr/local/bin/nvcc, a script (not run) that execs ...")."""
    if n.path is None:
        return "no nvcc on PATH that a shell would run (" + "; ".join(n.skipped) + ")"
    link = f" (a link to {n.realpath})" if n.realpath and n.realpath != n.path else ""
    if n.kind == "script":
        what = f"{n.path}{link}, a script (not run) " + (f"that execs {n.runs}" if n.runs else
                                                         "whose target cannot be read from it")
    elif n.kind == "elf":
        what = f"{n.path}{link}"
    else:
        what = f"{n.path}{link}, " + ("which this user cannot read (not run)" if n.kind == "unreadable"
                                       else "neither an ELF binary nor a #! script (not run)")
    if n.version:
        what += f": CUDA {n.version}"
    elif n.runs:
        what += f": version unknown ({n.error})"
    if n.runs is None:
        return what
    folder = os.path.dirname(n.runs)
    where = _STANDS_IN.get(n.stands_in or "")
    if where:
        return f"{what}, {where.format(root=n.root, folder=folder)}"
    missing = [name for name, have in (("ptxas", n.ptxas), ("nvvm/libdevice", n.libdevice)) if not have]
    return f"{what}, not in a whole toolkit (no {' or '.join(missing) or 'toolkit layout'} beside it)"


def _path_nvcc_evidence(n: PathNvcc) -> dict:
    return {"path": n.path, "realpath": n.realpath, "kind": n.kind, "runs": n.runs, "version": n.version,
            "error": n.error, "stands_in": n.stands_in, "root": n.root, "ptxas": n.ptxas, "libdevice": n.libdevice,
            "script_lines": list(n.script_lines), "skipped": list(n.skipped), "later": list(n.later)}


def _toolkit_finding(ctx: CheckContext, tks: Toolkits, build: TFBuild, cuda: str, want: int | None, tk: Toolkit,
                     nvcc: PathNvcc | None) -> Finding:
    """system-toolkit-differs for one toolkit; where it is what the nvcc on PATH runs, the same finding says so
    (one cause, one finding)."""
    libs = ctx.libraries
    ld = libs.ld_library_path if libs is not None else None
    conflicts: list[str] = []
    xla_conflict = False
    on_ld = _toolkit_on_ld_path(tk, ld)
    if on_ld:
        conflicts.append(f"its library folder {', '.join(on_ld)} is on LD_LIBRARY_PATH, ahead of TensorFlow's RUNPATH")
    ptxas = tks.xla_ptxas
    if ptxas.path and ptxas.version and major_of(ptxas.version) == tk.major:
        xla_conflict = True
        conflicts.append(f"XLA will compile GPU kernels with its ptxas {ptxas.version} ({ptxas.path}, found via {ptxas.origin}) "
                         f"instead of a CUDA {want} one")
    libdevice = tks.xla_libdevice
    if libdevice.path and libdevice.version and major_of(libdevice.version) == tk.major:
        xla_conflict = True
        conflicts.append(f"XLA will link its libdevice ({libdevice.path}, via {libdevice.origin})")
    ev: dict[str, object] = {"toolkit": tk.root, "realpath": tk.realpath, "version": tk.version,
                             "found_via": list(tk.found_via), "tensorflow_cuda": cuda, "xla_ptxas": ptxas.path,
                             "xla_libdevice": libdevice.path}
    seen = ""
    if nvcc is not None:
        ev["nvcc_on_path"] = _path_nvcc_evidence(nvcc)
        seen = f"; it is what `nvcc --version` shows ({describe_path_nvcc(nvcc)})"
    if not conflicts:
        return ctx.finding(
            "system-toolkit-differs", Severity.INFO,
            f"CUDA {tk.version} toolkit at {tk.root} differs from TensorFlow {build.version}'s CUDA {cuda}; "
            + ("this does not matter: TensorFlow uses its pip CUDA wheels" if has_and_cuda(build) else
               "TensorFlow needs CUDA " + str(want) + " libraries, which this toolkit does not provide")
            + (", never runs nvcc, and XLA picks neither this ptxas nor this libdevice" if nvcc is not None else "")
            + seen,
            "TensorFlow never uses nvcc; a toolkit matters only through its libraries on the loader's path or the "
            "ptxas/libdevice XLA picks, and neither applies here.", ev)
    fixes: list[Fix] = []
    if on_ld:
        fixes.append(Fix("Take the toolkit's library folder off LD_LIBRARY_PATH",
                         ((f"export LD_LIBRARY_PATH={shlex.quote(ld_library_path_without(ld, on_ld))}"
                           if ld_library_path_without(ld, on_ld) else "unset LD_LIBRARY_PATH"),)))
    if xla_conflict:
        fixes.append(_xla_data_dir_fix(ctx, tks, build, want))
    return ctx.finding(
        "system-toolkit-differs", Severity.WARNING,
        f"CUDA {tk.version} toolkit at {tk.root} differs from TensorFlow {build.version}'s CUDA {cuda} "
        f"and is in its way: {'; '.join(conflicts)}{seen}",
        f"TensorFlow itself still runs: its own kernels come prebuilt for CUDA {cuda}, and nvcc is irrelevant to it. "
        "What fails, and only then, is XLA-compiled code (tf.function(jit_compile=True), Keras models compiled with "
        "jit_compile): XLA builds it at its first call with the ptxas and libdevice it found, and those of another "
        "CUDA major can produce code the driver or the GPU rejects (CUDA 13's ptxas no longer targets Maxwell, "
        "Pascal or Volta, and its output needs a CUDA 13 driver). Its libraries on LD_LIBRARY_PATH also win over "
        "the pip wheels.",
        ev, fixes)


_NEVER = ("TensorFlow never runs nvcc (XLA compiles with ptxas and links libdevice, which the xla-tools and "
          "system-toolkit checks judge)")


def _path_nvcc_finding(ctx: CheckContext, tks: Toolkits, build: TFBuild | None, cuda: str | None,
                       want: int | None, n: PathNvcc) -> Finding:
    """nvcc-on-path, for a PATH nvcc that no system-toolkit-differs finding covers."""
    said = (f"`nvcc --version` runs {describe_path_nvcc(n)}" if n.path is not None else
            f"`nvcc --version` finds {describe_path_nvcc(n)}")
    ev = {"nvcc_on_path": _path_nvcc_evidence(n), "tensorflow_cuda": cuda, "xla_ptxas": tks.xla_ptxas.path}
    detail = ("A shell's `nvcc --version` reports the first nvcc on PATH; TensorFlow's pip wheels carry their own "
              "CUDA libraries and never call nvcc. A toolkit matters to TensorFlow only through its libraries on "
              "LD_LIBRARY_PATH or the ptxas and libdevice XLA picks.")
    if build is None or not build.is_cuda_build or not cuda:
        what = ("no TensorFlow was found" if build is None else
                f"TensorFlow {build.version} here is not a CUDA build" if not build.is_cuda_build else
                f"the CUDA of TensorFlow {build.version} is unknown")
        return ctx.finding("nvcc-on-path", Severity.INFO, f"{said}; this does not matter: {_NEVER}, and {what}",
                           detail, ev)
    ptxas = tks.xla_ptxas.path
    beside = n.path is not None and ptxas is not None and ptxas in {
        n.ptxas, os.path.join(os.path.dirname(n.path), "ptxas")}
    major = major_of(n.version)
    if major is not None and major != want and beside and n.version:
        return ctx.finding(
            "nvcc-on-path", Severity.WARNING,
            f"{said}; that is not TensorFlow {build.version}'s CUDA {cuda}, and its folder is in TensorFlow's way: "
            f"XLA will compile GPU kernels with the ptxas beside it ({ptxas}, found via {tks.xla_ptxas.origin}), "
            f"which comes with this CUDA {major} nvcc, instead of a CUDA {want} one",
            detail + " A ptxas of another CUDA major can produce code the driver or the GPU rejects.", ev,
            (_xla_data_dir_fix(ctx, tks, build, want),))
    if n.path is None:
        why = f"this does not matter: {_NEVER}"
    elif major is None:
        why = f"its version is unknown, and does not matter: {_NEVER}"
    elif major == want:
        why = f"it is TensorFlow {build.version}'s CUDA major ({cuda}), and {_NEVER}"
    else:
        why = (f"it differs from TensorFlow {build.version}'s CUDA {cuda}, which does not matter: {_NEVER}, "
               "and XLA does not pick a ptxas beside it")
    xla = (" XLA's ptxas is the one beside it" if beside else
           f" XLA's ptxas is {ptxas}" if ptxas else " XLA finds no ptxas (see xla-ptxas-missing)")
    return ctx.finding("nvcc-on-path", Severity.INFO, f"{said}; {why}.{xla}", detail, ev)


@check("system-toolkit", "A system CUDA toolkit, or the nvcc on PATH, does not get in TensorFlow's way", Area.TOOLKIT,
       needs=("toolkit",), uses=("environment", "libraries", "python_env", "tf_build"),
       emits=("nvcc-on-path", "system-toolkit-differs"))
def system_toolkit(ctx: CheckContext) -> Iterator[Finding]:
    """A system CUDA toolkit, or the nvcc on PATH, of another CUDA version than TensorFlow's: harmless for TensorFlow's
    prebuilt kernels, or what XLA picks up for the kernels it compiles."""
    tks = ctx.toolkit
    if tks is None:
        return
    build = ctx.tf_build
    cuda = build_cuda(ctx, build) if build is not None and build.is_cuda_build else None
    want = major_of(cuda)
    nvcc = tks.path_nvcc
    covered = False
    if build is not None and cuda:
        for tk in tks.toolkits:
            if not _differs(tk, want):
                continue
            mine = nvcc is not None and nvcc.toolkit is not None and nvcc.toolkit == tk.realpath
            covered = covered or mine
            yield _toolkit_finding(ctx, tks, build, cuda, want, tk, nvcc if mine else None)
    if nvcc is not None and not covered:
        yield _path_nvcc_finding(ctx, tks, build, cuda, want, nvcc)


@check("xla-tools", "XLA finds ptxas and libdevice", Area.TOOLKIT, needs=("toolkit",), uses=("environment", "python_env", "tf_build"),
       emits=("xla-libdevice-missing", "xla-ptxas-missing"))
def xla_tools(ctx: CheckContext) -> Iterator[Finding]:
    """XLA finds ptxas and libdevice (the pip nvidia-cuda-nvcc wheel, a CUDA toolkit, XLA_FLAGS), so the kernels it
    compiles can be built."""
    tks = ctx.toolkit
    if tks is None:
        return
    build = ctx.tf_build
    if build is None or not build.is_cuda_build:
        return
    cuda = build_cuda(ctx, build)
    want = major_of(cuda)
    req = wheel_requirement_named(ctx, build, NVCC_WHEEL) if has_and_cuda(build) else None

    def fixes_for() -> tuple[Fix, ...]:
        out = []
        if tks.pip_nvcc_root or req:
            out.append(_xla_data_dir_fix(ctx, tks, build, want))
        toolkit = f"/usr/local/cuda-{'.'.join(cuda.split('.')[:2])}" if cuda else "/usr/local/cuda"
        commands, note = _xla_point_at(ctx, toolkit, "cuda-toolkit")
        out.append(Fix(f"Or point XLA at a {f'CUDA {want} ' if want else ''}toolkit that has bin/ptxas and nvvm/libdevice"
                       + ("" if want else " (of the CUDA major TensorFlow was built for)") + note, commands))
        return tuple(out)

    if tks.xla_ptxas.path is None:
        yield ctx.finding(
            "xla-ptxas-missing", Severity.WARNING,
            "XLA will find no ptxas: GPU kernels it compiles (jit_compile=True, and some ops) fall back to the driver's "
            "slower, older PTX compiler or fail",
            "XLA looks in --xla_gpu_cuda_data_dir, then PATH, then /usr/local/cuda and the pip nvidia-cuda-nvcc wheel "
            "(xla/stream_executor/cuda/cuda_asm_compiler.cc).",
            {"searched": list(tks.xla_ptxas.searched)}, fixes_for())
    if tks.xla_libdevice.path is None:
        yield ctx.finding(
            "xla-libdevice-missing", Severity.WARNING,
            "XLA will find no libdevice (nvvm/libdevice/libdevice.10.bc): XLA-compiled GPU code fails with "
            "'libdevice not found at ./libdevice.10.bc'",
            "XLA looks under --xla_gpu_cuda_data_dir, /usr/local/cuda and the pip nvidia-cuda-nvcc wheel "
            "(xla/tsl/platform/default/cuda_root_path.cc).",
            {"searched": list(tks.xla_libdevice.searched)}, fixes_for())
