"""Checks on the target Python environment itself: can tfgpu ask it anything at all."""

from __future__ import annotations

import shlex
from typing import Iterable

from tfgpu.checks import CheckContext, check
from tfgpu.model import Area, Finding, Fix, ProbeStatus, Severity


@check("target-python", "The target Python interpreter answers", Area.ENVIRONMENT, uses=("environment", "python_env"),
       emits=("active-env-broken", "python-broken", "python-hung", "python-missing"))
def target_python(ctx: CheckContext) -> Iterable[Finding]:
    """The interpreter being diagnosed starts and answers: missing, hung or failing, or an active virtualenv or conda
    env that is broken."""
    fail = ctx.failure("python_env")
    if fail is None:
        return
    env = ctx.environment
    active = None
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        value = env.get(var) if env is not None else None
        if value:
            active = (var, value)
            break
    ev = {"status": fail.status.value, "message": fail.message, **fail.evidence}
    if fail.status in (ProbeStatus.NOT_FOUND, ProbeStatus.PERMISSION_DENIED):
        if active is not None:
            var, prefix = active
            yield ctx.finding(
                "active-env-broken", Severity.ERROR,
                f"The active environment ({var}={prefix}) has no working Python interpreter",
                "Its interpreter is missing or not executable, typically a virtualenv whose base Python was "
                "upgraded or removed. tfgpu will not silently inspect another environment instead.",
                {**ev, var: prefix},
                (Fix("Recreate the virtualenv (then reinstall its packages), or leave it",
                     (f"python3 -m venv --clear {shlex.quote(prefix)}", "deactivate")),),
            )
        else:
            yield ctx.finding("python-missing", Severity.ERROR, f"The target interpreter is unusable: {fail.message}",
                              "", ev, (Fix("Point tfgpu at the environment that holds TensorFlow",
                                            ("tfgpu doctor --python /path/to/venv/bin/python",)),))
    elif fail.status is ProbeStatus.TIMED_OUT:
        yield ctx.finding(
            "python-hung", Severity.ERROR, f"The target interpreter did not answer: {fail.message}",
            "Even listing its installed packages hung: a stuck network mount on sys.path, or a .pth file that "
            "blocks at start-up.", ev,
            (Fix("See what it blocks on", (f"{fail.evidence.get('command', 'python').split(' ')[0]} -X importtime -c pass",)),),
        )
    else:
        yield ctx.finding("python-broken", Severity.ERROR, f"The target interpreter failed: {fail.message}", "", ev)
