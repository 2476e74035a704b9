"""`tfgpu doctor`: the probes, the checks and the report, without the command-line parser.

tfgpu.cli declares the command (its options, help and completion, through Typer) and calls `run`;
tfgpu.launch calls `run` directly where the command line is a plain `tfgpu doctor ...` that its
table of the command's options (tfgpu.doctor_argv, generated from tfgpu.cli) reads exactly as Typer
would, so that the commonest run does not pay for importing Typer. Nothing here imports Typer.
A usage error is one line on stderr and SystemExit(2); `run` returns the exit code otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from tfgpu.console import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from tfgpu.console import emit as _emit
from tfgpu.console import err as _err
from tfgpu.console import text_style as _text_style
from tfgpu.usage import load_matrix, python_path


def run(
    ids: Optional[List[str]] = None,
    list_checks: bool = False,
    as_json: bool = False,
    fast: bool = False,
    no_smoke: bool = False,
    python: Optional[str] = None,
    timeout: float = 30.0,
    live_timeout: float = 120.0,
    from_facts: Optional[Path] = None,
    strict: bool = False,
    matrix_file: Optional[Path] = None,
    quiet: bool = False,
    verbose: bool = False,
    junit: Optional[str] = None,
    markdown: Optional[str] = None,
    output_json: Optional[str] = None,
    no_ci_integration: bool = False,
    require_gpus: Optional[int] = None,
    require_vram: Optional[float] = None,
    require_cc: Optional[str] = None,
    require_tf: Optional[str] = None,
    fail_on: Optional[str] = None,
    ignore: Optional[List[str]] = None,
    config: Optional[str] = None,
) -> int:
    """Diagnose whether TensorFlow will use this machine's NVIDIA GPU; return the exit code (the
    parameters are `tfgpu doctor`'s options, named as in tfgpu.cli)."""
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
        return EXIT_OK
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
            raise SystemExit(EXIT_USAGE)
        ids = resolved

    import math

    for flag, value in (("--timeout", timeout), ("--live-timeout", live_timeout)):
        if not math.isfinite(value) or value > 86400:
            _err(f"{flag} {value}: expected a number of seconds between 1 and 86400")
            raise SystemExit(EXIT_USAGE)
    from tfgpu.model import RunOptions

    if quiet and verbose:
        _err("--quiet and --verbose: choose one")
        raise SystemExit(EXIT_USAGE)
    report_files = _report_files(junit, markdown, output_json, as_json)  # before the probes: a bad path is exit 2
    if python is not None and from_facts is None:
        python = python_path(python)
    # What the user gave is read before anything runs, so that a bad one is exit 2 with no child
    # started: a matrix file (--matrix) and the policy (its flags, --config, ./pyproject.toml's
    # [tool.tfgpu]). The bundled matrix of a probing run loads while the probes run (below).
    matrix = load_matrix(matrix_file) if matrix_file is not None or from_facts is not None else None
    policy = _load_policy(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, ignore, config)
    options = RunOptions(fast=fast, smoke=not no_smoke, timeout=timeout, live_timeout=live_timeout,
                         from_facts=str(from_facts) if from_facts is not None else None)
    t0 = time.monotonic()
    from tfgpu.runner import build_report

    if from_facts is not None:
        results, timings = _read_facts(from_facts, probes_mod.load_all())
    else:
        from tfgpu.probes import Pending, ProbeContext
        from tfgpu.probes.python_env import choose_python

        # The probes start first: they mostly wait on child processes, so what tfgpu still has to load
        # (the bundled matrix, the checks) loads meanwhile instead of before them.
        if python:
            target, reason = python, "given with --python"
        else:
            target, reason = choose_python(os.environ)
        options = dataclasses.replace(options, target_reason=reason)
        pending = Pending()
        ctx = ProbeContext(python=target, environ=dict(os.environ), timeout=timeout,
                           matrix=matrix if matrix is not None else pending, options=options)
        # The live import (the slow probe) runs only where a chosen check reads it: `doctor driver-present`
        # answers in a second, as --fast does.
        live = not fast and (not ids or any("tf_live" in registry[i].declared for i in ids)
                             or policy.require_gpus is not None)  # counted as TensorFlow lists them
        selected = [p for p in probes_mod.load_all().values() if live or not p.slow]

        def meanwhile() -> None:
            nonlocal matrix
            if matrix is None:
                try:
                    matrix = load_matrix(None)
                finally:
                    pending.settle(matrix, "the bundled matrix did not load")
            _preload(live)

        results, timings = _run_with_spinner(selected, ctx, quiet=as_json, meanwhile=meanwhile)
        if python:
            _reject_non_python(python, results.get("python_env"))
    strict = policy.fail_on == "warning"  # --fail-on warning, --strict, or the config's fail-on
    argv = _doctor_argv(ids, python, fast, no_smoke, timeout, live_timeout, from_facts, strict, matrix_file) \
        + _policy_argv(require_gpus, require_vram, require_cc, require_tf, ignore, config)
    options = dataclasses.replace(options, strict=strict, argv=argv)
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
        return EXIT_INTERNAL
    return _exit_code(report, strict)


def _load_policy(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, ignore, config):
    """The run's policy (tfgpu.policy): the config's [tool.tfgpu], the flags over it; bad input is
    one line and exit 2, a note (a broken ./pyproject.toml) one line on stderr."""
    from tfgpu.policy import Flags, PolicyError, load

    flags = Flags(require_gpus, require_vram, require_cc, require_tf, fail_on, strict, tuple(ignore or ()))
    try:
        policy, notes = load(flags, config)
    except PolicyError as exc:
        _err(str(exc))
        raise SystemExit(EXIT_USAGE)
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


def _report_files(junit: Optional[str], markdown: Optional[str], output_json: Optional[str], as_json: bool) -> dict:
    """{flag: path} of the report files asked for (--markdown - is stdout, not a file); a path that
    cannot be written, as far as that can be known before the run, is a usage error (exit 2)."""
    from tfgpu.ci import output_problem

    if markdown == "-" and as_json:
        _err("--markdown - and --json both print on stdout: give --markdown a file, or use --output-json")
        raise SystemExit(EXIT_USAGE)
    files = {flag: path for flag, path in (("--junit", junit), ("--markdown", markdown), ("--output-json", output_json))
             if path is not None and not (flag == "--markdown" and path == "-")}
    seen: dict = {}
    for flag, path in files.items():
        problem = "only --markdown can print on stdout ('-')" if path == "-" else output_problem(path)
        if not problem and os.path.abspath(path) in seen:
            problem = f"also given to {seen[os.path.abspath(path)]}"
        if problem:
            _err(f"{flag} {path}: {problem}")
            raise SystemExit(EXIT_USAGE)
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
        raise SystemExit(EXIT_USAGE)


def _read_facts(path: Path, probes: dict):
    from tfgpu.render.json import facts_from_dict
    from tfgpu.serde import DecodeError, load_report

    try:
        data = load_report(str(path))
        facts = facts_from_dict(data["facts"], {name: p.fact_type for name, p in probes.items()})
    except DecodeError as exc:
        _err(f"--from-facts {path}: {exc}")
        raise SystemExit(EXIT_USAGE)
    return facts, {"probes_total": 0.0}
