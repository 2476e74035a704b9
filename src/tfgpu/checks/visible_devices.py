"""Checks on CUDA_VISIBLE_DEVICES: whether it leaves a GPU visible at all, and whether the GPUs it
names exist (CUDA stops reading the list at the first entry that names no device)."""

from __future__ import annotations

from collections.abc import Iterator

from tfgpu.checks import CheckContext, check
from tfgpu.model import Area, Finding, Fix, Severity
from tfgpu.probes.driver import GpuInfo


def parse_visible_devices(value: str) -> list[str]:
    """The entries CUDA honours: the list stops at the first invalid entry (so "-1" hides all)."""
    entries = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            break
        if item.isdigit() or item.startswith("GPU-") or item.startswith("MIG-"):
            entries.append(item)
            continue
        break
    return entries

@check("cuda-visible-devices", "CUDA_VISIBLE_DEVICES leaves a GPU visible", Area.ENVIRONMENT, needs=("environment",),
       emits=("cuda-visible-devices", "cuda-visible-devices-hides-all", "cuda-visible-devices-truncated"))
def cuda_visible_devices(ctx: CheckContext) -> Iterator[Finding]:
    """CUDA_VISIBLE_DEVICES: unset, set to GPUs, hiding every GPU (empty, -1), or cut short at an invalid entry."""
    env = ctx.environment
    if env is None:
        return
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return
    entries = parse_visible_devices(value)
    ev = {"CUDA_VISIBLE_DEVICES": value, "visible_entries": entries}
    if not entries:
        why = "is empty" if value.strip() == "" else f"is {value!r}, which CUDA reads as an invalid first entry"
        yield ctx.finding(
            "cuda-visible-devices-hides-all", Severity.ERROR,
            f"CUDA_VISIBLE_DEVICES {why}: every GPU is hidden from TensorFlow",
            "CUDA stops reading the list at its first invalid entry, so an empty value or -1 means no device "
            "at all, and TensorFlow logs 'failed call to cuInit: CUDA_ERROR_NO_DEVICE'.",
            ev,
            (Fix("Unset it (or name the GPUs to use, e.g. 0 or 0,1)", ("unset CUDA_VISIBLE_DEVICES",)),),
        )
        return
    dropped = len([x for x in value.split(",")]) - len(entries)
    if dropped > 0:
        yield ctx.finding(
            "cuda-visible-devices-truncated", Severity.WARNING,
            f"CUDA_VISIBLE_DEVICES={value!r}: only {','.join(entries)} are visible; CUDA ignores everything after "
            "the first invalid entry", "", ev,
            (Fix("Name only valid GPU indices or UUIDs", (f"export CUDA_VISIBLE_DEVICES={','.join(entries)}",)),),
        )
        return
    yield ctx.finding("cuda-visible-devices", Severity.INFO,
                      f"CUDA_VISIBLE_DEVICES={value}: TensorFlow sees only these GPUs", "", ev)


def visible_entry_exists(entry: str, gpus: tuple[GpuInfo, ...]) -> bool:
    """CUDA accepts an index, a GPU UUID or a unique UUID prefix, or a MIG device UUID (CUDA C++
    Programming Guide, CUDA_VISIBLE_DEVICES)."""
    if entry.isdigit():
        return int(entry) < len(gpus)
    if entry.startswith("MIG-"):
        return any(g.mig_mode_current for g in gpus)
    return sum(1 for g in gpus if g.uuid and g.uuid.startswith(entry)) == 1

@check("cuda-visible-devices-gpus", "CUDA_VISIBLE_DEVICES names GPUs that exist", Area.GPU,
       needs=("driver", "environment"),
       emits=("cuda-visible-devices-missing-device",))
def cuda_visible_devices_gpus(ctx: CheckContext) -> Iterator[Finding]:
    """Each index or UUID in CUDA_VISIBLE_DEVICES names a GPU the driver reports."""
    driver = ctx.driver
    env = ctx.environment
    value = env.get("CUDA_VISIBLE_DEVICES") if env is not None else None
    if driver is None or value is None or not driver.gpus:
        return
    entries = parse_visible_devices(value)
    if not entries:
        return  # empty / -1: the cuda-visible-devices check reports it
    # CUDA stops at the first entry that names no device: only the ones before it are visible.
    bad = next((i for i, e in enumerate(entries) if not visible_entry_exists(e, driver.gpus)), None)
    if bad is None:
        return
    visible, missing = entries[:bad], entries[bad]
    valid = [str(g.index) for g in driver.gpus]
    ev = {"CUDA_VISIBLE_DEVICES": value, "missing": missing, "visible": visible, "gpu_count": len(driver.gpus),
          "gpu_uuids": [g.uuid for g in driver.gpus]}
    fix = Fix(f"Name only GPUs that exist (indices {', '.join(valid)}, or their UUIDs from nvidia-smi -L), or unset it",
              (f"export CUDA_VISIBLE_DEVICES={','.join(e for e in entries if visible_entry_exists(e, driver.gpus)) or '0'}",
               "unset CUDA_VISIBLE_DEVICES", "nvidia-smi -L"))
    if not visible:
        yield ctx.finding(
            "cuda-visible-devices-missing-device", Severity.ERROR,
            f"CUDA_VISIBLE_DEVICES={value}: '{missing}' is not one of the {len(driver.gpus)} GPU"
            f"{'s' if len(driver.gpus) != 1 else ''} here, so CUDA sees no GPU at all",
            "CUDA stops reading the list at the first entry that names no device; TensorFlow then logs "
            "CUDA_ERROR_NO_DEVICE.", ev, (fix,))
    else:
        yield ctx.finding(
            "cuda-visible-devices-missing-device", Severity.WARNING,
            f"CUDA_VISIBLE_DEVICES={value}: '{missing}' is not a GPU here; CUDA uses only {','.join(visible)} and "
            "ignores the rest", "CUDA stops reading the list at the first entry that names no device.", ev, (fix,))
