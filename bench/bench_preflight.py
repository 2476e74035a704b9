"""Benchmark: what the CI outputs cost a preflight: `tfgpu doctor --fast` with every output on
against `tfgpu doctor --fast` alone, same target, same machine state.

Candidate: `--fast --junit PATH --markdown PATH --output-json PATH` with GITHUB_ACTIONS=true and a
GITHUB_STEP_SUMMARY file (so the step summary is appended and the `::error`/`::warning` lines and
the `::group::` fold are printed too). Baseline: `--fast` alone, with no CI variable set. Both run
in this one invocation, alternating after one warm-up each, each in a fresh measuring process
(bench/_common.py MEASURE); the ratio is of the medians of the wall times. Aim (issue #15): < 1.10.

    .venv/bin/python bench/bench_preflight.py [--python .venvs/tf-2.21.0-and-cuda/bin/python] [--runs 9]

Without the default target venv (scripts/test.sh makes it) it diagnoses this Python instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import alternate, clean_env, measure, median, target_args, tfgpu_command

AIM_RATIO = 1.10


def main() -> None:
    args = target_args(__doc__.splitlines()[0], "tf-2.21.0-and-cuda", runs=9)
    python = args.python if Path(args.python).exists() else sys.executable
    out = Path(tempfile.mkdtemp(prefix="tfgpu-bench-preflight-"))
    try:
        base_env = {k: v for k, v in clean_env().items()
                    if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "CI")}
        ci_env = {**base_env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(out / "summary.md"), "CI": "true"}
        doctor = [*tfgpu_command(), "doctor", "--fast", "--python", python]
        outputs = [*doctor, "--junit", str(out / "r.xml"), "--markdown", str(out / "s.md"),
                   "--output-json", str(out / "r.json")]
        b, c = alternate(lambda: measure(doctor, base_env), lambda: measure(outputs, ci_env), args.runs)
        if {r["rc"] for r in b} != {r["rc"] for r in c}:
            raise SystemExit(f"the two commands disagree on the exit code: {b[0]['rc']} vs {c[0]['rc']}")
        written = {p.name: p.stat().st_size for p in out.iterdir()}
        if set(written) != {"summary.md", "s.md", "r.xml", "r.json"} or not all(written.values()):
            raise SystemExit(f"the outputs were not all written: {written}")
        bm, cm = median(r["seconds"] for r in b), median(r["seconds"] for r in c)
        result = {
            "target": python,
            "fast_s": round(bm, 3),
            "fast_all_outputs_s": round(cm, 3),
            "fast_runs_s": [round(r["seconds"], 3) for r in b],
            "fast_all_outputs_runs_s": [round(r["seconds"], 3) for r in c],
            "cpu_s": {"fast": round(median(r["cpu_seconds"] for r in b), 3),
                      "fast_all_outputs": round(median(r["cpu_seconds"] for r in c), 3)},
            "output_bytes": written,
            "exit_code": b[0]["rc"],
            "ratio": round(cm / bm, 4),
            "aim_ratio": AIM_RATIO,
            "cpus": os.cpu_count(),
        }
        result["meets_ratio"] = result["ratio"] < AIM_RATIO
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
