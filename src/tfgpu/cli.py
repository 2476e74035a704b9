"""The command line: `tfgpu doctor`, `tfgpu matrix`, `tfgpu recommend`, `tfgpu explain`, declared
through Typer (options, help, completion). The process starts in tfgpu.launch, which runs a plain
`tfgpu doctor ...` without importing this module (tfgpu.doctor_argv) and everything else through `app`.

Only the command modules write to stdout, through tfgpu.console. Exit codes: 0 no error finding; 1 an error finding, a policy
requirement not met among them (or a warning with --strict / --fail-on warning; an ignored finding
never counts); 2 usage error (bad flags, a --python that is not Python, a broken --matrix,
--from-facts or policy file); 3 the doctor itself failed (a check crashed).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer

from tfgpu.console import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from tfgpu.console import emit as _emit
from tfgpu.console import err as _err
from tfgpu.console import text_style as _text_style
from tfgpu.usage import load_matrix, python_path


def _examples(*commands: str) -> str:
    """A command's help epilog: examples, one per line."""
    return "Examples:\n\n" + "\n\n".join(f"  {c}" for c in commands)


class _Commands(typer.core.TyperGroup):
    """tfgpu's commands, `tfgpu fleet` among them but built (and its modules imported) only where it
    is named, listed (--help) or a typo may mean it: `tfgpu doctor` pays nothing for it."""

    def list_commands(self, ctx):
        return [*super().list_commands(ctx), *(n for n in _LAZY if n not in self.commands)]

    def get_command(self, ctx, cmd_name):
        if cmd_name in _LAZY and cmd_name not in self.commands:
            self.add_command(_LAZY[cmd_name](), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:  # an unknown name: "did you mean" weighs every command
            for name in _LAZY:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


def _fleet_group():
    from tfgpu.fleet.cli import fleet_group

    return fleet_group()


#: The sub-apps built on first use (_Commands), each by a function returning its Click group.
_LAZY = {"fleet": _fleet_group}

app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    help="Will TensorFlow use this GPU? If not: exactly why, and the command that fixes it.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from tfgpu import __version__

        _emit(f"tfgpu {__version__}" + "\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Will TensorFlow use this GPU? If not: exactly why, and the command that fixes it."""


@app.command(epilog=_examples(
    "tfgpu doctor", "tfgpu doctor --fast", "tfgpu doctor --python ~/proj/.venv",
    "tfgpu doctor --json > report.json", "tfgpu doctor --from-facts report.json", "tfgpu doctor --strict -q"))
def doctor(
    ids: Optional[List[str]] = typer.Argument(None, metavar="[CHECK_ID]...", help="Check ids to run (default: all), or finding ids: each runs the checks that can emit it. See --list."),
    list_checks: bool = typer.Option(False, "--list", help="List the checks with one line each, then exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (logs go to stderr)."),
    fast: bool = typer.Option(False, "--fast", help="Never import TensorFlow or run any file of the target (its site-packages are read as files): a static, "
                              "predicted verdict. Without --fast the live check imports TensorFlow in the target "
                              "interpreter on purpose, as your program would (its .pth files and sitecustomize run "
                              "there)."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Import TensorFlow but run no work on the GPU."),
    python: Optional[str] = typer.Option(None, "--python", metavar="PYTHON", help="Target interpreter or its venv/conda-env folder (default: the active venv/conda env, else this Python)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1.0, metavar="SECONDS", help="Time limit per probe and per check, in seconds."),
    live_timeout: float = typer.Option(120.0, "--live-timeout", min=1.0, metavar="SECONDS", help="Time limit for the live TensorFlow import and GPU smoke test, in seconds."),
    from_facts: Optional[Path] = typer.Option(None, "--from-facts", metavar="REPORT.json", help="Re-run the checks on the facts of a saved JSON report."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", metavar="MATRIX.yaml", help="Use this compatibility matrix instead of the bundled one."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the verdict, the errors and the next steps."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Every check, passed ones too, with its evidence and id."),
    # CI outputs and integration (issue 15 items 1-2; tfgpu.ci, render/junit.py, render/markdown.py).
    junit: Optional[str] = typer.Option(None, "--junit", metavar="PATH", help="Also write the report as JUnit XML to PATH (one testcase per check)."),
    markdown: Optional[str] = typer.Option(None, "--markdown", metavar="PATH", help="Also write the report as Markdown to PATH; '-' prints it on stdout instead of the terminal report."),
    output_json: Optional[str] = typer.Option(None, "--output-json", metavar="PATH", help="Also write the JSON report to PATH, while the terminal gets its report."),
    no_ci_integration: bool = typer.Option(False, "--no-ci-integration", help="Under GitHub Actions or GitLab CI, add nothing: no step summary, annotations or folded report. "
                                           "(With --json, the GitHub annotations go to stderr.)"),
    # Policy: what "ready" means for this pipeline (issue 15 item 3; tfgpu.policy). [tool.tfgpu] in
    # ./pyproject.toml, or --config FILE, has the same keys; these flags win over it.
    require_gpus: Optional[int] = typer.Option(None, "--require-gpus", metavar="N", help="Require at least N GPUs visible to TensorFlow (with --fast: to CUDA, by NVML, after CUDA_VISIBLE_DEVICES)."),
    require_vram: Optional[float] = typer.Option(None, "--require-vram", metavar="GIB", help="Require at least GIB GiB of free memory on every visible GPU."),
    require_cc: Optional[str] = typer.Option(None, "--require-cc", metavar="X.Y", help="Require compute capability X.Y or higher on every visible GPU."),
    require_tf: Optional[str] = typer.Option(None, "--require-tf", metavar="SPEC", help="Require the installed TensorFlow to match a PEP 440 specifier, e.g. '>=2.16,<2.22'."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="error|warning", help="Exit 1 on errors (the default), or on warnings too (--strict is its alias)."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", metavar="ID", help="Ignore findings with this id or from this check: kept in the report, marked ignored, never the exit code (repeatable)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="FILE.toml", help="Read the policy from FILE.toml ([tool.tfgpu], or its top level) instead of ./pyproject.toml."),
) -> None:
    from tfgpu import doctor as doctor_mod

    raise SystemExit(doctor_mod.run(
        ids=ids, list_checks=list_checks, as_json=as_json, fast=fast, no_smoke=no_smoke, python=python,
        timeout=timeout, live_timeout=live_timeout, from_facts=from_facts, strict=strict, matrix_file=matrix_file,
        quiet=quiet, verbose=verbose, junit=junit, markdown=markdown, output_json=output_json,
        no_ci_integration=no_ci_integration, require_gpus=require_gpus, require_vram=require_vram,
        require_cc=require_cc, require_tf=require_tf, fail_on=fail_on, ignore=ignore, config=config))



@app.command("matrix", epilog=_examples("tfgpu matrix", "tfgpu matrix --tf 2.16", "tfgpu matrix --cuda 12.4 --json"))
def matrix_cmd(
    tf: Optional[str] = typer.Option(None, "--tf", metavar="X.Y", help="One TensorFlow release series in full, e.g. 2.16."),
    cuda: Optional[str] = typer.Option(None, "--cuda", metavar="X.Y", help="What one CUDA toolkit needs, e.g. 12.4."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", metavar="MATRIX.yaml", help="Use this compatibility matrix instead of the bundled one."),
) -> None:
    """Print the compatibility matrix: TensorFlow builds, or one release, or one CUDA toolkit."""
    from tfgpu.render import matrix as view
    from tfgpu.render.json import document

    matrix = load_matrix(matrix_file)
    if tf:
        row = matrix.tf_row(tf)
        if row is None:
            _err(f"--tf {tf}: not in the matrix (known: {', '.join(r.series for r in matrix.tf_rows_newest_first())})")
            raise typer.Exit(EXIT_USAGE)
        _emit(document(view.release_json(matrix, row)) if as_json else view.release_text(matrix, row, **_text_style(table=True)))
        raise typer.Exit(EXIT_OK)
    if cuda:
        if matrix.cuda_row(cuda) is None:
            _err(f"--cuda {cuda}: not in the matrix (known: {', '.join(r.version for r in matrix.cuda)})")
            raise typer.Exit(EXIT_USAGE)
        _emit(document(view.cuda_doc(matrix, cuda)) if as_json else view.cuda_text(matrix, cuda, **_text_style(table=True)))
        raise typer.Exit(EXIT_OK)
    _emit(document(view.table_doc(matrix)) if as_json else view.table_text(matrix, **_text_style(table=True)))
    raise typer.Exit(EXIT_OK)


@app.command(epilog=_examples(
    "tfgpu recommend", "tfgpu recommend --driver 535.104.05 --cc 8.6 --python-version 3.11",
    "tfgpu recommend --arch aarch64 --cc 8.7 --python-version 3.10", "tfgpu recommend --os wsl2 --json"))
def recommend(
    driver: Optional[str] = typer.Option(None, "--driver", metavar="VERSION", help="NVIDIA driver version, e.g. 535.104.05 (default: this machine's)."),
    cc: Optional[List[str]] = typer.Option(None, "--cc", metavar="CC", help="GPU compute capability, e.g. 8.6 or sm_86 (repeatable; default: this machine's GPUs)."),
    python_version: Optional[str] = typer.Option(None, "--python-version", metavar="X.Y", help="Target Python, e.g. 3.11 (default: the target interpreter's)."),
    os_name: Optional[str] = typer.Option(None, "--os", metavar="OS", help="linux, wsl2, windows or macos (default: this machine's)."),
    arch: Optional[str] = typer.Option(None, "--arch", metavar="ARCH", help="CPU architecture of the target: x86_64 or aarch64 (Jetson, DGX Spark, Grace; default: this machine's)."),
    python: Optional[str] = typer.Option(None, "--python", metavar="PYTHON", help="Target interpreter whose version to use."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: recommendations [{tensorflow, install, notes}], excluded [{tensorflow, reason}]."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", metavar="MATRIX.yaml", help="Use this compatibility matrix instead of the bundled one."),
) -> None:
    """The TensorFlow releases that will use this machine's GPU, best first, with install commands."""
    from tfgpu.recommend import Machine
    from tfgpu.recommend import recommend as advise

    matrix = load_matrix(matrix_file)
    if os_name is not None and os_name not in ("linux", "wsl2", "windows", "macos"):
        _err(f"--os {os_name}: expected linux, wsl2, windows or macos")
        raise typer.Exit(EXIT_USAGE)
    arch_name = {"amd64": "x86_64", "arm64": "aarch64"}.get((arch or "").lower(), (arch or "").lower()) or None
    if arch_name is not None and arch_name not in ("x86_64", "aarch64"):
        _err(f"--arch {arch}: expected x86_64 or aarch64")
        raise typer.Exit(EXIT_USAGE)
    if arch_name == "aarch64" and os_name in ("windows", "wsl2"):
        _err(f"--arch aarch64 with --os {os_name}: tfgpu's matrix knows TensorFlow's NVIDIA GPU support on Arm "
             "for Linux only (tensorflow_platforms: linux-aarch64)")
        raise typer.Exit(EXIT_USAGE)
    cc = [_cc_arg(v) for v in cc or []]
    for value in cc:
        from tfgpu.matrix import parse_cc

        if parse_cc(value) is None:
            _err(f"--cc {value}: expected a compute capability like 8.6")
            raise typer.Exit(EXIT_USAGE)
    if driver is not None and not re.match(r"^\d{1,6}(\.\d{1,6}){0,2}$", driver):
        _err(f"--driver {driver}: expected a driver version like 535.104.05")
        raise typer.Exit(EXIT_USAGE)
    facts = _machine_facts(python, matrix, need_driver=driver is None or not cc, need_python=python_version is None)
    from tfgpu.rules import wheel_arch

    machine = Machine(
        driver=driver or facts.get("driver"),
        ccs=tuple(cc) if cc else tuple(facts.get("ccs", ())),
        python=python_version or facts.get("python"),
        os=os_name or facts.get("os", "linux"),
        machine=arch_name or (facts.get("machine") or "x86_64" if os_name in (None, "linux", "wsl2") else "x86_64"),
        # This machine's glibc says nothing about another architecture's target.
        glibc=facts.get("glibc") if os_name is None and arch_name in (None, wheel_arch(facts.get("machine"))) else None,
    )
    advice = advise(matrix, machine)
    relax = _relax_one(matrix, machine) if not advice.recommendations else []
    from tfgpu.render import recommend as view
    from tfgpu.render.json import document

    _emit(document(view.to_dict(machine, advice, relax)) if as_json
          else view.render(machine, advice, relax=relax, **_text_style(table=True)))
    raise typer.Exit(EXIT_OK if advice.recommendations else EXIT_FINDINGS)


def _cc_arg(value: str) -> str:
    """A compute capability as typed: 8.6, sm_86, compute_86, 86 -> 8.6 (the matrix's form)."""
    m = re.fullmatch(r"(?:sm_|compute_)?(\d+)([a-z]?)", value.strip().lower())
    if m and len(m.group(1)) >= 2:
        return f"{m.group(1)[:-1]}.{m.group(1)[-1]}"
    return value


def _relax_one(matrix, machine) -> list:
    """When nothing fits: for each single constraint, what dropping it alone would give
    (constraint, the change in words, the best TensorFlow then)."""
    from dataclasses import replace

    from tfgpu.recommend import recommend as advise

    tries = []
    if machine.os in ("windows",):
        tries.append(("OS", "on WSL2 (same Windows machine)", replace(machine, os="wsl2", glibc=None)))
    if machine.python:
        tries.append(("Python version", "with another Python", replace(machine, python=None)))
    if machine.driver:
        tries.append(("driver", "with a newer NVIDIA driver", replace(machine, driver=None)))
    if machine.ccs:
        tries.append(("GPU", "with another GPU", replace(machine, ccs=())))
    out = []
    for constraint, change, relaxed in tries:
        advice = advise(matrix, relaxed)
        if not advice.recommendations:
            continue
        best = advice.recommendations[0]
        if constraint == "Python version":
            row = matrix.tf_row(best.tensorflow)
            pys = row.pythons(relaxed.machine) if row is not None else ()
            if pys:
                change = f"with Python {pys[-1]}" if len(pys) == 1 else f"with Python {pys[0]} to {pys[-1]}"
        out.append((constraint, change, best.tensorflow))
    return out


def _machine_facts(python: Optional[str], matrix, need_driver: bool, need_python: bool) -> dict:
    """This machine's facts for `recommend`, through the same probes as the doctor."""
    from tfgpu import probes as probes_mod
    from tfgpu.model import ProbeFailure, RunOptions
    from tfgpu.probes import ProbeContext
    from tfgpu.probes.python_env import default_python
    from tfgpu.runner import run_probes

    registry = probes_mod.load_all()
    wanted = ["host"] + (["python_env"] if need_python else []) + (["driver"] if need_driver and "driver" in registry else [])
    if python is not None:
        python = python_path(python)
    target = python or default_python(os.environ)
    ctx = ProbeContext(python=target, environ=dict(os.environ), timeout=20.0, matrix=matrix,
                       options=RunOptions(timeout=20.0))
    results, _ = run_probes([registry[n] for n in wanted], ctx)
    out: dict = {}
    host = results.get("host")
    if host is not None and not isinstance(host, ProbeFailure):
        out["os"] = {"Windows": "windows", "Darwin": "macos"}.get(host.system, "wsl2" if host.wsl == "wsl2" else "linux")
        out["machine"] = host.machine
        out["glibc"] = host.glibc
    env = results.get("python_env")
    if env is not None and not isinstance(env, ProbeFailure):
        out["python"] = env.version
    drv = results.get("driver")
    if drv is not None and not isinstance(drv, ProbeFailure):
        out["driver"] = getattr(drv, "driver_version", None)
        out["ccs"] = [c for c in (_gpu_cc(g) for g in getattr(drv, "gpus", ()) or ()) if c]
    return out


def _gpu_cc(gpu) -> Optional[str]:
    for attr in ("compute_capability", "cc"):
        value = getattr(gpu, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


@app.command(epilog=_examples("tfgpu explain build.log", "python train.py 2>&1 | tfgpu explain -",
                              "tfgpu explain --json build.log"))
def explain(
    source: Optional[str] = typer.Argument(None, metavar="[LOG]", help="Log file to read, or - (the default) for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", metavar="MATRIX.yaml", help="Use this compatibility matrix instead of the bundled one."),
) -> None:
    """Explain a pasted TensorFlow/CUDA log: root causes, harmless noise, and fixes."""
    from tfgpu.explain import ExplainFailed, explain_file
    from tfgpu.model import Severity

    matrix = load_matrix(matrix_file)
    path = None if source in (None, "-") else source
    if path is not None and not Path(path).exists():
        _err(f"{path}: no such file")
        raise typer.Exit(EXIT_USAGE)
    if path is not None and Path(path).is_dir():
        _err(f"{path}: is a directory, not a log file")
        raise typer.Exit(EXIT_USAGE)
    if path is None and _stdin_is_terminal():
        # Reading a terminal would wait in silence: say how to paste and how to end the input.
        _err("paste the log, then press Ctrl-D on a line of its own to end it (or give a file: tfgpu explain build.log)")
    try:
        report = explain_file(path, matrix)
    except ExplainFailed as exc:
        _err(exc.message)
        raise typer.Exit(exc.code)
    if as_json:
        from tfgpu.render.json import render as render_json

        _emit(render_json(report, kind="explain"))
    else:
        from tfgpu.render.explain import render as render_explain

        style = _text_style(table=True)
        _emit(render_explain(report, width=style["width"], color=style["color"]))
    raise typer.Exit(EXIT_FINDINGS if report.worst is Severity.ERROR else EXIT_OK)


#: The shells `tfgpu completion` writes a script for (Typer's scripts, answered through _TFGPU_COMPLETE).
_SHELLS = ("bash", "zsh", "fish")


@app.command("completion", epilog=_examples("tfgpu completion bash >> ~/.bashrc",
                                            "tfgpu completion zsh > ~/.zfunc/_tfgpu",
                                            "tfgpu completion fish > ~/.config/fish/completions/tfgpu.fish"))
def completion_cmd(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print the shell completion script for bash, zsh or fish (add it to your shell's startup)."""
    if shell not in _SHELLS:
        _err(f"completion {shell}: expected one of {', '.join(_SHELLS)}")
        raise typer.Exit(EXIT_USAGE)
    from typer.completion import get_completion_script

    _emit(get_completion_script(prog_name="tfgpu", complete_var="_TFGPU_COMPLETE", shell=shell) + "\n")
    raise typer.Exit(EXIT_OK)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False
