"""Benchmark: `tfgpu doctor --fast --json` against the bare TensorFlow import of the same target.

Baseline: `python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"`. Both run
in this one invocation, alternating, each in a fresh measuring process (bench/_common.py MEASURE)
that reports the wall time and the peak RSS of the LARGEST process of the command's whole tree
(a child subreaper, so no descendant escapes). One extra sampled run of the doctor breaks the
memory down per process. Aims (issue #10): wall <= 0.05x the baseline, largest process <= 60 MB.

    .venv/bin/python bench/bench_doctor.py [--python .venvs/tf-2.21.0-and-cuda/bin/python] [--runs 5]

Where --fast's time goes (2 shared cores, CPU time, minimum of 8 runs, byte code and matrix
cached; measured again for issue #10's speed work): the interpreter's start ~20 ms, typer ~80,
tfgpu.cli ~25 (the fleet commands are built only where named: cli._Commands); then, before the
probes can start, the probe modules ~60, the matrix module and its cached data ~40, the policy
~10 (tomllib where ./pyproject.toml exists); while the probes' children run, the checks ~45 and
the fixes with packaging.requirements ~28 (cli._preload). The probe phase (~150-200 ms wall here)
has two chains: host, then the NVML child (~45 ms alone without a driver, json ~17 of it); and
the target's inquiry (~31 ms alone), then tf_build, then toolkit (nvcc --version) and libraries
(~25 ms CPU in-process, no child). The floor is tfgpu's own start before the probes: about
240 ms of CPU with typer at the front, against 0.05x of a bare import (~140 ms on an idle
machine): the aim needs the start itself restructured (no typer before the probes start, the
probe modules and matrix loaded lazily), not more overlap.
"""

from __future__ import annotations

import json
import sys

from _common import alternate, clean_env, measure, median, target_args

AIM_RATIO = 0.05
AIM_RSS_MB = 60.0


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0-and-cuda")
    env = clean_env()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    doctor = [sys.executable, "-m", "tfgpu", "doctor", "--fast", "--json", "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"]
    b, d = alternate(lambda: measure(baseline, env, ok_codes=(0,)), lambda: measure(doctor, env), args.runs)
    sampled = measure(doctor, env, sample=True)
    bm, dm = median(r["seconds"] for r in b), median(r["seconds"] for r in d)
    bc, dc = median(r["cpu_seconds"] for r in b), median(r["cpu_seconds"] for r in d)
    rss_mb = max(r["maxrss_kib"] for r in d) / 1024
    result = {
        "target": args.python,
        "baseline_import_list_s": round(bm, 3),
        "doctor_fast_s": round(dm, 3),
        "doctor_fast_runs_s": [round(r["seconds"], 3) for r in d],
        "cpu_s": {"baseline": round(bc, 3), "doctor": round(dc, 3), "ratio": round(dc / bc, 4)},
        "ratio": round(dm / bm, 4),
        "aim_ratio": AIM_RATIO,
        "largest_process_mb": round(rss_mb, 1),
        "aim_largest_process_mb": AIM_RSS_MB,
        "baseline_largest_process_mb": round(max(r["maxrss_kib"] for r in b) / 1024, 1),
        "subreaper": all(r["subreaper"] for r in d),
        "per_process_mb": [[label, round(kib / 1024, 1)] for label, kib in sampled["processes"]],
    }
    result["meets_ratio"] = result["ratio"] <= AIM_RATIO
    result["meets_rss"] = rss_mb <= AIM_RSS_MB
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
