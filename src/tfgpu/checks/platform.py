"""Checks on the platform: can TensorFlow use an NVIDIA GPU on this OS and architecture at all,
and does the environment hide every GPU."""

from __future__ import annotations

from collections.abc import Iterator

from packaging.version import Version

from tfgpu.checks import CheckContext, check
from tfgpu.fixes import install_tf
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.rules import windows_gpu_last
from tfgpu.versions import pep440


def normalize_platform(platform: str) -> str:
    """sys.platform as the checks compare it: Python 2 (and 3.0-3.2) on Linux said "linux2" (or
    "linux3"); since 3.3 it is "linux"."""
    if platform.startswith("linux"):
        return "linux"
    return platform


def _tf_version(ctx: CheckContext) -> Version | None:
    build = ctx.tf_build
    env = ctx.python_env
    text = build.version if build else (env.tensorflow_distributions[0].version if env and env.tensorflow_distributions else None)
    return pep440(text)


@check("platform-gpu-support", "TensorFlow can use an NVIDIA GPU on this platform", Area.PLATFORM,
       needs=("host", "python_env"), uses=("tf_build",))
def platform_gpu_support(ctx: CheckContext) -> Iterator[Finding]:
    host = ctx.host
    env = ctx.python_env
    platform = env.platform if env else {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}.get(host.system if host else "", "")
    platform = normalize_platform(platform)
    machine = (env.machine if env else host.machine if host else "").lower()
    python = env.executable if env else None
    tfv = _tf_version(ctx)
    ev = {"platform": platform, "machine": machine, "tensorflow": str(tfv) if tfv else None}
    if host is not None:
        ev.update({"wsl": host.wsl, "container": host.container})

    if platform == "win32":
        last = windows_gpu_last(ctx.matrix)
        if tfv is not None and ctx.matrix is not None and ctx.matrix.nvidia_gpu_on("windows-native", str(tfv)):
            yield ctx.finding("windows-native-gpu", Severity.WARNING,
                              f"Native Windows with TensorFlow {tfv}: GPU support ended after {last}",
                              "This release can still use the GPU with CUDA 11.2 and cuDNN 8.1, but it gets no more "
                              "fixes. WSL2 runs current releases.", ev,
                              (install_tf(python, "win32"),))
        else:
            yield ctx.finding("windows-native-gpu-unsupported", Severity.ERROR,
                              f"Native Windows: TensorFlow {tfv or 'after ' + last} has no GPU support here (it ended with {last})",
                              f"After {last} the Windows wheels are CPU-only. Use WSL2, where the Linux wheel and "
                              "the Windows NVIDIA driver work together.", ev,
                              (install_tf(python, "win32"),))
        return
    if platform == "darwin":
        yield ctx.finding("macos-no-cuda", Severity.ERROR,
                          "macOS: there is no CUDA, so TensorFlow cannot use an NVIDIA GPU here",
                          "On Apple silicon TensorFlow uses the Apple GPU through tensorflow-metal.", ev,
                          (install_tf(python, "darwin"),))
        return
    if platform != "linux":
        yield ctx.finding("platform-unknown", Severity.WARNING, f"Unrecognised platform {platform!r}", "", ev)
        return
    if host is not None and host.wsl == "wsl1":
        yield ctx.finding("wsl1-no-gpu", Severity.ERROR,
                          "WSL1 has no GPU access; CUDA needs WSL2",
                          "WSL2 (Windows 10 21H2 / build 19044 or newer) passes the GPU through /dev/dxg.", ev,
                          (Fix("Convert this distribution to WSL2 (in a Windows terminal)",
                               ("wsl --set-version <distribution> 2",),
                               ("https://learn.microsoft.com/windows/wsl/install",)),))
        return
    if machine in ("aarch64", "arm64"):
        build = ctx.tf_build
        if build is not None and build.is_cuda_build:
            yield ctx.finding("linux-aarch64", Severity.INFO,
                              "Linux aarch64 with a CUDA build of TensorFlow", "", ev)
        else:
            yield ctx.finding("linux-aarch64-no-cuda", Severity.ERROR,
                              "Linux aarch64: the TensorFlow wheels on PyPI for this architecture are not CUDA builds",
                              "GPU TensorFlow on Arm (Jetson, Grace) comes from NVIDIA's builds: the JetPack wheels "
                              "for Jetson, or the NGC TensorFlow container.", ev,
                              (Fix("Use NVIDIA's TensorFlow container (Grace / Arm servers) or the JetPack wheel (Jetson)",
                                   ("docker run --gpus all -it nvcr.io/nvidia/tensorflow:<tag>-tf2-py3",),
                                   ("https://docs.nvidia.com/deeplearning/frameworks/install-tf-jetson-platform/",
                                    "https://catalog.ngc.nvidia.com/orgs/nvidia/containers/tensorflow")),))
        return
    where = "WSL2" if host is not None and host.wsl == "wsl2" else "Linux x86_64"
    yield ctx.finding("platform-gpu-supported", Severity.OK, f"{where}: TensorFlow supports NVIDIA GPUs here", "", ev)


