"""Shipped knowledge files (data, no code): `signatures.yaml` holds the log signatures for `tfgpu explain`."""

from __future__ import annotations

from pathlib import Path

#: The log-signature file read by `tfgpu.explain.knowledge.load_knowledge`.
SIGNATURES_PATH = Path(__file__).resolve().parent / "signatures.yaml"
