"""The check every Dask estimator makes of its input, with scikit-learn's kind of one-line errors."""
from __future__ import annotations

import numpy as np

from ..errors import GpuclustError


def check_dask_latents(x, k):
    """A 2-D float Dask array with at least k finite rows; one-line errors otherwise."""
    import dask.array as da

    if not isinstance(x, da.Array):
        raise GpuclustError("the Dask estimators take a dask.array.Array; use gpuclust.GaussianMixture or "
                            "gpuclust.KMeans for in-memory data")
    if x.ndim != 2 or x.shape[1] == 0:
        raise GpuclustError(f"input must be 2-D (samples, features) with features > 0; got shape {x.shape}")
    if k > x.shape[0]:
        raise GpuclustError(f"K = {k} clusters asked for, but input has only {x.shape[0]} samples")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    x = x.rechunk({1: -1})
    n_bad = int((~da.isfinite(x).all(axis=1)).sum().compute())
    if n_bad:
        raise GpuclustError(f"input has {n_bad} row(s) with NaN or inf")
    return x
