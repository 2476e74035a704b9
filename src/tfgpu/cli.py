"""The command line: `tfgpu doctor`, `tfgpu matrix`, `tfgpu recommend`, `tfgpu explain`.

Only this module writes to stdout. Exit codes: 0 no error finding; 1 an error finding (or a
warning with --strict); 2 usage error (bad flags, a --python that is not Python, a broken
--matrix or --from-facts file); 3 the doctor itself failed (a check crashed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Will TensorFlow use this GPU? If not: exactly why, and the command that fixes it.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from tfgpu import __version__

        typer.echo(f"tfgpu {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Will TensorFlow use this GPU? If not: exactly why, and the command that fixes it."""


def _err(message: str) -> None:
    sys.stderr.write(f"tfgpu: {message}\n")


def _use_color(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def _width() -> int:
    try:
        return max(60, min(int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.stdout.fileno()).columns, 160))
    except (OSError, ValueError):
        return 100


def _load_matrix(path: Optional[Path]):
    from tfgpu.matrix import MatrixError, load

    try:
        return load(str(path) if path else None)
    except MatrixError as exc:
        _err(f"bad matrix: {exc}")
        raise typer.Exit(EXIT_USAGE)


def _validate_python(path: str) -> None:
    p = Path(path)
    if not p.exists():
        _err(f"--python {path}: no such file")
        raise typer.Exit(EXIT_USAGE)
    if p.is_dir():
        _err(f"--python {path}: is a directory, not a Python interpreter")
        raise typer.Exit(EXIT_USAGE)
    if not os.access(path, os.X_OK):
        _err(f"--python {path}: not executable")
        raise typer.Exit(EXIT_USAGE)


def _exit_code(report, strict: bool) -> int:
    from tfgpu.model import Severity

    if report.failed_checks:
        return EXIT_INTERNAL
    worst = report.worst
    if worst is Severity.ERROR or (strict and worst is Severity.WARNING):
        return EXIT_FINDINGS
    return EXIT_OK


@app.command()
def doctor(
    ids: Optional[List[str]] = typer.Argument(None, help="Check ids to run (default: all). See --list."),
    list_checks: bool = typer.Option(False, "--list", help="List the checks with one line each, then exit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout (logs go to stderr)."),
    fast: bool = typer.Option(False, "--fast", help="Never import TensorFlow: a static, predicted verdict."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Import TensorFlow but run no work on the GPU."),
    python: Optional[str] = typer.Option(None, "--python", help="Target interpreter (default: the active venv/conda env, else this Python)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="Default time limit per probe, in seconds."),
    from_facts: Optional[Path] = typer.Option(None, "--from-facts", help="Re-run the checks on the facts of a saved JSON report."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", help="Use this compatibility matrix instead of the bundled one."),
) -> None:
    """Diagnose whether TensorFlow will use this machine's NVIDIA GPU."""
    from tfgpu import checks as checks_mod
    from tfgpu import probes as probes_mod

    registry = checks_mod.load_all()
    if list_checks:
        for chk in sorted(registry.values(), key=lambda c: (c.area, c.id)):
            origin = "" if chk.origin.startswith("tfgpu.") else f"  (plugin: {chk.origin})"
            typer.echo(f"{chk.id:<28} {chk.title}{origin}")
        for name, error, _dist in checks_mod.PLUGIN_ERRORS:
            typer.echo(f"{name:<28} (plugin failed to load: {error})")
        raise typer.Exit(EXIT_OK)
    if ids:
        unknown = [i for i in ids if i not in registry]
        if unknown:
            _err(f"unknown check id(s): {', '.join(unknown)} (see 'tfgpu doctor --list')")
            raise typer.Exit(EXIT_USAGE)

    matrix = _load_matrix(matrix_file)
    options = {"fast": fast, "smoke": not no_smoke, "strict": strict}
    t0 = time.monotonic()
    from tfgpu.runner import build_report, run_probes

    if from_facts is not None:
        results, timings = _read_facts(from_facts, probes_mod.load_all())
        options["from_facts"] = str(from_facts)
    else:
        from tfgpu.probes import ProbeContext
        from tfgpu.probes.python_env import default_python

        target = python or default_python(os.environ)
        if python:
            _validate_python(python)
        ctx = ProbeContext(python=target, environ=dict(os.environ), timeout=timeout, matrix=matrix, options=options)
        selected = [p for p in probes_mod.load_all().values() if not (fast and p.slow)]
        results, timings = _run_with_spinner(selected, ctx, quiet=as_json)
        if python:
            _reject_non_python(python, results.get("python_env"))
    report = build_report(results, timings, matrix, list(ids) if ids else None, options)
    report.timings["total"] = round(time.monotonic() - t0, 4)
    if as_json:
        from tfgpu.render.json import render as render_json

        sys.stdout.write(render_json(report) + "\n")
    else:
        from tfgpu.render.rich import render as render_rich

        sys.stdout.write(render_rich(report, width=_width(), color=_use_color(sys.stdout)))
    sys.stdout.flush()
    raise typer.Exit(_exit_code(report, strict))


def _run_with_spinner(selected, ctx, quiet: bool):
    from tfgpu.runner import run_probes

    if quiet or not sys.stderr.isatty():
        return run_probes(selected, ctx)
    from rich.console import Console

    console = Console(stderr=True)
    pending = {p.name for p in selected}
    with console.status("Probing: " + ", ".join(sorted(pending))) as status:
        def done(name: str) -> None:
            pending.discard(name)
            status.update("Probing: " + (", ".join(sorted(pending)) or "done"))

        return run_probes(selected, ctx, on_done=done)


def _reject_non_python(python: str, env_fact) -> None:
    """An explicit --python that is not a Python interpreter is a usage error (exit 2)."""
    from tfgpu.model import ProbeFailure, ProbeStatus

    if isinstance(env_fact, ProbeFailure) and env_fact.status in (
        ProbeStatus.NOT_FOUND, ProbeStatus.PERMISSION_DENIED, ProbeStatus.FAILED
    ):
        _err(f"--python {python}: {env_fact.message}")
        raise typer.Exit(EXIT_USAGE)


def _read_facts(path: Path, probes: dict):
    from tfgpu.render.json import facts_from_dict
    from tfgpu.serde import DecodeError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _err(f"--from-facts {path}: no such file")
        raise typer.Exit(EXIT_USAGE)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _err(f"--from-facts {path}: not a JSON report ({exc})")
        raise typer.Exit(EXIT_USAGE)
    if not isinstance(data, dict) or "facts" not in data:
        _err(f"--from-facts {path}: no 'facts' in this JSON (save one with 'tfgpu doctor --json')")
        raise typer.Exit(EXIT_USAGE)
    try:
        facts = facts_from_dict(data["facts"], {name: p.fact_type for name, p in probes.items()})
    except DecodeError as exc:
        _err(f"--from-facts {path}: {exc}")
        raise typer.Exit(EXIT_USAGE)
    return facts, {"probes_total": 0.0}


@app.command()
def explain(
    source: Optional[str] = typer.Argument(None, help="Log file to read, or - (the default) for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", help="Use this compatibility matrix instead of the bundled one."),
) -> None:
    """Explain a pasted TensorFlow/CUDA log: root causes, harmless noise, and fixes."""
    from tfgpu.explain import run as run_explain

    matrix = _load_matrix(matrix_file)
    path = None if source in (None, "-") else source
    if path is not None and not Path(path).is_file():
        _err(f"{path}: no such file")
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(run_explain(path, as_json, matrix, width=_width(), color=_use_color(sys.stdout)))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
