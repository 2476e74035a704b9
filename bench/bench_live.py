"""Benchmark: the default `tfgpu doctor --json` (live import included) against the bare
`python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"` in the same target.

Both run in this one invocation, alternating; prints median wall time, the ratio, and the peak
resident memory of the largest process of each (ru_maxrss of the children). Aim: ratio <= 1.15.

    .venv/bin/python bench/bench_live.py [--python .venvs/tf-2.21.0/bin/python] [--runs 5]
"""

from __future__ import annotations

import json
import subprocess
import sys
from _common import alternate, clean_env, median, target_args


# Runs one command in a fresh process and reports its time and the peak RSS of its largest child.
MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rc": p.returncode, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(argv: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, env=env, timeout=900)
    rec = json.loads(out.stdout)
    if rec["rc"] not in (0, 1):
        raise SystemExit(f"{argv[:4]} exited with {rec['rc']}")
    return rec


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0")
    env = clean_env()
    doctor = [sys.executable, "-m", "tfgpu", "doctor", "--json", "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"]
    b, d = alternate(lambda: measure(baseline, env), lambda: measure(doctor, env), args.runs)
    dm = median(r["seconds"] for r in d)
    bm = median(r["seconds"] for r in b)
    print(f"target: {args.python}")
    print(f"bare import + list_physical_devices  median {bm:.3f} s  peak RSS {max(r['maxrss_kib'] for r in b) / 1024:.0f} MiB")
    print(f"tfgpu doctor --json (live)           median {dm:.3f} s  peak RSS {max(r['maxrss_kib'] for r in d) / 1024:.0f} MiB")
    print(f"ratio doctor/bare = {dm / bm:.3f}  (aim: <= 1.15)")


if __name__ == "__main__":
    main()
