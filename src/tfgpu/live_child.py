"""Runs INSIDE the target interpreter (its source is passed with -c): imports TensorFlow, lists
GPUs and runs a tiny smoke test on each, printing one JSON record per stage on stdout.

Standard library and TensorFlow only; no f-strings beyond Python 3.6. Every stage is printed as
soon as it ends, so a crash later on still leaves the earlier stages as evidence. TensorFlow's own
C++ log goes to stderr, which the parent captures and classifies.
"""

import json
import os
import sys
import time

MARK = "@@TFGPU-LIVE@@"
SMOKE = os.environ.get("TFGPU_LIVE_SMOKE", "1") == "1"


def emit(stage, **data):
    data["stage"] = stage
    sys.stdout.write(MARK + json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def mapped_cuda_libraries():
    """CUDA/cuDNN/NVIDIA libraries mapped into this process, from /proc/self/maps."""
    keys = ("libcud", "libcublas", "libcufft", "libcurand", "libcusolver", "libcusparse", "libcupti",
            "libnccl", "libnvjitlink", "libnvrtc", "libnvinfer", "libnvidia-ml", "libcuda.so")
    found = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6:
                    path = parts[-1]
                    base = os.path.basename(path)
                    if any(base.startswith(k) or k in base for k in keys) and path not in found:
                        found.append(path)
    except (IOError, OSError):
        pass
    return found


def smoke(tf, device):
    results = []

    def run(name, fn):
        t0 = time.time()
        try:
            with tf.device(device):
                out = fn()
            placed = getattr(out, "device", "") or ""
            # Force the computation to finish before stopping the clock.
            _ = out.numpy()
            results.append({"op": name, "ok": True, "device": placed, "seconds": round(time.time() - t0, 4)})
        except Exception as exc:  # the op's own error is the evidence
            results.append({"op": name, "ok": False, "device": "", "seconds": round(time.time() - t0, 4),
                            "error": "%s: %s" % (type(exc).__name__, str(exc)[:2000])})

    run("matmul", lambda: tf.linalg.matmul(tf.ones((256, 256)), tf.ones((256, 256))))
    run("conv2d", lambda: tf.nn.conv2d(tf.ones((1, 32, 32, 8)), tf.ones((3, 3, 8, 16)), strides=1, padding="SAME"))

    @tf.function(jit_compile=True)
    def xla_fn(x):
        return tf.reduce_sum(tf.nn.relu(x * 2.0 + 1.0))

    run("xla_jit", lambda: xla_fn(tf.ones((128, 128))))
    return results


def main():
    emit("start", python=sys.version.split()[0], pid=os.getpid())
    t0 = time.time()
    try:
        import tensorflow as tf
    except BaseException as exc:  # ImportError, or anything raised while importing
        emit("import_error", error="%s: %s" % (type(exc).__name__, str(exc)[:4000]), seconds=round(time.time() - t0, 3))
        return 4
    emit("imported", version=getattr(tf, "__version__", "?"), seconds=round(time.time() - t0, 3),
         file=getattr(tf, "__file__", None))
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception as exc:
        info = {"error": str(exc)}
    emit("build_info", build_info=dict((str(k), str(v)) for k, v in info.items()))
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:
        emit("list_error", error="%s: %s" % (type(exc).__name__, exc))
        gpus = []
    details = []
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except Exception:
            pass
        try:
            d = dict(tf.config.experimental.get_device_details(gpu))
        except Exception as exc:
            d = {"error": str(exc)}
        details.append({"name": gpu.name, "details": dict((str(k), str(v)) for k, v in d.items())})
    emit("gpus", gpus=details, mapped=mapped_cuda_libraries())
    if SMOKE:
        for i, _ in enumerate(gpus):
            emit("smoke", device="/GPU:%d" % i, results=smoke(tf, "/GPU:%d" % i))
        emit("mapped", mapped=mapped_cuda_libraries())
    emit("done", seconds=round(time.time() - t0, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
