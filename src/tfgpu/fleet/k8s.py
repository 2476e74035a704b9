"""The Kubernetes manifest that runs `tfgpu doctor --json` once on every GPU node (docs/fleet.md).

Built as plain data (dicts and lists), validated here (image reference, DNS-1123 names, label
syntax, counts), and dumped as multi-document YAML. Nothing here talks to a cluster.

Two shapes of workload:
- `daemonset` (the default): one pod per matching node, new nodes included. A DaemonSet restarts
  a container that exits, so the pod runs the doctor once, prints its report, then sleeps; it is
  Ready once the report is out (`kubectl rollout status` waits for every node), and holds what it
  requested (the GPUs) until it is deleted.
- `job`: an indexed Job of `nodes` pods, at most one per node (required pod anti-affinity on the
  node name), each exiting after its report; it needs the node count up front.

The pod's one container prints the doctor's JSON report on stdout and nothing else (the doctor's
own log goes to a file in the pod), so `kubectl logs --prefix` carries one document per pod; a
doctor that printed no report leaves the tail of its log instead, so that pod is still counted.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Any, Optional, Sequence

import yaml

from tfgpu.records import dataclass

KINDS = ("daemonset", "job")
#: The workload's name (and its pods' label app=NAME) and namespace unless given.
DEFAULT_NAME = "tfgpu"
DEFAULT_NAMESPACE = "tfgpu"
#: The target TensorFlow environment inside the image the Dockerfile builds.
IMAGE_TF_PYTHON = "/opt/tf/bin/python"
#: The user the Dockerfile creates (numeric, so the kubelet can check runAsNonRoot).
IMAGE_UID = 10001
#: The node label GPU Feature Discovery (NVIDIA GPU operator, device plugin chart) puts on every
#: node with an NVIDIA GPU.
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")
GPU_RESOURCE = "nvidia.com/gpu"
#: Namespaces a cluster has of its own: never emitted (so never deleted with the manifest).
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: The container's writable folder (an emptyDir; the root filesystem is read-only). HOME and
#: TMPDIR point into it: TensorFlow, CUDA's JIT cache and the doctor's live child write there.
SCRATCH = "/tmp"
#: Where the pod keeps the doctor's outputs: report.json, doctor.log, exit-code ($TMPDIR/tfgpu).
OUT_DIR = SCRATCH + "/tfgpu"
#: The node's name from the downward API: the host probe reads it (host facts' node_name), so
#: fleet report names nodes, not pods.
NODE_NAME_ENV = "TFGPU_NODE_NAME"
#: A bound on an indexed Job (pods that find no free node stay Pending until then).
JOB_DEADLINE_S = 3600
#: The largest GPU request accepted (no node has more).
MAX_GPUS = 64
MAX_NODES = 100_000

# The container's shell script: the doctor's report (and only it) on stdout; its own log, its exit
# code and the report kept under $TMPDIR/tfgpu (OUT_DIR in the pod). `$@` are the doctor's
# arguments (never spliced into the script text, so nothing in them is ever shell syntax).
_RUN_DOCTOR = """\
out="${TMPDIR:-/tmp}/tfgpu"
mkdir -p "$out"
tfgpu doctor --json "$@" >"$out/report.json" 2>"$out/doctor.log"
echo $? >"$out/exit-code.tmp"
if [ -s "$out/report.json" ]; then cat "$out/report.json"; else tail -n 20 "$out/doctor.log"; fi
mv "$out/exit-code.tmp" "$out/exit-code"
"""
#: The DaemonSet's container must not exit (it would be restarted and the doctor run again).
_STAY = "exec sleep infinity\n"
#: $0 of the script (shown by ps).
SCRIPT_NAME = "tfgpu-doctor"


class ManifestError(ValueError):
    """A bad option value (exit 2): the message names the option and what is wrong."""


@dataclass(frozen=True)
class ManifestOptions:
    image: str
    namespace: str = DEFAULT_NAMESPACE
    name: str = DEFAULT_NAME
    kind: str = "daemonset"
    gpus_per_node: int = 1
    #: Indexed Job only: how many pods (one per node).
    nodes: Optional[int] = None
    #: Node labels, any one of which selects a node: (key, value or None for "exists").
    node_labels: tuple[tuple[str, Optional[str]], ...] = (GPU_NODE_LABEL,)
    doctor_args: tuple[str, ...] = field(default_factory=tuple)
    #: The pod's runtimeClassName (e.g. "nvidia"), for clusters where the NVIDIA container runtime
    #: is not the default one (k3s, RKE2, a GPU operator told not to make it the default): without
    #: it such a pod gets its GPUs allocated but no driver, and every node would look broken.
    runtime_class: Optional[str] = None


# --- validation ---------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
# An image reference: [registry[:port]/]path[:tag][@digest] (the grammar container engines use).
_REGISTRY = re.compile(r"(localhost|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*)"
                       r"(:[0-9]{1,5})?\Z")
_PATH_PART = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*\Z")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")


def image_problem(ref: str) -> Optional[str]:
    """Why `ref` is not an image reference a kubelet can pull, or None."""
    if not ref or len(ref) > 255 + 140:
        return "empty or too long"
    if any(c.isspace() for c in ref):
        return "contains white space"
    rest, digest = ref, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if not _DIGEST.match(digest):
            return f"bad digest {digest!r} (algorithm:hex, e.g. sha256:<64 hex digits>)"
    parts = rest.split("/")
    last = parts[-1]
    tag = None
    if ":" in last:
        last, _, tag = last.partition(":")
        if not _TAG.match(tag):
            return f"bad tag {tag!r} (letters, digits, _ . -; at most 128; not starting with . or -)"
    parts[-1] = last
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _REGISTRY.match(parts[0]):
            return f"bad registry {parts[0]!r}"
        parts = parts[1:]
    if not parts or any(not _PATH_PART.match(p) for p in parts):
        return f"bad repository name {'/'.join(parts)!r} (lower-case letters, digits, separators . _ __ -)"
    if len("/".join(parts)) > 255:
        return "repository name longer than 255 characters"
    return None


def _label_key_problem(key: str) -> Optional[str]:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"bad prefix {prefix!r} (a DNS subdomain)"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return f"bad name {name!r} (at most 63 letters, digits, - _ ., starting and ending alphanumeric)"
    return None


def parse_node_label(text: str) -> tuple[str, Optional[str]]:
    """`KEY=VALUE` (nodes with that label value) or `KEY` (nodes with that label at all)."""
    key, eq, value = text.partition("=")
    problem = _label_key_problem(key)
    if problem:
        raise ManifestError(f"--node-label {text}: {problem}")
    if eq and (len(value) > 63 or not _LABEL_NAME.match(value)):
        raise ManifestError(f"--node-label {text}: bad value {value!r} (at most 63 letters, digits, - _ ., "
                            "starting and ending alphanumeric)")
    return key, (value if eq else None)


def validate(opts: ManifestOptions) -> None:
    """Raise ManifestError naming the first bad value."""
    problem = image_problem(opts.image)
    if problem:
        raise ManifestError(f"--image {opts.image}: not an image reference: {problem}")
    for option, value in (("--namespace", opts.namespace), ("--name", opts.name)):
        if len(value) > 63 or not _DNS_LABEL.match(value):
            raise ManifestError(f"{option} {value}: not a DNS-1123 label (at most 63 lower-case letters, "
                                "digits and -, starting and ending with a letter or digit)")
    if opts.kind not in KINDS:
        raise ManifestError(f"--kind {opts.kind}: one of {', '.join(KINDS)}")
    if not 0 <= opts.gpus_per_node <= MAX_GPUS:
        raise ManifestError(f"--gpus-per-node {opts.gpus_per_node}: from 0 (no GPU request) to {MAX_GPUS}")
    if opts.kind == "job":
        if opts.nodes is None:
            raise ManifestError("--nodes N is needed with --kind job: how many GPU nodes to run on (one pod each)")
        if not 1 <= opts.nodes <= MAX_NODES:
            raise ManifestError(f"--nodes {opts.nodes}: from 1 to {MAX_NODES}")
        # An indexed Job's pods are named (and their hostname is) NAME-INDEX: a DNS label too.
        if len(opts.name) + 1 + len(str(opts.nodes - 1)) > 63:
            raise ManifestError(f"--name {opts.name}: too long for {opts.nodes} indexed pods "
                                "(NAME-INDEX must fit 63 characters)")
    elif opts.nodes is not None:
        raise ManifestError("--nodes applies to --kind job only (a DaemonSet finds its nodes itself)")
    if opts.runtime_class is not None and (len(opts.runtime_class) > 253
                                           or not _DNS_SUBDOMAIN.match(opts.runtime_class)):
        raise ManifestError(f"--runtime-class {opts.runtime_class}: not a RuntimeClass name (a DNS subdomain: "
                            "lower-case letters, digits, - and .)")
    if not opts.node_labels:
        raise ManifestError("--node-label: at least one")
    for arg in opts.doctor_args:
        if "\0" in arg:
            raise ManifestError("doctor arguments: a NUL character")


# --- the manifest -------------------------------------------------------------------------------


def doctor_args(opts: ManifestOptions) -> list[str]:
    """The doctor's arguments in the container: the image's TensorFlow environment unless the
    given arguments name one (--python or --from-facts)."""
    given = list(opts.doctor_args)
    names = {a.split("=", 1)[0] for a in given}
    if "--python" in names or "--from-facts" in names:
        return given
    return ["--python", IMAGE_TF_PYTHON, *given]


def container_script(kind: str) -> str:
    return _RUN_DOCTOR + (_STAY if kind == "daemonset" else "")


def container_argv(opts: ManifestOptions) -> list[str]:
    """What the container runs: `command` + `args` of the manifest, in order."""
    return ["sh", "-c", container_script(opts.kind), SCRIPT_NAME, *doctor_args(opts)]


def _labels(opts: ManifestOptions) -> dict[str, str]:
    return {"app": opts.name, "app.kubernetes.io/name": "tfgpu", "app.kubernetes.io/component": "doctor"}


def _node_affinity(opts: ManifestOptions) -> dict[str, Any]:
    terms = []
    for key, value in opts.node_labels:
        expr: dict[str, Any] = {"key": key, "operator": "Exists"}
        if value is not None:
            expr = {"key": key, "operator": "In", "values": [value]}
        terms.append({"matchExpressions": [expr]})
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}


def _container(opts: ManifestOptions) -> dict[str, Any]:
    argv = container_argv(opts)
    limits = {"memory": "8Gi"}
    if opts.gpus_per_node:
        limits[GPU_RESOURCE] = str(opts.gpus_per_node)
    container: dict[str, Any] = {
        "name": "doctor",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        # The script in `command`; `args` are its $0 and the doctor's arguments.
        "command": argv[:3],
        "args": argv[3:],
        "env": [
            {"name": "HOME", "value": SCRATCH},
            {"name": "TMPDIR", "value": SCRATCH},
            {"name": NODE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        # The full doctor peaked at 541 MiB without a GPU (TensorFlow 2.21 imported); a GPU context,
        # cuDNN and the smoke test add to that. A limit that killed the live child would make a
        # healthy node look broken: room to spare.
        "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": limits},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
    }
    if opts.kind == "daemonset":
        # Ready once the report is out: `kubectl rollout status` then waits for every node.
        container["readinessProbe"] = {"exec": {"command": ["cat", f"{OUT_DIR}/exit-code"]},
                                       "periodSeconds": 5, "failureThreshold": 1}
    return container


def _pod_spec(opts: ManifestOptions) -> dict[str, Any]:
    affinity: dict[str, Any] = {"nodeAffinity": _node_affinity(opts)}
    if opts.kind == "job":
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": opts.name}}, "topologyKey": "kubernetes.io/hostname"}]}
    spec: dict[str, Any] = {
        "restartPolicy": "Always" if opts.kind == "daemonset" else "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # `sleep` as PID 1 ignores SIGTERM: do not wait 30 s for it on delete.
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": affinity,
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [_container(opts)],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "4Gi"}}],
    }
    if opts.runtime_class is not None:
        spec["runtimeClassName"] = opts.runtime_class
    return spec


def build(opts: ManifestOptions) -> list[dict[str, Any]]:
    """The manifest's documents, in the order `kubectl apply` needs them (validated first)."""
    validate(opts)
    docs: list[dict[str, Any]] = []
    if opts.namespace not in BUILTIN_NAMESPACES:
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": opts.namespace,
            "labels": {
                "app.kubernetes.io/name": "tfgpu",
                # The API server refuses any pod here that is not of the restricted profile.
                "pod-security.kubernetes.io/enforce": "restricted",
            }}})
    labels = _labels(opts)
    meta = {"name": opts.name, "namespace": opts.namespace, "labels": labels}
    template = {"metadata": {"labels": labels}, "spec": _pod_spec(opts)}
    if opts.kind == "daemonset":
        docs.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "spec": {
            "selector": {"matchLabels": {"app": opts.name}},
            "template": template,
        }})
    else:
        docs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {
            "completionMode": "Indexed",
            "completions": opts.nodes,
            "parallelism": opts.nodes,
            # The script exits 0 whatever the doctor found: a failed pod is a broken image or node.
            "backoffLimit": 0,
            "activeDeadlineSeconds": JOB_DEADLINE_S,
            "template": template,
        }})
    return docs


class _Dumper(yaml.SafeDumper):
    """Block style everywhere, no anchors; multi-line strings (the script) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(docs: Sequence[dict[str, Any]], header: str = "") -> str:
    """Multi-document YAML, each document starting with `---`."""
    body = yaml.dump_all(list(docs), Dumper=_Dumper, sort_keys=False, explicit_start=True,
                         default_flow_style=False, width=100)
    return header + body


def render(opts: ManifestOptions, version: str) -> str:
    """The manifest as printed by `tfgpu fleet k8s-manifest`."""
    docs = build(opts)
    sel = f"app={opts.name}"
    ns = opts.namespace
    if opts.kind == "daemonset":
        wait = f"kubectl -n {ns} rollout status daemonset/{opts.name} --timeout=15m"
    else:
        wait = f"kubectl -n {ns} wait --for=condition=complete job/{opts.name} --timeout=60m"
    header = (
        f"# tfgpu {version}: `tfgpu doctor --json` once on every GPU node (docs/fleet.md).\n"
        f"#   kubectl apply -f this.yaml\n"
        f"#   {wait}\n"
        f"#   kubectl -n {ns} logs -l {sel} --prefix --tail=-1 | tfgpu fleet report -\n"
        f"#   kubectl -n {ns} delete {'daemonset' if opts.kind == 'daemonset' else 'job'}/{opts.name}\n"
    )
    return dump(docs, header)
