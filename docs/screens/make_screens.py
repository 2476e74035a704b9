"""Regenerate the screens in docs/screens/: the saved reports (*.json) and their tmux captures at 80
and 120 columns (*-80.txt, *-120.txt). tests/test_screens.py renders the same commands at a fixed
width without tmux and fails when a capture drifts; after a deliberate change to the report, run

    python docs/screens/make_screens.py            # captures only (needs tmux), from the saved reports
    python docs/screens/make_screens.py --facts    # also re-save the reports (stand-in NVML, real TF venvs)

Each screen's report is real: a run of `tfgpu doctor --fast --json` against the stand-in NVML of
tests/data/nvml/fake_nvml.c (a GeForce RTX 4090 on driver 560.35.03; a Tesla T4 on 470.82.01)
with the real tensorflow==2.21.0[and-cuda] wheel as --python, or one of the named machines of
tests/test_driver_machines.py; the capture is `tfgpu doctor --from-facts` of it in a tmux pane.
"""

from __future__ import annotations

import json
import os
import subprocess  # noqa: TID251 (a dev script, not the package)
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "docs" / "screens"
WIDTHS = (80, 120)
#: name -> the command as typed (run from the repository root).
SCREENS = {
    "no-driver": "tfgpu doctor --from-facts docs/screens/no-driver.json",
    "rtx4090-ready": "tfgpu doctor --from-facts docs/screens/rtx4090-ready.json",
    "t4-driver-470": "tfgpu doctor --from-facts docs/screens/t4-driver-470.json",
    "container-without-gpus": "tfgpu doctor --from-facts docs/screens/container-without-gpus.json",
    "explain-log": "tfgpu explain tests/data/logs/condaforge417_ptxas_newer_than_driver.txt",
}
#: Stand-in GPUs for the live-probed reports (tests/test_driver_standin.py's format).
STANDIN = {
    "rtx4090-ready": ("name=NVIDIA GeForce RTX 4090,cc=8.9,mem=24564,bus=384,mclk=10501", "560.35.03", 12060, False),
    "t4-driver-470": ("name=Tesla T4,cc=7.5,mem=15360,bus=256,mclk=5001,mig=0,nosupport=mig", "470.82.01", 11040, True),
}
NAMED = {"no-driver": "no_driver", "container-without-gpus": "container_without_gpus"}
#: Where the saved reports say the target environment lives (the checkout's own path is not shown).
SHOWN_ROOT = "/home/you/project"


def _tfgpu() -> str:
    return str(Path(sys.executable).parent / "tfgpu")


def save_named(name: str, machine: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import test_driver_machines as machines  # noqa: PLC0415

    from tfgpu import matrix as matrix_mod
    from tfgpu.model import RunOptions
    from tfgpu.render.json import report_to_dict
    from tfgpu.runner import build_report

    from dataclasses import replace  # noqa: PLC0415

    from tfgpu.probes.python_env import Distribution  # noqa: PLC0415

    facts = dict(machines.MACHINES[machine])
    # The named machine's tf_build is tensorflow 2.21.0 in /srv/venv: its environment lists the
    # same distribution (plain tensorflow, as `pip install tensorflow` leaves it).
    site = "/srv/venv/lib/python3.11/site-packages"
    tf = Distribution("tensorflow", "2.21.0", site, f"{site}/tensorflow-2.21.0.dist-info", ">=3.10",
                      (), ("and-cuda",))
    facts["python_env"] = replace(facts["python_env"], distributions=(tf,), tensorflow_dirs=(f"{site}/tensorflow",))
    report = build_report(facts, {"probes_total": 0.0}, matrix_mod.load(None), None, RunOptions(fast=True))
    (HERE / f"{name}.json").write_text(json.dumps(report_to_dict(report), indent=2) + "\n", encoding="utf-8")


def save_standin(name: str, gpus: str, driver: str, cuda: int, old: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        lib.mkdir()
        cmd = ["gcc", "-shared", "-fPIC", "-o", str(lib / "libnvidia-ml.so.1"),
               str(REPO / "tests" / "data" / "nvml" / "fake_nvml.c"), "-Wl,-soname,libnvidia-ml.so.1"]
        subprocess.run(cmd + (["-DOLD_DRIVER"] if old else []), check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "XLA_FLAGS", "COLUMNS")}
        env.update(LD_LIBRARY_PATH=str(lib), FAKE_NVML_GPUS=gpus, FAKE_NVML_DRIVER=driver, FAKE_NVML_CUDA=str(cuda))
        python = REPO / ".venvs" / "tf-2.21.0-and-cuda" / "bin" / "python"
        out = subprocess.run([_tfgpu(), "doctor", "--fast", "--json", "--python", str(python)], env=env,
                             capture_output=True, text=True, check=False)
        json.loads(out.stdout)
        # The report names this checkout's folders; a screen shows a user's project folder instead.
        text = out.stdout.replace(str(REPO), SHOWN_ROOT)
        json.loads(text)
        (HERE / f"{name}.json").write_text(text, encoding="utf-8")


_SOCKETS: list[str] = []


def _tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """tmux on this capture's own server (a fresh socket each: a server that is shutting down
    refuses new sessions)."""
    return subprocess.run(["tmux", "-u", "-L", _SOCKETS[-1], *args], capture_output=True, text=True, check=check,
                          cwd=REPO)


def capture(command: str, width: int) -> str:
    """`command` typed into a fresh tmux pane `width` columns wide; the pane's whole text."""
    session = f"screen-{width}"
    _SOCKETS.append(f"tfgpu-screens-{os.getpid()}-{len(_SOCKETS)}")
    env_path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    _tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", "400",
          f"env -i HOME={tempfile.gettempdir()} PATH={env_path} LANG=C.UTF-8 TERM=xterm-256color "
          "PS1='$ ' bash --norc --noprofile")
    try:
        time.sleep(0.5)
        _tmux("send-keys", "-t", session, f"cd {REPO} && clear", "Enter")
        time.sleep(0.5)
        _tmux("send-keys", "-t", session, command + "; echo '##done'", "Enter")
        text = ""
        for _ in range(120):
            time.sleep(0.5)
            # -J: a line the pane wrapped comes back whole (as the program wrote it).
            text = _tmux("capture-pane", "-p", "-J", "-t", session, "-S", "-", "-E", "-").stdout
            if "\n##done" in text:
                break
    finally:
        _tmux("kill-server", check=False)
    lines = text.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("$ " + command[:20]))
    end = next(i for i, ln in enumerate(lines) if ln == "##done")
    # The typed line shows the command alone (the marker echo is ours).
    body = [lines[start].replace("; echo '##done'", "")] + lines[start + 1:end]
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(ln.rstrip() for ln in body) + "\n"


def main(argv: list[str]) -> int:
    if "--facts" in argv:
        for name, machine in NAMED.items():
            save_named(name, machine)
        for name, spec in STANDIN.items():
            save_standin(name, *spec)
    for name, command in SCREENS.items():
        for width in WIDTHS:
            (HERE / f"{name}-{width}.txt").write_text(capture(command, width), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
