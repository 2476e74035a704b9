"""A real one-node Slurm cluster for the tests: munged, slurmctld and slurmd from the distribution's
packages, started for `localhost` from a slurm.conf generated in a temporary folder, and stopped
again (jobs cancelled, each daemon's process group killed, the folder removed).

Nothing of the host's Slurm or munge setup is used: the key, the socket, the ports, the state and
spool folders are this cluster's own, and every client command reaches it through $SLURM_CONF.
The container has no systemd and no cgroups, hence proctrack/linuxproc and task/none.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The minimal set of Debian packages (slurm-wlm-basic-plugins and libmunge2 come as dependencies).
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol", "squeue", "scancel")
NODE = "localhost"
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])
    return shutil.which(name, path=path)


def ensure_installed() -> str | None:
    """None when the Slurm and munge programs are here (installing them when root under CI),
    else the reason they cannot be (the test then skips with it)."""
    missing = [b for b in BINARIES if which(b) is None]
    if not missing:
        return None
    hint = f"Slurm is not installed ({', '.join(missing)} missing; .ci/run installs {' '.join(PACKAGES)} as root)"
    if not os.environ.get("CI"):
        return hint
    if os.geteuid() != 0:
        return hint + ": not root, cannot install"
    apt = shutil.which("apt-get")
    if apt is None:
        return hint + ": no apt-get to install it with"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
        if done.returncode != 0:
            return hint + f": {' '.join(argv[:2])} failed: {(done.stderr or done.stdout).strip()[-300:]}"
    missing = [b for b in BINARIES if which(b) is None]
    return hint + " even after installing" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    node: str = NODE

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a client needs to reach this cluster (added to a test's environment)."""
        return {"SLURM_CONF": str(self.conf)}

    def client(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        exe = which(argv[0]) or argv[0]
        return subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(os.environ, **self.env))

    def node_state(self) -> str:
        return self.client("sinfo", "-h", "-n", self.node, "-o", "%T").stdout.strip()

    def reasons(self) -> str:
        """`sinfo -R`: node|reason per drained or down node."""
        return self.client("sinfo", "-R", "-h", "-o", "%n|%E").stdout.strip()

    def wait_state(self, wanted: tuple[str, ...], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.node_state()
            if state in wanted:
                return state
            time.sleep(0.2)
        raise AssertionError(f"node {self.node} is {state!r}, not {wanted} after {timeout:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for log in sorted((self.root / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"== {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def _daemon(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.root / "log" / f"{name}.out", "wb")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, **self.env), start_new_session=True)
        finally:
            out.close()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        """Cancel what still runs, kill each daemon's process group, remove the folder."""
        try:
            if self.procs and self.procs[-1].poll() is None:
                jobs = self.client("squeue", "-h", "-o", "%i", timeout=10).stdout.split()
                if jobs:
                    self.client("scancel", *jobs, timeout=10)
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and self.client("squeue", "-h", timeout=10).stdout.strip():
                        time.sleep(0.2)
        except (OSError, subprocess.SubprocessError):
            pass
        for proc in reversed(self.procs):
            _kill_group(proc)
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def slurm_conf(root: Path, cpus: int, ctld_port: int, slurmd_port: int) -> str:
    return "\n".join([
        "ClusterName=tfgputest",
        f"SlurmctldHost={NODE}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'run' / 'munge.socket'}",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/linear",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "ReturnToService=2",
        f"NodeName={NODE} CPUs={cpus} State=UNKNOWN",
        f"PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def wrapper_script(root: Path, key: str, argv: list[str], env: dict[str, str]) -> Path:
    """A HealthCheckProgram or Prolog: slurmd runs it with no arguments and a bare environment
    (no PATH; SLURMD_NODENAME, and for a prolog the job's SLURM_* variables), so a wrapper sets
    what the command needs, as an administrator's would. Its stderr goes to log/KEY.err."""
    lines = ["#!/bin/sh"] + [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    err = shlex.quote(str(root / "log" / f"{key}.err"))
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv) + f" 2>>{err}")
    script = root / f"{key}.sh"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def start(timeout: float = 30.0, scripts: dict[str, tuple[list[str], dict[str, str]]] | None = None,
          wanted: tuple[str, ...] = ("idle",)) -> Cluster:
    """Start munged, slurmctld and slurmd; return once the node is in a `wanted` state (or stop all
    and raise). `scripts`: slurm.conf key (HealthCheckProgram, Prolog) to the (argv, environment)
    of the program it names; slurmd runs a HealthCheckProgram as it starts, before it registers
    the node, and a Prolog before a job's first step on the node."""
    # munged requires every folder above its socket to be searchable by all (pytest's own temporary
    # folders are 0700), so the cluster lives in a folder of its own under the system temp dir.
    root = Path(tempfile.mkdtemp(prefix="tfgpu-slurm-"))
    root.chmod(0o711)
    for sub in ("run", "log", "state", "spool"):
        (root / sub).mkdir()
    (root / "run").chmod(0o711)
    cluster = Cluster(root)
    try:
        key = os.open(root / "munge.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(key, "wb") as fh:
            fh.write(os.urandom(1024))
        conf = slurm_conf(root, os.cpu_count() or 1, _free_port(), _free_port())
        for key, (argv, env) in (scripts or {}).items():
            conf += f"{key}={wrapper_script(root, key, argv, {**env, **cluster.env})}\n"
            if key == "HealthCheckProgram":
                conf += "HealthCheckInterval=3600\n"
        cluster.conf.write_text(conf)
        sock = root / "run" / "munge.socket"
        cluster._daemon("munged", [str(which("munged")), "-F", f"--key-file={root / 'munge.key'}",
                                   f"--socket={sock}", f"--pid-file={root / 'run' / 'munged.pid'}",
                                   f"--log-file={root / 'log' / 'munged.log'}",
                                   f"--seed-file={root / 'run' / 'munged.seed'}"])
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline or cluster.procs[0].poll() is not None:
                raise RuntimeError("munged did not start:\n" + (root / "log" / "munged.out").read_text(errors="replace"))
            time.sleep(0.05)
        cluster._daemon("slurmctld", [str(which("slurmctld")), "-D", "-c", "-i"])
        cluster._daemon("slurmd", [str(which("slurmd")), "-D", "-N", NODE])
        cluster.wait_state(wanted, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
