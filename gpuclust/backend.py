"""Where the work runs, decided once at the edge and passed inward.

Library code never probes the hardware: it takes arrays (NumPy or CuPy) and
asks `array_namespace` which module they belong to, or it receives a
`Backend` from the command that started it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .errors import GpuclustError


def array_namespace(*arrays) -> ModuleType:
    """NumPy or CuPy, whichever the arrays belong to (CuPy is never imported for NumPy input)."""
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            return sys.modules["cupy"]
    return np


def to_numpy(a) -> np.ndarray:
    """A host copy of a NumPy or CuPy array (no copy for NumPy)."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)


def gpu_available() -> bool:
    """True when CuPy imports and sees a CUDA device; never raises."""
    try:
        import cupy

        return bool(cupy.cuda.is_available())
    except Exception:
        return False


@dataclass(frozen=True)
class Backend:
    """The compute device chosen for a run: 'cpu' (NumPy, scikit-learn) or 'cuda' (CuPy, cuML)."""

    device: str

    @property
    def xp(self) -> ModuleType:
        if self.device == "cuda":
            import cupy

            return cupy
        return np

    @property
    def torch_device(self) -> str:
        return self.device

    def asarray(self, a, dtype=None):
        """Move a host array onto this backend's device."""
        return self.xp.asarray(a, dtype=dtype)


def resolve_backend(device: str = "auto") -> Backend:
    """Turn 'auto' | 'cpu' | 'cuda' into a Backend, checking that a GPU really works."""
    if device not in ("auto", "cpu", "cuda"):
        raise GpuclustError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return Backend("cpu")
    import torch

    works = gpu_available() and torch.cuda.is_available()
    if device == "cuda" and not works:
        raise GpuclustError(
            "--device cuda asked for, but no working CUDA GPU with CuPy and CUDA PyTorch was found "
            "(install the gpu-cu12 or gpu-cu13 extra and a CUDA build of torch, or use --device cpu)"
        )
    return Backend("cuda" if works else "cpu")
