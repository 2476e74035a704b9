"""`tfgpu fleet k8s-manifest`: the manifest validates against the Kubernetes object models, bad
values exit 2, the pod is locked down, the Dockerfile gives the image what the manifest runs, and
the container's own command, run here, feeds `tfgpu fleet report -` through a `kubectl logs
--prefix` stream.

Validation uses the official Kubernetes Python client (a test extra): each model's
`openapi_types` (field -> type) and `attribute_map` (field -> JSON key) are the API's object
schema as generated from the Kubernetes OpenAPI spec; walking the manifest through them rejects an
unknown field or a wrong type, and constructing each model (client-side validation) rejects a
missing required field or a value outside an enum. No cluster is involved.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, run_tfgpu, tfgpu_env, validate_report
from tfgpu.fleet import k8s

try:
    from kubernetes import client as k8s_client
except ImportError:  # the test extra is missing: the schema checks skip, except under CI
    if os.environ.get("CI"):
        raise
    k8s_client = None

IMAGE = "registry.example.com:5000/gpu-team/tfgpu:0.1.0"
DOCKERFILE = REPO / "Dockerfile"

#: apiVersion and kind -> the client's model for that object.
MODELS = {("v1", "Namespace"): "V1Namespace", ("apps/v1", "DaemonSet"): "V1DaemonSet",
          ("batch/v1", "Job"): "V1Job"}


#: The client's scalar types: the Python types a parsed YAML value may have, and what to call them.
SCALARS = {"str": ((str,), "a string"), "int": ((int,), "an integer"), "bool": ((bool,), "a boolean"),
           "float": ((int, float), "a number")}


class SchemaError(AssertionError):
    pass


def to_model(value, type_name: str, where: str):
    """`value` (parsed YAML) as the client's `type_name`, strictly: every key must be a field of its
    model, every value of the field's type; models are constructed, so required fields and enums are
    checked by the client itself."""
    if type_name == "object":
        return value
    if type_name in SCALARS:
        kinds, what = SCALARS[type_name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise SchemaError(f"{where}: expected {what}, got {value!r}")
        return value
    listed = re.fullmatch(r"list\[(.+)\]", type_name)
    if listed:
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list, got {value!r}")
        return [to_model(v, listed.group(1), f"{where}[{i}]") for i, v in enumerate(value)]
    mapped = re.fullmatch(r"dict[\[(]str, (.+)[\])]", type_name)
    if mapped:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): to_model(v, mapped.group(1), f"{where}.{k}") for k, v in value.items()}
    model = getattr(k8s_client, type_name, None)
    if model is None:
        raise SchemaError(f"{where}: the client has no type {type_name}")
    if not isinstance(value, dict):
        raise SchemaError(f"{where}: expected a {type_name} object, got {value!r}")
    by_key = {key: attr for attr, key in model.attribute_map.items()}
    kwargs = {}
    for key, item in value.items():
        if key not in by_key:
            raise SchemaError(f"{where}: unknown field {key!r} in {type_name}")
        attr = by_key[key]
        kwargs[attr] = to_model(item, model.openapi_types[attr], f"{where}.{key}")
    try:
        return model(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{where}: {type_name}: {exc}") from None


def validate_object(doc: dict) -> object:
    if k8s_client is None:
        pytest.skip("the kubernetes client (a test extra) is not installed")
    model = MODELS.get((doc.get("apiVersion"), doc.get("kind")))
    if model is None:
        raise SchemaError(f"unexpected apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}")
    return to_model(doc, model, doc["kind"])


def manifest(*args: str) -> list[dict]:
    proc = run_tfgpu("fleet", "k8s-manifest", *args, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return list(yaml.safe_load_all(proc.stdout))


def workload(docs: list[dict]) -> dict:
    (found,) = [d for d in docs if d["kind"] in ("DaemonSet", "Job")]
    return found


def pod_spec(docs: list[dict]) -> dict:
    return workload(docs)["spec"]["template"]["spec"]


# --- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("--image", IMAGE),
    ("--image", IMAGE, "--gpus-per-node", "8", "--namespace", "gpu-check", "--name", "doctor-run",
     "--node-label", "cloud.google.com/gke-accelerator", "--node-label", "nvidia.com/gpu.present=true",
     "--", "--no-smoke", "--timeout", "60"),
    ("--image", IMAGE, "--gpus-per-node", "0", "--namespace", "default"),
    ("--image", IMAGE, "--kind", "job", "--nodes", "16", "--runtime-class", "nvidia"),
    ("--image", "tfgpu@sha256:" + "ab" * 32, "--kind", "JOB", "--nodes", "1", "--", "--python", "/venv/bin/python"),
], ids=["daemonset", "daemonset-options", "no-gpu-default-ns", "job", "job-digest"])
def test_manifest_validates_against_the_kubernetes_models(args):
    docs = manifest(*args)
    assert docs and all(isinstance(d, dict) for d in docs)
    for doc in docs:
        validate_object(doc)
    kinds = [d["kind"] for d in docs]
    namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "tfgpu"
    assert kinds[0] == ("Namespace" if namespace != "default" else workload(docs)["kind"])
    assert workload(docs)["metadata"]["namespace"] == namespace


def test_the_validator_rejects_broken_manifests():
    """The validator is strict: each deliberate break of a valid manifest is caught."""
    good = workload(manifest("--image", IMAGE))
    validate_object(good)

    def broken(change) -> dict:
        doc = json.loads(json.dumps(good))
        change(doc)
        return doc

    def container(doc: dict) -> dict:
        return doc["spec"]["template"]["spec"]["containers"][0]

    breaks = {
        "unknown field": lambda d: container(d).update(imagePullPolcy="Always"),
        "unknown top-level field": lambda d: d["spec"].update(replicas=3),  # a Deployment's, not a DaemonSet's
        "wrong type": lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="5"),
        "wrong type in a list": lambda d: container(d).update(args=["tfgpu-doctor", 7]),
        "missing required": lambda d: container(d).pop("name"),
        "missing required selector": lambda d: d["spec"].pop("selector"),
        "mapping for a list": lambda d: d["spec"]["template"]["spec"].update(tolerations={"key": "nvidia.com/gpu"}),
    }
    for what, change in breaks.items():
        with pytest.raises(SchemaError):
            validate_object(broken(change))
            pytest.fail(f"not rejected: {what}")


# --- what the manifest says -----------------------------------------------------------------------


def test_gpu_nodes_selected_and_gpus_requested():
    spec = pod_spec(manifest("--image", IMAGE, "--gpus-per-node", "4"))
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert "nvidia.com/gpu" not in container["resources"].get("requests", {})
    none = pod_spec(manifest("--image", IMAGE, "--gpus-per-node", "0"))["containers"][0]
    assert "nvidia.com/gpu" not in none["resources"]["limits"]


def test_locked_down_pod():
    for args in (("--image", IMAGE), ("--image", IMAGE, "--kind", "job", "--nodes", "3")):
        docs = manifest(*args)
        spec = pod_spec(docs)
        assert spec["automountServiceAccountToken"] is False
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(forbidden)
        assert all(set(v) == {"name", "emptyDir"} for v in spec["volumes"])  # no hostPath
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert "ports" not in c
        namespace = [d for d in docs if d["kind"] == "Namespace"]
        assert namespace[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_daemonset_runs_once_and_stays_job_runs_once_per_node():
    ds = workload(manifest("--image", IMAGE))
    script = ds["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert script.rstrip().endswith("exec sleep infinity")
    assert ds["spec"]["selector"]["matchLabels"] == {"app": "tfgpu"}
    assert ds["spec"]["template"]["metadata"]["labels"]["app"] == "tfgpu"
    job = workload(manifest("--image", IMAGE, "--kind", "job", "--nodes", "12", "--name", "gpucheck"))
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 12, 12)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert "sleep" not in spec["template"]["spec"]["containers"][0]["command"][2]
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti == [{"labelSelector": {"matchLabels": {"app": "gpucheck"}}, "topologyKey": "kubernetes.io/hostname"}]


def test_doctor_arguments_pass_through_as_arguments_never_as_script_text():
    nasty = "$(touch /tmp/pwned); `id` 'quote"
    container = pod_spec(manifest("--image", IMAGE, "--", "--timeout", "10", "--matrix", nasty))["containers"][0]
    assert container["command"][:2] == ["sh", "-c"]
    assert nasty not in container["command"][2]
    assert container["args"] == [k8s.SCRIPT_NAME, "--python", k8s.IMAGE_TF_PYTHON, "--timeout", "10", "--matrix", nasty]
    own = pod_spec(manifest("--image", IMAGE, "--", "--python=/env/bin/python"))["containers"][0]
    assert own["args"] == [k8s.SCRIPT_NAME, "--python=/env/bin/python"]


def test_yaml_look_alikes_stay_strings():
    """Arguments that YAML 1.1 (what kubectl reads) would take for booleans, numbers or null come
    back as the same strings, and still validate."""
    tricky = ["yes", "on", "no", "1", "0x1f", "1e3", "null", "~", "", "- x", "a: b", "#c", "ünï", "'", '"', "\t",
              "two\nlines", "trailing \n", "\n lead", "end\n\n"]
    docs = manifest("--image", IMAGE, "--", *tricky)
    container = pod_spec(docs)["containers"][0]
    assert container["args"][3:] == tricky
    validate_object(workload(docs))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=st.one_of(st.text(max_size=80), st.from_regex(r"[a-zA-Z0-9.:/@_-]{1,60}", fullmatch=True)),
       name=st.one_of(st.just("tfgpu"), st.text(max_size=70), st.from_regex(r"[a-z0-9.-]{1,70}", fullmatch=True)),
       label=st.one_of(st.text(max_size=80), st.from_regex(r"[a-zA-Z0-9./_=-]{1,80}", fullmatch=True)))
def test_validation_never_raises_anything_else(image, name, label):
    """Any text: a ManifestError (exit 2) or a manifest that validates, nothing else."""
    try:
        labels = (k8s.parse_node_label(label),)
        docs = k8s.build(k8s.ManifestOptions(image=image, name=name, node_labels=labels))
    except k8s.ManifestError:
        return
    for doc in docs:
        validate_object(doc)
    assert k8s.image_problem(image) is None


def test_default_image_is_named_on_stderr():
    proc = run_tfgpu("fleet", "k8s-manifest", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert workload(list(yaml.safe_load_all(proc.stdout)))["spec"]["template"]["spec"]["containers"][0]["image"] \
        .startswith("tfgpu:")
    assert "--image" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, option", [
    (("--image", "Registry.example.com/UPPER/tfgpu:1"), "--image"),
    (("--image", "tfgpu:bad tag"), "--image"),
    (("--image", "tfgpu:-x"), "--image"),
    (("--image", "tfgpu@sha256:xyz"), "--image"),
    (("--image", ""), "--image"),
    (("--namespace", "GPU_check"), "--namespace"),
    (("--namespace", "a" * 64), "--namespace"),
    (("--name", "-tfgpu"), "--name"),
    (("--name", "tf.gpu"), "--name"),
    (("--gpus-per-node", "-1"), "--gpus-per-node"),
    (("--gpus-per-node", "65"), "--gpus-per-node"),
    (("--kind", "deployment"), "--kind"),
    (("--kind", "job"), "--nodes"),
    (("--kind", "job", "--nodes", "0"), "--nodes"),
    (("--nodes", "3"), "--nodes"),
    (("--kind", "job", "--nodes", "1000", "--name", "a" * 61), "--name"),
    (("--node-label", "nvidia.com/gpu.present=tr ue"), "--node-label"),
    (("--node-label", "-bad"), "--node-label"),
    (("--node-label", "Bad_Prefix/x"), "--node-label"),
])
def test_bad_values_exit_2_with_one_line(args, option):
    full = args if "--image" in args else ("--image", IMAGE, *args)
    proc = run_tfgpu("fleet", "k8s-manifest", *full, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tfgpu: {option}"), proc.stderr


@pytest.mark.parametrize("ref", ["tfgpu", "tfgpu:0.1.0", "localhost:5000/tfgpu:dev", "ghcr.io/org/sub/tfgpu:1.0-cuda12",
                                 "docker.io/library/python:3.11-slim", "10.0.0.1:5000/a__b/c-d:x",
                                 "registry.example.com/tfgpu:1@sha256:" + "0" * 64])
def test_good_image_references(ref):
    assert k8s.image_problem(ref) is None


# --- the image --------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    logical, out = "", []
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def test_dockerfile_gives_the_image_what_the_manifest_runs():
    """Nothing is built (no container engine here): the Dockerfile is read, and what the manifest's
    container runs is checked against it."""
    ins = dockerfile_instructions()
    by = {}
    for word, rest in ins:
        by.setdefault(word, []).append(rest)
    assert json.loads(by["ENTRYPOINT"][-1]) == ["tfgpu"]
    cmd = json.loads(by["CMD"][-1])
    assert cmd[:2] == ["doctor", "--json"] and cmd[cmd.index("--python") + 1] == k8s.IMAGE_TF_PYTHON
    # A Debian-based Python image: sh, cat, tail, mv, mkdir and sleep (coreutils) are there.
    (base,) = by["FROM"]
    assert re.search(r"python:\$\{PYTHON_VERSION\}-slim-bookworm$", base)
    runs = " ".join(by["RUN"])
    tf_env = str(Path(k8s.IMAGE_TF_PYTHON).parent.parent)
    assert f"python -m venv {tf_env}" in runs
    assert re.search(r'tensorflow\[and-cuda\]==\$\{TF_VERSION\}', runs)
    assert any(re.fullmatch(r"TF_VERSION=\d+\.\d+\.\d+", a) for a in by["ARG"])
    # tfgpu, the script's one command that is not the base image's, on the default PATH.
    assert "ln -s /opt/tfgpu/bin/tfgpu /usr/local/bin/tfgpu" in runs
    # The user: numeric, the manifest's runAsUser, not root.
    (user,) = by["USER"]
    assert user == f"{k8s.IMAGE_UID}:{k8s.IMAGE_UID}"
    assert f"--uid {k8s.IMAGE_UID}" in runs
    container = pod_spec(manifest("--image", IMAGE))["containers"][0]
    assert container["securityContext"]["runAsUser"] == k8s.IMAGE_UID
    assert container["command"][0] == "sh"
    script_commands = {line.split()[0] for line in container["command"][2].splitlines()}
    assert script_commands <= {"out=\"${TMPDIR:-/tmp}/tfgpu\"", "mkdir", "tfgpu", "echo", "if", "mv", "exec"}
    # The context leaves the development environments out.
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".venvs"} <= set(ignored)


# --- the container's command, run here ------------------------------------------------------------


def pod_env(scratch: Path, node: str) -> dict[str, str]:
    """The pod's environment, here: this machine's tfgpu first on PATH, HOME and TMPDIR in a
    scratch folder (the pod's emptyDir), the node name as the downward API gives it."""
    return tfgpu_env({"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                      "HOME": str(scratch), "TMPDIR": str(scratch), k8s.NODE_NAME_ENV: node})


def run_container_command(tmp_path: Path, name: str, doctor_args: tuple[str, ...], timeout: float = 120) -> str:
    """Run the DaemonSet's container argv (command + args, exactly as in the manifest) with this
    machine's tfgpu on PATH and the node name the downward API would give (`name`); return what it
    printed before going to sleep (what `kubectl logs` shows)."""
    docs = manifest("--image", IMAGE, "--", *doctor_args)
    container = pod_spec(docs)["containers"][0]
    argv = container["command"] + container["args"]
    scratch = tmp_path / name
    scratch.mkdir()
    done = scratch / "tfgpu" / "exit-code"
    # The container's stdout and stderr go to files, as a container runtime drains them: a pipe
    # nobody reads while waiting would block the script's `cat` of a report larger than its buffer.
    stdout, stderr = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as errs, \
            subprocess.Popen(argv, stdout=out, stderr=errs, env=pod_env(scratch, name), start_new_session=True) as proc:
        try:
            deadline = time.monotonic() + timeout
            while not done.exists():  # the readiness probe's file: the report is out
                assert proc.poll() is None, f"the container exited ({proc.returncode}): {stderr.read_text()!r}"
                assert time.monotonic() < deadline, "the doctor did not finish"
                time.sleep(0.1)
            time.sleep(0.3)
            assert proc.poll() is None, "a DaemonSet container must stay (sleep) after the report"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
    assert stderr.read_bytes() == b""  # the doctor's log went to its file, not into kubectl logs
    return stdout.read_text()


def test_job_container_exits_0_after_its_report_whatever_the_doctor_found(tmp_path):
    """The indexed Job's pods end (Succeeded) once the report is out, also when the doctor finds
    errors (exit 1: here, no driver and no TensorFlow), so `backoffLimit: 0` only catches a broken
    image or node."""
    docs = manifest("--image", IMAGE, "--kind", "job", "--nodes", "2", "--", "--python", sys.executable, "--fast")
    container = pod_spec(docs)["containers"][0]
    proc = subprocess.run(container["command"] + container["args"], capture_output=True, text=True,
                          env=pod_env(tmp_path, "gpu-node-j"), timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    report = json.loads(proc.stdout)
    validate_report(report)
    assert report["verdict"]["status"] == "not_ready"
    assert (tmp_path / "tfgpu" / "exit-code").read_text().strip() == "1"


def prefixed(pod: str, text: str) -> str:
    """What `kubectl logs --prefix` makes of one container's output."""
    return "".join(f"[pod/{pod}/doctor] {line}\n" for line in text.splitlines())


def test_container_command_prints_one_report_and_feeds_fleet_report(tmp_path):
    good = run_container_command(tmp_path, "gpu-node-a", ("--python", sys.executable, "--fast"))
    report = json.loads(good)  # one document, nothing else
    validate_report(report)
    assert report["kind"] == "doctor"
    assert report["facts"]["host"]["data"]["node_name"] == "gpu-node-a"
    out = tmp_path / "gpu-node-a" / "tfgpu"
    assert (out / "report.json").read_text() == good
    assert int((out / "exit-code").read_text()) in (0, 1)
    broken = run_container_command(tmp_path, "gpu-node-c", ("--python", str(tmp_path / "no-such-python"), "--fast"))
    assert "no-such-python" in broken and int((tmp_path / "gpu-node-c" / "tfgpu" / "exit-code").read_text()) == 2
    # A second node like the first (its report as that node would print it), a third pod without one.
    other = good.replace('"node_name": "gpu-node-a"', '"node_name": "gpu-node-b"')
    assert other != good

    stream = prefixed("tfgpu-7xk2p", good) + prefixed("tfgpu-b9qz4", other) + prefixed("tfgpu-m3vd8", broken)
    proc = run_tfgpu("fleet", "report", "-", "--json", input=stream, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # a pod without a report
    merged = json.loads(proc.stdout)
    assert merged["kind"] == "fleet"
    assert (merged["counts"]["nodes"], merged["counts"]["reports"], merged["counts"]["no_report"]) == (3, 2, 1)
    # Nodes named by the node name the manifest passes in (not by their pods); the pod without a
    # report by its pod name, with the doctor's own complaint as the reason.
    assert sorted(n["node"] for n in merged["nodes"]) == ["gpu-node-a", "gpu-node-b"]
    (problem,) = merged["problems"]
    assert (problem["node"], problem["kind"]) == ("tfgpu-m3vd8", "no_report")
    assert "no-such-python" in problem["reason"]


def test_runtime_class_for_clusters_whose_default_runtime_is_not_nvidias():
    assert "runtimeClassName" not in pod_spec(manifest("--image", IMAGE))
    spec = pod_spec(manifest("--image", IMAGE, "--runtime-class", "nvidia"))
    assert spec["runtimeClassName"] == "nvidia"
    proc = run_tfgpu("fleet", "k8s-manifest", "--image", IMAGE, "--runtime-class", "NVIDIA Runtime", timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1].startswith("tfgpu: --runtime-class NVIDIA Runtime: not a RuntimeClass name")
