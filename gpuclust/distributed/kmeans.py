"""K-means on a Dask array: gpuclust.KMeans's algorithm (scikit-learn's, transcribed), over partitions.

k-means++ and Lloyd run through `DaskBlocks`: the same draws from the same
`random_state` as one process, so the same start and the same fixed point.
On CuPy partitions with cuML installed, cuml.dask.cluster.KMeans does the
Lloyd iterations, started from those same centres (cuML 26.10 API; tested
against a stand-in module, since cuML cannot run without a GPU).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..backend import has_cuml, namespace, to_numpy
from ..clustering.kmeans import KMeans
from ..clustering.lloyd import lloyd, nearest
from .blocks import DaskBlocks, on
from .validation import check_dask_latents


class DaskKMeans(KMeans):
    """gpuclust.KMeans for Dask arrays (unit sample weights): fit, predict, cluster_centers_, labels_ (lazy)."""

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, verbose=0,
                 random_state=None, copy_x=True, algorithm="lloyd", engine="auto", client=None):
        super().__init__(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                         verbose=verbose, random_state=random_state, copy_x=copy_x, algorithm=algorithm,
                         engine=engine)
        self.client = client

    def fit(self, X, y=None, sample_weight=None):
        if sample_weight is not None:
            raise NotImplementedError("DaskKMeans takes no sample_weight; use gpuclust.KMeans for weighted data")
        x = check_dask_latents(X, self.n_clusters)
        self.n_features_in_ = int(x.shape[1])
        probe = x[:1].compute()
        xp, dev = namespace(probe)
        self._check_params_vs_input_dask(x, xp)
        random_state = check_random_state(self.random_state)
        x_mean = xp.asarray(x.mean(axis=0).compute(), device=dev)
        blocks = DaskBlocks(x - x_mean)
        init = self.init
        if not isinstance(init, str) and not callable(init):
            init = on(np.asarray(to_numpy(init) if hasattr(init, "shape") else init, dtype=np.float64), probe)
            self._validate_center_shape(probe, init)
            init = init - x_mean
        use_cuml = _cupy_partitions(x) and self.engine in ("auto", "cuml") and has_cuml("cuml.dask.cluster")

        def run(centres):
            if use_cuml:
                return self._fit_cuml_dask(blocks.x, centres)
            return lloyd(blocks, centres, self.max_iter, self._tol, self.verbose)

        # the labels come to the client only where restarts are compared
        host_labels = blocks.host_labels if self._n_init > 1 else (lambda labels: None)
        labels, inertia, centres, n_iter, _ = self._best_of_n_init(
            lambda: self._initial_centres(blocks, None, init, random_state, None), run, host_labels)
        self.cluster_centers_ = centres + x_mean
        self._n_features_out = self.cluster_centers_.shape[0]
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        distinct = int(np.unique(blocks.host_labels(labels)).size) if self.n_clusters <= 64 else self.n_clusters
        if distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                          f"({self.n_clusters}). Possibly due to duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)
        return self

    def _check_params_vs_input_dask(self, x, xp):
        self._tol = 0 if self.tol == 0 else float(x.var(axis=0).mean().compute()) * self.tol
        self._n_init = self._resolved_n_init()

    def _initial_centres(self, blocks, xc, init, random_state, w):
        if isinstance(init, str) and init == "random":  # unit weights: uniform draws, as one process's
            seeds = random_state.choice(blocks.n, size=self.n_clusters, replace=False,
                                        p=np.full(blocks.n, 1.0 / blocks.n))
            return blocks.rows(seeds)
        if callable(init):
            raise NotImplementedError("a callable init is not supported on Dask; pass centres as an array")
        return super()._initial_centres(blocks, xc, init, random_state, w)

    def _fit_cuml_dask(self, x, centres):
        """Lloyd on the GPU workers by cuml.dask, from our k-means++ centres (cuML 26.10 API)."""
        from cuml.dask.cluster import KMeans as CuDaskKMeans

        est = CuDaskKMeans(client=self.client, n_clusters=self.n_clusters, init=centres, n_init=1,
                           max_iter=self.max_iter, tol=self.tol, random_state=0)
        est.fit(x)
        labels = est.predict(x)
        return labels, float(est.score(x)) * -1.0, est.cluster_centers_, int(getattr(est, "n_iter_", 0))

    def predict(self, X):
        import dask.array as da

        if isinstance(X, da.Array):
            return X.map_blocks(_predict_block, self.cluster_centers_, drop_axis=1, dtype=np.int64)
        return super().predict(X)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_


def _predict_block(xb, centres):
    return nearest(xb, on(centres, xb))


def _cupy_partitions(x) -> bool:
    meta = getattr(x, "_meta", None)
    return meta is not None and type(meta).__module__.split(".")[0] == "cupy"
