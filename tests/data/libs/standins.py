"""Builders for the stand-in CUDA libraries the library/toolkit tests compile from the C files here."""

from __future__ import annotations

from pathlib import Path

from conftest import compile_shared

HERE = Path(__file__).resolve().parent


def build(cc: str, out: Path, source: str, soname: str | None = None, defines: dict[str, int] | None = None,
          extra: tuple[str, ...] = ()) -> Path:
    """Compile tests/data/libs/<source> into `out` (soname defaults to out's name)."""
    flags = tuple(f"-D{k}={v}" for k, v in (defines or {}).items()) + tuple(extra)
    return compile_shared(cc, (HERE / source).read_text(), out, soname or out.name, flags)


def fake_cudnn(cc: str, folder: Path, version: int, major: int = 9, cudart: int = 12020) -> Path:
    return build(cc, folder / f"libcudnn.so.{major}", "fake_cudnn.c", defines={"VERSION": version, "CUDART": cudart})


def fake_cudart(cc: str, folder: Path, version: int, soname: str = "libcudart.so.12") -> Path:
    return build(cc, folder / soname, "fake_cudart.c", defines={"VERSION": version})


def crashing(cc: str, folder: Path, soname: str) -> Path:
    return build(cc, folder / soname, "crash_on_load.c")


def fake_tensorflow(cc: str, site: Path, runpath: tuple[str, ...]) -> Path:
    """site/tensorflow/libtensorflow_framework.so.2 whose DT_RUNPATH is `runpath` ($ORIGIN kept literal)."""
    rp = ":".join(runpath)
    return build(cc, site / "tensorflow" / "libtensorflow_framework.so.2", "fake_tf_framework.c",
                 extra=("-Wl,--enable-new-dtags", f"-Wl,-rpath,{rp}"))
