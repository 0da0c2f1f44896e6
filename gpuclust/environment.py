"""What a result was computed with: machine, library versions, GPU. Recorded beside every run and benchmark."""
from __future__ import annotations

import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from .backend import gpu_available
from .threads import in_use

PACKAGES = ("gpuclust", "numpy", "scikit-learn", "torch", "openTSNE", "dask", "distributed", "dask-cuda",
            "cupy-cuda12x", "cupy-cuda13x", "cuml-cu12", "cuml-cu13")


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


# Environment variables that limit which code paths the libraries dispatch to (read when each library loads)
DISPATCH_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OPENBLAS_CORETYPE",
                      "NPY_DISABLE_CPU_FEATURES", "MKL_CBWR")


def cpu_type() -> dict:
    """What decides the order of the CPU's sums, and so whether two machines give the same bits: the CPU model;
    the instruction set torch's kernels dispatch to, when torch is loaded (oneDNN's blocking follows it: AVX2,
    AVX512, ...); the kernel family each BLAS chose (OpenBLAS by CPU: Haswell, SkylakeX, Zen, ...); and which
    of the variables that pin those choices were set."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    out = {"model": model}
    pinned = {v: os.environ[v] for v in DISPATCH_VARIABLES if os.environ.get(v)}
    if pinned:  # set by the user or by portable mode, to make machines of different types take the same paths
        out["pinned"] = pinned
    from .portable import active

    out["portable"] = active()
    torch = sys.modules.get("torch")  # as threads.in_use: recorded where torch is loaded, never imported for it
    if torch is not None and hasattr(torch.backends, "cpu"):
        out["torch_isa"] = torch.backends.cpu.get_cpu_capability()
    try:
        from threadpoolctl import threadpool_info

        out["blas"] = sorted({f"{i.get('internal_api')} {i.get('architecture')}" for i in threadpool_info()
                              if i.get("user_api") == "blas"})
    except ImportError:
        pass
    return out


def describe(device: str | None = None) -> dict:
    """Machine, date, load, versions of the installed packages that matter, the thread counts in effect and
    their mode (gpuclust.threads.in_use), and the GPU when there is one."""
    env = {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "cpu": cpu_type(), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d %H:%M"),
           "load": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
           "threads": in_use(),
           "versions": {p: v for p in PACKAGES if (v := package_version(p)) is not None}}
    if device is not None:
        env["device"] = device
    if gpu_available():
        import cupy

        env["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return env
