"""Slurm without a home-made remote runner: the `srun` that runs the doctor once on every node, the
`scontrol` that drains a node, and the names they need. Commands are built here as argv lists
(never a shell line) and run through tfgpu.proc, the one seam for child processes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import sys
import uuid
from pathlib import Path
from typing import Mapping, Sequence

from tfgpu import proc
from tfgpu.records import dataclass

#: Seconds srun may take beyond the job's own time limit before tfgpu kills it: Slurm rounds the
#: limit up to whole minutes and then gives a step up to KillWait (30 s by default) to end.
SRUN_GRACE = 60.0
#: The longest drain reason tfgpu writes (Slurm shows it in `sinfo -R`, one line per node).
REASON_MAX = 120
#: The file name patterns srun fills in per node (%N: the node's short host name).
REPORT_PATTERN = "%N.json"
STDERR_DIR = "stderr"
STDERR_PATTERN = "%N.stderr"


def tfgpu_command(doctor_args: Sequence[str] = ()) -> list[str]:
    """This tfgpu (the same interpreter and package, isolated) running `doctor --json ARGS`: on a
    node it must be reachable at the same path (a shared filesystem)."""
    return [sys.executable, "-I", "-m", "tfgpu", "doctor", "--json", *doctor_args]


def slurm_minutes(seconds: float) -> int:
    """Slurm's --time is in whole minutes: the limit rounded up, at least one."""
    return max(1, math.ceil(seconds / 60.0))


@dataclass(frozen=True)
class SrunPlan:
    """One `srun` of the doctor on a set of nodes."""

    argv: list[str]
    job_name: str
    timeout: float  # when tfgpu kills srun itself


def srun_plan(out_dir: Path, doctor_args: Sequence[str] = (), *, nodes: int | None = None,
              nodelist: str | None = None, partition: str | None = None, time_limit: float = 300.0,
              srun: str = "srun", job_name: str | None = None) -> SrunPlan:
    """The srun command: one task per node, each writing its report to OUT/<node>.json and its
    stderr to OUT/stderr/<node>.stderr, the job bounded by `time_limit`."""
    name = job_name or f"tfgpu-doctor-{uuid.uuid4().hex[:12]}"
    minutes = slurm_minutes(time_limit)
    argv = [srun, f"--job-name={name}", "--ntasks-per-node=1", f"--time={minutes}", "--kill-on-bad-exit=0"]
    if nodes is not None:
        argv += ["--nodes", str(nodes), "--ntasks", str(nodes)]
    if nodelist is not None:
        argv += ["--nodelist", nodelist]
    if partition is not None:
        argv += ["--partition", partition]
    argv += [f"--output={out_dir / REPORT_PATTERN}", f"--error={out_dir / STDERR_DIR / STDERR_PATTERN}"]
    argv += tfgpu_command(doctor_args)
    return SrunPlan(argv=argv, job_name=name, timeout=minutes * 60.0 + SRUN_GRACE)


def run_srun(plan: SrunPlan, env: Mapping[str, str] | None = None) -> proc.CommandResult:
    """Run the plan; when tfgpu has to kill a hung srun, also cancel its job by its unique name
    (killing srun alone can leave the allocation running)."""
    result = proc.run(plan.argv, timeout=plan.timeout, env=env)
    if result.timed_out:
        scancel = shutil.which("scancel", path=(env or os.environ).get("PATH"))
        if scancel:
            proc.run([scancel, f"--name={plan.job_name}"], timeout=30.0, env=env)
    return result


def node_name(environ: Mapping[str, str]) -> str:
    """This node's Slurm name: $SLURMD_NODENAME (set by slurmd for a health check, prolog or job
    step), else the short host name (Slurm's default NodeName)."""
    name = (environ.get("SLURMD_NODENAME") or "").strip()
    if name:
        return name
    return socket.gethostname().split(".", 1)[0]


_UNSAFE = re.compile(r"[\"'`\\]|[^\x20-\x7e]")


def drain_reason(headline: str, limit: int = REASON_MAX) -> str:
    """`tfgpu: HEADLINE` as a one-line drain reason: no quotes or backslashes (scontrol and the
    scripts reading `sinfo -R` parse them), printable ASCII only, whitespace collapsed, at most
    `limit` characters."""
    text = _UNSAFE.sub(" ", headline or "")
    text = " ".join(text.split()) or "the doctor says this node is not ready"
    reason = f"tfgpu: {text}"
    if len(reason) > limit:
        reason = reason[: limit - 3].rstrip() + "..."
    return reason


def drain_argv(node: str, reason: str, scontrol: str = "scontrol") -> list[str]:
    """`scontrol update NodeName=NODE State=DRAIN Reason=REASON`: each key=value one argv item,
    so no shell quoting is involved."""
    return [scontrol, "update", f"NodeName={node}", "State=DRAIN", f"Reason={reason}"]


def drain(node: str, reason: str, env: Mapping[str, str] | None = None, timeout: float = 30.0) -> str | None:
    """Drain `node`; None when scontrol did it, else why not (one line)."""
    scontrol = shutil.which("scontrol", path=(env or os.environ).get("PATH"))
    if scontrol is None:
        return "scontrol is not on PATH"
    result = proc.run(drain_argv(node, reason, scontrol), timeout=timeout, env=env)
    if result.ok:
        return None
    tail = last_line(result.stderr) or last_line(result.stdout)
    return f"scontrol {result.describe()}" + (f": {tail}" if tail else "")


#: The frame Rich draws around a usage error: not part of the message.
_FRAME = "│┃║╭╮╰╯─━═┌┐└┘ \t"


def last_line(text: str) -> str:
    """The last line of a child's stderr that says something (a Rich error frame stripped)."""
    lines = [s for line in (text or "").splitlines() if (s := line.strip(_FRAME))]
    return lines[-1][:300] if lines else ""
