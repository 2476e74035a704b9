"""The scripts tfgpu runs inside child processes, kept together and started one way.

Each module here is a stand-alone script: it imports nothing from tfgpu, reads its request from
stdin or argv, and answers on stdout. None is ever imported by tfgpu itself; its *source* is handed
to an interpreter with `-c` by `ProbeContext.run_child`, which builds the command line through
`tfgpu.proc.python_command` and runs it through the context's command runner (time limit, output
cap, crash and hang as values). Which interpreter, and how isolated:

- `libs`  tfgpu's own interpreter, `-I -S`: dlopen()s CUDA libraries and asks their versions.
- `nvml`  tfgpu's own interpreter, `-I -S`, with tfgpu's module folders as its argument: asks
          NVML through pynvml (the one package it imports), so that a hung driver hangs only it.
- `env`   the *target* interpreter, not isolated: lists the distributions on the user's sys.path.
- `live`  the *target* interpreter, not isolated, in an empty working folder: imports TensorFlow
          exactly as the user's program would, so PYTHONPATH and the user's site-packages count.

`-c` (not a path) keeps the children's folder off `sys.path`, so no script here can shadow a
module of the target's.
"""

from __future__ import annotations

import os
from functools import cache

ENV = "env"
LIBS = "libs"
NVML = "nvml"
LIVE = "live"
NAMES = (ENV, LIBS, NVML, LIVE)

_HERE = os.path.dirname(os.path.abspath(__file__))


@cache
def source(name: str) -> str:
    """The source text of child `name` (one of NAMES)."""
    if name not in NAMES:
        raise ValueError(f"no child script named {name!r}")
    with open(os.path.join(_HERE, f"{name}.py"), encoding="utf-8") as fh:
        return fh.read()


def label(name: str) -> str:
    """How evidence names the child instead of its whole source: `<tfgpu nvml child>`."""
    return f"<tfgpu {name} child>"
