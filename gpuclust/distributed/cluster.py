"""Clustering a latent set on Dask: the same estimators, partitioned; only labels come back."""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ..clustering.api import caught_warnings, estimator
from .gmm import DaskGaussianMixture
from .kmeans import DaskKMeans


def fit_dask(client):
    """A `fit` for gpuclust.clustering.api.cluster that partitions the latents across the client's workers."""

    def fit(z, method, k, backend, seed, covariance_type, n_init, train_mask, start=None):
        import dask.array as da

        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        if not isinstance(z, da.Array):
            z = da.from_array(np.asarray(z), chunks=(max(1000, -(-len(z) // (4 * n_workers))), -1))
        z = z.astype(np.float32 if backend.device == "cuda" else np.float64)
        scale = float(z.std().compute()) or 1.0
        x = (z / scale).persist()
        fit_x = x if train_mask is None else x[np.asarray(train_mask)]
        model = estimator(method, k, seed, covariance_type, n_init, classes=(DaskGaussianMixture, DaskKMeans),
                          init=start(scale) if start else None)
        extra = caught_warnings(lambda: model.fit(fit_x))
        extra["dask_workers"] = n_workers
        if method == "gmm":
            probs = to_numpy(model.predict_proba(x).compute())
            labels = probs.argmax(axis=1)
        else:
            labels, probs = to_numpy(model.predict(x).compute()), None
        host = to_numpy(x.compute())  # N x D: small; the metrics use a sample of it
        return model, labels, probs, host, scale, extra

    return fit
