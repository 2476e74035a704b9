"""The terminal report: the verdict first, then what is wrong by area (each cause once, its
consequences under it), then the numbered next steps, then one closing line.

`render` is pure (Report -> str); the CLI decides width (None: never wrap, for pipes), colour
(NO_COLOR, non-terminals) and detail (`level`: "quiet", "normal" or "verbose").
"""

from __future__ import annotations

import io
import re
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from tfgpu.model import Finding, Fix, ProbeFailure, Report, Severity, VerdictStatus

ICONS = {
    Severity.OK: ("✔", "green"),
    Severity.INFO: ("i", "cyan"),
    Severity.SKIPPED: ("–", "dim"),
    Severity.WARNING: ("!", "yellow"),
    Severity.ERROR: ("✘", "bold red"),
}
#: A finding the run's policy ignores (--ignore, [tool.tfgpu] ignore): shown, never a problem to fix.
IGNORED_ICON = ("○", "dim")
VERDICT_STYLE = {
    VerdictStatus.READY: ("READY", "bold green"),
    VerdictStatus.NOT_READY: ("NOT READY", "bold red"),
    VerdictStatus.UNKNOWN: ("UNKNOWN", "bold yellow"),
}
AREA_TITLES = {
    "platform": "Platform",
    "tensorflow": "TensorFlow",
    "environment": "Environment",
    "driver": "NVIDIA driver",
    "gpu": "GPUs",
    "libraries": "CUDA libraries",
    "toolkit": "CUDA toolkit",
    "live": "Live TensorFlow",
    "policy": "Policy (this pipeline's requirements)",
    "plugins": "Plugins",
}


def buffer_console(width: int, color: bool, **options: Any) -> Console:
    """A Rich console that renders into memory (read it back with `rendered`): every text view
    is built this way, and the CLI writes the result out in one piece."""
    return Console(file=io.StringIO(), width=width, color_system="standard" if color else None, no_color=not color,
                   force_terminal=color, highlight=False, **options)


def rendered(console: Console) -> str:
    """The text a `buffer_console` has taken so far."""
    buf = console.file
    assert isinstance(buf, io.StringIO), "not a buffer_console"
    return buf.getvalue()


def _area_of(finding: Finding) -> str:
    # A finding that names no area did not come from a built-in check.
    return finding.area or "plugins"


def _facts_lines(facts: dict[str, Any]) -> list[str]:
    lines = []
    host = facts.get("host")
    if host is not None and not isinstance(host, ProbeFailure):
        extra = [x for x in (host.distro_name, f"glibc {host.glibc}" if host.glibc else None,
                             host.wsl.upper() if host.wsl else None,
                             f"container: {host.container}" if host.container else None) if x]
        lines.append(f"Host     {host.system} {host.machine}, kernel {host.kernel}" + (f" ({', '.join(extra)})" if extra else ""))
    env = facts.get("python_env")
    if env is not None and not isinstance(env, ProbeFailure):
        why = getattr(env, "chosen_because", "")
        lines.append(f"Python   {env.version} at {env.executable}" + (f": {why}" if why else ""))
    elif isinstance(env, ProbeFailure):
        lines.append(f"Python   could not be probed: {env.message}")
    build = facts.get("tf_build")
    if build is not None and not isinstance(build, ProbeFailure):
        if build.is_cuda_build and build.cuda_version:
            lines.append(f"Build    {build.distribution} {build.version}: CUDA {build.cuda_version}, cuDNN {build.cudnn_version}, "
                         f"{', '.join(build.compute_capabilities)}")
        elif build.is_cuda_build:
            lines.append(f"Build    {build.distribution} {build.version}: a CUDA build (its build record names no versions)")
        else:
            lines.append(f"Build    {build.distribution} {build.version}: CPU only")
    live = facts.get("tf_live")
    if live is not None and not isinstance(live, ProbeFailure):
        if live.outcome == "ok":
            gpus = ", ".join(g.name for g in live.gpus) or "no GPU"
            lines.append(f"Live     TensorFlow {live.version or '?'} imported in {live.import_seconds or 0:.1f} s, "
                         f"lists {gpus}; its log has {live.log_lines_total} lines")
        else:
            what = (live.error or "").splitlines()[0] if live.error else f"stage '{live.stage}'"
            lines.append(f"Live     {live.outcome.replace('_', ' ')}: {what}")
    driver = facts.get("driver")
    if driver is not None and not isinstance(driver, ProbeFailure):
        summary = getattr(driver, "summary", None)
        if callable(summary):
            lines.extend(summary())
    return lines


_LOG_PREFIX = re.compile(r"^(?:([IWEF])\d{4} [\d:.]+\s+\d+\s+|\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) )")


def _short_log(text: str) -> str:
    """A log line with its level but without timestamp and thread id, so the message fits."""
    return _LOG_PREFIX.sub(lambda m: f"{m.group(1) or m.group(2)} ", text, count=1)


#: A space that does not break (the output has a plain space): an id tag stays with the last word.
GLUE = "\u2423"
#: Never wrap: the width a console gets when the report goes to a pipe or file.
UNBOUNDED = 10_000


class _Out:
    """Lines with hanging indents: the first line after `prefix`, the rest under its text."""

    def __init__(self, width: int | None, color: bool) -> None:
        self.width = width
        self.console = buffer_console(UNBOUNDED, color, emoji=False, soft_wrap=True)

    def line(self, text: Text | str = "", indent: int = 0, prefix: Text | str | None = None, style: str = "",
             hang: int | None = None, wrap: bool = True) -> None:
        """`indent` spaces, then `prefix` (an icon, a label), then `text`; wrapped lines start under
        the text (or at `hang` columns when given)."""
        body = text if isinstance(text, Text) else Text(text, style=style)
        pre = Text(" " * indent)
        if prefix is not None:
            pre.append_text(prefix if isinstance(prefix, Text) else Text(prefix, style=style))
        lead = hang if hang is not None else pre.cell_len
        if self.width is None or not wrap or pre.cell_len + body.cell_len <= self.width:
            self.console.print(pre + body)
            return
        room = max(20, self.width - lead)
        first_room = max(20, self.width - pre.cell_len)
        lines = body.wrap(self.console, first_room)
        first = lines[0]
        self.console.print(pre + first)
        rest = Text(" ").join(list(lines)[1:]) if len(lines) > 1 else None
        if rest is None:
            return
        for ln in rest.wrap(self.console, room):
            self.console.print(Text(" " * lead) + ln)

    def blank(self) -> None:
        self.console.print()

    def text(self) -> str:
        return "\n".join(ln.rstrip() for ln in rendered(self.console).split("\n")).replace(GLUE, " ")


#: A placeholder the user fills in: <image>, <uuid>, <package> (not a shell redirection such as 2>&1).
_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_-]*>")


def _command_lines(out: _Out, commands: Iterable[str], indent: int, shown: set[str], prompt: str = "$ ") -> None:
    for cmd in commands:
        if cmd in shown:
            continue
        shown.add(cmd)
        out.line(Text(f"{prompt}{cmd}", style="bold"), indent=indent, wrap=False)


def print_fixes(console: Console, fixes: Iterable[Fix]) -> None:
    """Fixes as explain shows them: the summary, then each command to copy (never wrapped)."""
    for i, fix in enumerate(fixes):
        console.print(Text(f"   → {'Or: ' if i else ''}{fix.summary}", style="cyan"))
        for cmd in fix.commands:
            console.print(Text(f"     $ {cmd}", style="bold"), soft_wrap=True)
        for link in fix.links:
            console.print(Text(f"     {link}", style="dim"), soft_wrap=True)


#: For terminals that cannot show the symbols (LC_ALL=C): the same report in ASCII.
_ASCII = str.maketrans({"○": "o", "✔": "+", "✘": "x", "–": "-", "→": ">", "…": "~", "│": "|", "·": "-", "—": "-"})

LEVELS = ("quiet", "normal", "verbose")
#: The verdict's own words for a prediction (verdict.decide): the renderer says it once, below.
_PREDICTED = re.compile(r"\s*\(predicted, not yet proven by a live import\)")
_GPU_NUM = re.compile(r"\bGPU (\d+)\b")
_REBOOT = frozenset({"sudo reboot", "reboot", "sudo shutdown -r now"})


def render(report: Report, width: int | None = 100, color: bool = False, show_ok: bool = True,
           ascii_only: bool = False, level: str = "normal", rerun: str = "") -> str:
    """The report as text. `width` None: no wrapping (a pipe); `level`: quiet (verdict, errors,
    next steps), normal, or verbose (every check and its evidence); `rerun`: the command that
    checks again (tfgpu.invocation), said after the next steps."""
    if not show_ok and level == "verbose":
        level = "normal"
    text = _Report(report, width, color, level, rerun).render()
    return text.translate(_ASCII) if ascii_only else text


def _order(area: str) -> int:
    order = list(AREA_TITLES)
    return order.index(area) if area in order else len(order)


def _group_gpus(findings: Sequence[Finding]) -> list[tuple[Finding, list[int]]]:
    """Findings that differ only in the GPU they are about, as one (the first, and every index)."""
    out: list[tuple[Finding, list[int]]] = []
    keys: dict[tuple, int] = {}
    for f in findings:
        gpu = f.evidence.get("gpu") if isinstance(f.evidence, dict) else None
        m = _GPU_NUM.search(f.summary)
        if isinstance(gpu, int) and not isinstance(gpu, bool) and m and int(m.group(1)) == gpu:
            key = (f.id, f.severity, f.root_cause, _GPU_NUM.sub("GPU #", f.summary, count=1), f.fixes)
            if key in keys:
                out[keys[key]][1].append(gpu)
                continue
            keys[key] = len(out)
            out.append((f, [gpu]))
        else:
            out.append((f, []))
    return out


def _span(indices: list[int]) -> str:
    nums = sorted(set(indices))
    if len(nums) > 2 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"{nums[0]}–{nums[-1]}"
    return ", ".join(str(n) for n in nums)


def _summary(f: Finding, gpus: list[int]) -> str:
    if len(gpus) > 1:
        return _GPU_NUM.sub(f"GPUs {_span(gpus)}", f.summary, count=1)
    return f.summary


def _not_probed(f: Finding) -> bool:
    return bool(f.detail) and all(part.endswith(": not probed") for part in f.detail.split("; "))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Report:
    def __init__(self, report: Report, width: int | None, color: bool, level: str, rerun: str) -> None:
        self.r = report
        self.out = _Out(width, color)
        self.level = level if level in LEVELS else "normal"
        self.verbose = self.level == "verbose"
        self.rerun = rerun
        self.shown: set[str] = set()  # every command printed so far: none twice
        ids = {f.id for f in report.findings}
        # A consequence whose cause is not in this report (a subset of checks) stands alone.
        self.causes = [f for f in report.findings if not (f.root_cause and f.root_cause in ids)]
        self.consequences: dict[str, list[Finding]] = {}
        for f in report.findings:
            if f.root_cause and f.root_cause in ids:
                self.consequences.setdefault(f.root_cause, []).append(f)
        self.steps = self._steps()
        self.step_of = {id(fix): n for n, (fix, _) in enumerate(self.steps, 1)}

    # --- next steps -------------------------------------------------------------------------------

    def _steps(self) -> list[tuple[Fix, tuple[str, ...]]]:
        """The first fix of each problem, errors first, in the chain's order; each command once,
        a reboot last."""
        problems = [f for f in self.causes if f.severity.rank >= Severity.WARNING.rank and f.fixes and not f.ignored]
        problems.sort(key=lambda f: (-f.severity.rank, _order(_area_of(f))))
        steps: list[tuple[Fix, tuple[str, ...]]] = []
        seen: set[str] = set()
        reboot: list[str] = []
        for f in problems:
            fix = f.fixes[0]
            cmds = []
            for c in fix.commands:
                if c in _REBOOT:
                    if c not in reboot:
                        reboot.append(c)
                elif c not in seen:
                    seen.add(c)
                    cmds.append(c)
            if cmds or not fix.commands:
                steps.append((fix, tuple(cmds)))
            elif reboot and fix.commands:
                steps.append((fix, ()))
        if reboot:
            steps.append((Fix("Reboot, so that the new driver or kernel module is the one loaded"), tuple(reboot)))
        return steps

    # --- the parts --------------------------------------------------------------------------------

    def render(self) -> str:
        self._verdict()
        if self.level != "quiet":
            self._facts()
        if self.level == "quiet":
            self._quiet_problems()
        else:
            self._areas()
        self._next_steps()
        self._closing()
        return self.out.text()

    def _verdict(self) -> None:
        v = self.r.verdict
        label, style = VERDICT_STYLE[v.status]
        headline = _PREDICTED.sub("", v.headline)
        self.out.line(Text(headline), prefix=Text(f"{label}", style=style) + Text("  "))
        if v.predicted:
            live = self.r.facts.get("tf_live")
            if live is not None and not isinstance(live, ProbeFailure):
                note = f"predicted from static facts: the live import ended with '{live.outcome.replace('_', ' ')}'"
            else:
                note = "predicted from static facts: TensorFlow was not imported"
            self.out.line(note, indent=len(label) + 2, style="dim")
        self.out.blank()

    def _facts(self) -> None:
        lines = _facts_lines(self.r.facts)
        for ln in lines:
            name, _, rest = ln.partition(" ")
            self.out.line(Text(rest.lstrip(), style="dim"), prefix=Text(f"{name:<9}", style="dim"))

    def _finding_head(self, f: Finding, gpus: list[int], indent: int) -> None:
        icon, istyle = IGNORED_ICON if f.ignored else ICONS[f.severity]
        body = Text(_summary(f, gpus), style="dim" if f.ignored else "")
        if f.severity is not Severity.OK or self.verbose:
            body.append(f"{GLUE * 2}[{f.id}]", style="dim")
        self.out.line(body, indent=indent, prefix=Text(f"{icon} ", style=istyle))
        if f.ignored:
            self.out.line(Text(f"ignored ({f.severity.value}): {f.ignored}", style="dim"), indent=indent + 2)

    def _fixes(self, f: Finding, indent: int) -> None:
        first = True
        for fix in f.fixes:
            n = self.step_of.get(id(fix))
            lead = "→ " if first or fix.summary.startswith(("Or ", "or ")) else "→ Or: "
            first = False
            if n is not None:
                self.out.line(Text(f"{fix.summary} ", style="cyan") + Text(f"(next step {n})", style="dim"),
                              indent=indent, prefix=Text(lead, style="cyan"))
                continue
            fresh = [c for c in fix.commands if c not in self.shown]
            if fix.commands and not fresh:
                self.out.line(Text(f"{fix.summary} ", style="cyan") + Text("(the commands above)", style="dim"),
                              indent=indent, prefix=Text(lead, style="cyan"))
                continue
            self.out.line(Text(fix.summary, style="cyan"), indent=indent, prefix=Text(lead, style="cyan"))
            _command_lines(self.out, fresh, indent + 2, self.shown)
            if self.verbose or f.severity.rank >= Severity.WARNING.rank:
                for link in fix.links:
                    self.out.line(Text(link, style="dim"), indent=indent + 2, wrap=False)

    def _evidence(self, f: Finding, indent: int) -> None:
        lines = f.evidence.get("lines") if isinstance(f.evidence, dict) else None
        width = self.out.width
        if isinstance(lines, list) and f.check == "tf-live":
            limit = len(lines) if self.verbose else 2
            for ln in lines[:limit]:
                if isinstance(ln, dict):
                    text = _short_log(str(ln.get("text", "")))
                    if width is not None:
                        room = max(20, width - indent - 8)
                        text = text if len(text) <= room else text[: room - 1] + "…"
                    self.out.line(Text(f"L{ln.get('line', '?')}: {text}", style="dim"), indent=indent, wrap=False)
            if len(lines) > limit:
                self.out.line(Text(f"… and {len(lines) - limit} more log line(s) (-v shows them)", style="dim"),
                              indent=indent)
        if self.verbose and isinstance(f.evidence, dict):
            for key, value in f.evidence.items():
                if key == "lines":
                    continue
                self.out.line(Text(f"{key}: {value}", style="dim"), indent=indent, hang=indent + 2)

    def _finding(self, f: Finding, gpus: list[int], indent: int = 1) -> None:
        self._finding_head(f, gpus, indent)
        inner = indent + 2
        if f.ignored and not self.verbose:
            self._consequences(f, inner)  # an ignored problem is no step to take: its fixes only with -v
            return
        if f.detail and (self.verbose or f.severity.rank >= Severity.WARNING.rank):
            self.out.line(Text(f.detail, style="dim"), indent=inner)
        if f.severity.rank >= Severity.WARNING.rank or self.verbose:
            self._evidence(f, inner)
        self._fixes(f, inner)
        self._consequences(f, inner)

    def _consequences(self, f: Finding, indent: int) -> None:
        cons = self.consequences.get(f.id, [])
        if not cons:
            return
        skipped = [c for c in cons if c.severity is Severity.SKIPPED]
        others = [c for c in cons if c.severity is not Severity.SKIPPED]
        self.out.line(Text("Because of this:", style="dim"), indent=indent)
        for c, gpus in _group_gpus(others):
            icon, istyle = ICONS[c.severity]
            body = Text(_summary(c, gpus), style="dim") + Text(f"{GLUE * 2}[{c.id}]", style="dim")
            self.out.line(body, indent=indent + 1, prefix=Text(f"{icon} ", style=istyle))
            if self.verbose:
                self._evidence(c, indent + 3)
        if skipped:
            names = ", ".join(c.check for c in skipped)
            self.out.line(Text(f"{_plural(len(skipped), 'check')} skipped: {names}", style="dim"),
                          indent=indent + 1, prefix=Text("– ", style="dim"))

    def _areas(self) -> None:
        groups: dict[str, list[Finding]] = {}
        for f in self.causes:
            if not self.verbose and f.severity is Severity.SKIPPED and _not_probed(f):
                continue  # "not probed" (--fast, a subset of checks) says nothing about the machine
            groups.setdefault(_area_of(f), []).append(f)
        quiet_areas: list[str] = []
        ok_total = 0
        for area in sorted(groups, key=_order):
            items = groups[area]
            if not self.verbose and all(f.severity is Severity.OK for f in items):
                quiet_areas.append(AREA_TITLES.get(area, area.title()))
                ok_total += len(items)
                continue
            self.out.blank()
            self.out.line(Text(AREA_TITLES.get(area, area.title()), style="bold underline"))
            items = sorted(items, key=lambda f: (bool(f.ignored), -f.severity.rank))
            oks = [f for f in items if f.severity is Severity.OK]
            skipped = [f for f in items if f.severity is Severity.SKIPPED and f.id != "check-crashed"]
            shown = [f for f in items if f not in skipped and (self.verbose or f.severity is not Severity.OK)]
            for f, gpus in _group_gpus(shown):
                self._finding(f, gpus)
            if oks and not self.verbose:
                self.out.line(Text(f"{_plural(len(oks), 'other check')} pass", style="dim"),
                              indent=1, prefix=Text("✔ ", style="green"))
            if skipped:
                # Skipped checks are one line: they repeat a cause reported elsewhere.
                why = skipped[0].detail.split(";")[0] if skipped[0].detail else ""
                self.out.line(Text(f"{_plural(len(skipped), 'check')} skipped ({', '.join(f.check for f in skipped)})"
                                   + (f": {why}" if why else ""), style="dim"), indent=1,
                              prefix=Text("– ", style="dim"))
        if quiet_areas:
            self.out.blank()
            self.out.line(Text(f"{_plural(ok_total, 'check')} pass: {', '.join(quiet_areas)}")
                          + Text("  (-v lists them)", style="dim"), indent=1, prefix=Text("✔ ", style="green"))

    def _quiet_problems(self) -> None:
        errors = [f for f in self.causes if f.severity is Severity.ERROR and not f.ignored]
        ignored = [f for f in self.causes if f.ignored and f.severity.rank >= Severity.WARNING.rank]
        if ignored:
            self.out.line(Text(f"{_plural(len(ignored), 'problem')} ignored by the policy: "
                               f"{', '.join(f.id for f in ignored)}", style="dim"),
                          indent=1, prefix=Text(f"{IGNORED_ICON[0]} ", style=IGNORED_ICON[1]))
        if not errors:
            return
        for f, gpus in _group_gpus(sorted(errors, key=lambda f: _order(_area_of(f)))):
            self._finding_head(f, gpus, 1)
            n = len(self.consequences.get(f.id, []))
            if n:
                self.out.line(Text(f"(and {_plural(n, 'consequence')} of it)", style="dim"), indent=3)

    def _next_steps(self) -> None:
        if not self.steps:
            return
        self.out.blank()
        self.out.line(Text("Next steps", style="bold underline")
                      + Text("  in this order; the block can be pasted as it is", style="dim"))
        for n, (fix, cmds) in enumerate(self.steps, 1):
            self._comment(f"{n}. ", fix.summary, "cyan")
            # A command with a placeholder (<image>) cannot run as pasted: it stays in the block as a
            # comment to complete, so that pasting the block runs only what can run.
            ready = [c for c in cmds if not _PLACEHOLDER.search(c)]
            for c in cmds:
                if c not in ready and c not in self.shown:
                    self.shown.add(c)
                    self.out.line(Text(f"# (fill in, then run) {c}", style="dim"), indent=2, wrap=False)
            _command_lines(self.out, ready, 2, self.shown, prompt="")
        if self.rerun:
            after = "after the reboot, " if any(c in _REBOOT for _, cs in self.steps for c in cs) else ""
            self._comment("", f"{after}check again:", "dim")
            if after:
                self.out.line(Text(f"# {self.rerun}", style="dim"), indent=2, wrap=False)
            else:
                self.out.line(Text(self.rerun, style="bold"), indent=2, wrap=False)

    def _comment(self, tag: str, text: str, style: str) -> None:
        """A shell comment in the pasteable block: every wrapped line starts with '#' too."""
        width = self.out.width
        lead = f"# {tag}"
        if width is None or len(lead) + len(text) + 2 <= width:
            self.out.line(Text(lead + text, style=style), indent=2, wrap=False)
            return
        lines = Text(text).wrap(self.out.console, max(20, width - 2 - len(lead)))
        for i, ln in enumerate(lines):
            self.out.line(Text((lead if i == 0 else "#" + " " * (len(lead) - 1)) + ln.plain, style=style),
                          indent=2, wrap=False)

    def _closing(self) -> None:
        counts = {s: 0 for s in Severity}
        for f in self.r.findings:
            counts[f.severity] += 1
        label, style = VERDICT_STYLE[self.r.verdict.status]
        causes = [f for f in self.causes if f.severity.rank >= Severity.WARNING.rank and not f.ignored]
        ignored = sum(1 for f in self.causes if f.ignored and f.severity.rank >= Severity.WARNING.rank)
        errors = sum(1 for f in causes if f.severity is Severity.ERROR)
        warnings = len(causes) - errors
        total = self.r.timings.get("total", self.r.timings.get("probes_total", 0.0))
        parts = []
        if errors:
            parts.append(_plural(errors, "problem") + " to fix")
        if warnings:
            parts.append(_plural(warnings, "warning"))
        if self.steps:
            parts.append(f"{_plural(len(self.steps), 'next step')} above")
        if ignored:
            parts.append(f"{ignored} ignored")
        parts.append(f"{counts[Severity.OK]} ok")
        folded = sum(len(v) for v in self.consequences.values())
        if folded:
            parts.append(f"{folded} folded under their cause")
        parts.append(f"{total:.2f} s")
        # Where the verdict alone would mislead about the exit code (as tfgpu.cli decides it).
        from tfgpu.render.junit import fails_on_warnings

        if not errors and fails_on_warnings(self.r) and (warnings or self.r.verdict.status is VerdictStatus.UNKNOWN):
            parts.append("exit 1: the policy fails on warnings (fail-on: warning)")
        elif not errors and ignored and self.r.verdict.status is VerdictStatus.NOT_READY:
            parts.append("exit 0: the policy ignores every error found")
        if self.r.failed_checks:
            parts.append(f"failed check(s): {', '.join(self.r.failed_checks)}")
        self.out.blank()
        self.out.line(Text(" · ".join(parts), style="dim"), prefix=Text(label, style=style) + Text("  "))


__all__ = ["render", "escape", "print_fixes", "buffer_console", "rendered", "LEVELS"]
