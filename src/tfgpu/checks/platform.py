"""Checks on the platform: can TensorFlow use an NVIDIA GPU on this OS and architecture at all,
and does the environment hide every GPU."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from packaging.version import Version

from tfgpu.checks import CheckContext, check
from tfgpu.fixes import install_tf, nvidia_arm_tf, pip
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
       needs=("host", "python_env"), uses=("tf_build",),
       emits=("linux-aarch64", "linux-aarch64-no-cuda", "macos-metal", "macos-metal-missing", "macos-no-cuda",
              "macos-tensorflow-macos-obsolete", "macos-x86-python", "platform-gpu-supported", "platform-unknown",
              "windows-native-gpu", "windows-native-gpu-unsupported", "wsl1-no-gpu"))
def platform_gpu_support(ctx: CheckContext) -> Iterator[Finding]:
    """Whether TensorFlow can use an NVIDIA GPU on this operating system and CPU architecture: Linux x86_64 and WSL2
    can; native Windows only up to TensorFlow 2.10; macOS and WSL1 cannot; Linux aarch64 depends on the build."""
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
        yield from _macos_metal(ctx, machine, tfv, ev)
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
                              (nvidia_arm_tf(),))
        return
    where = "WSL2" if host is not None and host.wsl == "wsl2" else "Linux x86_64"
    yield ctx.finding("platform-gpu-supported", Severity.OK, f"{where}: TensorFlow supports NVIDIA GPUs here", "", ev)




#: Apple's requirements for tensorflow-metal (https://developer.apple.com/metal/tensorflow-plugin/):
#: Apple silicon, or an Intel Mac with an AMD GPU; `tensorflow` from 2.13, `tensorflow-macos` before.
METAL_SOURCE = "https://developer.apple.com/metal/tensorflow-plugin/"


def _macos_metal(ctx: CheckContext, machine: str, tfv: Version | None, ev: dict) -> Iterator[Finding]:
    """What the environment shows of the Apple GPU path: the tensorflow-metal plugin, the CPU
    architecture the interpreter runs as, and the TensorFlow distribution it pairs with."""
    env = ctx.python_env
    if env is None:
        return
    python = env.executable
    metal = env.find("tensorflow-metal")
    names = {d.name: d.version for d in env.tensorflow_distributions}
    ev = {**ev, "tensorflow_metal": metal.version if metal else None, "distributions": names}
    if machine == "x86_64":
        last = ctx.matrix.platform_row("macos-x86_64") if ctx.matrix is not None else None
        upto = f" (TensorFlow for macOS x86_64 ends with {last.last})" if last is not None and last.last else ""
        yield ctx.finding("macos-x86-python", Severity.WARNING,
                          f"This Python runs as x86_64 on macOS{upto}",
                          "An Intel Mac, or an Intel (x86_64) Python under Rosetta 2 on Apple silicon. Under "
                          "Rosetta TensorFlow cannot use the Apple GPU and its AVX build may abort at import; "
                          "tensorflow-metal on Intel Macs needs an AMD GPU. On Apple silicon install an arm64 "
                          "Python and create the environment with it.", ev,
                          (Fix("Check what the interpreter and the Mac are (arm64 is Apple silicon)",
                               (f"{shlex.quote(python)} -c \"import platform; print(platform.machine())\"",
                                "sysctl -n machdep.cpu.brand_string"), (METAL_SOURCE,)),))
        return
    if metal is None:
        yield ctx.finding("macos-metal-missing", Severity.WARNING,
                          "tensorflow-metal is not installed: TensorFlow will run on the CPU only",
                          "The Apple GPU is reachable only through the tensorflow-metal PluggableDevice. Its "
                          "version must match the TensorFlow release (the table on pypi.org/project/tensorflow-metal).",
                          ev, (Fix("Install the plugin next to TensorFlow (tensorflow from 2.13 on; tensorflow-macos before)",
                                   (pip(python, "install", "tensorflow-metal"),), (METAL_SOURCE,)),))
        return
    if "tensorflow-macos" in names and tfv is not None and tfv >= Version("2.13"):
        yield ctx.finding("macos-tensorflow-macos-obsolete", Severity.WARNING,
                          f"tensorflow-macos {names['tensorflow-macos']} is installed: from 2.13 plain tensorflow is "
                          "the macOS build",
                          "Apple's instructions install tensorflow for 2.13 and later and tensorflow-macos only for "
                          "2.12 and earlier; two TensorFlow distributions in one environment overwrite each other's files.",
                          ev, (Fix("Keep one TensorFlow distribution",
                                   (pip(python, "uninstall", "-y", "tensorflow-macos"),
                                    pip(python, "install", "--force-reinstall", "tensorflow", "tensorflow-metal")),
                                   (METAL_SOURCE,)),))
        return
    yield ctx.finding("macos-metal", Severity.INFO,
                      f"tensorflow-metal {metal.version} is installed: TensorFlow can use the Apple GPU",
                      "The plugin is built for one TensorFlow release; if import fails with 'Symbol not found' in "
                      "libmetal_plugin.dylib, the pair does not match (see the table on pypi.org/project/tensorflow-metal).",
                      ev)
