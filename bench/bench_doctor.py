"""Benchmark: `tfgpu doctor --fast --json` against the bare TensorFlow import of the same target.

Baseline: `python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"`. Both run
in this one invocation, alternating, each in a fresh measuring process (bench/_common.py MEASURE)
that reports the wall time and the peak RSS of the LARGEST process of the command's whole tree
(a child subreaper, so no descendant escapes). One extra sampled run of the doctor breaks the
memory down per process. Aims (issue #10): wall <= 0.05x the baseline, largest process <= 60 MB.

    .venv/bin/python bench/bench_doctor.py [--python .venvs/tf-2.21.0-and-cuda/bin/python] [--runs 5]

Where --fast's time goes (2 shared cores, byte code cached; measured again for issue #10's speed
work). Before: Typer ~110 ms, the cyclic garbage collector ~100 ms (start-up allocates hundreds of
thousands of objects, none garbage), the interpreter's teardown at exit ~30-50 ms, the probes started
only after the matrix, policy and probe modules had loaded: median 0.64 s, ratio 0.083-0.09. Now
(tfgpu.launch: a plain doctor command line is read without Typer, the collector is off, os._exit
after the flush; tfgpu.doctor starts the probes first and loads the matrix, policy and checks while
their children run): ratio 0.062-0.068 in four invocations of 9 runs (doctor medians 0.38-0.41 s
against baselines of 5.65-6.16 s; the same whether run in an empty folder or in this repository,
within the noise), largest process 25 MB. The main thread's CPU was then the critical path, and
about a quarter of tfgpu's own import time was dataclass creation (79 frozen dataclasses, ~1.3 ms
each: the standard decorator compiles six methods per class on CPython 3.10-3.12).
Session of 2026-12-01, each step measured here (9 runs per invocation): tfgpu.records (the same
dataclasses, one compiled method per class) 0.074 -> 0.057; proc.empty_folder instead of tempfile
(and the `random` it imports) 0.0545; tfgpu.pep508 instead of packaging.requirements/markers (with
the packaging.tags, logging, sysconfig and platform they import) 0.0465; zlib's checksum instead of
hashlib in the YAML cache: 0.047 and 0.044. Over the last six invocations: 0.0465, 0.0467, 0.0505,
0.0422, 0.047, 0.0441 (doctor medians 0.26-0.32 s against baselines of 5.5-6.7 s), largest process
20-23 MB. What is left on the main thread (~0.2 s CPU): ~135 ms of imports (typing, re, enum,
dataclasses with inspect, pathlib with urllib.parse, packaging.version/specifiers and their
expressions, tfgpu's ~60 modules), the probes' own work in threads (~50 ms, the libraries probe's
file reads most), the matrix's validation (~15 ms), checks and JSON (~20 ms).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

from _common import alternate, clean_env, measure, median, target_args, tfgpu_command

AIM_RATIO = 0.05
AIM_RSS_MB = 60.0


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0-and-cuda")
    env = clean_env()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    doctor = [*tfgpu_command(), "doctor", "--fast", "--json", "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"]
    # Both run in an empty folder, as in a fresh project without tfgpu settings: run from this repository,
    # the doctor would also parse its pyproject.toml (it has a `tfgpu` key, the console script), ~15 ms.
    # `--here` measures from the current directory instead.
    cwd = None if args.here else tempfile.mkdtemp(prefix="tfgpu-bench-cwd-")
    if cwd is not None:
        atexit.register(shutil.rmtree, cwd, True)
    b, d = alternate(lambda: measure(baseline, env, ok_codes=(0,), cwd=cwd),
                     lambda: measure(doctor, env, cwd=cwd), args.runs)
    sampled = measure(doctor, env, sample=True, cwd=cwd)
    bm, dm = median(r["seconds"] for r in b), median(r["seconds"] for r in d)
    bc, dc = median(r["cpu_seconds"] for r in b), median(r["cpu_seconds"] for r in d)
    rss_mb = max(r["maxrss_kib"] for r in d) / 1024
    result = {
        "target": args.python,
        "cwd": cwd or os.getcwd(),
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
