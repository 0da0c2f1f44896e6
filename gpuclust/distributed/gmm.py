"""The Gaussian mixture on a Dask array: gpuclust.GaussianMixture's EM loop, statistics mapped over partitions.

Each partition turns into its quadratic design once, on its worker, and stays
there (persisted). An iteration sends the small parameters out, computes each
partition's sufficient statistics where it lives, tree-reduces them (K x P
numbers each) and does the M-step once, here. The initialisation is the one
scikit-learn would run on all the rows (k-means, k-means++, random), drawn
from the same `random_state`, so the fit starts and ends where the
one-process fit does. If a worker dies, Dask recomputes its partitions from
the graph and the fit goes on.
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..clustering.gmm import GaussianMixture
from .blocks import DaskData
from .validation import check_dask_latents
from .kmeans import DaskKMeans
from .reduce import map_reduce  # noqa: F401  (tests interpose on it to kill a worker mid-fit)


class DaskGaussianMixture(GaussianMixture):
    """gpuclust.GaussianMixture for Dask arrays: same constructor, fit, predict and fitted attributes.

    fit takes a Dask array of NumPy or CuPy partitions; predict, predict_proba and
    score_samples take a Dask array (and return one) or an in-memory array.
    """

    def fit(self, X, y=None):
        self._validate_params()
        x = check_dask_latents(X, self.n_components)
        probe = x[:1].compute()
        self.n_features_in_ = int(x.shape[1])
        inits = self._checked_inits(probe)
        xp, dev = namespace(probe)
        shift = xp.asarray(x.mean(axis=0).compute(), device=dev)
        data = DaskData(x, shift, kmeans_factory=DaskKMeans)
        self._em(data, inits, shift)
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X).predict(X)

    def _apply(self, x, fn, **kw):
        import dask.array as da

        if isinstance(x, da.Array):
            return x.map_blocks(fn, **kw)
        return fn(x)

    def predict(self, X):
        return self._apply(X, super().predict, drop_axis=1, dtype=np.int64)

    def predict_proba(self, X):
        return self._apply(X, super().predict_proba, dtype=X.dtype,
                           chunks=(X.chunks[0], (self.n_components,)) if hasattr(X, "chunks") else None)

    def score_samples(self, X):
        return self._apply(X, super().score_samples, drop_axis=1, dtype=X.dtype)

    def score(self, X, y=None):
        s = self.score_samples(X)
        return float(s.mean().compute()) if hasattr(s, "compute") else float(np.mean(s))
