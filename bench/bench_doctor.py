"""Benchmark: `tfgpu doctor --json --fast` against `python -c "import tensorflow"` in the same target.

Both are timed in this one invocation, alternating, and the ratio of medians is printed. Aim: the
static doctor under 10% of TensorFlow's own import time.

    .venv/bin/python bench/bench_doctor.py [--python .venvs/tf-2.21.0/bin/python] [--runs 5]
"""

from __future__ import annotations

import subprocess
import sys
import time
from _common import alternate, clean_env, median, target_args



def timed(argv: list[str], env: dict[str, str]) -> float:
    # A blocking wait: subprocess.run(timeout=...) polls with sleeps of up to 50 ms, which would
    # add up to 50 ms to each measurement.
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    code = proc.wait()
    elapsed = time.perf_counter() - t0
    if code not in (0, 1):
        raise SystemExit(f"{argv[:4]} exited with {code}")
    return elapsed


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0")
    env = clean_env()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    doctor = [sys.executable, "-m", "tfgpu", "doctor", "--json", "--fast", "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow"]
    b_times, d_times = alternate(lambda: timed(baseline, env), lambda: timed(doctor, env), args.runs)
    d, b = median(d_times), median(b_times)
    print(f"target: {args.python}")
    print(f"python -c 'import tensorflow'   median {b:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in b_times)})")
    print(f"tfgpu doctor --json --fast      median {d:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in d_times)})")
    print(f"ratio doctor/import = {d / b:.3f}  (aim: < 0.10)")


if __name__ == "__main__":
    main()
