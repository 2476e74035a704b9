"""Benchmark `tfgpu explain`: a 100,000-line log built from the corpus, timed against `grep -c`.

Usage: python bench/bench_explain.py [--lines N] [--big-mb M]

Prints recognition per class of report on the corpus (dev and held-out splits: a log is
recognised when explain's non-noise finding ids equal its `# expect:` header; an `expect: none`
log when explain makes no error finding), then the time of explain (read + scan + report) and of
`grep -c` over the same file, their ratio, the same for a crafted 8 MB log of 4 KB lines made to
make a backtracking regex slow (issue #14 item 5), and the peak memory of explain over a large
(default 100 MB) generated log.

`--knowledge-cache` instead times the signature knowledge's load (its YAML files parsed and validated)
in a fresh child process, cold (an empty cache folder: PyYAML imported, the files parsed) against
warm (the parsed data read from the cache, still validated), alternating, and stops. Measured so
(2 shared cores, 7 runs, twice): cold median 88 / 113 ms, warm 45 / 45 ms (warm/cold 0.52 / 0.39);
of the warm load ~20 ms is the validation, ~10 ms the cache file's read and check.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import subprocess  # noqa: TID251 - a benchmark, not tfgpu: it times grep as the baseline
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from tfgpu.explain import explain_lines  # noqa: E402
from tfgpu.explain.reader import iter_log_lines  # noqa: E402
from tfgpu.matrix import load as load_matrix  # noqa: E402


def corpus_lines() -> list[str]:
    lines = []
    for path in sorted((REPO / "tests" / "data" / "logs").glob("*.txt")):
        for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
            if not line.startswith("# "):
                lines.append(line)
    return lines


_STAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def write_log(path: Path, source: list[str], n_lines: int | None = None, n_bytes: int | None = None,
              fresh_stamps: bool = True) -> int:
    """Random corpus lines; with `fresh_stamps` each timestamp is new, so lines rarely repeat (as in real logs)."""
    rng = random.Random(7)
    written = 0
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        while (n_lines is not None and count < n_lines) or (n_bytes is not None and written < n_bytes):
            line = rng.choice(source)
            if fresh_stamps:
                stamp = f"2024-05-{1 + count // 86_400_000 % 28:02d} 12:{count // 60_000_000 % 60:02d}:" \
                        f"{count // 1_000_000 % 60:02d}.{count % 1_000_000:06d}"
                line = _STAMP_RE.sub(stamp, line)
            line += "\n"
            fh.write(line)
            written += len(line)
            count += 1
    return count


def _header(path: Path) -> tuple[dict[str, str], list[str]]:
    header: dict[str, str] = {}
    body: list[str] = []
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not body and line.startswith("# ") and ":" in line:
            key, value = line[2:].split(":", 1)
            header[key.strip()] = value.strip()
        else:
            body.append(line)
    return header, body


def recognition(matrix) -> dict[str, dict[str, list[int]]]:
    """{split: {class: [recognised, total]}} over the corpus."""
    out: dict[str, dict[str, list[int]]] = {"dev": {}, "heldout": {}}
    for path in sorted((REPO / "tests" / "data" / "logs").glob("*.txt")):
        header, body = _header(path)
        want = {e.strip() for e in header.get("expect", "").split(",") if e.strip()} - {"none"}
        want = {"unrecognized-error" if e == "unrecognized" else e for e in want}
        report = explain_lines(body, matrix, path.name)
        got = {f.id for f in report.findings if not f.id.startswith("noise-")}
        if want - {i for i in want if i.startswith("noise-")}:
            ok = got == {i for i in want if not i.startswith("noise-")}
        else:
            ok = not any(f.severity.value == "error" for f in report.findings) and not (got - {"unrecognized-error"}
                                                                                       if "unrecognized-error" not in want
                                                                                       else set())
        cell = out[header.get("split", "dev")].setdefault(header.get("class", "?"), [0, 0])
        cell[0] += int(ok)
        cell[1] += 1
    return out


def print_recognition(matrix) -> bool:
    """Print the per-class table; True when every class is at least 90% on both splits."""
    table = recognition(matrix)
    good = True
    for split, classes in table.items():
        done = sum(v[0] for v in classes.values())
        total = sum(v[1] for v in classes.values())
        print(f"recognition, {split} split: {done}/{total}" + (f" ({100 * done / total:.0f}%)" if total else ""))
        for klass, (ok, n) in sorted(classes.items()):
            pct = 100 * ok / n
            good = good and pct >= 90
            print(f"  {klass:16} {ok:3}/{n:<3} {pct:5.0f}%")
    return good


def time_explain(path: Path, matrix) -> tuple[float, object]:
    t0 = time.perf_counter()
    report = explain_lines(iter_log_lines(str(path)), matrix, str(path))
    return time.perf_counter() - t0, report


def time_grep(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["grep", "-c", "error", str(path)], capture_output=True, check=False)
    return time.perf_counter() - t0


#: Run in a child: the knowledge module imported first (not timed), then its load timed; prints the
#: seconds and whether PyYAML was imported.
_KNOWLEDGE_CHILD = """
import sys, time
from tfgpu.explain.knowledge import load_knowledge
t0 = time.perf_counter()
load_knowledge()
print(time.perf_counter() - t0, "yaml" in sys.modules)
"""


def knowledge_cache(runs: int = 7) -> None:
    """Cold (empty cache folder) against warm knowledge loads, alternating; medians and their ratio."""
    import os
    import shutil
    import statistics

    times: dict[str, list[float]] = {"cold": [], "warm": []}
    yaml_seen: dict[str, set[str]] = {"cold": set(), "warm": set()}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_CACHE_HOME": tmp, "PYTHONPATH": str(REPO / "src")}
        env.pop("TFGPU_NO_CACHE", None)
        for _ in range(runs):
            shutil.rmtree(Path(tmp) / "tfgpu", ignore_errors=True)
            for kind in ("cold", "warm"):
                out = subprocess.run([sys.executable, "-c", _KNOWLEDGE_CHILD], capture_output=True, text=True,
                                     env=env, check=True).stdout.split()
                times[kind].append(float(out[0]))
                yaml_seen[kind].add(out[1])
    cold, warm = statistics.median(times["cold"]), statistics.median(times["warm"])
    print(f"knowledge load, {runs} alternating runs: cold median {cold * 1e3:.1f} ms (yaml imported: "
          f"{sorted(yaml_seen['cold'])}), warm median {warm * 1e3:.1f} ms (yaml imported: "
          f"{sorted(yaml_seen['warm'])}), warm/cold {warm / cold:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--big-mb", type=int, default=100, help="size of the memory test log (0: skip)")
    ap.add_argument("--recognition-only", action="store_true", help="print the per-class table and stop")
    ap.add_argument("--knowledge-cache", action="store_true", help="time the knowledge's cold and warm load, stop")
    args = ap.parse_args()
    if args.knowledge_cache:
        knowledge_cache()
        return 0
    matrix = load_matrix()
    recognised = print_recognition(matrix)
    if args.recognition_only:
        return 0 if recognised else 1
    source = corpus_lines()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.log"
        explain_lines(source[:100], matrix)  # warm up: knowledge file and imports
        status = 0
        for fresh, label in ((True, "fresh timestamps (lines rarely repeat)"), (False, "corpus lines verbatim")):
            n = write_log(log, source, n_lines=args.lines, fresh_stamps=fresh)
            size = log.stat().st_size
            ours = min(time_explain(log, matrix)[0] for _ in range(3))
            grep = min(time_grep(log) for _ in range(3))
            _, report = time_explain(log, matrix)
            print(f"log: {n} lines, {size / 1e6:.1f} MB, from {len(source)} corpus lines, {label}")
            print(f"  tfgpu explain: {ours:.3f} s   ({n / ours / 1e3:.0f} k lines/s; {len(report.findings)} findings)")
            print(f"  grep -c:       {grep:.3f} s")
            print(f"  ratio:         {ours / grep:.1f}x grep")
            if ours >= 1.0:
                status = 1
        crafted = Path(tmp) / "crafted.log"
        crafted.write_text("".join("a" * 4075 + "b" + str(i) + ".dll\n" for i in range(2000)))
        ours = min(time_explain(crafted, matrix)[0] for _ in range(2))
        grep = min(time_grep(crafted) for _ in range(3))
        print(f"crafted log: 2000 lines of 4 KB ('a' * 4075 + 'b<N>.dll'), {crafted.stat().st_size / 1e6:.1f} MB")
        print(f"  tfgpu explain: {ours:.3f} s   grep -c: {grep:.3f} s   ratio: {ours / grep:.1f}x grep")
        if args.big_mb:
            big = Path(tmp) / "big.log"
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            m = write_log(big, source, n_bytes=args.big_mb * 1_000_000)
            t0 = time.perf_counter()
            explain_lines(iter_log_lines(str(big)), matrix, str(big))
            elapsed = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            print(f"big log: {big.stat().st_size / 1e6:.0f} MB, {m} lines in {elapsed:.1f} s; "
                  f"peak RSS {peak / 1024:.0f} MiB (before: {before / 1024:.0f} MiB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
