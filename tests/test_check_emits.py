"""The finding ids each check declares (`emits`) are true: statically (every id a check module
writes is declared by one of its checks, and every declared id is written somewhere) and at run
time (the runner reports an undeclared id like a crashed check; the named machines and the whole
log corpus run through the checks without one). `tfgpu doctor FINDING_ID` runs its emitters."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import findings_by_id, json_report, run_tfgpu

from tfgpu import matrix as matrix_mod
from tfgpu.checks import Check, CheckContext, Registry, builtin_registry, log_class_ids
from tfgpu.explain import load_knowledge
from tfgpu.model import RunOptions, Severity
from tfgpu.probes.tf_live import LiveGPU, SmokeResult, TFLive

CHECKS_DIR = Path(__file__).resolve().parent.parent / "src" / "tfgpu" / "checks"
LOGS = Path(__file__).resolve().parent / "data" / "logs"
#: Ids the live check makes with explain's rules rather than from a signature of the same id
#: (tfgpu.explain.report: its matrix cross-checks, native Windows, unrecognised lines).
EXPLAIN_RULE_IDS = {"driver-too-old", "driver-minor-compat", "gpu-ptx-jit", "gpu-cc-unsupported",
                    "cudnn-version-mismatch", "windows-native-gpu-unsupported", "unrecognized-error"}


def _written_ids(tree: ast.AST) -> set[str]:
    """Every string constant in the id argument of a `ctx.finding(...)` / `Finding(...)` call."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in ("finding", "Finding"):
                out |= {c.value for c in ast.walk(node.args[0])
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return out


def _modules() -> list[Path]:
    return sorted(p for p in CHECKS_DIR.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_every_id_a_module_writes_is_declared_by_its_checks_and_back(path):
    registry = builtin_registry()
    module = f"tfgpu.checks.{path.stem}"
    checks = [c for c in registry.values() if c.origin == module]
    written = _written_ids(ast.parse(path.read_text()))
    declared = {e for c in checks for e in c.emits or ()}
    skipped = {f"{c.id}-skipped" for c in checks}
    assert written - skipped <= declared, f"{path.name} writes ids no check of it declares: {written - declared}"
    stale = declared - written - (EXPLAIN_RULE_IDS if any(c.log_classes for c in checks) else set())
    assert not stale, f"{path.name} declares ids it never writes: {stale}"


def test_every_built_in_check_declares_what_it_emits_and_what_it_checks():
    for chk in builtin_registry().values():
        assert chk.emits, f"{chk.id} declares no finding ids"
        assert chk.description and chk.description != chk.title, f"{chk.id} says nothing of what it checks"


def test_the_live_checks_rule_ids_are_explains():
    from tfgpu.explain import report

    assert set(report.RULE_AREAS) | set(report.RULE_CLASSES) | {"unrecognized-error"} == EXPLAIN_RULE_IDS
    assert EXPLAIN_RULE_IDS <= set(builtin_registry()["tf-live"].emits or ())


def _one_check_registry(emits, finding_ids, log_classes=False) -> Registry:
    def func(ctx: CheckContext):
        for fid in finding_ids:
            yield ctx.finding(fid, Severity.WARNING, f"said {fid}")

    registry = Registry()
    registry.add(Check("my-check", "A check", "gpu", func, emits=emits, log_classes=log_classes))
    return registry


def test_an_undeclared_id_is_reported_like_a_crashed_check_and_the_finding_kept():
    findings, crashed = _one_check_registry(("said-this",), ["said-this", "said-that"]).run({}, None, None)
    assert crashed == ["my-check"]
    ids = [f.id for f in findings]
    assert ids.count("said-that") == 1 and ids.count("check-crashed") == 1
    bug = next(f for f in findings if f.id == "check-crashed")
    assert bug.evidence["undeclared_ids"] == ["said-that"] and "tfgpu bug" in bug.summary


def test_declared_ids_a_skipped_row_and_an_undeclaring_plugin_pass():
    assert _one_check_registry(("said-this",), ["said-this", "my-check-skipped"]).run({}, None, None)[1] == []
    assert _one_check_registry(None, ["anything-at-all"]).run({}, None, None)[1] == []


def test_log_classes_are_declared_only_with_the_knowledge_that_defines_them():
    knowledge = load_knowledge()
    sig = sorted(log_class_ids(knowledge))[0]
    registry = _one_check_registry((), [sig], log_classes=True)
    options = RunOptions(knowledge=knowledge)
    assert registry.run({}, None, None, options)[1] == []
    assert registry.run({}, None, None)[1] == ["my-check"]  # no knowledge: nothing it could have classified
    assert _one_check_registry((), [sig]).run({}, None, None, options)[1] == ["my-check"]


def _named_machines() -> dict[str, dict]:
    import test_breadth_docker_wsl
    import test_driver_machines

    return {**test_driver_machines.MACHINES, **{f"breadth-{k}": v for k, v in test_breadth_docker_wsl.MACHINES.items()}}


def test_no_named_machine_makes_a_check_emit_an_undeclared_id():
    matrix = matrix_mod.load()
    registry = builtin_registry()
    for name, facts in _named_machines().items():
        findings, crashed = registry.run(facts, matrix, None)
        assert not crashed, (name, [f.summary for f in findings if f.id == "check-crashed"])


def _live(log: list[str], smoke_error: str | None) -> TFLive:
    gpus = () if smoke_error is None else (
        LiveGPU("GPU 0", {}, (SmokeResult("matmul", False, "", 0.1, smoke_error),)),)
    return TFLive("ok", "/usr/bin/python3", "2.16.1", 3.0, {}, gpus, (), "smoke", None, None, 4.0,
                  tuple(log), len(log), smoke_error is not None)


def test_the_live_check_emits_only_declared_ids_over_the_whole_log_corpus():
    """Every real log of the explain corpus, as the live import's log and as a GPU smoke error."""
    matrix = matrix_mod.load()
    registry = builtin_registry()
    options = RunOptions(knowledge=load_knowledge())
    logs = sorted(LOGS.glob("*.txt"))
    assert len(logs) > 50
    seen = set()
    for path in logs:
        lines = path.read_text(errors="replace").splitlines()
        for live in (_live(lines, None), _live([], "\n".join(lines))):
            findings, crashed = registry.run({"tf_live": live}, matrix, ["tf-live"], options)
            assert not crashed, (path.name, [f.summary for f in findings if f.id == "check-crashed"])
            seen |= {f.id for f in findings}
    assert len(seen) > 20  # the corpus really reached the classes


def test_the_cli_reports_carry_only_declared_ids(tmp_path):
    """This machine's real report (no driver) and the checks' declarations, both from the CLI."""
    listing = json.loads(run_tfgpu("doctor", "--list", "--json").stdout)
    knowledge = load_knowledge()
    declared = {c["id"]: set(c["emits"] or ()) | {f"{c['id']}-skipped"} |
                (log_class_ids(knowledge) if c["emits_log_classes"] else set()) for c in listing["checks"]}
    data, _ = json_report("doctor", "--json", "--fast", expect_codes=(1,))
    assert data["findings"]
    for f in data["findings"]:
        if f["check"] in declared:
            assert f["id"] in declared[f["check"]], f


def test_a_finding_id_runs_the_checks_that_emit_it():
    data, _ = json_report("doctor", "--json", "--fast", "driver-missing", expect_codes=(1,))
    emitters = builtin_registry().emitters("driver-missing")
    assert emitters == ["driver-present"]
    assert {f["check"] for f in data["findings"]} == set(emitters)
    assert findings_by_id(data).keys() & {"driver-missing", "container-no-gpu-passthrough"}


def test_a_finding_id_and_a_check_id_together_run_each_check_once():
    data, _ = json_report("doctor", "--json", "--fast", "tf-not-installed", "tf-installed", "cuda-visible-devices",
                          expect_codes=(0, 1), env={"CUDA_VISIBLE_DEVICES": "0"})
    assert {f["check"] for f in data["findings"]} == {"tf-installed", "cuda-visible-devices"}
    assert len([f for f in data["findings"] if f["check"] == "tf-installed"]) == 1


def test_a_log_class_id_runs_the_live_check():
    registry = builtin_registry()
    assert registry.emitters("cuda-runtime-missing", load_knowledge) == ["tf-live"]
    assert registry.emitters("cuda-runtime-missing") == []  # without the knowledge nothing names it
    # Named by a static check and by the live one (which reads it in TensorFlow's log too): both run.
    assert registry.emitters("driver-too-old", load_knowledge) == ["driver-supports-tf-cuda", "tf-live"]


def test_an_unknown_id_exits_2_with_suggestions():
    proc = run_tfgpu("doctor", "--fast", "drvier-missing", "zzzz-qqqq")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "drvier-missing" in proc.stderr and "driver-missing" in proc.stderr and "zzzz-qqqq" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "unknown check" in proc.stderr


def test_resolve_orders_and_dedupes():
    registry = builtin_registry()
    run, unknown = registry.resolve(["gpu-lost", "driver-present", "vram-low", "nope-nope"])
    assert run == ["driver-present", "gpu-memory"] and list(unknown) == ["nope-nope"]

