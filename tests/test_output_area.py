"""Each finding carries its area: the renderers and the verdict group and order by it, never by
reading the check registry; the JSON report carries it; older reports without it still validate."""

from __future__ import annotations

import json

from conftest import validate_report
from tfgpu.model import Finding, Report, RunOptions, Severity, Verdict, VerdictStatus
from tfgpu.render.json import report_to_dict
from tfgpu.render.rich import render
from tfgpu.runner import _with_areas
from tfgpu.verdict import decide


def _report(*findings: Finding) -> Report:
    return Report(Verdict(VerdictStatus.UNKNOWN, "headline"), {}, tuple(findings), {"total": 0.0}, "0")


def test_rich_groups_by_the_findings_own_area():
    # Check ids no registry knows: only the finding's area can place them.
    report = _report(Finding("x-one", "unregistered-a", Severity.ERROR, "about the driver", area="driver"),
                     Finding("x-two", "unregistered-b", Severity.WARNING, "about the libraries", area="libraries"),
                     Finding("x-three", "unregistered-c", Severity.INFO, "from nowhere"))
    text = render(report, width=100)
    driver, libs, plugins = text.index("NVIDIA driver"), text.index("CUDA libraries"), text.index("Plugins")
    assert driver < text.index("about the driver") < libs < text.index("about the libraries") < plugins
    assert plugins < text.index("from nowhere")


def test_verdict_names_the_error_of_the_earliest_area():
    later = Finding("lib-bad", "unregistered-a", Severity.ERROR, "a library is missing", area="libraries")
    earlier = Finding("drv-bad", "unregistered-b", Severity.ERROR, "the driver is too old", area="driver")
    verdict = decide({}, [later, earlier], RunOptions())
    assert verdict.status is VerdictStatus.NOT_READY and verdict.headline.endswith("the driver is too old")
    no_area = Finding("odd", "unregistered-c", Severity.ERROR, "an area-less error")
    assert decide({}, [no_area, later], RunOptions()).headline.endswith("a library is missing")


def test_json_carries_the_area_and_old_reports_still_validate():
    data = report_to_dict(_report(Finding("x-one", "some-check", Severity.OK, "fine", area="gpu")))
    assert data["findings"][0]["area"] == "gpu"
    assert list(data["findings"][0])[:3] == ["id", "check", "area"]
    validate_report(data)
    old = json.loads(json.dumps(data))
    del old["findings"][0]["area"]
    validate_report(old)


def test_the_runner_fills_an_area_a_check_left_out():
    class _Chk:
        area = "toolkit"

    findings = [Finding("a", "known-check", Severity.OK, "made without an area"),
                Finding("b", "plugins", Severity.WARNING, "a plugin failed to load"),
                Finding("c", "known-check", Severity.OK, "already placed", area="gpu")]
    out = _with_areas(findings, {"known-check": _Chk()})
    assert [f.area for f in out] == ["toolkit", "plugins", "gpu"]
