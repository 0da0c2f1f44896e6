"""Input checks shared by the clustering estimators."""
from __future__ import annotations

from ..backend import array_namespace
from ..errors import GpuclustError


def check_latents(x, k: int | None = None, dtype=None, what: str = "input"):
    """A 2-D finite float array with at least k rows, in its own namespace (NumPy or CuPy)."""
    xp = array_namespace(x)
    x = xp.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in (xp.float32, xp.float64) else xp.float64
    x = x.astype(dtype, copy=False)
    if x.ndim != 2:
        raise GpuclustError(f"{what} must be 2-D (samples, features); got shape {tuple(x.shape)}")
    n, d = x.shape
    if d == 0:
        raise GpuclustError(f"{what} has 0 features (shape {tuple(x.shape)})")
    if n == 0:
        raise GpuclustError(f"{what} has 0 samples")
    if k is not None and k > n:
        raise GpuclustError(f"K = {k} clusters asked for, but {what} has only {n} samples")
    if k is not None and k < 1:
        raise GpuclustError(f"K must be at least 1, got {k}")
    bad = ~xp.isfinite(x).all(axis=1)
    n_bad = int(bad.sum())
    if n_bad:
        first = int(xp.flatnonzero(bad)[0])
        raise GpuclustError(f"{what} has {n_bad} row(s) with NaN or inf (first: row {first})")
    return xp.ascontiguousarray(x)
