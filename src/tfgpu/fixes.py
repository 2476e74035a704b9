"""Fix commands as functions of what was found, so that every check words them the same way."""

from __future__ import annotations

import shlex

from tfgpu.model import Fix


def pip(python: str | None, *args: str) -> str:
    """`<python> -m pip ARGS`, quoted for a POSIX shell (the target's own pip, never a stray one)."""
    exe = shlex.quote(python) if python else "python"
    return " ".join([exe, "-m", "pip", *[shlex.quote(a) for a in args]])


def pinnable(version: str | None) -> str | None:
    """`version` where a requirement can pin it, else None (an unpinned requirement): a garbled
    METADATA Version ('not-a-version!!') must never become 'tensorflow==not-a-version!!.*'."""
    if not version:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        Version(version)
    except InvalidVersion:
        return None
    return version


def tf_requirement(version: str | None = None, and_cuda: bool = True) -> str:
    """'tensorflow[and-cuda]==2.21.*' style requirement for a release series, or the newest."""
    name = "tensorflow[and-cuda]" if and_cuda else "tensorflow"
    if not version:
        return name
    from packaging.version import InvalidVersion, Version

    try:
        if Version(version).is_prerelease:
            return f"{name}=={version}"  # a wildcard never matches a pre-release
    except InvalidVersion:
        pass
    parts = version.split(".")
    return f"{name}=={'.'.join(parts[:2])}.*"


def install_tf(python: str | None, platform: str, version: str | None = None, machine: str = "x86_64") -> Fix:
    """The way to get a GPU TensorFlow on this platform."""
    if platform == "win32":
        return Fix(
            "TensorFlow 2.10 was the last release with GPU support on native Windows: use WSL2 "
            "(and run tfgpu inside it), or pin 2.10 with CUDA 11.2 / cuDNN 8.1 from conda",
            ("wsl --install", pip(python, "install", "tensorflow<2.11")),
            ("https://www.tensorflow.org/install/pip#windows-wsl2",),
        )
    if platform == "darwin":
        return Fix(
            "macOS has no CUDA; TensorFlow uses the Apple GPU through the tensorflow-metal plugin",
            (pip(python, "install", "tensorflow", "tensorflow-metal"),),
            ("https://developer.apple.com/metal/tensorflow-plugin/",),
        )
    cmd = pip(python, "install", tf_requirement(version))
    return Fix(
        "Install TensorFlow with its CUDA libraries as pip wheels (only the NVIDIA driver comes from the system)",
        (cmd,),
        ("https://www.tensorflow.org/install/pip#linux",),
    )
