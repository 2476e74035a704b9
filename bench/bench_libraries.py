"""Benchmark of the library probe: its own time, as a ratio to baselines measured in the same run.

Usage: python bench/bench_libraries.py [--python TARGET] [--runs N]
Baselines: `python -c pass` (one interpreter start, the floor for any child-based probe) and the
python_env probe (the cheapest real probe). Reports medians in milliseconds and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from tfgpu.matrix import load
from tfgpu.probes import ProbeContext
from tfgpu.probes.libraries import collect_libraries
from tfgpu.probes.python_env import probe_python_env
from tfgpu.probes.tf_build import probe_tf_build
from tfgpu.probes.toolkit import probe_toolkit


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=os.environ.get("TFGPU_TEST_TF_CUDA_PYTHON", sys.executable))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ctx = ProbeContext(python=args.python, environ=dict(os.environ), timeout=30.0, matrix=load())
    env = probe_python_env(ctx)
    ctx.results["python_env"] = env
    build = probe_tf_build(ctx)
    ctx.results["tf_build"] = build
    if not hasattr(build, "package_dir"):
        print(f"no TensorFlow build in {args.python}: {getattr(build, 'message', build)}", file=sys.stderr)
        return 2
    collect_libraries(ctx, build, env)  # warm the page cache once, as a second doctor run would be
    results = {
        "python_c_pass_ms": _median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.runs),
        "python_env_probe_ms": _median_ms(lambda: probe_python_env(ctx), args.runs),
        "toolkit_probe_ms": _median_ms(lambda: probe_toolkit(ctx), args.runs),
        "libraries_probe_ms": _median_ms(lambda: collect_libraries(ctx, build, env), args.runs),
        "libraries_resolve_only_ms": _median_ms(lambda: collect_libraries(ctx, build, env, load=False), args.runs),
    }
    libs = collect_libraries(ctx, build, env)
    results["libraries_loaded"] = sum(1 for lib in libs.libraries if lib.load.status == "loaded")
    results["ratio_libraries_to_python_c_pass"] = round(results["libraries_probe_ms"] / results["python_c_pass_ms"], 2)
    results["ratio_libraries_to_python_env_probe"] = round(results["libraries_probe_ms"] / results["python_env_probe_ms"], 2)
    results["ratio_toolkit_to_python_c_pass"] = round(results["toolkit_probe_ms"] / results["python_c_pass_ms"], 2)
    for key in list(results):
        if key.endswith("_ms"):
            results[key] = round(results[key], 1)
    results["target"] = args.python
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
