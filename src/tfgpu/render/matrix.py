"""The views of `tfgpu matrix`: all TensorFlow GPU builds, one release, or one CUDA toolkit.

Each view is a JSON-ready document (`*_doc`) and a text rendering of it (`*_text`). Pure: the
matrix is handed in, the CLI writes the text out.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from tfgpu.render.rich import buffer_console, rendered
from tfgpu.versions import cc_pair

OS_NAMES = ("linux", "windows")


def release_doc(matrix: Any, row: Any) -> dict[str, Any]:
    """One TensorFlow release series: its matrix row, the cuDNN it was tested with, the GPU
    platforms it ships for and the driver its CUDA needs."""
    data = asdict(row)
    data["cudnn_tested"] = row.cudnn_tested
    data["cudnn_tested_from"] = row.cudnn_tested_from
    data["releases"] = list(row.releases)
    data["gpu_platforms"] = matrix.gpu_platforms(row.series)
    if row.cuda:
        lin, win = matrix.driver_need(row.cuda, "linux"), matrix.driver_need(row.cuda, "windows")
        data["driver"] = {"linux": {"toolkit": lin.toolkit_min, "minor_compat": lin.minor_compat_min},
                          "windows": {"toolkit": win.toolkit_min, "minor_compat": win.minor_compat_min}}
    return data


def release_json(matrix: Any, row: Any) -> dict[str, Any]:
    return {"tensorflow": release_doc(matrix, row), "matrix": matrix.describe()}


def _flat(value: Any) -> str:
    """A matrix value as one line of text: lists joined, mappings as key: value."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flat(v) for v in value)
    return "-" if value is None else str(value)


#: The platforms a card names, as `gpu_platforms` keys them.
_PLATFORMS = {"linux-x86_64": "Linux x86_64", "wsl2": "WSL2", "windows-native": "native Windows",
              "macos-arm64": "macOS arm64", "macos-x86_64": "macOS x86_64", "linux-aarch64": "Linux aarch64"}
_BACKENDS = {"nvidia-cuda": "NVIDIA GPUs (CUDA)", "apple-metal": "Apple GPUs (tensorflow-metal)", "none": "CPU only"}


def _card_rows(matrix: Any, row: Any) -> list[tuple[str, str]]:
    """One release series as a person reads it: what to install, then what it needs."""
    doc = release_doc(matrix, row)
    requirement = row.gpu_requirement(row.release if row.release in row.releases else None)
    install = f"python -m pip install '{requirement}'"
    how = ("the CUDA libraries come as pip wheels ([and-cuda]); only the NVIDIA driver comes from the system"
           if row.and_cuda else f"install CUDA {row.cuda or '?'} and cuDNN {row.cudnn_tested or row.cudnn or '?'} "
           "yourself (no [and-cuda] extra before 2.14)" if row.cuda else "no CUDA build of this series")
    rows = [("Install", install), ("", how)]
    if row.cuda:
        cudnn = row.cudnn_tested or row.cudnn or "?"
        rows.append(("CUDA", f"{row.cuda}, cuDNN {cudnn}" + (f" (cuDNN from the {row.cudnn_tested_from})"
                                                            if row.cudnn_tested_from else "")))
    ccs = list(row.compute_capabilities)
    if ccs:
        native = [c for c in ccs if c.startswith("sm_")]
        ptx = [c for c in ccs if c.startswith("compute_")]
        gpus = f"native code for {', '.join(native) or 'none'}"
        if ptx:
            targets = matrix.cuda_targets(row.cuda) if row.cuda else None
            newest = max(targets, key=lambda t: cc_pair(t) or (0, 0)) if targets else None
            # PTX serves a newer GPU only up to what the build's toolkit can target (rules.toolkit_gap).
            upto = f" up to CC {newest} (the newest CUDA {row.cuda} targets)" if newest else ""
            gpus += f"; newer GPUs{upto} through PTX JIT of {', '.join(ptx)}"
        rows.append(("GPUs", gpus))
    pythons = _python_span(row.pythons()) or row.requires_python or "?"
    rows.append(("Python", pythons))
    drv = doc.get("driver")
    if drv:
        for os_name, label in (("linux", "Linux"), ("windows", "Windows")):
            need = drv[os_name]
            text = f">= {need['minor_compat'] or need['toolkit'] or '?'}"
            if need["minor_compat"] and need["toolkit"]:
                text += f" (CUDA {row.cuda}'s own driver: {need['toolkit']})"
            rows.append((f"Driver ({label})", text))
    plats = doc.get("gpu_platforms") or {}
    if plats:
        gpu_on = [_PLATFORMS.get(k, k) for k, v in plats.items() if v == "nvidia-cuda"]
        rows.append(("NVIDIA GPU on", ", ".join(gpu_on) or "no platform"))
    if row.glibc:
        rows.append(("glibc", f">= {row.glibc} (Linux wheels)"))
    rows.append(("Releases", ", ".join(row.releases) or row.series))
    return rows


def release_text(matrix: Any, row: Any, width: int | None = 100, color: bool = False,
                 ascii_only: bool = False) -> str:
    """A card for one release series (the raw fields are in --json)."""
    console = buffer_console(10_000, color, safe_box=ascii_only, soft_wrap=True)
    console.print(Text(f"TensorFlow {row.series}", style="bold")
                  + Text(f"  (matrix {matrix.describe()}; every field: --json)", style="dim"))
    label_w = 18
    room = None if width is None else max(30, width - label_w)
    for label, value in _card_rows(matrix, row):
        body = Text(value, style="bold" if label == "Install" else "")
        if room is None or label == "Install" or body.cell_len <= room:
            console.print(Text(f"{label:<{label_w}}", style="dim") + body)
            continue
        for i, ln in enumerate(body.wrap(console, room)):
            console.print(Text(f"{label if i == 0 else '':<{label_w}}", style="dim") + ln)
    return rendered(console)


def cuda_doc(matrix: Any, version: str) -> dict[str, Any]:
    """One CUDA toolkit (`version` as asked, "12.5" or "12.5.1": the driver need depends on it):
    its row, the driver it needs per OS, the TensorFlow built with it, the cuDNN releases for its
    major version. The CLI has checked that the matrix knows it."""
    crow = matrix.cuda_row(version)
    major = crow.version.split(".")[0]
    return {
        "cuda": asdict(crow),
        "driver": {os_name: asdict(matrix.driver_need(version, os_name)) for os_name in OS_NAMES},
        "tensorflow_built_with": [r.series for r in matrix.tf_rows_newest_first()
                                  if r.cuda and ".".join(r.cuda.split(".")[:2]) == crow.version],
        "cudnn_for_this_major": [r.version for r in matrix.cudnn if major in r.cuda],
        "forward_compat": matrix.forward_compat,
    }


def cuda_text(matrix: Any, version: str, width: int = 100, color: bool = False, ascii_only: bool = False) -> str:
    data = cuda_doc(matrix, version)
    crow = matrix.cuda_row(version)
    major = crow.version.split(".")[0]
    console = buffer_console(width, color, safe_box=ascii_only)
    lin, win = data["driver"]["linux"], data["driver"]["windows"]
    console.print(f"[bold]CUDA {crow.version}[/bold]  PTX ISA {crow.ptx_isa or '?'}, compute capability "
                  f"{crow.min_cc or '?'} to {crow.max_cc or '?'}"
                  + (f", dropped {', '.join(crow.dropped)}" if crow.dropped else ""))
    for rel in crow.releases:
        console.print(f"  {rel.name:<22} driver: Linux >= {rel.linux or 'n/a'}, Windows >= {rel.windows or 'n/a'}")
    console.print(f"  minor-version compatibility (any {major}.x): Linux >= {lin['minor_compat_min'] or 'n/a'}, "
                  f"Windows >= {win['minor_compat_min'] or 'n/a'}")
    console.print(f"  TensorFlow built with it: {', '.join(data['tensorflow_built_with']) or 'none'}")
    console.print(f"  cuDNN releases for CUDA {major}: {', '.join(data['cudnn_for_this_major']) or 'none'}")
    return rendered(console)


def table_doc(matrix: Any) -> dict[str, Any]:
    """Every TensorFlow GPU build, newest first."""
    return {"matrix": matrix.describe(), "tensorflow": [release_doc(matrix, r) for r in matrix.tf_rows_newest_first()]}


def _python_span(pythons: tuple[str, ...]) -> str:
    """("2.7", "3.5", "3.6", "3.7") → "2.7, 3.5-3.7": one span per Python major."""
    spans: dict[str, list[str]] = {}
    for p in pythons:
        spans.setdefault(p.split(".")[0], []).append(p)
    return ", ".join(v[0] if len(v) == 1 else f"{v[0]}-{v[-1]}" for v in spans.values())


def table_text(matrix: Any, width: int | None = 100, color: bool = False, ascii_only: bool = False) -> str:
    """The table at the terminal's width: below 120 columns it leaves out the glibc and [and-cuda]
    columns (--json and `--tf X.Y` have them) and draws no box."""
    width = width or 140
    wide = width >= 120
    console = buffer_console(width, color, safe_box=ascii_only)
    table = Table(title=f"TensorFlow GPU builds (Linux x86_64 wheels; matrix {matrix.describe()})",
                  box=None if not wide else box.HEAVY_HEAD, pad_edge=False, header_style="bold")
    cols = ["TF", "Python", "CUDA", "cuDNN", "compute capabilities", "driver (Linux)"]
    cols += ["glibc", "\\[and-cuda]"] if wide else []
    for col in cols:
        table.add_column(col, overflow="fold")
    for r in matrix.tf_rows_newest_first():
        need = matrix.driver_need(r.cuda, "linux") if r.cuda else None
        drv = "" if need is None else (f">= {need.minor_compat_min} ({need.toolkit_min})" if need.minor_compat_min
                                       else f">= {need.toolkit_min or '?'}")
        py = _python_span(r.pythons()) or r.requires_python or ""  # every patch release's: 2.6.0-2.6.2 had 3.6
        cudnn = r.cudnn_tested or r.cudnn or ""
        cells = [r.series, py, r.cuda or "-", cudnn, " ".join(r.compute_capabilities), drv]
        cells += [r.glibc or "", "yes" if r.and_cuda else "no"] if wide else []
        table.add_row(*cells)
    console.print(table)
    console.print(Text("driver: minor-version-compatibility floor (the toolkit's own driver). "
                       "One release: tfgpu matrix --tf X.Y" + ("" if wide else "; glibc and [and-cuda]: --json"),
                       style="dim"))
    return "\n".join(line.rstrip() for line in rendered(console).split("\n"))
