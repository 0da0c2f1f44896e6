"""`gpuclust.KMeans`: cuML's KMeans for CuPy input, scikit-learn's for NumPy, one surface.

The wrapper is thin on purpose: cuML cannot run on a machine without a GPU, so
its calls follow cuML's documented API (cuml.cluster.KMeans, 26.10) exactly
and are tested against a stand-in module that checks them.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_namespace
from .validation import check_latents


class KMeans:
    """K-means on NumPy (scikit-learn, Lloyd) or CuPy (cuML) arrays: the input decides.

    Fitted attributes: cluster_centers_, labels_, inertia_, n_iter_, in the input's namespace.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _engine(self, xp):
        if xp is np:
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
