"""RunOptions: the run's options as one frozen record, from the CLI to the probes, checks and verdict."""

from __future__ import annotations

import dataclasses

import pytest

import tfgpu.checks as checks_mod
from tfgpu.model import ProbeFailure, ProbeStatus, RunOptions, VerdictStatus
from tfgpu.runner import _live_limit, build_report


def test_run_options_are_frozen_with_the_cli_defaults():
    opts = RunOptions()
    assert (opts.fast, opts.smoke, opts.strict, opts.timeout, opts.live_timeout) == (False, True, False, 30.0, 120.0)
    assert opts.from_facts is None and opts.knowledge is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.fast = True  # type: ignore[misc]


def test_the_live_limit_comes_from_the_options():
    assert _live_limit(RunOptions(live_timeout=7.5)) == 7.5
    assert _live_limit({"live_timeout": 9}) == 9.0  # a plain mapping still works (tests build contexts so)
    assert _live_limit({}) == RunOptions().live_timeout


def _capture_checks(monkeypatch) -> list:
    seen: list = []

    def fake_run_checks(facts, matrix, only, options, *rest, **kw):
        seen.append(options)
        return [], []

    monkeypatch.setattr(checks_mod, "run_checks", fake_run_checks)
    return seen


def test_the_checks_get_run_options_with_knowledge_when_there_is_a_live_log(monkeypatch):
    seen = _capture_checks(monkeypatch)
    asked = RunOptions(strict=True, live_timeout=5.0)
    live = ProbeFailure("tf_live", ProbeStatus.TIMED_OUT, "timed out after 15 s")
    report = build_report({"tf_live": live}, {}, None, ["tf-live"], asked)
    (got,) = seen
    assert isinstance(got, RunOptions) and got.knowledge is not None
    assert (got.strict, got.live_timeout) == (True, 5.0)
    assert asked.knowledge is None  # the caller's record is not changed
    assert report.verdict.status is VerdictStatus.UNKNOWN


def test_knowledge_is_loaded_only_when_needed(monkeypatch):
    seen = _capture_checks(monkeypatch)
    build_report({}, {}, None, ["tf-live"], RunOptions())
    given = object()
    live = ProbeFailure("tf_live", ProbeStatus.TIMED_OUT, "timed out after 15 s")
    build_report({"tf_live": live}, {}, None, ["tf-live"], RunOptions(knowledge=given))
    assert seen[0].knowledge is None  # no live log: nothing to classify
    assert seen[1].knowledge is given  # handed in: not loaded again
