"""`tfgpu fleet k8s-manifest`: print a Kubernetes manifest that runs `tfgpu doctor --json` once on
every GPU node (a DaemonSet, or an indexed Job); built and validated by tfgpu.fleet.k8s."""

from __future__ import annotations

from typing import List, Optional

import typer

from tfgpu.console import EXIT_OK, EXIT_USAGE, emit, err


def k8s_manifest(
    doctor_args: Optional[List[str]] = typer.Argument(
        None, metavar="[-- DOCTOR_ARGS]...",
        help="Arguments for `tfgpu doctor` in each pod, after `--` (default: --python for the image's TensorFlow)."),
    image: Optional[str] = typer.Option(
        None, "--image", metavar="IMAGE",
        help="Image built from the repository's Dockerfile, where the nodes can pull it (default: tfgpu:VERSION)."),
    namespace: str = typer.Option("tfgpu", "--namespace", "-n", metavar="NAMESPACE",
                                  help="Namespace (created by the manifest unless a built-in one such as default)."),
    gpus_per_node: int = typer.Option(
        1, "--gpus-per-node", metavar="N",
        help="nvidia.com/gpu to request per pod: the GPUs the doctor sees (0: no request)."),
    kind: str = typer.Option("daemonset", "--kind", metavar="daemonset|job",
                             help="A DaemonSet (every matching node) or an indexed Job of --nodes pods."),
    name: str = typer.Option("tfgpu", "--name", metavar="NAME", help="Name of the workload, and its label app=NAME."),
    nodes: Optional[int] = typer.Option(None, "--nodes", metavar="N",
                                        help="With --kind job: how many nodes (one pod each)."),
    node_label: Optional[List[str]] = typer.Option(
        None, "--node-label", metavar="KEY[=VALUE]",
        help="Run on nodes with this label (repeat: any of them); default nvidia.com/gpu.present=true."),
    runtime_class: Optional[str] = typer.Option(
        None, "--runtime-class", metavar="NAME",
        help="The pods' RuntimeClass (e.g. nvidia) where the NVIDIA container runtime is not the default one "
             "(k3s, RKE2): without it the pods get no driver."),
) -> None:
    """Print a Kubernetes manifest (YAML) that runs `tfgpu doctor --json` once on every GPU node.

    Examples: `tfgpu fleet k8s-manifest --image registry.example.com/tfgpu:0.1.0 > tfgpu.yaml`;
    `... --gpus-per-node 8 -- --no-smoke`; `... --kind job --nodes 16`. Collect with
    `kubectl -n tfgpu logs -l app=tfgpu --prefix --tail=-1 | tfgpu fleet report -` (docs/fleet.md).
    """
    from tfgpu import __version__
    from tfgpu.fleet import k8s

    try:
        labels = tuple(k8s.parse_node_label(text) for text in node_label) if node_label else (k8s.GPU_NODE_LABEL,)
        opts = k8s.ManifestOptions(
            image=image if image is not None else f"tfgpu:{__version__}",
            namespace=namespace, name=name, kind=kind.lower(), gpus_per_node=gpus_per_node, nodes=nodes,
            node_labels=labels, doctor_args=tuple(doctor_args or ()),
            runtime_class=runtime_class)
        text = k8s.render(opts, __version__)
    except k8s.ManifestError as exc:
        err(str(exc))
        raise typer.Exit(EXIT_USAGE)
    if image is None:
        err(f"no --image: the manifest names {opts.image}, what the Dockerfile's build gives; push it where "
            "the nodes can pull it and pass that reference with --image")
    emit(text)
    raise typer.Exit(EXIT_OK)
