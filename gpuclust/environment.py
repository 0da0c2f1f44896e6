"""What a result was computed with: machine, library versions, GPU. Recorded beside every run and benchmark."""
from __future__ import annotations

import os
import platform
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


def describe(device: str | None = None) -> dict:
    """Machine, date, load, versions of the installed packages that matter, the thread counts in effect and
    their mode (gpuclust.threads.in_use), and the GPU when there is one."""
    env = {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "load": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
           "threads": in_use(),
           "versions": {p: v for p in PACKAGES if (v := package_version(p)) is not None}}
    if device is not None:
        env["device"] = device
    if gpu_available():
        import cupy

        env["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return env
