"""Shared by the benchmarks: a target environment, alternating runs of two commands, and the wall
time and peak memory of a command's whole process tree."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def target_args(description: str, default_env: str, runs: int = 5):
    """--python (the target interpreter, by default one of the venvs scripts/test.sh makes) and --runs."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--python", default=str(REPO / ".venvs" / default_env / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--here", action="store_true",
                        help="run the commands in the current directory, not in an empty one (where a bench chooses)")
    return parser.parse_args()


def tfgpu_command() -> list[str]:
    """How a user runs tfgpu: the console script beside this interpreter (what `pip install`
    makes and the README runs), else `python -m tfgpu` (which also imports runpy, ~8 ms)."""
    script = Path(sys.executable).parent / "tfgpu"
    return [str(script)] if script.is_file() and os.access(script, os.X_OK) else [sys.executable, "-m", "tfgpu"]


_PYCACHE = tempfile.mkdtemp(prefix="tfgpu-bench-pyc-")
atexit.register(shutil.rmtree, _PYCACHE, True)


def clean_env() -> dict[str, str]:
    """This environment without an active venv, so that --python alone picks the target; and with
    byte code cached (in a folder of this run, after the warm-up), as an installed tfgpu has it:
    under PYTHONDONTWRITEBYTECODE=1 a source checkout recompiles every module on every start,
    which doubles tfgpu's import time and is not what a user runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


def alternate(baseline: Callable[[], T], candidate: Callable[[], T], runs: int) -> tuple[list[T], list[T]]:
    """One warm-up each (page cache), then `runs` alternating runs, so that drift hits both alike."""
    baseline()
    candidate()
    b, c = [], []
    for _ in range(runs):
        b.append(baseline())
        c.append(candidate())
    return b, c


median = statistics.median


# Runs one command in a fresh process and reports its wall time and the peak RSS of the largest
# process in its tree. The measuring process makes itself a child subreaper (prctl
# PR_SET_CHILD_SUBREAPER), so every descendant, even one orphaned by its parent, is reaped here or
# by its own parent: ru_maxrss of RUSAGE_CHILDREN is then the maximum over every process of the
# tree (Linux folds a reaped child's peak, itself the maximum over its own reaped children, into
# its parent's), not only over the top process and the children it waited for. With --sample, a
# thread reads VmHWM (the peak RSS so far) of each live descendant every few milliseconds, for a
# per-process breakdown (a process shorter than the period can be missed; the maximum cannot).
MEASURE = r"""
import ctypes, json, os, resource, subprocess, sys, threading, time
sample = sys.argv[1] == "--sample"
argv = sys.argv[2:]
libc = ctypes.CDLL(None, use_errno=True)
subreaper = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
seen = {}
done = threading.Event()

def descendants(root):
    kids, todo = [], [root]
    while todo:
        pid = todo.pop()
        found = []
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            tasks = []
        for task in tasks:  # children started from any thread (tfgpu runs probes in threads)
            try:
                with open("/proc/%d/task/%s/children" % (pid, task)) as fh:
                    found += [int(p) for p in fh.read().split()]
            except OSError:
                pass
        kids += found
        todo += found
    return kids

def sampler():
    me = os.getpid()
    while not done.is_set():
        for pid in descendants(me):
            try:  # the command line before and after, so that an exec in between is not mislabelled
                with open("/proc/%d/cmdline" % pid, "rb") as fh:
                    before = fh.read()
                with open("/proc/%d/status" % pid) as fh:
                    hwm = next((int(l.split()[1]) for l in fh if l.startswith("VmHWM:")), 0)
                with open("/proc/%d/cmdline" % pid, "rb") as fh:
                    cmd = fh.read()
            except (OSError, StopIteration, ValueError):
                continue
            if cmd != before:
                continue
            cmd = cmd.split(b"\0")
            words = [c.decode("utf-8", "replace") for c in cmd if c]
            if not words:  # exiting (a zombie): its peak was read while it ran
                continue
            if "-c" in words:  # a child script: name it by its first line, not its whole source
                i = words.index("-c")
                words = words[:i + 1] + [words[i + 1].strip().splitlines()[0][:60] if i + 1 < len(words) else ""]
            label = " ".join(w if len(w) < 80 else "..." + w[-40:] for w in words)[:160]
            seen[pid] = (label, max(hwm, seen.get(pid, ("", 0))[1]))
        time.sleep(0.003)

thread = threading.Thread(target=sampler, daemon=True)
if sample:
    thread.start()
t0 = time.perf_counter()
p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
rc = p.wait()
wall = time.perf_counter() - t0
while True:  # reap every orphaned descendant, so that its peak counts too
    try:
        os.wait()
    except ChildProcessError:
        break
done.set()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": wall, "rc": rc, "subreaper": subreaper, "maxrss_kib": usage.ru_maxrss,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "processes": sorted(seen.values(), key=lambda x: -x[1])}))
"""


def measure(argv: list[str], env: dict[str, str], sample: bool = False, ok_codes: tuple[int, ...] = (0, 1),
            cwd: str | None = None) -> dict:
    """{"seconds" (wall), "cpu_seconds" (user+system, summed over the tree), "rc", "maxrss_kib" (the
    largest process of the tree), "processes" (with `sample`: [label, peak KiB] per process seen)}
    of one run of `argv` (in `cwd`, default this process's working directory)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, "--sample" if sample else "--no-sample", *argv],
                         capture_output=True, text=True, env=env, timeout=900, cwd=cwd)
    rec = json.loads(out.stdout)
    if rec["rc"] not in ok_codes:
        raise SystemExit(f"{argv[:4]} exited with {rec['rc']}")
    return rec
