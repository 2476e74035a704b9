"""`tfgpu fleet report`: Slurm host lists, the fingerprint read from real reports, the merge (groups,
majority, outliers named by what differs), garbage counted and named, stdin streams with
`kubectl logs --prefix` lines, the outputs (JSON validated against fleet.schema.json, Markdown,
JUnit validated against the vendored XSD), exit codes, and a small version of bench/bench_fleet.py
(300 synthetic nodes: the planted outliers are exactly the reported ones)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import random
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, run_tfgpu
from tfgpu.fleet.cmd_report import build
from tfgpu.fleet.fingerprint import summarise
from tfgpu.fleet.hostlist import HostlistError, compress, expand
from tfgpu.fleet.ingest import StreamReader

SCREENS = REPO / "docs" / "screens"
DATA = REPO / "tests" / "data" / "fleet"
FLEET_SCHEMA = REPO / "src" / "tfgpu" / "schema" / "fleet.schema.json"


def validate_fleet(doc: dict) -> None:
    import jsonschema

    schema = json.loads(FLEET_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)


def screen(name: str) -> dict:
    return json.loads((SCREENS / f"{name}.json").read_text())


def node_report(name: str | None, base: str = "rtx4090-ready", driver: str | None = None) -> dict:
    report = copy.deepcopy(screen(base))
    if name is not None:
        report["facts"]["host"]["data"]["hostname"] = name
    if driver is not None:
        report["facts"]["driver"]["data"]["driver_version"] = driver
    return report


def write(path: Path, report: dict, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(report, indent=indent) + "\n")
    return path


# --- host lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize("names, expected", [
    ([f"gpu{i:03d}" for i in range(1, 65)] + ["gpu070"], "gpu[001-064,070]"),
    (["gpu099", "gpu100", "gpu101"], "gpu[099-101]"),  # the padding's width is kept across 099 -> 100
    (["n9", "n10", "n11"], "n[9-11]"),  # unpadded numbers of different widths share a range
    (["n1", "n01", "n2", "n02"], "n[1-2,01-02]"),  # 01 and 1 are different nodes: never one range
    (["login", "cpu1", "cpu2", "cpu3", "cpu5", "gpu001", "gpu007"], "cpu[1-3,5],gpu[001,007],login"),
    (["gpu007"], "gpu007"),
    (["a-1", "a-2", "b-1"], "a-[1-2],b-1"),
    ([], ""),
])
def test_compress_writes_slurm_host_lists(names, expected):
    assert compress(names) == expected
    assert sorted(expand(expected)) == sorted(set(names))


def test_compress_and_expand_round_trip_on_random_names():
    rng = random.Random(7)
    for _ in range(200):
        names = {f"{rng.choice(['gpu', 'node-', 'r1n', 'x'])}{rng.randint(0, 130):0{rng.choice([1, 2, 3])}d}"
                 for _ in range(rng.randint(1, 40))}
        names |= {rng.choice(["login", "head", "dgx-a"]) for _ in range(rng.randint(0, 2))}
        assert sorted(expand(compress(names))) == sorted(names), names


def test_expand_reads_brackets_in_several_places_and_keeps_order():
    assert expand("rack[1-2]-gpu[01-02],login") == ["rack1-gpu01", "rack1-gpu02", "rack2-gpu01", "rack2-gpu02", "login"]
    assert expand("gpu[008-010]") == ["gpu008", "gpu009", "gpu010"]


@pytest.mark.parametrize("bad, says", [
    ("gpu[1-", "without its ']'"), ("gpu]", "without its '['"), ("gpu[3-1]", "backwards"),
    ("gpu[a-b]", "not a number"), ("gpu[[1]]", "inside a bracket"), ("gpu[1-99999999]", "more than"),
])
def test_expand_refuses_bad_host_lists_with_one_line(bad, says):
    with pytest.raises(HostlistError, match=r".*") as info:
        expand(bad)
    assert says in str(info.value) and "\n" not in str(info.value)


# --- fingerprint ---------------------------------------------------------------------------------


def test_the_fingerprint_reads_what_decides_tensorflow_on_gpu_from_a_real_report():
    s = summarise(screen("rtx4090-ready"), "fallback")
    fp = dict(s.fingerprint)
    assert fp["tensorflow"] == "2.21.0"
    assert fp["tf_build"] == "CUDA 12.5.1, cuDNN 9"
    assert fp["driver"] == "560.35.03"
    assert fp["gpus"] == "1x NVIDIA GeForce RTX 4090 (cc 8.9)"
    assert fp["python"] == "3.11.7"
    assert fp["container"] == "docker" and fp["wsl"] == "none"
    assert fp["lib cudnn"] == "9.28.0" and fp["lib cudart"] == "12.9"
    assert "driver-runtime-minor-compat:warning" in s.findings
    assert s.status == "ready"
    assert s.node == "fallback" and not s.named_by_report  # saved before reports carried a host name


def test_the_node_name_comes_from_the_report_first():
    report = node_report("gpu017")
    assert summarise(report, "file-stem").node == "gpu017"
    report["facts"]["host"]["data"]["node_name"] = "slurm-gpu017"
    assert summarise(report, "file-stem").node == "slurm-gpu017"


def test_a_node_without_a_driver_has_no_gpus_in_its_fingerprint():
    fp = dict(summarise(screen("no-driver"), "x").fingerprint)
    assert fp["driver"] == "none" and fp["gpus"] == "none"


# --- merge ---------------------------------------------------------------------------------------


def test_an_outlier_is_named_by_what_differs_from_the_majority(tmp_path):
    for i in range(1, 8):
        write(tmp_path / f"r{i}.json", node_report(f"gpu{i:03d}", driver="550.54.15" if i != 5 else "535.104.05"))
    doc = build([str(tmp_path)])
    validate_fleet(doc)
    assert doc["counts"]["reports"] == 7 and doc["counts"]["groups"] == 2
    major = doc["groups"][0]
    assert major["id"] == doc["majority"] and major["nodes"] == "gpu[001-004,006-007]" and major["count"] == 6
    [outlier] = doc["outliers"]
    assert outlier["nodes"] == "gpu005" and outlier["others"] == 6
    assert outlier["differs"] == [{"field": "driver", "label": "driver", "value": "535.104.05", "others": "550.54.15"}]
    from tfgpu.fleet.render import outlier_line, text

    assert outlier_line(outlier) == "gpu005: driver 535.104.05 (6 others: 550.54.15)"
    view = text(doc)
    assert "gpu005: driver 535.104.05 (6 others: 550.54.15)" in view
    assert "Majority configuration" in view and "gpu[001-004,006-007]" in view


def test_a_large_second_configuration_is_no_outlier_and_outliers_compare_with_the_closest(tmp_path):
    # 6 RTX 4090 nodes, 4 T4 nodes (both common at the 10% default), one T4 node with another driver.
    for i in range(1, 7):
        write(tmp_path / f"a{i}.json", node_report(f"a{i}"))
    for i in range(1, 5):
        write(tmp_path / f"b{i}.json", node_report(f"b{i}", base="t4-driver-470"))
    write(tmp_path / "b5.json", node_report("b5", base="t4-driver-470", driver="470.57.02"))
    doc = build([str(tmp_path)])
    validate_fleet(doc)
    assert [g["common"] for g in doc["groups"]] == [True, True, False]
    [outlier] = doc["outliers"]
    assert outlier["nodes"] == "b5" and outlier["others"] == 4  # compared with the T4 group, not the majority
    assert [d["field"] for d in outlier["differs"]] == ["driver"]
    # With a threshold above the T4 group's share, the T4 nodes become outliers too.
    doc = build([str(tmp_path)], outlier_below=50)
    assert {n for o in doc["outliers"] for n in expand(o["nodes"])} == {"b1", "b2", "b3", "b4", "b5"}


def test_findings_are_counted_by_nodes(tmp_path):
    for i in range(3):
        write(tmp_path / f"r{i}.json", node_report(f"n{i}"))
    write(tmp_path / "t.json", node_report("n9", base="t4-driver-470"))
    doc = build([str(tmp_path)])
    by_id = {(f["id"], f["severity"]): f for f in doc["findings"]}
    assert by_id[("driver-too-old", "error")]["count"] == 1 and by_id[("driver-too-old", "error")]["nodes"] == "n9"
    assert by_id[("system-toolkit-differs", "warning")]["count"] == 4
    assert doc["findings"][0]["severity"] == "error"  # errors first


# --- garbage, exit codes -------------------------------------------------------------------------


def garbage_dir(tmp_path: Path) -> Path:
    d = tmp_path / "reports"
    shutil.copytree(DATA, d, ignore=shutil.ignore_patterns("*.md"))
    write(d / "gpu001.json", node_report("gpu001"))
    write(d / "gpu002.json", node_report("gpu002"))
    newer = node_report("gpu003")
    newer["schema_version"] = 99
    write(d / "gpu003.json", newer)
    (d / "gpu001.out").write_text("srun: some log line of the node that did report\n")  # a log beside its report
    (d / "dir.json").mkdir()  # a directory that looks like a report
    os.mkfifo(d / "fifo.json")  # a FIFO: refused before anything could block
    (d / "notes.txt").write_text("not read: only *.json and *.out are\n")
    return d


def test_garbage_is_counted_and_named_never_a_traceback(tmp_path):
    d = garbage_dir(tmp_path)
    proc = run_tfgpu("fleet", "report", str(d), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    validate_fleet(doc)
    problems = {p["node"]: (p["kind"], p["reason"]) for p in doc["problems"]}
    assert problems["truncated"] == ("broken", "truncated JSON (the document from line 1 ends before it is complete)")
    assert problems["not-a-report"][0] == "broken" and "no 'facts'" in problems["not-a-report"][1]
    assert problems["empty"] == ("no_report", "an empty file")
    assert problems["not-utf8"][0] == "broken" and "not UTF-8" in problems["not-utf8"][1]
    assert problems["gpu042"][0] == "no_report" and "Exited with exit code 3" not in problems["gpu042"][1]
    assert "doctor itself failed" in problems["gpu042"][1]  # the last line of the log says why
    assert problems["gpu003"][0] == "broken" and "schema_version 99 is newer" in problems["gpu003"][1]
    assert problems["dir"][0] == "unreadable" and "directory" in problems["dir"][1]
    assert problems["fifo"][0] == "unreadable" and "FIFO" in problems["fifo"][1]
    assert "gpu001" not in problems  # its .out log is no problem: it did report
    assert set(problems) == {"truncated", "not-a-report", "empty", "not-utf8", "gpu042", "gpu003", "dir", "fifo"}
    assert doc["counts"]["reports"] == 2 and doc["counts"]["nodes"] == 10
    text = run_tfgpu("fleet", "report", str(d))
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "Nodes without a usable report (8)" in text.stdout and "truncated: broken report: truncated JSON" in text.stdout


def test_all_ready_exits_0_and_a_not_ready_node_exits_1(tmp_path):
    write(tmp_path / "a.json", node_report("gpu001"))
    write(tmp_path / "b.json", node_report("gpu002"))
    proc = run_tfgpu("fleet", "report", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 of 2 nodes ready" in proc.stdout
    write(tmp_path / "c.json", node_report("gpu003", base="t4-driver-470"))
    assert run_tfgpu("fleet", "report", str(tmp_path)).returncode == 1


def test_expect_names_missing_nodes(tmp_path):
    write(tmp_path / "a.json", node_report("gpu001"))
    write(tmp_path / "b.json", node_report("gpu002"))
    proc = run_tfgpu("fleet", "report", str(tmp_path), "--json", "--expect", "gpu[001-003]")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    validate_fleet(doc)
    assert [(p["node"], p["kind"]) for p in doc["problems"]] == [("gpu003", "missing")]
    assert run_tfgpu("fleet", "report", str(tmp_path), "--expect", "gpu[001-002]").returncode == 0


def test_a_second_report_for_a_node_is_named(tmp_path):
    write(tmp_path / "a.json", node_report("gpu001"))
    write(tmp_path / "b.json", node_report("gpu001"))
    doc = build([str(tmp_path)])
    [dup] = doc["problems"]
    assert dup["kind"] == "duplicate" and dup["source"].endswith("b.json") and "a.json" in dup["reason"]


@pytest.mark.parametrize("args, says", [
    (["NOPE"], "no such file or directory"),
    (["EMPTY"], "no report files in it"),
    (["-"], "nothing to merge"),
    (["-", "STDIN:error: You must be logged in to the server (Unauthorized)"], "stdin: no JSON document in it"),
    (["GOOD", "--expect", "gpu[1-"], "--expect"),
    (["GOOD", "--json", "--markdown", "-"], "choose one"),
    (["GOOD", "--junit", "NODIR/x.xml"], "cannot write"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, says):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "good.json", node_report("gpu001"))
    mapping = {"NOPE": str(tmp_path / "nope"), "EMPTY": str(tmp_path / "empty"), "GOOD": str(tmp_path / "good.json"),
               "NODIR/x.xml": str(tmp_path / "nodir" / "x.xml")}
    stdin = next((a[6:] for a in args if a.startswith("STDIN:")), "")
    args = [mapping.get(a, a) for a in args if not a.startswith("STDIN:")]
    proc = run_tfgpu("fleet", "report", *args, input=stdin)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- streams -------------------------------------------------------------------------------------


def kubectl_prefixed(pods: dict[str, str]) -> str:
    """`kubectl logs --prefix` output of several pods, lines interleaved round-robin."""
    streams = {pod: [f"[pod/{pod}/tfgpu] {line}" for line in text.splitlines()] for pod, text in pods.items()}
    out = []
    while any(streams.values()):
        for lines in streams.values():
            if lines:
                out.append(lines.pop(0))
    return "\n".join(out) + "\n"


def test_kubectl_logs_prefix_streams_are_put_back_together_per_pod():
    pods = {
        "tfgpu-abc12": "Some log line on stderr\n" + json.dumps(node_report(None), indent=2),  # named by its pod
        "tfgpu-def34": json.dumps(node_report("node-b"), indent=2),  # named by its report
        "tfgpu-ghi56": json.dumps(node_report(None), indent=2)[:500],  # cut off
        "tfgpu-jkl78": "tfgpu: the doctor itself failed: out of memory",  # no report at all
    }
    proc = run_tfgpu("fleet", "report", "-", "--json", input=kubectl_prefixed(pods))
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    validate_fleet(doc)
    assert sorted(n["node"] for n in doc["nodes"]) == ["node-b", "tfgpu-abc12"]
    problems = {p["node"]: p for p in doc["problems"]}
    assert problems["tfgpu-ghi56"]["kind"] == "broken" and "truncated" in problems["tfgpu-ghi56"]["reason"]
    assert problems["tfgpu-ghi56"]["source"] == "stdin [pod/tfgpu-ghi56/tfgpu]"
    assert problems["tfgpu-jkl78"]["kind"] == "no_report" and "out of memory" in problems["tfgpu-jkl78"]["reason"]


def test_a_stream_of_compact_and_pretty_documents_with_log_lines_between():
    text = "\n".join([
        "starting",
        json.dumps(node_report("n1")),
        json.dumps(node_report("n2"), indent=2),
        "a log line",
        json.dumps(node_report("n3")) + " trailing words",  # not JSON as a whole line
        json.dumps(node_report("n4"), indent=1),
    ])
    items = list(StreamReader("stdin", "stdin").read(text.splitlines()))
    names = [i.node for i in items]
    assert names[:2] == ["n1", "n2"] and "n4" in names
    bad = [i for i in items if type(i).__name__ == "Problem"]
    assert len(bad) == 1 and "not valid JSON" in bad[0].reason


# --- outputs -------------------------------------------------------------------------------------


def test_markdown_and_junit_outputs(tmp_path):
    d = garbage_dir(tmp_path)
    write(d / "gpu004.json", node_report("gpu004", base="t4-driver-470"))
    md, xml = tmp_path / "fleet.md", tmp_path / "fleet.xml"
    proc = run_tfgpu("fleet", "report", str(d), "--markdown", str(md), "--junit", str(xml))
    assert proc.returncode == 1 and "Fleet:" in proc.stdout
    text = md.read_text()
    assert text.startswith("## ❌ tfgpu fleet:") and "### Nodes without a usable report" in text
    assert "truncated JSON" in text
    import xmlschema

    xmlschema.XMLSchema(str(REPO / "tests" / "data" / "junit" / "junit-10.xsd")).validate(str(xml))
    root = ET.parse(xml).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"gpu001", "gpu002", "gpu004", "truncated", "not-a-report", "empty", "not-utf8", "gpu042",
                          "gpu003", "dir", "fifo"}
    assert cases["gpu001"].find("failure") is None and cases["gpu001"].find("error") is None
    assert "too old" in cases["gpu004"].find("failure").get("message")
    assert cases["truncated"].find("error").get("type") == "broken"
    assert root.get("failures") == "1" and root.get("errors") == "8"
    out = run_tfgpu("fleet", "report", str(d), "--markdown", "-")
    assert out.stdout.startswith("## ❌ tfgpu fleet:")


# --- host facts ----------------------------------------------------------------------------------


def test_the_host_probe_records_the_hostname_and_the_node_name(tmp_path):
    proc = run_tfgpu("doctor", "--fast", "--json", env={"TFGPU_NODE_NAME": "gpu-node-7"})
    doc = json.loads(proc.stdout)
    host = doc["facts"]["host"]["data"]
    assert host["node_name"] == "gpu-node-7"
    assert isinstance(host["hostname"], str) and host["hostname"]
    (tmp_path / "n.json").write_text(proc.stdout)
    assert build([str(tmp_path / "n.json")])["nodes"][0]["node"] == "gpu-node-7"


def test_a_report_saved_before_the_host_name_still_loads_for_from_facts():
    from tfgpu.probes.host import HostInfo
    from tfgpu.render.json import facts_from_dict

    facts = facts_from_dict(screen("no-driver")["facts"], {"host": HostInfo})
    assert facts["host"].hostname is None and facts["host"].node_name is None


# --- the benchmark's fleet, small ----------------------------------------------------------------


def test_planted_outliers_are_exactly_the_reported_outliers(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_fleet", REPO / "bench" / "bench_fleet.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    planted = bench.make_fleet(tmp_path / "fleet", 300, seed=3)
    assert 6 <= len(planted) <= 9  # 2-3%
    doc = build([str(tmp_path / "fleet")])
    validate_fleet(doc)
    assert doc["counts"]["reports"] == 300
    assert bench.reported_outliers(doc) == planted
    assert sum(1 for g in doc["groups"] if g["common"]) == len(bench.PARTITIONS)


# --- robustness ----------------------------------------------------------------------------------


def test_reports_of_unexpected_shapes_are_problems_never_exceptions():
    from tfgpu.fleet.fingerprint import ReportProblem

    base = screen("rtx4090-ready")
    paths = [("verdict",), ("findings",), ("facts", "host"), ("facts", "driver", "data", "gpus"),
             ("facts", "driver", "data", "driver_version"), ("facts", "libraries", "data", "libraries"),
             ("facts", "tf_build", "data", "version"), ("facts", "python_env", "data"), ("facts", "host", "data", "hostname"),
             ("facts",), ("schema_version",), ("kind",)]
    weird = [None, 1, 2.5, True, "x", [], {}, [1, "a", None], {"status": "ok"}, "\x1b[31mred\x07"]
    outcomes = set()
    for path in paths:
        for value in weird:
            report = copy.deepcopy(base)
            target = report
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                summary = summarise(report, "n")
                assert all("\x1b" not in v for _f, v in summary.fingerprint) and "\x1b" not in summary.node
                outcomes.add("summary")
            except ReportProblem as exc:
                assert "\n" not in str(exc)
                outcomes.add("problem")
    assert outcomes == {"summary", "problem"}
    # A list of GPUs that holds other things than objects, or libraries without keys, still summarise.
    report = copy.deepcopy(base)
    report["facts"]["driver"]["data"]["gpus"] = [1, None, {"name": "X"}]
    assert dict(summarise(report, "n").fingerprint)["gpus"] == "1x X"


def test_other_tfgpu_documents_are_named_for_what_they_are(tmp_path):
    fleet = build([str(SCREENS / "rtx4090-ready.json")])
    write(tmp_path / "fleet.json", fleet)
    explain = dict(screen("no-driver"), kind="explain")
    write(tmp_path / "explain.json", explain)
    doc = build([str(tmp_path)])
    reasons = {p["node"]: p["reason"] for p in doc["problems"]}
    assert reasons == {"fleet": "a tfgpu 'fleet' document, not a doctor report",
                       "explain": "a tfgpu 'explain' document, not a doctor report"}


def test_deeply_nested_json_is_a_problem(tmp_path):
    (tmp_path / "deep.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    doc = build([str(tmp_path)])
    assert [p["node"] for p in doc["problems"]] == ["deep"]
    assert "nested too deeply" in doc["problems"][0]["reason"]


def test_worker_processes_give_the_same_document(tmp_path):
    for i in range(12):
        write(tmp_path / f"r{i}.json", node_report(f"gpu{i:02d}", driver="535.104.05" if i == 3 else None))
    (tmp_path / "bad.json").write_text("{")
    assert build([str(tmp_path)], jobs=3) == build([str(tmp_path)], jobs=1)


def test_long_host_lists_are_cut_in_the_terminal_with_the_bracket_closed():
    from tfgpu.fleet.render import clip

    hostlist = compress(f"gpu{i:04d}" for i in range(0, 2000, 2))
    cut = clip(hostlist, 60)
    assert len(cut) <= 62 and cut.startswith("gpu[0000,0002,") and cut.endswith(",…]")
    assert clip("gpu[001-004]", 60) == "gpu[001-004]"
    assert clip(",".join(f"n{i}x" for i in range(100)), 20).endswith(",…")


# --- fuzzing the two parsers of outside input: host lists and report streams ---------------------

FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_HOST_TOKENS = st.sampled_from(["gpu", "n", "[", "]", ",", "-", "0", "1", "9", "001", "064", "99999999", " ", "\x1b"])
_STREAM_TOKENS = st.sampled_from(["{", "}", "[pod/tfgpu-a/tfgpu] ", "[pod/tfgpu-b/tfgpu] ", "\n", '"facts": {}', ",",
                                  '"schema_version": 9', '"kind": "doctor"', '"verdict": {"status": "ready"}', "  ",
                                  "null", "[", "]", "\x00", "9" * 5000, '"findings": []', "log line"])


@FUZZ
@given(st.one_of(st.text(max_size=80), st.lists(_HOST_TOKENS, max_size=30).map("".join)))
def test_expand_answers_names_or_hostlist_error(text):
    try:
        names = expand(text)
    except HostlistError as exc:
        assert "\n" not in str(exc)
        return
    assert len(names) <= 1_000_000


@FUZZ
@given(st.lists(_STREAM_TOKENS, max_size=60).map("".join))
def test_a_stream_yields_items_only(text):
    from tfgpu.fleet.ingest import Problem

    for item in StreamReader("stdin", "stdin").read(text.splitlines()):
        assert isinstance(item, Problem) or item.status in ("ready", "not_ready", "unknown")


def test_kubectl_timestamps_are_dropped():
    text = json.dumps(node_report(None), indent=2)
    lines = [f"[pod/tfgpu-xyz/tfgpu] 2026-11-30T20:01:02.123456789Z {line}" for line in text.splitlines()]
    items = list(StreamReader("stdin", "stdin").read(lines))
    assert [(type(i).__name__, i.node) for i in items] == [("NodeSummary", "tfgpu-xyz")]


def test_the_headline_counts_nodes_without_a_report_in_plain_english(tmp_path):
    write(tmp_path / "gpu001.json", node_report("gpu001"))
    (tmp_path / "gpu002.json").write_text("")
    (tmp_path / "gpu003.out").write_text("srun: error: gpu003: task 0: Exited with exit code 1\n")
    (tmp_path / "gpu004.json").write_text('{"schema_version": 1, ')
    (tmp_path / "gpu005.json").write_text("{}")
    headline = build([str(tmp_path)])["verdict"]["headline"]
    assert headline == "1 of 5 nodes ready; 2 broken reports; 2 without a report", headline


def test_expect_matches_a_fully_qualified_host_name_by_its_short_name(tmp_path):
    # Reports named by socket.gethostname() may carry gpu001.cluster.example.com where the Slurm
    # host list says gpu001: the same node, neither missing nor unexpected.
    write(tmp_path / "a.json", node_report("gpu001.cluster.example.com"))
    write(tmp_path / "b.json", node_report("gpu002"))
    write(tmp_path / "c.json", node_report("login1.cluster.example.com"))
    doc = build([str(tmp_path)], expect="gpu[001-003]")
    validate_fleet(doc)
    assert [(p["node"], p["kind"]) for p in doc["problems"]] == [("gpu003", "missing")]
    assert doc["unexpected"] == "login1.cluster.example.com"
    doc = build([str(tmp_path)], expect="gpu[001-002],login1.cluster.example.com")
    assert doc["problems"] == [] and doc["unexpected"] == "" and doc["verdict"]["status"] == "ready"


_REPORT_LINE = json.dumps(node_report("gpu001"))
_PRETTY = json.dumps(node_report(None), indent=2)
_BLOCK_TOKENS = st.sampled_from([
    "\n", "\n", "\n", "{", "}", "} ", "},", "\t", "  ", "log line", "\x00", "\u2028", "[", "]", "{}",
    "[pod/tfgpu-a/tfgpu] ", "[pod/tfgpu-b/tfgpu] ", "[pod/tfgpu-a/tfgpu]", "[pod/x", "[pod/a b/c] ",
    "2026-11-30T20:01:02.5Z ", "2026-11-30T20:01:02+01:00 ", _REPORT_LINE, _PRETTY, _PRETTY[:700], '"facts": {}',
    '\n{\n  "a": tru\n}\n', '\n{"schema_version": 1, "x": }\n', "\n[pod/tfgpu-a/tfgpu] {\n[pod/tfgpu-a/tfgpu] }\n",
])


@FUZZ
@given(st.lists(_BLOCK_TOKENS, max_size=40).map("".join), st.integers(1, 300))
def test_the_block_reader_gives_what_the_line_reader_gives(text, size):
    """stdin is read in blocks (StreamReader.read_blocks): the same Items, names, reasons and line
    numbers as reading it line by line, whatever the block size cuts."""
    import io

    text = text.replace("\r\n", "\n").replace("\r", "\n")  # what universal newlines leave
    by_line = list(StreamReader("stdin", "stdin").read(io.StringIO(text)))
    assert list(StreamReader("stdin", "stdin").read_blocks(io.StringIO(text), size)) == by_line


def test_the_block_reader_on_interleaved_and_sequential_kubectl_streams():
    import io

    pods = {f"tfgpu-{i}": json.dumps(node_report(f"gpu{i:03d}"), indent=2).splitlines() for i in range(6)}
    sequential = "".join(f"[pod/{p}/tfgpu] {line}\n" for p, lines in pods.items() for line in lines)
    rng = random.Random(16)
    queues = {p: [f"[pod/{p}/tfgpu] 2026-11-30T20:01:02Z {line}\n" for line in lines] for p, lines in pods.items()}
    interleaved = []
    while queues:
        p = rng.choice(sorted(queues))
        interleaved.append(queues[p].pop(0))
        if not queues[p]:
            del queues[p]
    for text in (sequential, "".join(interleaved), sequential + "[pod/tfgpu-9/tfgpu] exec format error"):
        expected = list(StreamReader("stdin", "stdin").read(io.StringIO(text)))
        assert sorted(i.node for i in expected if not hasattr(i, "reason"))[:6] == [f"gpu{i:03d}" for i in range(6)]
        for size in (1, 100, 4096, 1 << 20):
            assert list(StreamReader("stdin", "stdin").read_blocks(io.StringIO(text), size)) == expected


def test_a_second_report_for_a_node_fails_the_run_as_documented(tmp_path):
    write(tmp_path / "a.json", node_report("gpu001"))
    assert run_tfgpu("fleet", "report", str(tmp_path)).returncode == 0
    proc = run_tfgpu("fleet", "report", str(tmp_path), str(tmp_path / "a.json"))
    assert proc.returncode == 1 and "1 duplicate report" in proc.stdout
    assert "or a second report for a node" in (REPO / "docs" / "fleet.md").read_text()
