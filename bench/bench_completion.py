"""Benchmark: what Typer's own shell completion (`--install-completion`/`--show-completion`) would add to
every start of tfgpu, measured on `tfgpu --version`: the app as shipped (add_completion=False, the
baseline) against the same app with completion switched on, alternating in this one invocation, each a
fresh process (bench/_common.py MEASURE). Decides issue #13's question: Typer's completion only where it
costs normal runs nothing; else `tfgpu completion SHELL` prints the script (Click's completion, loaded
only by that command).

    .venv/bin/python bench/bench_completion.py [--runs 20]
"""

from __future__ import annotations

import argparse
import sys

from _common import alternate, clean_env, measure, median

LAUNCH = "import sys; sys.argv[0] = 'tfgpu'; import tfgpu.cli as c; c.app._add_completion = {on}; from tfgpu.launch import main; main()"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = clean_env()
    off = [sys.executable, "-c", LAUNCH.format(on=False), "--version"]
    on = [sys.executable, "-c", LAUNCH.format(on=True), "--version"]
    b, c = alternate(lambda: measure(off, env, ok_codes=(0,)), lambda: measure(on, env, ok_codes=(0,)), args.runs)
    b_ms = median([r["seconds"] for r in b]) * 1000
    c_ms = median([r["seconds"] for r in c]) * 1000
    b_cpu = median([r["cpu_seconds"] for r in b]) * 1000
    c_cpu = median([r["cpu_seconds"] for r in c]) * 1000
    print(f"tfgpu --version, median of {args.runs}: completion off {b_ms:.1f} ms wall ({b_cpu:.1f} ms CPU), "
          f"on {c_ms:.1f} ms wall ({c_cpu:.1f} ms CPU): ratio {c_ms / b_ms:.3f} wall, {c_cpu / b_cpu:.3f} CPU")


if __name__ == "__main__":
    main()
