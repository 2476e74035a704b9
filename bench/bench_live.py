"""Benchmark: the default `tfgpu doctor --json` (live import included) against the bare
`python -c "import tensorflow as tf; tf.config.list_physical_devices('GPU')"` in the same target.

Both run in this one invocation, alternating; prints median wall time, the ratio, and the peak
resident memory of the largest process of each tree (bench/_common.py MEASURE), and a per-process
breakdown of one sampled doctor run. Aim (issue #10): ratio <= 1.10.

    .venv/bin/python bench/bench_live.py [--python .venvs/tf-2.21.0-and-cuda/bin/python] [--runs 5]

The ratio splits in two (each doctor run also writes its report with --output-json, whose
timings.tf_live is the live probe's own time): `outside_live_s`, the doctor's wall time outside the
live probe (tfgpu's start before the live child starts, and the checks and report after it ends:
the overhead tfgpu can cut or overlap), and `live_vs_baseline`, the live probe against the bare
import (its child does more than the baseline, and shares the CPUs with the doctor's other
children, the library loader's above all). On a busy machine (2 shared cores here) the TensorFlow
import's time varies by a factor of two between runs: read the CPU ratio and `outside_live_s`,
which vary far less, next to the wall ratio. Measured so (issue #10, 3 paired runs here):
`outside_live_s` 0.64-0.77 s before the checks and explain's knowledge loaded during the live
import (cli._preload), 0.39-0.52 s after; the wall ratio 1.06-1.19 either way, within the noise.
Of the doctor's extra CPU (~1.1 s over the baseline's ~6 s): tfgpu's own process ~0.6 s (PyYAML's
import and the knowledge's parse ~0.2 s of it), the library loader child ~0.26 s (344 MB).
After tfgpu.launch (no Typer, no cyclic GC during start-up, os._exit): `outside_live_s`
0.19-0.28 s; wall ratio 1.136, 1.058, 1.154 and 1.055 in four invocations (4, 4, 8 and 6 paired
runs; baselines 4.7-7.1 s within one invocation), CPU ratio 1.13-1.24: the 1.10 aim sits inside
this machine's noise. The live child itself was 1.035x the bare import measured alone (TensorFlow's
INFO log and the dso_loader/cuda_diagnostics VLOG it needs as evidence cost ~2-4%).
Then (session of 2026-12-01) the --fast work (tfgpu.records, tfgpu.pep508, proc.empty_folder) left
`outside_live_s` at 0.20-0.22 s; wall ratios 1.054, 1.097, 1.118 in three invocations (6, 8, 8
paired runs). The bare import spends ~1.3 s of its ~5.5 s tearing the interpreter down with
TensorFlow loaded (measured: the same command ending with atexit functions + os._exit, 0.78x);
the live child now ends that way after its last stage (probes/_children/live.py), so the doctor
no longer waits for that teardown: ratio 0.671 (doctor median 4.01 s against 5.98 s; CPU ratio
0.75, `outside_live_s` 0.20 s), `live_vs_baseline` 0.63; 0.838 in a later invocation (5.05 s against
6.03 s): the time the bare import spends in its teardown varies from run to run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from _common import alternate, clean_env, measure, median, target_args, tfgpu_command

AIM_RATIO = 1.10


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0-and-cuda")
    env = clean_env()
    folder = tempfile.mkdtemp(prefix="tfgpu-bench-live-")
    report = os.path.join(folder, "report.json")
    doctor = [*tfgpu_command(), "doctor", "--json", "--output-json", report, "--python", args.python]
    baseline = [args.python, "-c", "import tensorflow as tf; tf.config.list_physical_devices('GPU')"]

    def run_doctor(sample: bool = False) -> dict:
        rec = measure(doctor, env, sample=sample)
        with open(report, encoding="utf-8") as fh:
            rec["tf_live_s"] = json.load(fh)["timings"]["tf_live"]
        return rec

    try:
        b, d = alternate(lambda: measure(baseline, env, ok_codes=(0,)), run_doctor, args.runs)
        sampled = run_doctor(sample=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bm, dm = median(r["seconds"] for r in b), median(r["seconds"] for r in d)
    bc, dc = median(r["cpu_seconds"] for r in b), median(r["cpu_seconds"] for r in d)
    outside = [r["seconds"] - r["tf_live_s"] for r in d]
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
        "outside_live_s": round(median(outside), 3),
        "outside_live_runs_s": [round(x, 3) for x in outside],
        "live_vs_baseline": round(median(r["tf_live_s"] for r in d) / bm, 3),
        "baseline_largest_process_mb": round(max(r["maxrss_kib"] for r in b) / 1024, 1),
        "doctor_largest_process_mb": round(max(r["maxrss_kib"] for r in d) / 1024, 1),
        "per_process_mb": [[label, round(kib / 1024, 1)] for label, kib in sampled["processes"]],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
