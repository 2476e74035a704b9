"""Environment-variable probe: only the variables that change how CUDA and TensorFlow behave.

An allow-list, never a prefix match on "TF_": Terraform keeps secrets in TF_VAR_* and TF_TOKEN_*,
and nothing outside this list is ever read into a report.
"""

from __future__ import annotations

from tfgpu.probes import ProbeContext, probe
from tfgpu.records import dataclass

RELEVANT = (
    # Which GPUs CUDA shows, and in which order
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "NVIDIA_REQUIRE_CUDA",
    # Where libraries and toolkits are found
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "PATH",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_ROOT",
    "CUDNN_PATH",
    "CONDA_PREFIX",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    # JIT and caches
    "CUDA_FORCE_PTX_JIT",
    "CUDA_CACHE_PATH",
    "CUDA_CACHE_MAXSIZE",
    "CUDA_CACHE_DISABLE",
    "CUDA_MODULE_LOADING",
    "XLA_FLAGS",
    # TensorFlow's own switches (an allow-list: see the module docstring)
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_CPP_MAX_VLOG_LEVEL",
    "TF_CPP_MIN_VLOG_LEVEL",
    "TF_CPP_VMODULE",
    "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_GPU_ALLOCATOR",
    "TF_ENABLE_GPU_GARBAGE_COLLECTION",
    "TF_GPU_THREAD_MODE",
    "TF_GPU_THREAD_COUNT",
    "TF_XLA_FLAGS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_USE_LEGACY_KERAS",
    "TF_CUDA_PATHS",
    "TF_DETERMINISTIC_OPS",
    "TF_FORCE_UNIFIED_MEMORY",
    # Platform hints
    "WSL_DISTRO_NAME",
)


@dataclass(frozen=True)
class EnvVars:
    """The relevant variables that are set (a variable set to "" is kept: it means something)."""

    values: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.values.get(name)


def collect(environ) -> EnvVars:
    return EnvVars({name: environ[name] for name in RELEVANT if name in environ})


@probe("environment", "Environment variables", EnvVars, timeout=2.0)
def probe_environment(ctx: ProbeContext) -> EnvVars:
    return collect(ctx.environ)
