"""Where the work runs, decided once at the edge and passed inward.

Library code never probes the hardware: it takes arrays (NumPy, CuPy, ...) and
asks `namespace` which library they belong to, or it receives a `Backend` from
the command that started it (gpuclust.distributed.client.open_backend).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .errors import GpuclustError


def to_numpy(a) -> np.ndarray:
    """A host NumPy array of any array (no copy for NumPy): CuPy, PyTorch (CPU or CUDA), array-API arrays."""
    if isinstance(a, np.ndarray):
        return a
    root = type(a).__module__.split(".")[0]
    if root == "cupy":
        return a.get()
    if root == "torch":
        return a.detach().cpu().numpy()
    if hasattr(a, "__dlpack__") and not np.isscalar(a):
        try:
            return np.from_dlpack(a)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass
    return np.asarray(a)


def namespace(*arrays):
    """(xp, device): the array-API namespace the arrays belong to and the device of the first.

    NumPy, CuPy and PyTorch come wrapped by array-api-compat, so one code path written
    against the array API standard runs on all of them (and on array-api-strict in tests).
    Python scalars and None are ignored; no arrays at all means NumPy on the CPU.
    """
    import array_api_compat

    arrs = [a for a in arrays if a is not None and not isinstance(a, (bool, int, float, complex, str))]
    if not arrs:
        return array_api_compat.array_namespace(np.empty(0)), "cpu"
    return array_api_compat.array_namespace(*arrs), array_api_compat.device(arrs[0])


def is_numpy(xp) -> bool:
    """True for NumPy and array-api-compat's NumPy wrapper."""
    import array_api_compat

    return array_api_compat.is_numpy_namespace(xp)


def is_array(a) -> bool:
    """True for an array of an array-API library (NumPy included); False for lists, DataFrames, scalars."""
    import array_api_compat

    return array_api_compat.is_array_api_obj(a) and not np.isscalar(a)


def host_or_same(a, xp):
    """`a` itself if it already belongs to namespace xp, else a host (NumPy) array that xp.asarray takes."""
    if is_array(a) and namespace(a)[0] is xp:
        return a
    return to_numpy(a) if is_array(a) else np.asarray(a)


def one_hot(labels, k: int, dtype):
    """(n, k) indicators of integer labels, in their namespace and on their device (-1: a row of zeros)."""
    xp, dev = namespace(labels)
    return xp.astype(labels[:, None] == xp.arange(k, device=dev)[None, :], dtype)


def gpu_available() -> bool:
    """True when CuPy imports and sees a CUDA device; never raises."""
    try:
        import cupy

        return bool(cupy.cuda.is_available())
    except Exception:
        return False


def has_cuml(module: str = "cuml") -> bool:
    """True when cuML (or one of its modules) imports; never raises. The one place cuML is looked for."""
    try:
        import importlib

        importlib.import_module(module)
        return True
    except Exception:
        return False


def float_dtype_of(device: str):
    # GPUs run float32 at many times float64's speed (consumer cards 32-64x); EM is written to be
    # accurate in float32 (gpuclust.clustering.em), and the CPU keeps float64, as scikit-learn does.
    return np.float32 if device == "cuda" else np.float64


def device_here() -> str:
    """'cuda' where this process has a working GPU for both CuPy and PyTorch, else 'cpu'; never raises.

    CuPy is asked first, so a machine without it never imports PyTorch to answer (a Dask worker asked
    by gpuclust.distributed.client.open_backend answers quickly)."""
    if not gpu_available():
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:
        return "cpu"


@dataclass(frozen=True)
class Backend:
    """Where a run computes, decided once at the edge (the CLI) and passed to everything below it.

    device: 'cpu' (NumPy, scikit-learn, openTSNE) or 'cuda' (CuPy, cuML where installed).
    client: a distributed.Client when latents are partitioned on Dask workers, else None.
    worker_device: with a client, the device the Dask workers encode on ('cpu' or 'cuda'), asked of the
        workers themselves once when the client is opened (gpuclust.distributed.client.open_backend): a
        login node without a GPU can drive GPU workers. None without a client.
    cuml: cuML was found (only ever True with device 'cuda').
    estimators: the (Gaussian mixture, K-means) classes to fit with; one surface, so callers never ask
        which: gpuclust's own for one process, gpuclust.distributed's when there is a client
        (None means gpuclust's own; gpuclust.distributed.client.open_backend fills it in).
    """

    device: str = "cpu"
    client: object = None
    cuml: bool = False
    estimators: tuple | None = None
    worker_device: str | None = None

    @property
    def float_dtype(self):
        return float_dtype_of(self.device)

    @property
    def latent_device(self) -> str:
        """Where the encoded latents are kept and clustered: this process's device, or with a client the
        partitions' on the workers. Those are CuPy arrays only when the workers and this process both
        have GPUs: the client receives partitions, means and labels, and CuPy arrays cannot arrive on a
        machine without a GPU. GPU workers driven from a CPU-only machine encode on their GPUs and keep
        the latents as NumPy in their host memory (the clustering then runs in NumPy on the workers)."""
        if self.client is None:
            return self.device
        return "cuda" if self.worker_device == "cuda" and self.device == "cuda" else "cpu"

    @property
    def latent_dtype(self):
        """The float dtype the latents are clustered in, where they are kept (latent_device)."""
        return float_dtype_of(self.latent_device)

    @property
    def xp(self) -> ModuleType:
        if self.device == "cuda":
            import cupy

            return cupy
        return np

    @property
    def n_workers(self) -> int:
        """Dask workers (1 without a client)."""
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def asarray(self, a, dtype=None):
        """Move a host array onto this backend's device."""
        return self.xp.asarray(a, dtype=dtype)


def resolve_backend(device: str = "auto") -> Backend:
    """Turn 'auto' | 'cpu' | 'cuda' into a Backend (one process), checking that a GPU really works."""
    if device not in ("auto", "cpu", "cuda"):
        raise GpuclustError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return Backend("cpu")
    works = device_here() == "cuda"
    if device == "cuda" and not works:
        raise GpuclustError(
            "--device cuda asked for, but no working CUDA GPU with CuPy and CUDA PyTorch was found "
            "(install the gpu-cu12 or gpu-cu13 extra and a CUDA build of torch, or use --device cpu)"
        )
    return Backend("cuda", cuml=has_cuml()) if works else Backend("cpu")
