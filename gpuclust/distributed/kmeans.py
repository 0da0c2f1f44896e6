"""K-means on a Dask array: cuML's multi-GPU KMeans on GPU workers, else Lloyd steps by partition statistics."""
from __future__ import annotations

import numpy as np

from ..backend import array_namespace
from ..clustering.gmm import nearest
from ..clustering.kmeans import kmeans_plusplus, lloyd, lloyd_stats
from .gmm import check_dask_latents
from .reduce import map_reduce, sample_rows


def _combine(parts):
    parts = list(parts)
    n, s, i = parts[0][0].copy(), parts[0][1].copy(), parts[0][2]
    for a, b, c in parts[1:]:
        n += a
        s += b
        i += c
    return n, s, i


class DaskKMeans:
    """Same arguments and attributes as gpuclust.KMeans; fit takes a Dask array.

    With CuPy partitions and cuML installed, cuml.dask.cluster.KMeans does the
    work; otherwise Lloyd iterations run as partition statistics, seeded with
    k-means++ on a sample (or `init` centres given as an array).
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=None,
                 client=None, init_sample=100_000):
        self.n_clusters, self.init, self.n_init, self.max_iter = n_clusters, init, n_init, max_iter
        self.tol, self.random_state, self.client, self.init_sample = tol, random_state, client, init_sample

    def fit(self, x, y=None):
        x = check_dask_latents(x, self.n_clusters, np.float32 if _cupy_chunks(x) else np.float64)
        if _cupy_chunks(x) and _has_cuml_dask():
            return self._fit_cuml(x)
        rng = np.random.default_rng(self.random_state)
        sample = sample_rows(x, self.init_sample, int(rng.integers(2**31 - 1)))
        xp = array_namespace(sample)
        if isinstance(self.init, str):
            centres = kmeans_plusplus(sample, self.n_clusters, rng)
        else:
            centres = xp.asarray(self.init, dtype=sample.dtype)
        tol = self.tol * float(sample.var(axis=0).mean())  # scikit-learn's scale of tol
        self.cluster_centers_, self.inertia_, self.n_iter_ = lloyd(
            lambda c: map_reduce(x, lloyd_stats, _combine, c), centres, self.max_iter, tol)
        return self

    def _fit_cuml(self, x):
        from cuml.dask.cluster import KMeans as CuDaskKMeans

        est = CuDaskKMeans(client=self.client, n_clusters=self.n_clusters, init="scalable-k-means++",
                           n_init=self.n_init, max_iter=self.max_iter, tol=self.tol, random_state=self.random_state)
        est.fit(x)
        self._cuml = est
        self.cluster_centers_ = est.cluster_centers_
        self.inertia_ = float(est.inertia_) if hasattr(est, "inertia_") else float("nan")
        self.n_iter_ = int(getattr(est, "n_iter_", 0))
        return self

    def predict(self, x):
        if hasattr(self, "_cuml"):
            return self._cuml.predict(x)
        return x.map_blocks(nearest, self.cluster_centers_, drop_axis=1, dtype=np.int64)

    def fit_predict(self, x, y=None):
        return self.fit(x).predict(x)


def _cupy_chunks(x) -> bool:
    meta = getattr(x, "_meta", None)
    return meta is not None and type(meta).__module__.split(".")[0] == "cupy"


def _has_cuml_dask() -> bool:
    try:
        import cuml.dask.cluster  # noqa: F401

        return True
    except Exception:
        return False
