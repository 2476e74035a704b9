#!/usr/bin/env bash
# Device check for the NVIDIA driver probe (issue 4): run the doctor on a real GPU machine and keep
# what it saw next to what nvidia-smi and the NVML child say, so a session can compare them.
#
# Needs python3 (or $PYTHON, e.g. a carried venv's interpreter) with typer, rich, packaging, PyYAML
# and nvidia-ml-py; TensorFlow is not needed (--fast never imports it). Writes under $OUT (default ./device-out):
#   device-report.json   tfgpu doctor --json --fast
#   nvml-child.json      the raw NVML answer (python3 -m tfgpu.probes._children.nvml)
#   nvidia-smi.txt / nvidia-smi-query.csv / proc-driver-version.txt   cross-checks
#   summary.txt          the comparison, and PASS/FAIL lines
# Exit code: 0 when the driver fact is OK and agrees with nvidia-smi, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-./device-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"

missing=$("$PY" - <<'PY'
import importlib.util
need = {"typer": "typer", "rich": "rich", "packaging": "packaging", "yaml": "PyYAML", "pynvml": "nvidia-ml-py"}
print(" ".join(dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None))
PY
)
if [ -n "$missing" ]; then
  echo "FAIL: $PY lacks: $missing (pip install $missing)" | tee "$OUT/summary.txt"
  exit 1
fi

timeout 120 "$PY" -m tfgpu doctor --json --fast > "$OUT/device-report.json" 2> "$OUT/device-report.stderr"
echo "doctor exit code: $?" > "$OUT/summary.txt"
timeout 60 "$PY" -m tfgpu.probes._children.nvml > "$OUT/nvml-child.json" 2> "$OUT/nvml-child.stderr"
timeout 30 nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
timeout 30 nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version,compute_cap,memory.total,memory.used,memory.free,mig.mode.current,persistence_mode,ecc.mode.current,clocks.max.memory \
  --format=csv,noheader,nounits > "$OUT/nvidia-smi-query.csv" 2>&1
cat /proc/driver/nvidia/version > "$OUT/proc-driver-version.txt" 2>&1
timeout 120 "$PY" -m tfgpu doctor --fast > "$OUT/device-report.txt" 2>&1

"$PY" - "$OUT" <<'PY' | tee -a "$OUT/summary.txt"
import csv, json, sys
out = sys.argv[1]
ok = True
def check(cond, text):
    global ok
    ok &= bool(cond)
    print(("PASS " if cond else "FAIL ") + text)
try:
    report = json.load(open(f"{out}/device-report.json"))
except Exception as exc:
    print(f"FAIL device-report.json unreadable: {exc}"); sys.exit(1)
drv = report["facts"].get("driver", {})
check(drv.get("status") == "ok", f"driver fact status {drv.get('status')}: {drv.get('message', '')}")
data = drv.get("data") or {}
rows = [r for r in csv.reader(open(f"{out}/nvidia-smi-query.csv")) if len(r) >= 9]
if rows:
    smi_driver = rows[0][4].strip()
    check(data.get("driver_version") == smi_driver, f"driver version NVML {data.get('driver_version')} vs nvidia-smi {smi_driver}")
    check(len(data.get("gpus", [])) == len(rows), f"GPU count NVML {len(data.get('gpus', []))} vs nvidia-smi {len(rows)}")
    for g, r in zip(data.get("gpus", []), rows):
        check(g.get("name") == r[1].strip(), f"GPU {g.get('index')} name {g.get('name')!r} vs {r[1].strip()!r}")
        check(g.get("compute_capability") == r[5].strip(), f"GPU {g.get('index')} CC {g.get('compute_capability')} vs {r[5].strip()}")
        total_mib = (g.get("memory_total_bytes") or 0) / 2**20
        check(abs(total_mib - float(r[6])) <= 2, f"GPU {g.get('index')} memory {total_mib:.0f} MiB vs {r[6].strip()} MiB")
        print(f"info GPU {g.get('index')}: bus {g.get('memory_bus_width_bits')} bit, max mem clock "
              f"{g.get('max_memory_clock_mhz')} MHz (nvidia-smi {r[12].strip() if len(r) > 12 else '?'}), "
              f"unavailable: {sorted(g.get('unavailable', {}))}")
else:
    check(False, "nvidia-smi --query-gpu gave no rows (see nvidia-smi-query.csv)")
print("info verdict:", report["verdict"]["status"], "-", report["verdict"]["headline"])
for f in report["findings"]:
    if f["check"].startswith(("driver", "gpu", "mig", "cuda-visible")):
        print(f"info finding {f['id']} [{f['severity']}] {f['summary']}")
print("info timings:", json.dumps(report.get("timings", {})))
sys.exit(0 if ok else 1)
PY
