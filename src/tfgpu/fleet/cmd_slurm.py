"""`tfgpu fleet slurm` (the doctor on every node through srun, then the reports merged) and
`tfgpu fleet healthcheck` (the doctor as Slurm's HealthCheckProgram or a node prolog, draining a
node that is not ready). docs/fleet.md, section Slurm.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tfgpu.console import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, err


def slurm(
    doctor_args: Optional[List[str]] = typer.Argument(
        None, metavar="[-- DOCTOR_ARGS]...", help="Arguments for the doctor on each node, after '--' (e.g. -- --fast)."),
    nodes: Optional[int] = typer.Option(None, "--nodes", "-N", min=1, help="Run on this many nodes (one task each)."),
    nodelist: Optional[str] = typer.Option(None, "--nodelist", "-w", metavar="HOSTLIST",
                                           help="Run on exactly these nodes (a Slurm hostlist: gpu[001-064])."),
    partition: Optional[str] = typer.Option(None, "--partition", "-p", help="The Slurm partition."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                       help="Where each node writes DIR/<node>.json (on a filesystem the nodes share; "
                                            "default: ./tfgpu-fleet-<date>-<time>)."),
    time_limit: float = typer.Option(300.0, "--time-limit", min=1.0, max=86400.0, metavar="SECONDS",
                                     help="The job's time limit (srun --time, rounded up to minutes); srun is killed "
                                          "60 s after it."),
    as_json: bool = typer.Option(False, "--json", help="Print the merged view as JSON (as 'tfgpu fleet report --json')."),
    markdown: Optional[str] = typer.Option(None, "--markdown", metavar="PATH", help="Also write the merged view as Markdown ('-': on stdout)."),
    junit: Optional[str] = typer.Option(None, "--junit", metavar="PATH", help="Also write JUnit XML, one testcase per node."),
) -> None:
    """Run the doctor once on every node through srun, then merge the reports (tfgpu fleet report)."""
    import os
    import shutil
    import time

    from tfgpu.fleet import slurm as sl

    if (nodes is None) == (nodelist is None):
        err("say how many nodes (--nodes N) or which ones (--nodelist L), one of the two")
        raise typer.Exit(EXIT_USAGE)
    if as_json and markdown == "-":
        err("--json and --markdown - both print on stdout: choose one")
        raise typer.Exit(EXIT_USAGE)
    srun = shutil.which("srun")
    if srun is None:
        err("srun is not on PATH: run 'tfgpu fleet slurm' where Slurm's client commands are (a login node)")
        raise typer.Exit(EXIT_USAGE)
    out_dir = (out or Path(f"tfgpu-fleet-{time.strftime('%Y%m%d-%H%M%S')}")).absolute()
    if "%" in str(out_dir):
        err(f"--out {out_dir}: srun would read '%' in it as a pattern; choose a folder without one")
        raise typer.Exit(EXIT_USAGE)
    try:
        if out_dir.exists() and any(out_dir.glob("*.json")):
            err(f"--out {out_dir} already holds reports: choose a new or empty folder, so that old reports are not merged")
            raise typer.Exit(EXIT_USAGE)
        (out_dir / sl.STDERR_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err(f"--out {out_dir}: cannot create it ({exc.strerror or exc})")
        raise typer.Exit(EXIT_USAGE) from None
    plan = sl.srun_plan(out_dir, doctor_args or (), nodes=nodes, nodelist=nodelist, partition=partition,
                        time_limit=time_limit, srun=srun)
    where = f"{nodes} node(s)" if nodes is not None else nodelist
    err(f"running the doctor on {where} through srun (job {plan.job_name}, limit "
        f"{sl.slurm_minutes(time_limit)} min); reports go to {out_dir}")
    result = sl.run_srun(plan, env=os.environ)
    try:
        (out_dir / sl.STDERR_DIR / "srun.log").write_text(result.stderr)
    except OSError:
        pass
    if result.timed_out:
        err(f"srun {result.describe()}: killed, job {plan.job_name} cancelled; merging the reports that came back")
    elif result.signal is not None:
        err(f"srun {result.describe()}; merging the reports that came back")
    reports = sorted(out_dir.glob("*.json"))
    if not reports:
        why = sl.last_line(result.stderr)
        err(f"no report came back: srun {result.describe()}" + (f": {why}" if why else ""))
        raise typer.Exit(EXIT_USAGE if result.returncode is not None else EXIT_INTERNAL)
    raise typer.Exit(_merge(out_dir, nodelist, as_json, markdown, junit))


def _merge(out_dir: Path, expect: Optional[str], as_json: bool, markdown: Optional[str], junit: Optional[str]) -> int:
    """`tfgpu fleet report DIR` in this process (with --expect the nodes asked for); its exit code."""
    from tfgpu.fleet import cmd_report

    return cmd_report.run([str(out_dir)], as_json=as_json, markdown=markdown, junit=junit, expect=expect)


def healthcheck(
    doctor_args: Optional[List[str]] = typer.Argument(
        None, metavar="[-- DOCTOR_ARGS]...", help="More arguments for the doctor, after '--'."),
    drain: bool = typer.Option(False, "--drain", help="Drain this node (scontrol) when the doctor says it is not ready "
                                                      "(exit 1); never when the doctor itself failed."),
    full: bool = typer.Option(False, "--full", help="The whole diagnosis with the live TensorFlow import (default: --fast)."),
    time_limit: float = typer.Option(60.0, "--time-limit", min=1.0, max=86400.0, metavar="SECONDS",
                                     help="Time limit for the doctor; past it, exit 3 (and no drain)."),
) -> None:
    """For Slurm's HealthCheckProgram or a node prolog: no output when ready, the doctor's exit code."""
    import json
    import os

    from tfgpu import proc
    from tfgpu.fleet import slurm as sl

    args = ([] if full else ["--fast"]) + list(doctor_args or ())
    result = proc.run(sl.tfgpu_command(args), timeout=time_limit)
    code = result.returncode
    if code == EXIT_OK:
        raise typer.Exit(EXIT_OK)
    if code == EXIT_USAGE:
        err(f"healthcheck: the doctor refused its arguments: {sl.last_line(result.stderr)}")
        raise typer.Exit(EXIT_USAGE)
    if code != EXIT_FINDINGS:
        why = sl.last_line(result.stderr)
        err(f"healthcheck: the doctor itself failed ({result.describe()})" + (f": {why}" if why else "")
            + ("; node not drained" if drain else ""))
        raise typer.Exit(EXIT_INTERNAL)
    try:
        headline = " ".join(str(json.loads(result.stdout)["verdict"]["headline"]).split())
    except (ValueError, KeyError, TypeError):
        headline = "the doctor says this node is not ready"
    line = f"not ready: {headline}"
    if drain:
        node = sl.node_name(os.environ)
        failed = sl.drain(node, sl.drain_reason(headline))
        line += f" (node {node} drained)" if failed is None else f" (could not drain node {node}: {failed})"
    err(line)
    raise typer.Exit(EXIT_FINDINGS)
