"""The check registry as an object, and the facts contract: a fresh registry per test, a plugin whose
id is taken is refused as a plugin-load-failed finding, and a check that reads a fact it did not
declare crashes (a tfgpu bug) instead of silently judging nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_driver_machines import MACHINES

from tfgpu.checks import FACT_TYPES, Check, CheckContext, Registry, UndeclaredFact, builtin_registry, check
from tfgpu.matrix import load as load_matrix
from tfgpu.model import Area, Severity


def _says(ctx: CheckContext):
    yield ctx.finding("said-it", Severity.INFO, "said it")


def test_a_fresh_registry_is_empty_and_independent():
    a, b = Registry(), Registry()
    assert a.add(Check("only-in-a", "A", "demo", _says))
    assert "only-in-a" in a and "only-in-a" not in b and len(b) == 0


def test_builtin_registry_holds_every_builtin_once():
    reg = builtin_registry()
    ids = [c.id for c in reg.values()]
    assert len(ids) == len(set(ids)) >= 20
    assert not reg.errors
    assert {"driver-present", "gpu-compute-capability", "cuda-visible-devices-gpus", "xla-tools"} <= set(ids)


def test_a_taken_id_is_refused_and_reported_as_plugin_load_failed():
    reg = builtin_registry()
    before = reg["driver-present"]
    impostor = Check("driver-present", "Impostor", "plugins", _says, origin="evil_plugin:check")
    assert reg.add(impostor, "driver-present", "evil-plugin") is False
    assert reg["driver-present"] is before  # the built-in stays
    findings, crashed = reg.run({}, None, ["driver-present"])
    failed = [f for f in findings if f.id == "plugin-load-failed"]
    assert len(failed) == 1 and not crashed
    assert "already taken" in failed[0].detail and failed[0].area == "plugins"
    assert "evil-plugin" in " ".join(c for fix in failed[0].fixes for c in fix.commands)


def test_a_check_that_reads_an_undeclared_fact_crashes():
    def sneaky(ctx: CheckContext):
        if ctx.driver is None:  # declared: fine
            yield ctx.finding("no-driver-here", Severity.INFO, "no driver")
        if ctx.tf_build is None:  # not declared: a bug
            yield ctx.finding("never", Severity.INFO, "never")

    reg = Registry()
    reg.add(Check("sneaky-check", "Sneaky", "demo", sneaky, uses=("driver",)))
    findings, crashed = reg.run({}, None, None)
    assert crashed == ["sneaky-check"]
    crash = [f for f in findings if f.id == "check-crashed"][0]
    assert "UndeclaredFact" in crash.summary and "tf_build" in crash.summary


def test_context_without_declarations_allows_any_fact_and_enforces_declared():
    assert CheckContext("free", {}, None).tf_build is None
    with pytest.raises(UndeclaredFact):
        _ = CheckContext("strict", {}, None, declared=frozenset({"host"})).tf_build


def test_declaring_an_unknown_fact_is_refused_at_registration():
    with pytest.raises(ValueError, match="unknown facts"):
        check("typo-check", "Typo", Area.DRIVER, needs=("drivr",))(_says)


def test_a_builtin_area_must_be_a_known_one():
    with pytest.raises(ValueError):
        check("odd-area-check", "Odd", "drivr")(_says)  # type: ignore[arg-type]


def test_typed_accessor_gives_none_for_a_fact_of_the_wrong_type():
    ctx = CheckContext("demo", {"driver": {"not": "a DriverInfo"}}, None)
    assert ctx.driver is None


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_builtin_check_reads_only_what_it_declares(name):
    """Every check runs over every named machine with the contract enforced: no check crashes."""
    reg = builtin_registry()
    findings, crashed = reg.run(MACHINES[name], load_matrix(), None)
    assert not crashed, [f.summary for f in findings if f.id == "check-crashed"]
    assert all(f.area for f in findings), [f.id for f in findings if not f.area]
    declared = {n for c in reg.values() for n in c.declared}
    assert declared <= set(FACT_TYPES)


def test_plugin_with_a_builtin_id_is_a_finding_end_to_end(tmp_path: Path):
    from conftest import json_report

    root = tmp_path / "plugin"
    root.mkdir()
    (root / "tfgpu_dupplugin.py").write_text(textwrap.dedent("""
        def check_it(ctx):
            '''Pretends to be the driver check.'''
            return []
    """))
    meta = root / "tfgpu_dupplugin-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: tfgpu-dupplugin\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text("[tfgpu.checks]\ndriver-present = tfgpu_dupplugin:check_it\n")
    data, _ = json_report("doctor", "--json", "--fast", "driver-present", env={"PYTHONPATH": str(root)},
                          expect_codes=(1,))
    ids = [f["id"] for f in data["findings"]]
    assert "plugin-load-failed" in ids
    detail = [f for f in data["findings"] if f["id"] == "plugin-load-failed"][0]["detail"]
    assert "already taken" in detail
    # The built-in check still ran: its own finding is there.
    assert any(f["check"] == "driver-present" and f["id"] != "plugin-load-failed" for f in data["findings"])


def test_a_fix_command_that_cannot_work_is_dropped_before_it_is_offered():
    """TensorFlow 2.4 has no [and-cuda] extra (it appeared in 2.14: the wheels' METADATA), so a check that
    offers it loses that command; the valid command of the same fix stays."""
    from tfgpu.model import Fix

    def offers(ctx: CheckContext):
        yield ctx.finding("demo-fix", Severity.ERROR, "demo", fixes=(
            Fix("Reinstall", ("pip install 'tensorflow[and-cuda]==2.4.*'", "pip install 'tensorflow==2.4.*'")),
            Fix("Only a bad command", ("pip install 'tensorflow[and-cuda]==2.4.*'",)),
        ))

    reg = Registry()
    reg.add(Check("offers-fixes", "Offers fixes", "demo", offers))
    findings, crashed = reg.run({}, load_matrix(), None)
    assert not crashed
    (f,) = findings
    assert [fix.commands for fix in f.fixes] == [("pip install 'tensorflow==2.4.*'",)]
