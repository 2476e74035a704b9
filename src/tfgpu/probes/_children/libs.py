"""The child that dlopen()s CUDA libraries and asks each its version; run as a script, stdlib only.

tfgpu's own interpreter runs this source (`python -I -S -c <source>`, started by
`tfgpu.probes.libraries` through `ProbeContext.run_child`) with a time limit and the user's environment, so that transitive dependencies resolve as they
would for TensorFlow. The request comes as JSON on stdin: {"libraries": [[key, path], ...]}.
For each library the child first writes a `BEGIN <key>` line, then one JSON result line, and
flushes after each, so that a library that crashes the child loses only its own result: the
parent sees which `BEGIN` has no result, records the signal, and restarts the child on the rest.

Only functions that need no CUDA driver and no GPU are called (version queries). Sources for
the signatures: the CUDA Runtime API (cudaRuntimeGetVersion), cuDNN API reference
(cudnnGetVersion, cudnnGetCudartVersion: size_t, no handle), cuBLAS/cuFFT/cuSOLVER/cuSPARSE
`*GetProperty(libraryPropertyType, int*)` (MAJOR_VERSION=0, MINOR_VERSION=1, PATCH_LEVEL=2),
cublasLtGetVersion (size_t), curandGetVersion(int*), ncclGetVersion(int*),
nvJitLinkVersion(unsigned*, unsigned*), cuptiGetVersion(uint32_t*).
"""

import ctypes
import json
import os
import sys

MARK_BEGIN = "BEGIN "
MARK_RESULT = "RESULT "

# library key -> list of (label, function name, kind). Kinds below say how to call.
QUERIES = {
    "cudart": [("runtime", "cudaRuntimeGetVersion", "int_out")],
    "cudnn": [("version", "cudnnGetVersion", "size_t_ret"), ("cudart", "cudnnGetCudartVersion", "size_t_ret")],
    "cublas": [("property", "cublasGetProperty", "property")],
    "cublasLt": [("version", "cublasLtGetVersion", "size_t_ret"), ("cudart", "cublasLtGetCudartVersion", "size_t_ret")],
    "cufft": [("property", "cufftGetProperty", "property"), ("version", "cufftGetVersion", "int_out")],
    "curand": [("version", "curandGetVersion", "int_out")],
    "cusolver": [("property", "cusolverGetProperty", "property"), ("version", "cusolverGetVersion", "int_out")],
    "cusparse": [("property", "cusparseGetProperty", "property")],
    "cupti": [("api", "cuptiGetVersion", "uint_out")],
    "nccl": [("version", "ncclGetVersion", "int_out")],
    "nvJitLink": [("major_minor", "nvJitLinkVersion", "two_uint_out")],
}


def _call(lib, name, kind):
    """Call one version function; returns (value, error). Never raises for a missing symbol."""
    try:
        fn = getattr(lib, name)
    except AttributeError:
        return None, "no symbol " + name
    if kind == "size_t_ret":
        fn.restype = ctypes.c_size_t
        fn.argtypes = []
        return int(fn()), None
    if kind in ("int_out", "uint_out"):
        out = ctypes.c_int(0) if kind == "int_out" else ctypes.c_uint(0)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(type(out))]
        status = fn(ctypes.byref(out))
        if status != 0:
            return None, name + " returned status " + str(status)
        return int(out.value), None
    if kind == "two_uint_out":
        major, minor = ctypes.c_uint(0), ctypes.c_uint(0)
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint)]
        status = fn(ctypes.byref(major), ctypes.byref(minor))
        if status != 0:
            return None, name + " returned status " + str(status)
        return [int(major.value), int(minor.value)], None
    if kind == "property":
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        parts = []
        for prop in (0, 1, 2):
            out = ctypes.c_int(0)
            status = fn(prop, ctypes.byref(out))
            if status != 0:
                return None, name + " returned status " + str(status)
            parts.append(int(out.value))
        return parts, None
    return None, "unknown query kind " + kind


def probe_one(key, path):
    """dlopen `path` and run its version queries; a dict ready for JSON."""
    result = {"key": key, "path": path, "loaded": False, "error": None, "values": {}, "errors": {}}
    try:
        # RTLD_NOW | RTLD_LOCAL, exactly as TensorFlow's DsoLoader opens them
        # (tsl/platform/default/load_library.cc, LoadDynamicLibrary): an undefined symbol fails here too.
        lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as exc:
        result["error"] = str(exc)
        return result
    result["loaded"] = True
    for label, name, kind in QUERIES.get(key, []):
        try:
            value, error = _call(lib, name, kind)
        except Exception as exc:  # a ctypes error is a result, not the end of the child
            value, error = None, type(exc).__name__ + ": " + str(exc)
        if error is None:
            result["values"][label] = value
        else:
            result["errors"][label] = error
    return result


def yield_to_the_live_import():
    """Lower this child's priority (nice +10). In the full doctor it runs alongside the live
    TensorFlow import, which is what the user waits for; on a busy machine it should take the CPU
    the import leaves, not share the import's. Where that is not allowed, it runs as it is."""
    try:
        os.nice(10)
    except (AttributeError, OSError):
        pass


def main():
    yield_to_the_live_import()
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except ValueError as exc:
        sys.stdout.write("ERROR bad request: " + str(exc) + "\n")
        return 2
    for key, path in request.get("libraries", []):
        sys.stdout.write(MARK_BEGIN + key + "\n")
        sys.stdout.flush()
        result = probe_one(key, path)
        sys.stdout.write(MARK_RESULT + json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
