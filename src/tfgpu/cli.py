"""The command line: `tfgpu doctor`, `tfgpu matrix`, `tfgpu recommend`, `tfgpu explain`.

Only this module writes to stdout. Exit codes: 0 no error finding; 1 an error finding, a policy
requirement not met among them (or a warning with --strict / --fail-on warning; an ignored finding
never counts); 2 usage error (bad flags, a --python that is not Python, a broken --matrix,
--from-facts or policy file); 3 the doctor itself failed (a check crashed).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from tfgpu.console import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from tfgpu.console import OutputFailed as _OutputFailed
from tfgpu.console import emit as _emit
from tfgpu.console import err as _err
from tfgpu.console import text_style as _text_style


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


def _load_matrix(path: Optional[Path]):
    from tfgpu.matrix import MatrixError, load

    try:
        return load(str(path) if path else None)
    except MatrixError as exc:
        _err(f"bad matrix: {exc}")
        raise typer.Exit(EXIT_USAGE)


def _python_path(path: str) -> str:
    """`--python` as given, or the interpreter inside it where it names a virtualenv or conda env
    directory (bin/python); refused with exit 2, never run, where it cannot be an interpreter."""
    from tfgpu.probes.python_env import interpreter_problem

    if path and os.path.isdir(path):
        for name in ("bin/python", "bin/python3", "python.exe"):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                path = candidate
                break
    problem = interpreter_problem(path)
    if problem:
        _err(f"--python {path}: {problem}")
        raise typer.Exit(EXIT_USAGE)
    try:
        # Absolute (not resolved: a venv's python is a symlink whose location matters).
        return os.path.abspath(path)
    except OSError:
        _err(f"--python {path}: is relative, and the working folder it is relative to no longer exists")
        raise typer.Exit(EXIT_USAGE)


def _load_policy(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, ignore, config):
    """The run's policy (tfgpu.policy): the config's [tool.tfgpu], the flags over it; bad input is
    one line and exit 2, a note (a broken ./pyproject.toml) one line on stderr."""
    from tfgpu.policy import Flags, PolicyError, load

    flags = Flags(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, tuple(ignore or ()))
    try:
        policy, notes = load(flags, config)
    except PolicyError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_USAGE)
    for note in notes:
        _err(note)
    return policy


def _apply_policy(report, policy, options, matrix):
    """The report under the policy: its requirements as findings, ignored findings marked."""
    from tfgpu.checks import load_all
    from tfgpu.policy import apply

    report, notes = apply(report, policy, registry=load_all(), options=options, matrix=matrix)
    for note in notes:
        _err(note)
    return report


def _policy_argv(require_gpus, require_vram, require_cc, require_tf, ignore, config) -> tuple:
    """The policy flags as given, for the commands a report suggests (--fail-on travels as --strict);
    each one word, --flag=value, which tfgpu.invocation keeps as it is."""
    argv: list = []
    for flag, value in (("--config", config), ("--require-gpus", require_gpus), ("--require-vram", require_vram),
                        ("--require-cc", require_cc), ("--require-tf", require_tf)):
        if value is not None:
            argv.append(f"{flag}={value:g}" if isinstance(value, float) else f"{flag}={value}")
    argv += [f"--ignore={ident}" for ident in ignore or ()]
    return tuple(argv)


def _exit_code(report, strict: bool) -> int:
    """`strict`: the policy's fail_on is "warning". Ignored findings never count (Report.worst)."""
    if report.failed_checks:
        return EXIT_INTERNAL
    return EXIT_FINDINGS if report.fails(strict) else EXIT_OK


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
    """Diagnose whether TensorFlow will use this machine's NVIDIA GPU."""
    from tfgpu import probes as probes_mod

    if list_checks or ids:
        registry = _load_checks()
    if list_checks:
        from tfgpu.render import checks as list_view
        from tfgpu.render.json import document

        if as_json:
            from tfgpu.explain.classify import load_knowledge

            _emit(document(list_view.to_dict(registry.values(), registry.errors, load_knowledge())))
        else:
            _emit(list_view.render(registry.values(), registry.errors))
        raise typer.Exit(EXIT_OK)
    if ids:
        def knowledge():  # explain's log classes, loaded only for an id no check declares by name
            from tfgpu.explain.classify import load_knowledge

            return load_knowledge()

        # A finding id runs the check(s) that can emit it (their `emits` declarations).
        resolved, unknown = registry.resolve(ids, knowledge)
        if unknown:
            hints = "; ".join(f"{i}: did you mean {' or '.join(m)}?" for i, m in unknown.items() if m)
            _err(f"unknown check id(s): {', '.join(unknown)}{' (' + hints + ')' if hints else ''} "
                 "(neither a check nor a finding a check emits; see 'tfgpu doctor --list')")
            raise typer.Exit(EXIT_USAGE)
        ids = resolved

    import math

    for flag, value in (("--timeout", timeout), ("--live-timeout", live_timeout)):
        if not math.isfinite(value) or value > 86400:
            _err(f"{flag} {value}: expected a number of seconds between 1 and 86400")
            raise typer.Exit(EXIT_USAGE)
    matrix = _load_matrix(matrix_file)
    from tfgpu.model import RunOptions

    if quiet and verbose:
        _err("--quiet and --verbose: choose one")
        raise typer.Exit(EXIT_USAGE)
    report_files = _report_files(junit, markdown, output_json, as_json)  # before the probes: a bad path is exit 2
    policy = _load_policy(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, ignore, config)
    strict = policy.fail_on == "warning"  # --fail-on warning, --strict, or the config's fail-on
    if python is not None and from_facts is None:
        python = _python_path(python)
    argv = _doctor_argv(ids, python, fast, no_smoke, timeout, live_timeout, from_facts, strict, matrix_file) \
        + _policy_argv(require_gpus, require_vram, require_cc, require_tf, ignore, config)
    options = RunOptions(fast=fast, smoke=not no_smoke, strict=strict, timeout=timeout, live_timeout=live_timeout,
                         from_facts=str(from_facts) if from_facts is not None else None, argv=argv)
    t0 = time.monotonic()
    from tfgpu.runner import build_report

    if from_facts is not None:
        results, timings = _read_facts(from_facts, probes_mod.load_all())
    else:
        from tfgpu.probes import ProbeContext
        from tfgpu.probes.python_env import choose_python

        if python:
            target, reason = python, "given with --python"
        else:
            target, reason = choose_python(os.environ)
        options = dataclasses.replace(options, target_reason=reason)
        ctx = ProbeContext(python=target, environ=dict(os.environ), timeout=timeout, matrix=matrix,
                           options=options)
        # The live import (the slow probe) runs only where a chosen check reads it: `doctor driver-present`
        # answers in a second, as --fast does.
        live = not fast and (not ids or any("tf_live" in registry[i].declared for i in ids)
                             or policy.require_gpus is not None)  # counted as TensorFlow lists them
        selected = [p for p in probes_mod.load_all().values() if live or not p.slow]
        # The checks (and what they import) load while the probes run: probes mostly wait on
        # child processes, so this overlaps instead of adding to the wall time.
        results, timings = _run_with_spinner(selected, ctx, quiet=as_json, meanwhile=lambda: _preload(live))
        if python:
            _reject_non_python(python, results.get("python_env"))
    report = build_report(results, timings, matrix, list(ids) if ids else None, options)
    report = _apply_policy(report, policy, options, matrix)
    report.timings["total"] = round(time.monotonic() - t0, 4)
    from tfgpu import ci as ci_mod

    ci = "" if no_ci_integration else ci_mod.detect(os.environ)
    written = _write_report_files(report, report_files, ids, strict, ci)
    if as_json:
        from tfgpu.render.json import render as render_json

        _emit(render_json(report))
    elif markdown == "-":
        from tfgpu.render.markdown import render as render_markdown

        _emit(ci_mod.fold(ci, render_markdown(report), time.time()))
    else:
        from tfgpu.render.rich import render as render_rich

        level = "quiet" if quiet else "verbose" if verbose else "normal"
        rerun = _rerun(options, report) if report.worst.rank >= 2 else ""
        _emit(ci_mod.fold(ci, render_rich(report, level=level, rerun=rerun, **_text_style()), time.time()))
    if ci == ci_mod.GITHUB:
        # Workflow commands: on stdout, or on stderr where stdout is one JSON document (the runner reads both).
        (_stderr if as_json else _emit)(ci_mod.workflow_annotations(report))
    if not written:
        raise typer.Exit(EXIT_INTERNAL)
    raise typer.Exit(_exit_code(report, strict))


def _report_files(junit: Optional[str], markdown: Optional[str], output_json: Optional[str], as_json: bool) -> dict:
    """{flag: path} of the report files asked for (--markdown - is stdout, not a file); a path that
    cannot be written, as far as that can be known before the run, is a usage error (exit 2)."""
    from tfgpu.ci import output_problem

    if markdown == "-" and as_json:
        _err("--markdown - and --json both print on stdout: give --markdown a file, or use --output-json")
        raise typer.Exit(EXIT_USAGE)
    files = {flag: path for flag, path in (("--junit", junit), ("--markdown", markdown), ("--output-json", output_json))
             if path is not None and not (flag == "--markdown" and path == "-")}
    seen: dict = {}
    for flag, path in files.items():
        problem = "only --markdown can print on stdout ('-')" if path == "-" else output_problem(path)
        if not problem and os.path.abspath(path) in seen:
            problem = f"also given to {seen[os.path.abspath(path)]}"
        if problem:
            _err(f"{flag} {path}: {problem}")
            raise typer.Exit(EXIT_USAGE)
        seen[os.path.abspath(path)] = flag
    return files


def _write_report_files(report, files: dict, ids, strict: bool, ci: str) -> bool:
    """Write each report file asked for, and the GitHub step summary; False (after one line on
    stderr each) where a file could not be written: the doctor failed, exit 3."""
    from tfgpu import ci as ci_mod

    markdown = None
    ok = True
    for flag, path in files.items():
        if flag == "--junit":
            from tfgpu.checks import load_all
            from tfgpu.render.junit import render as render_junit

            registry = load_all()
            ran = [registry[i] for i in ids if i in registry] if ids else list(registry.values())
            text = render_junit(report, ran, strict=strict)
        elif flag == "--markdown":
            from tfgpu.render.markdown import render as render_markdown

            text = markdown = render_markdown(report)
        else:
            from tfgpu.render.json import render as render_json

            text = render_json(report)
        try:
            ci_mod.write_atomic(path, text)
        except OSError as exc:
            _err(f"{flag} {path}: {exc.strerror or exc}")
            ok = False
    if ci == ci_mod.GITHUB:
        if markdown is None:
            from tfgpu.render.markdown import render as render_markdown

            markdown = render_markdown(report)
        note = ci_mod.append_step_summary(os.environ, markdown)
        if note:
            _err(note)
    return ok


def _stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _rerun(options, report) -> str:
    """The command that checks again: this invocation; for a replay of saved facts, a doctor run
    on the machine itself, for the interpreter the saved report diagnosed."""
    from tfgpu.invocation import doctor_command
    from tfgpu.model import ProbeFailure

    if options.from_facts is None:
        return doctor_command(options)
    env = report.facts.get("python_env")
    python = getattr(env, "executable", None) if not isinstance(env, ProbeFailure) else None
    return doctor_command(options, {"--python": python} if python else {}, drop=("--from-facts", "--python"))


def _doctor_argv(ids, python, fast, no_smoke, timeout, live_timeout, from_facts, strict, matrix_file) -> tuple:
    """This invocation in its long form, without the flags that only choose the view (--json,
    -q, -v): the tfgpu commands a report suggests are rebuilt from it (tfgpu.invocation)."""
    argv = ["doctor", *(ids or [])]
    if python:
        argv += ["--python", python]
    if from_facts is not None:
        argv += ["--from-facts", str(from_facts)]
    if matrix_file is not None:
        argv += ["--matrix", str(matrix_file)]
    argv += ["--fast"] if fast else []
    argv += ["--no-smoke"] if no_smoke else []
    argv += ["--strict"] if strict else []
    if timeout != 30.0:
        argv += ["--timeout", f"{timeout:g}"]
    if live_timeout != 120.0:
        argv += ["--live-timeout", f"{live_timeout:g}"]
    return tuple(argv)


def _load_checks():
    """The check registry (imported here, not at the top of `doctor`: see `_preload`). A plugin that
    prints while it is imported writes to stderr: stdout carries only the report (--json, --list)."""
    import contextlib

    from tfgpu.checks import load_all

    with contextlib.redirect_stdout(sys.stderr):
        return load_all()


def _preload(live: bool) -> None:
    """What the report needs besides the facts, loaded while the probes' children run instead of
    after them (bench/bench_doctor.py, bench/bench_live.py): the checks, with the rules, fixes and
    packaging they import; and where TensorFlow is imported live, explain's knowledge (its YAML is
    parsed on every run), which build_report hands the live check: cached, that call finds it."""
    _load_checks()
    if live:
        from tfgpu.explain.classify import load_knowledge

        load_knowledge()


def _run_with_spinner(selected, ctx, quiet: bool, meanwhile=None):
    """Run the probes in a background thread (with a spinner on a terminal), calling
    `meanwhile()` on this thread while they run."""
    import threading

    from tfgpu.runner import run_probes

    box: dict = {}
    titles = {p.name: p.title for p in selected}
    pending = set(titles)

    from tfgpu.console import unicode_ok

    dot = "\u00b7" if unicode_ok(sys.stderr) else "-"  # asked now: the spinner puts a proxy in sys.stderr

    def label() -> str:
        if "tf_live" in pending:  # the long step: what it is doing, for how long, and how to skip it
            from tfgpu.probes.tf_live import progress

            now = progress()
            stage, seconds, limit = now.snapshot() if now is not None else ("starting Python", 0.0, ctx.option("live_timeout", 120.0))
            return f"{stage} {dot} {seconds:.0f} s of {limit:g} s  (--fast skips this step)"
        names = sorted(titles[n] for n in pending)
        return "Waiting for: " + ", ".join(names) if names else "Running the checks"

    def done(name: str) -> None:
        pending.discard(name)

    def work() -> None:
        box["out"] = run_probes(selected, ctx, on_done=done)

    worker = threading.Thread(target=work, daemon=True, name="probes")
    worker.start()
    if meanwhile is not None:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):  # a plugin printing as it is imported never reaches stdout
            meanwhile()
    if quiet or not sys.stderr.isatty():
        worker.join()
        return box["out"]
    from rich.console import Console

    with Console(stderr=True).status(label()) as status:
        while worker.is_alive():  # the label counts the seconds
            worker.join(0.25)
            status.update(label())
    return box["out"]


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
    from tfgpu.serde import DecodeError, load_report

    try:
        data = load_report(str(path))
        facts = facts_from_dict(data["facts"], {name: p.fact_type for name, p in probes.items()})
    except DecodeError as exc:
        _err(f"--from-facts {path}: {exc}")
        raise typer.Exit(EXIT_USAGE)
    return facts, {"probes_total": 0.0}


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

    matrix = _load_matrix(matrix_file)
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

    matrix = _load_matrix(matrix_file)
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
    machine = Machine(
        driver=driver or facts.get("driver"),
        ccs=tuple(cc) if cc else tuple(facts.get("ccs", ())),
        python=python_version or facts.get("python"),
        os=os_name or facts.get("os", "linux"),
        machine=arch_name or (facts.get("machine") or "x86_64" if os_name in (None, "linux", "wsl2") else "x86_64"),
        # This machine's glibc says nothing about another architecture's target.
        glibc=facts.get("glibc") if os_name is None and arch_name in (None, _arch_of(facts.get("machine"))) else None,
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


def _arch_of(machine: Optional[str]) -> str:
    """x86_64 or aarch64 for a CPU name as the host probe reports it (arm64 on macOS, AMD64 on Windows)."""
    return "aarch64" if (machine or "").lower() in ("aarch64", "arm64") else "x86_64"


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
        python = _python_path(python)
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

    matrix = _load_matrix(matrix_file)
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


#: How each ending signal is said, and its conventional exit code (128 + the signal's number).
_ENDINGS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C, SIGTERM or SIGHUP: the children run in sessions of their own (a terminal's or a job
    scheduler's signal to tfgpu does not reach them), so kill their process groups now, say so in one
    line, and end with 128 + the signal's number (130 for Ctrl-C)."""
    from tfgpu import proc

    proc.kill_running()
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h\n")  # the spinner hid the cursor: show it again
    except (OSError, ValueError, AttributeError):
        pass
    _err(_ENDINGS.get(signal.Signals(signum), "interrupted"))
    os._exit(128 + int(signum))


#: How a write to a broken stdout fails (a full disk, a device error, a file too large, a closed descriptor).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF, errno.EROFS}


def _stderr_to_devnull() -> None:
    """Started with stderr closed: messages go to /dev/null instead (a closed stderr never hides
    stdout), and fd 2 is taken, so no file or pipe opened later can land on it."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 2:
            os.dup2(fd, 2)
            os.close(fd)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    except OSError:
        pass


def _stdout_failed(message: str) -> None:
    """stdout cannot take what a command wrote: one line, exit 3, and no second complaint from the
    interpreter's own flush at exit (the unwritten rest goes to /dev/null)."""
    _err(message)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
    sys.exit(EXIT_INTERNAL)


def main() -> None:
    for ending in _ENDINGS:
        signal.signal(ending, _interrupted)
    if sys.stderr is None:
        _stderr_to_devnull()
    if sys.stdout is None:  # started with stdout closed: nothing any command says could arrive
        _err("standard output is closed")
        sys.exit(EXIT_INTERNAL)
    if os.environ.get("_TFGPU_COMPLETE"):
        # A shell asks for completions (the script of `tfgpu completion SHELL`): Typer's shell classes
        # answer, loaded only here, so that no other run pays for them (Typer's own
        # --install-completion would, on every start: bench/bench_completion.py).
        from typer.completion import completion_init

        completion_init()
    # Never a UnicodeEncodeError under LC_ALL=C: unencodable symbols degrade, the report stays.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except _OutputFailed as exc:
        _stdout_failed(str(exc))
    except OSError as exc:  # help text (Click's own writing) to a full disk or a broken device
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _stdout_failed(f"cannot write to standard output: {exc.strerror or exc}")
    except SystemExit as exc:
        if exc.code == 1 and _reader_went_away(exc):
            sys.exit(EXIT_OK)
        raise


def _reader_went_away(exc: SystemExit) -> bool:
    """Whether an exit 1 is how Click or rich answered a reader that went away (| head) during the
    help text, having silenced stdout: not an error here, as for every report (console.emit)."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # Click's
        return True
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "on_broken_pipe":  # rich's Console, which draws the help
            return True
        tb = tb.tb_next
    return False


if __name__ == "__main__":
    main()
