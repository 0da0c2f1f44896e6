"""`gpuclust.KMeans`: cuML's KMeans for CuPy input, scikit-learn's for NumPy, one surface.

The wrapper is thin on purpose: cuML cannot run on a machine without a GPU, so
its calls follow cuML's documented API (cuml.cluster.KMeans, 26.10) exactly
and are tested against a stand-in module that checks them.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..backend import array_namespace
from .validation import check_latents


class KMeans:
    """K-means on NumPy (scikit-learn, Lloyd) or CuPy (cuML) arrays: the input decides.

    engine: "auto" (scikit-learn for NumPy, cuML for CuPy, gpuclust's own Lloyd
    iterations on CuPy when cuML is not installed), "sklearn", "cuml" or "lloyd".
    Fitted attributes: cluster_centers_, labels_, inertia_, n_iter_, in the input's namespace.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=None,
                 engine="auto"):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.engine = engine

    def _engine(self, xp):
        engine = self.engine
        if engine == "auto":
            engine = "sklearn" if xp is np else ("cuml" if _has_cuml() else "lloyd")
            if engine == "lloyd":
                warnings.warn("cuML is not installed: K-means runs gpuclust's own Lloyd iterations on the GPU",
                              stacklevel=3)
        if engine == "lloyd":
            return Lloyd(self.n_clusters, self.init, self.n_init, self.max_iter, self.tol, self.random_state)
        if engine == "sklearn":
            from sklearn.cluster import KMeans as SkKMeans

            return SkKMeans(n_clusters=self.n_clusters, init=self.init, n_init=self.n_init,
                            max_iter=self.max_iter, tol=self.tol, random_state=self.random_state)
        import cuml

        init = "scalable-k-means++" if isinstance(self.init, str) and self.init == "k-means++" else self.init
        return cuml.cluster.KMeans(n_clusters=self.n_clusters, init=init, n_init=self.n_init,
                                   max_iter=self.max_iter, tol=self.tol, random_state=self.random_state,
                                   output_type="cupy")

    def fit(self, x, y=None):
        x = check_latents(x, self.n_clusters)
        xp = array_namespace(x)
        est = self._engine(xp).fit(x)
        self._est = est
        self.cluster_centers_ = xp.asarray(est.cluster_centers_)
        self.labels_ = xp.asarray(est.labels_)
        self.inertia_ = float(est.inertia_)
        self.n_iter_ = int(est.n_iter_)
        return self

    def fit_predict(self, x, y=None):
        return self.fit(x).labels_

    def predict(self, x):
        x = check_latents(x)
        return array_namespace(x).asarray(self._est.predict(x))


def kmeans_plusplus(x, k: int, rng: np.random.Generator):
    """k-means++ seeding (Arthur & Vassilvitskii 2007), vectorised over samples, NumPy or CuPy."""
    xp = array_namespace(x)
    n = len(x)
    centres = [x[int(rng.integers(n))]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        p = np.asarray(d2.get() if xp is not np else d2, dtype=np.float64)
        total = p.sum()
        i = int(rng.choice(n, p=p / total)) if total > 0 else int(rng.integers(n))
        centres.append(x[i])
        d2 = xp.minimum(d2, ((x - x[i]) ** 2).sum(axis=1))
    return xp.stack(centres)


def _has_cuml() -> bool:
    try:
        import cuml  # noqa: F401

        return True
    except Exception:
        return False


def lloyd_stats(x, centres):
    """Counts, sums and inertia of the samples x under the current centres (additive over chunks)."""
    from .gmm import nearest

    xp = array_namespace(x)
    k = centres.shape[0]
    lab = nearest(x, centres)
    oh = xp.zeros((x.shape[0], k), dtype=x.dtype)
    oh[xp.arange(x.shape[0]), lab] = 1
    return oh.sum(axis=0), oh.T @ x, float(((x - centres[lab]) ** 2).sum())


def lloyd_update(centres, counts, sums):
    """New centres (an empty cluster keeps its centre) and the squared distance they moved."""
    xp = array_namespace(centres)
    new = xp.where((counts > 0)[:, None], sums / xp.maximum(counts, 1)[:, None], centres)
    return new, float(((new - centres) ** 2).sum())


def lloyd(stats, centres, max_iter: int, tol: float):
    """Lloyd iterations given a function stats(centres) -> (counts, sums, inertia) over all samples.

    One process passes the samples themselves; Dask passes a map-reduce over partitions.
    Stops, as scikit-learn does, when the centres move by at most tol (squared).
    """
    it = 0
    for it in range(1, max_iter + 1):
        counts, sums, _ = stats(centres)
        centres, shift = lloyd_update(centres, counts, sums)
        if shift <= tol:
            break
    return centres, stats(centres)[2], it


class Lloyd:
    """Lloyd's K-means in the array namespace of its input (NumPy or CuPy), k-means++ seeded."""

    def __init__(self, n_clusters, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=None):
        self.n_clusters, self.init, self.n_init = n_clusters, init, n_init
        self.max_iter, self.tol, self.random_state = max_iter, tol, random_state

    def fit(self, x):
        xp = array_namespace(x)
        rng = np.random.default_rng(self.random_state)
        tol = self.tol * float(x.var(axis=0).mean())  # scikit-learn's scale of tol
        best = None
        for _ in range(self.n_init):
            c = kmeans_plusplus(x, self.n_clusters, rng) if isinstance(self.init, str) else \
                xp.asarray(self.init, dtype=x.dtype)
            c, inertia, it = lloyd(lambda cc: lloyd_stats(x, cc), c, self.max_iter, tol)
            if best is None or inertia < best[0]:
                best = (inertia, c, it)
        self.inertia_, self.cluster_centers_, self.n_iter_ = best
        self.labels_ = self.predict(x)
        return self

    def predict(self, x):
        from .gmm import nearest

        return nearest(x, self.cluster_centers_)
