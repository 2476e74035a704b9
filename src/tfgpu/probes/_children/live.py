"""Runs INSIDE the target interpreter (its source is passed with -c): imports TensorFlow, lists
GPUs and runs a tiny smoke test on each, printing one JSON record per stage on stdout.

Standard library and TensorFlow only, and Python 3 of any age: no f-strings, no walrus, nothing
newer than Python 3.6 (TensorFlow 2.4 ran on 3.6-3.8, 1.15 on 3.7; tests/test_target_pythons.py
runs this under the old interpreters that exist). Python 2 is refused with its own stage. Old
TensorFlow APIs are allowed for: tf.config.experimental.list_physical_devices (before 2.1),
build_info.py's module variables (before 2.3's tf.sysconfig.get_build_info), `experimental_compile`
(before 2.5's `jit_compile`).

Every stage is printed as soon as it ends, so a crash later on still leaves the earlier stages as
evidence. TensorFlow's own C++ log goes to stderr, which the parent captures and classifies.

After the last stage the child ends with os._exit, once its streams are flushed and the atexit
functions have run: the interpreter's teardown of a loaded TensorFlow (freeing its modules, C++
static destructors, CUDA context teardown) takes ~1.3 s of a 5.5 s `import tensorflow` on a CI
core (bench/bench_live.py), answers nothing the doctor asks, and is where a broken driver stack can
hang. The cost: a crash that would happen only during that teardown is not seen.
"""

import atexit
import io
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
        with io.open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 6:
                    path = parts[-1]
                    base = os.path.basename(path)
                    if any(base.startswith(k) or k in base for k in keys) and path not in found:
                        found.append(path)
    except (IOError, OSError, ValueError):
        pass
    return found


def xla_function(tf, body):
    """`body` compiled with XLA: `jit_compile` since TensorFlow 2.5, `experimental_compile` before."""
    error = None
    for keyword in ("jit_compile", "experimental_compile"):
        try:
            return tf.function(**{keyword: True})(body)
        except TypeError as exc:  # this TensorFlow does not know the keyword
            error = exc
    raise error


def build_info(tf):
    """tf.sysconfig.get_build_info() (TensorFlow 2.3+), else build_info.py's module variables."""
    try:
        return dict(tf.sysconfig.get_build_info())
    except Exception as exc:
        first = exc
    try:
        from tensorflow.python.platform import build_info as module
        info = dict((k, v) for k, v in vars(module).items()
                    if not k.startswith("_") and isinstance(v, (str, bool, int, float, list, tuple, dict)))
    except Exception:
        info = {}
    return info or {"error": str(first)}


def list_gpus(tf):
    """tf.config.list_physical_devices (TensorFlow 2.1+), else its older experimental name."""
    lister = getattr(tf.config, "list_physical_devices", None)
    if lister is None:
        lister = tf.config.experimental.list_physical_devices
    return lister("GPU")


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

    def xla_body(x):
        return tf.reduce_sum(tf.nn.relu(x * 2.0 + 1.0))

    # Built inside run(): a TensorFlow that cannot compile with XLA fails this op only.
    run("xla_jit", lambda: xla_function(tf, xla_body)(tf.ones((128, 128))))
    return results


def main():
    emit("start", python=sys.version.split()[0], pid=os.getpid())
    if sys.version_info[0] < 3:
        # tfgpu inspects Python 3 targets only (its python_env inquiry refuses Python 2 too).
        emit("unsupported_python", error="Python %s is not Python 3; tfgpu inspects Python 3 interpreters only"
             % sys.version.split()[0])
        return 3
    t0 = time.time()
    try:
        import tensorflow as tf
    except BaseException as exc:  # ImportError, or anything raised while importing
        emit("import_error", error="%s: %s" % (type(exc).__name__, str(exc)[:4000]), seconds=round(time.time() - t0, 3))
        return 4
    emit("imported", version=getattr(tf, "__version__", "?"), seconds=round(time.time() - t0, 3),
         file=getattr(tf, "__file__", None))
    info = build_info(tf)
    emit("build_info", build_info=dict((str(k), str(v)) for k, v in info.items()))
    try:
        gpus = list_gpus(tf)
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


def flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream: nothing more can be said on it
            pass


def finish(code):
    """Flush, run the atexit functions, and end without the interpreter's teardown (see above)."""
    flush()
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is not None:
        try:
            run_exitfuncs()
        except BaseException:  # Python 3.9 and older re-raise a callback's exception (SystemExit too)
            pass
    flush()
    os._exit(code)


if __name__ == "__main__":
    finish(main())
