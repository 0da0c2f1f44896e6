"""Portable mode: every library that picks its code path by CPU takes the same one on any x86-64 CPU with AVX2.

A fixed thread count makes a run repeat itself on one type of CPU (gpuclust.threads). On another type the
libraries choose other kernels, and so sum in another order: measured on the 2-core AMD VM by pinning each
library to another instruction set in turn (`benchmarks/portable_reference.py --sensitivity`), torch's ATen
kernels (vector width), oneDNN's convolutions and MKL's GEMM each changed the latents, labels and map,
OpenBLAS the map (openTSNE), NumPy the built-in data itself. Portable mode pins all five, before any
of them is loaded (the variables are read at import or first call, so this is decided once, at the CLI's
edge, and inherited by the Dask workers a run starts):

- ATen at its AVX2 kernels, oneDNN at AVX2 at most (`ATEN_CPU_CAPABILITY`, `ONEDNN_MAX_CPU_ISA`);
- MKL at its COMPATIBLE branch (`MKL_CBWR`): the one branch MKL honours on CPUs not made by Intel (AVX2 is
  ignored there: measured, and so documented), SSE2 without the approximate reciprocals;
- OpenBLAS at its Haswell kernels (`OPENBLAS_CORETYPE`), NumPy without its AVX-512 dispatch targets
  (`NPY_DISABLE_CPU_FEATURES`, named as the installed NumPy names them).

It costs speed where a CPU has more than AVX2 (AVX-512, AMX) and MKL's fast branches. What it cannot pin:
blocking chosen by cache size (oneDNN), which only a second type of CPU can show; see the README.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

from .errors import GpuclustError

PINS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Haswell"}
NEEDED_FLAGS = ("avx2", "fma")
LIBRARIES = ("numpy", "torch", "scipy", "sklearn")
ENV = "GPUCLUST_PORTABLE"


def requested() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            line = next((ln for ln in f if ln.startswith("flags")), "")
    except OSError:
        return set()
    return set(line.split(":", 1)[-1].split())


def numpy_targets() -> str:
    """NumPy's dispatch targets beyond AVX2 (1.x: AVX512F ... AVX512_SPR; 2.4: X86_V4, AVX512_ICL, AVX512_SPR),
    read in a child process: this one must not load NumPy yet, and NumPy refuses at import to disable a target
    it does not have."""
    code = ("try:\n import numpy._core._multiarray_umath as m\nexcept ImportError:\n import numpy.core._multiarray_umath as m\n"
            "print(' '.join(t for t in m.__cpu_dispatch__ if t.startswith('AVX512') or t == 'X86_V4'))")
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise GpuclustError(f"portable mode: could not read NumPy's dispatch targets ({r.stderr.strip()[-200:]})")
    return r.stdout.strip()


def enable() -> dict:
    """Set the pins (overriding any the user set) and GPUCLUST_PORTABLE=1; returns them. An error where the CPU
    lacks AVX2 or FMA, or where a library that reads them has been loaded already."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise GpuclustError(f"portable mode pins x86-64 code paths; this machine is {platform.machine()}")
    missing = [f for f in NEEDED_FLAGS if f not in cpu_flags()]
    if missing:
        raise GpuclustError(f"portable mode needs a CPU with {' and '.join(f.upper() for f in NEEDED_FLAGS)}; "
                            f"this one lacks {', '.join(missing).upper()}")
    loaded = [m for m in LIBRARIES if m in sys.modules]
    if loaded:
        raise GpuclustError(f"portable mode must be chosen before {', '.join(loaded)} is loaded: "
                            f"use `gpuclust --portable ...` or set {ENV}=1 before starting Python")
    pins = dict(PINS)
    pins["NPY_DISABLE_CPU_FEATURES"] = numpy_targets()  # empty where NumPy has none: a user's own value goes
    os.environ.update(pins)
    os.environ[ENV] = "1"
    return pins


def active() -> bool:
    """Whether this process runs with the pins in place (set by enable, here or in the parent process)."""
    return requested() and all(os.environ.get(k) == v for k, v in PINS.items())
