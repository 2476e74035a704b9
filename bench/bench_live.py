"""Benchmark: the default `tfgpu doctor --json` (live import included) against the bare
`python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"` in the same target.

Both run in this one invocation, alternating; prints median wall time, the ratio, and the peak
resident memory of the largest process of each tree (bench/_common.py MEASURE), and a per-process
breakdown of one sampled doctor run. Aim (issue #10): ratio <= 1.10.

    .venv/bin/python bench/bench_live.py [--python .venvs/tf-2.21.0-and-cuda/bin/python] [--runs 5]
"""

from __future__ import annotations

import json
import sys

from _common import alternate, clean_env, measure, median, target_args

AIM_RATIO = 1.10


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0-and-cuda")
    env = clean_env()
    doctor = [sys.executable, "-m", "tfgpu", "doctor", "--json", "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"]
    b, d = alternate(lambda: measure(baseline, env, ok_codes=(0,)), lambda: measure(doctor, env), args.runs)
    sampled = measure(doctor, env, sample=True)
    bm, dm = median(r["seconds"] for r in b), median(r["seconds"] for r in d)
    bc, dc = median(r["cpu_seconds"] for r in b), median(r["cpu_seconds"] for r in d)
    result = {
        "target": args.python,
        "baseline_import_list_s": round(bm, 3),
        "baseline_runs_s": [round(r["seconds"], 3) for r in b],
        "doctor_s": round(dm, 3),
        "doctor_runs_s": [round(r["seconds"], 3) for r in d],
        "cpu_s": {"baseline": round(bc, 3), "doctor": round(dc, 3), "ratio": round(dc / bc, 4)},
        "ratio": round(dm / bm, 3),
        "aim_ratio": AIM_RATIO,
        "meets_ratio": dm / bm <= AIM_RATIO,
        "baseline_largest_process_mb": round(max(r["maxrss_kib"] for r in b) / 1024, 1),
        "doctor_largest_process_mb": round(max(r["maxrss_kib"] for r in d) / 1024, 1),
        "per_process_mb": [[label, round(kib / 1024, 1)] for label, kib in sampled["processes"]],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
