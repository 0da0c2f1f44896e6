"""The Gaussian mixture on a Dask array: the same EM, statistics mapped over partitions.

Each partition turns into its quadratic design once, on its worker, and stays
there (persisted). An iteration sends the small parameters out, computes each
partition's sufficient statistics where it lives, tree-reduces them (K x P
numbers each) and does the M-step once, here. If a worker dies, Dask
recomputes its partitions from the graph and the fit goes on.
"""
from __future__ import annotations

import numpy as np

from ..clustering import em
from ..clustering.gmm import DesignChunks, GaussianMixture
from ..errors import GpuclustError
from .reduce import map_reduce, sample_rows


def _stats_block(phi, p):
    return em.chunk_stats(phi, p)


def _cast(x, dtype):
    return x.astype(dtype, copy=False)


def check_dask_latents(x, k, dtype):
    import dask.array as da

    if not isinstance(x, da.Array):
        raise GpuclustError("DaskGaussianMixture.fit takes a dask.array.Array; use GaussianMixture for in-memory data")
    if x.ndim != 2 or x.shape[1] == 0:
        raise GpuclustError(f"input must be 2-D (samples, features) with features > 0; got shape {x.shape}")
    if k > x.shape[0]:
        raise GpuclustError(f"K = {k} clusters asked for, but input has only {x.shape[0]} samples")
    x = x.rechunk({1: -1}).map_blocks(_cast, dtype, dtype=dtype)
    n_bad = int((~da.isfinite(x).all(axis=1)).sum().compute())
    if n_bad:
        raise GpuclustError(f"input has {n_bad} row(s) with NaN or inf")
    return x


class DaskGaussianMixture(GaussianMixture):
    """Same constructor, fit, predict and attributes as GaussianMixture; fit takes a Dask array.

    Initialisation (when no *_init is given) is fitted on a seeded sample of
    `init_sample` rows; the EM iterations run on all rows.
    """

    init_sample = 100_000

    def fit_predict(self, x, y=None):
        self.fit(x)
        return self.predict(x)

    def fit(self, x, y=None):
        dtype = self.dtype or np.float64
        x = check_dask_latents(x, self.n_components, dtype)
        self._shift = x.mean(axis=0).compute()
        xc = x - self._shift
        d = x.shape[1]
        phi = xc.map_blocks(em.design, chunks=(xc.chunks[0], (d * (d + 1) // 2 + d + 1,)), dtype=dtype).persist()
        pool = sample_rows(xc, self.init_sample, self.random_state or 0)

        def initial(rng):
            return self._initial_params(pool, DesignChunks(pool, self._chunk(pool), 0), rng)

        self._run_em(lambda p: map_reduce(phi, _stats_block, em.combine, p), initial, pool)
        return self

    def _apply(self, x, fn, **kw):
        import dask.array as da

        if isinstance(x, da.Array):
            return x.map_blocks(fn, dtype=kw.get("dtype", x.dtype), **{k: v for k, v in kw.items() if k != "dtype"})
        return fn(x)

    def predict(self, x):
        return self._apply(x, super().predict, drop_axis=1, dtype=np.int64)

    def predict_proba(self, x):
        return self._apply(x, super().predict_proba, chunks=(x.chunks[0], (self.n_components,))
                           if hasattr(x, "chunks") else None)

    def score_samples(self, x):
        return self._apply(x, super().score_samples, drop_axis=1)

    def score(self, x, y=None):
        return float(self.score_samples(x).mean().compute() if hasattr(x, "compute") else super().score(x))

    def bic(self, x):
        import math

        n = x.shape[0]
        return -2 * self.score(x) * n + self._n_parameters() * math.log(n)

    def aic(self, x):
        return -2 * self.score(x) * x.shape[0] + 2 * self._n_parameters()
