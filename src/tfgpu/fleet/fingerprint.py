"""What one node's doctor report says, boiled down to what a fleet merge keeps of it: the node's name,
its verdict, and a fingerprint of what decides TensorFlow-on-GPU there.

The fingerprint is a tuple of (field, value) pairs, every value a short string: TensorFlow's version
and build (the CUDA/cuDNN it was built for), the driver, the GPUs (model and compute capability,
counted), Python, container and WSL, and the version of every CUDA library TensorFlow loads (one
field per library: `lib cudnn`). The finding ids with their severity travel beside it. Two nodes
with equal fingerprints and findings are the same configuration for TensorFlow.

Everything here reads plain parsed JSON defensively: a report of an unexpected shape raises
ReportProblem with one line, never anything else.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tfgpu.safeio import printable
from tfgpu.serde import DecodeError, check_report

__all__ = ["FIELD_LABELS", "NodeSummary", "ReportProblem", "field_label", "summarise"]

#: How the fixed fingerprint fields read in text ("driver 535.104.05"); library fields are "lib KEY".
FIELD_LABELS = {
    "tensorflow": "TensorFlow",
    "tf_build": "TensorFlow build",
    "driver": "driver",
    "gpus": "GPUs",
    "python": "Python",
    "container": "container",
    "wsl": "WSL",
}

#: The value of a field a report does not have (no WSL, no container, no such library).
NONE = "none"

VERDICTS = ("ready", "not_ready", "unknown")


class ReportProblem(ValueError):
    """A document that is not a doctor report this tfgpu can merge (one line saying why)."""


class NodeSummary(NamedTuple):
    """All a merge keeps of one report (plain tuples and strings: cheap to pickle between processes)."""

    node: str
    #: Whether the node name came from the report itself (host facts), not from a file or prefix.
    named_by_report: bool
    status: str  # "ready", "not_ready" or "unknown"
    headline: str
    fingerprint: tuple[tuple[str, str], ...]
    #: "id:severity", sorted; an ignored finding (the node's policy) has severity "ignored".
    findings: tuple[str, ...]
    #: Where the report came from (a file, a stream and its prefix).
    source: str = ""


def field_label(name: str) -> str:
    if name.startswith("lib "):
        return name[4:]
    return FIELD_LABELS.get(name, name)


#: Printable, shortened forms of the strings seen so far: a fleet repeats the same few values
#: (versions, GPU models, finding ids) on every node, so each is made printable once.
_SHORT: dict[str, str] = {}
_SHORT_MAX = 65536
LIMIT = 120


def _text(value: Any) -> str:
    """A short printable string of a JSON scalar (at most LIMIT characters)."""
    if value.__class__ is str:
        short = _SHORT.get(value)
        if short is None:
            short = printable(value)
            if len(short) > LIMIT:
                short = short[: LIMIT - 1] + "…"
            if len(value) <= LIMIT and len(_SHORT) < _SHORT_MAX:
                _SHORT[value] = short
        return short
    return NONE if value is None else _text(str(value))


def _headline(value: Any) -> str:
    text = printable(value) if isinstance(value, str) else ""
    return text if len(text) <= 400 else text[:399] + "…"


def _fact(facts: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """(status, data) of one fact entry; data is {} unless the status is ok."""
    entry = facts.get(name)
    if not isinstance(entry, dict):
        return "absent", {}
    status = entry.get("status")
    status = status if isinstance(status, str) else "absent"
    data = entry.get("data")
    return status, data if status == "ok" and isinstance(data, dict) else {}


def _not_ok(status: str) -> str:
    return NONE if status in ("absent", "not_found") else status.replace("_", " ")


def _tensorflow(facts: dict[str, Any]) -> tuple[str, str]:
    status, tf = _fact(facts, "tf_build")
    if not tf:
        value = "not installed" if status == "not_found" else _not_ok(status)
        return value, NONE
    dist = tf.get("distribution")
    version = _text(tf.get("version"))
    name = version if dist in (None, "tensorflow") else f"{_text(dist)} {version}"
    if tf.get("is_rocm_build"):
        build = "ROCm"
    elif tf.get("is_cuda_build"):
        cuda, cudnn = tf.get("cuda_version"), tf.get("cudnn_version")
        build = f"CUDA {_text(cuda)}" + (f", cuDNN {_text(cudnn)}" if cudnn else "")
    elif tf.get("is_cuda_build") is False:
        build = "CPU only"
    else:
        build = "unknown"
    return name, build


def _driver(facts: dict[str, Any]) -> tuple[str, str]:
    status, driver = _fact(facts, "driver")
    if not driver:
        return _not_ok(status), NONE
    gpus = driver.get("gpus")
    counts: dict[str, int] = {}
    for gpu in gpus if isinstance(gpus, list) else ():
        if not isinstance(gpu, dict):
            continue
        label = _text(gpu.get("name"))
        cc = gpu.get("compute_capability")
        if cc:
            label += f" (cc {_text(cc)})"
        counts[label] = counts.get(label, 0) + 1
    gpu_text = "; ".join(f"{n}x {label}" for label, n in sorted(counts.items())) or NONE
    return _text(driver.get("driver_version")), gpu_text


def _libraries(facts: dict[str, Any]) -> list[tuple[str, str]]:
    _status, libs = _fact(facts, "libraries")
    out: list[tuple[str, str]] = []
    entries = libs.get("libraries")
    for lib in entries if isinstance(entries, list) else ():
        key = lib.get("key") if lib.__class__ is dict else None
        if key.__class__ is not str:
            continue
        load = lib.get("load")
        version = load.get("version") if load.__class__ is dict else None
        if version:
            value = _text(version)
        elif lib.get("winner") is None:
            value = "missing"
        else:
            value = "version unknown"
        out.append(("lib " + _text(key), value))
    out.sort()
    return out


def _findings(findings: Any) -> tuple[str, ...]:
    if findings.__class__ is not list:
        raise ReportProblem("its 'findings' is not a list")
    out = set()
    for f in findings:
        fid = f.get("id") if f.__class__ is dict else None
        if fid.__class__ is not str:
            raise ReportProblem("a finding without an id")
        severity = "ignored" if f.get("ignored") else f.get("severity")
        out.add(_text(fid) + ":" + _text(severity))
    return tuple(sorted(out))


def report_node_name(facts: dict[str, Any]) -> str | None:
    """The node name a report gives itself: the scheduler's node name, else the hostname."""
    _status, host = _fact(facts, "host")
    for key in ("node_name", "hostname"):
        value = host.get(key)
        if isinstance(value, str) and value.strip():
            return _text(value.strip())
    return None


def summarise(data: Any, fallback_name: str, source: str = "") -> NodeSummary:
    """The NodeSummary of one parsed document, or ReportProblem saying why it is not a report."""
    if isinstance(data, dict) and data.get("kind") not in (None, "doctor"):
        kind = _text(data.get("kind"))
        raise ReportProblem(f"a tfgpu '{kind}' document, not a doctor report")
    try:
        check_report(data)
    except DecodeError as exc:
        raise ReportProblem(str(exc)) from None
    facts = data["facts"]
    verdict = data.get("verdict")
    status = verdict.get("status") if isinstance(verdict, dict) else None
    if status not in VERDICTS:
        raise ReportProblem("no verdict (verdict.status is missing or not ready/not_ready/unknown)")
    assert isinstance(verdict, dict)
    tf, build = _tensorflow(facts)
    driver, gpus = _driver(facts)
    _hs, host = _fact(facts, "host")
    _ps, pyenv = _fact(facts, "python_env")
    fingerprint = (
        ("tensorflow", tf),
        ("tf_build", build),
        ("driver", driver),
        ("gpus", gpus),
        ("python", _text(pyenv.get("version"))),
        ("container", _text(host.get("container"))),
        ("wsl", _text(host.get("wsl"))),
        *_libraries(facts),
    )
    name = report_node_name(facts)
    return NodeSummary(
        node=name or fallback_name,
        named_by_report=name is not None,
        status=str(status),
        headline=_headline(verdict.get("headline")),
        fingerprint=fingerprint,
        findings=_findings(data.get("findings")),
        source=source,
    )
