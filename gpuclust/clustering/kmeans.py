"""`gpuclust.KMeans`: scikit-learn's KMeans, extended to GPU and other array libraries.

It *is* scikit-learn's estimator (a subclass): on NumPy arrays, sparse matrices,
lists and DataFrames every call goes to scikit-learn unchanged. Arrays of
other libraries (CuPy, PyTorch on CPU or CUDA, any array-API array) stay in
their namespace and on their device: they are seeded by the array-API
transcription of scikit-learn's k-means++ (gpuclust.clustering.lloyd), so the
same `random_state` gives the same start as on NumPy, and then iterate with
that module's Lloyd (or with cuML's Lloyd on CuPy when cuML is installed,
started from those same centres). Results come back in the input's namespace.

cuML cannot run without a GPU: its use below follows cuML's documented API
(cuml.cluster.KMeans, 26.10) exactly and is tested against a stand-in module.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans as _SkKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backend import has_cuml, host_or_same, is_numpy, namespace, to_numpy
from .gpu_lloyd import lloyd_deferred
from .lloyd import LocalBlocks, kmeans_plusplus, lloyd, nearest, same_clustering
from .validation import check_data, native_input, same_namespace

ENGINES = ("auto", "sklearn", "array_api", "cuml")


class KMeans(_SkKMeans):
    """K-means clustering: scikit-learn's KMeans on NumPy, the same algorithm on any array library.

    Parameters are scikit-learn's, plus `engine`:
      "auto"      scikit-learn for NumPy / sparse / array-likes; for CuPy arrays cuML's Lloyd when cuML is
                  installed, else gpuclust's array-API Lloyd; gpuclust's array-API Lloyd for other libraries.
      "sklearn"   always scikit-learn (other arrays are copied to the host).
      "array_api" gpuclust's transcription of scikit-learn's algorithm, on any array library (NumPy included).
      "cuml"      cuML's Lloyd on CuPy arrays, from gpuclust's k-means++ start.
    """

    _parameter_constraints: dict = {**_SkKMeans._parameter_constraints, "engine": [StrOptions(set(ENGINES))]}

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4, verbose=0,
                 random_state=None, copy_x=True, algorithm="lloyd", engine="auto"):
        super().__init__(n_clusters=n_clusters, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                         verbose=verbose, random_state=random_state, copy_x=copy_x, algorithm=algorithm)
        self.engine = engine

    # -- which implementation ---------------------------------------------------
    def _engine_for(self, x) -> str:
        native = native_input(x)
        if self.engine == "sklearn" or (self.engine == "auto" and not native) or sp.issparse(x):
            return "sklearn"
        if self.engine == "auto":
            xp, _ = namespace(x)
            return "cuml" if _is_cupy(xp) and has_cuml() else "array_api"
        return self.engine

    def _native_state(self) -> bool:
        return hasattr(self, "cluster_centers_") and not isinstance(self.cluster_centers_, np.ndarray)

    def _uses_native(self, x) -> bool:
        return native_input(x) or self._native_state()

    # -- fitting --------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        engine = self._engine_for(X)
        if engine == "sklearn":
            X = to_numpy(X) if native_input(X) else X
            if sample_weight is not None and native_input(sample_weight):
                sample_weight = to_numpy(sample_weight)
            return super().fit(X, y, sample_weight=sample_weight)
        self._validate_params()
        X = check_data(self, X, reset=True)
        xp, dev = namespace(X)
        self._check_params_vs_input_xp(X, xp)
        random_state = check_random_state(self.random_state)
        n, _ = X.shape
        w = self._sample_weight(sample_weight, n, xp, dev, X.dtype)
        init = self.init
        init_is_array = not isinstance(init, str) and not callable(init)
        if init_is_array:
            init = xp.asarray(host_or_same(init, xp), dtype=X.dtype, device=dev, copy=True)
            self._validate_center_shape(X, init)
        # Subtract the mean for more accurate distances, as scikit-learn does.
        x_mean = xp.mean(X, axis=0)
        xc = X - x_mean
        if init_is_array:
            init = init - x_mean
        blocks = LocalBlocks(xc, w)
        if engine == "cuml":
            def run(centres):
                return self._fit_cuml(xc, w, centres)
        else:
            iterate = lloyd if is_numpy(xp) else lloyd_deferred  # same results; no host wait per iteration

            def run(centres):
                return iterate(blocks, centres, self.max_iter, self._tol, self.verbose)
        labels, inertia, centres, n_iter, host = self._best_of_n_init(
            lambda: self._initial_centres(blocks, xc, init, random_state, w), run, to_numpy)
        distinct = len(np.unique(host))
        if distinct < self.n_clusters:
            warnings.warn(f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                          f"({self.n_clusters}). Possibly due to duplicate points in X.", ConvergenceWarning,
                          stacklevel=2)
        self.cluster_centers_ = centres + x_mean
        self._n_features_out = self.cluster_centers_.shape[0]
        self.labels_ = xp.astype(labels, xp.int32)
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self._n_threads = _n_threads()
        return self

    def _best_of_n_init(self, start, run, host_labels):
        """scikit-learn's restarts: `self._n_init` runs `run(start())`, each giving (labels, inertia, centres,
        n_iter); the one of least inertia is kept unless it is the same clustering as the best so far.
        Returns the best run's four and its labels on the host (`host_labels(labels)`)."""
        best = None
        for _ in range(self._n_init):
            centres = start()
            if self.verbose:
                print("Initialization complete")
            labels, inertia, centres, n_iter = run(centres)
            host = host_labels(labels)
            if best is None or (inertia < best[1] and not same_clustering(host, best[4], self.n_clusters)):
                best = (labels, inertia, centres, n_iter, host)
        return best

    def _check_params_vs_input_xp(self, x, xp):
        """scikit-learn's `_check_params_vs_input`, with the tolerance computed in the input's namespace."""
        if x.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={x.shape[0]} should be >= n_clusters={self.n_clusters}.")
        self._tol = 0 if self.tol == 0 else float(xp.mean(xp.var(x, axis=0))) * self.tol
        self._n_init = self._resolved_n_init()
        if self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn("algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                          RuntimeWarning, stacklevel=3)
        self._algorithm = "lloyd"  # Elkan's triangle-inequality bounds give the same result; one Lloyd serves both

    def _resolved_n_init(self) -> int:
        """scikit-learn's rule: "auto" is one start for k-means++ and given centres, ten for the others;
        given centres are started from once, with a warning if more starts were asked for."""
        given = not isinstance(self.init, str) and not callable(self.init)
        n_init = self.n_init
        if n_init == "auto":
            n_init = 10 if not given and self.init != "k-means++" else 1
        if given and n_init != 1:
            warnings.warn(f"Explicit initial center position passed: performing only one init in "
                          f"{type(self).__name__} instead of n_init={n_init}.", RuntimeWarning, stacklevel=4)
            n_init = 1
        return n_init

    @staticmethod
    def _sample_weight(sample_weight, n, xp, dev, dtype):
        """scikit-learn's `_check_sample_weight` rules and messages, in the data's namespace."""
        if sample_weight is None:
            return xp.ones(n, dtype=dtype, device=dev)
        if isinstance(sample_weight, (int, float)):
            w = xp.full(n, float(sample_weight), dtype=dtype, device=dev)
        else:
            w = xp.astype(xp.asarray(host_or_same(sample_weight, xp), device=dev), dtype)
            if w.ndim != 1:
                raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. Expected either "
                                 f"a scalar value or a 1D array of length {n}.")
            if w.shape[0] != n:
                raise ValueError(f"sample_weight.shape == {tuple(w.shape)}, expected ({n},)!")
        if bool(xp.all(w == 0)):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return w

    def _initial_centres(self, blocks, xc, init, random_state, w):
        if isinstance(init, str) and init == "k-means++":
            return kmeans_plusplus(blocks, self.n_clusters, random_state)[0]
        if isinstance(init, str) and init == "random":
            wh = blocks.weights_host()
            seeds = random_state.choice(blocks.n, size=self.n_clusters, replace=False, p=wh / wh.sum())
            return blocks.rows(seeds)
        if callable(init):
            xp, dev = namespace(xc)
            centres = xp.asarray(init(xc, self.n_clusters, random_state=random_state), dtype=xc.dtype, device=dev)
            self._validate_center_shape(xc, centres)
            return centres
        return init

    def _fit_cuml(self, xc, w, centres):
        """One Lloyd run on the GPU by cuML, started from our k-means++ centres (cuML 26.10 API)."""
        import cuml

        est = cuml.cluster.KMeans(n_clusters=self.n_clusters, init=centres, n_init=1, max_iter=self.max_iter,
                                  tol=self.tol, random_state=0, output_type="cupy")
        est.fit(xc, sample_weight=w, convert_dtype=False)
        return est.labels_, float(est.inertia_), est.cluster_centers_, int(est.n_iter_)

    @classmethod
    def from_centres(cls, centres):
        """A fitted K-means from saved centres (a run's model), ready for predict."""
        km = cls(len(centres))
        km.cluster_centers_ = centres
        km.n_features_in_ = centres.shape[1]
        km._n_features_out = centres.shape[0]
        km._n_threads = _n_threads()
        return km

    # -- using a fitted model -----------------------------------------------------------
    def _native_args(self, X, method: str):
        check_is_fitted(self)
        same_namespace(X, self, "cluster_centers_", method)
        X = check_data(self, X, reset=False)
        xp, dev = namespace(X)
        centres = xp.asarray(host_or_same(self.cluster_centers_, xp), device=dev)
        return X, xp.astype(centres, X.dtype), xp

    def predict(self, X):
        if not self._uses_native(X):
            return super().predict(X)
        X, centres, xp = self._native_args(X, "predict")
        return xp.astype(nearest(X, centres), xp.int32)

    def transform(self, X):
        if not self._uses_native(X):
            return super().transform(X)
        X, centres, xp = self._native_args(X, "transform")
        return self._distances(X, centres, xp)

    def _transform(self, X):
        if not self._uses_native(X):
            return super()._transform(X)
        X, centres, xp = self._native_args(X, "transform")
        return self._distances(X, centres, xp)

    @staticmethod
    def _distances(X, centres, xp):
        from .lloyd import squared_distances

        return xp.sqrt(xp.matrix_transpose(squared_distances(centres, X, xp.sum(X * X, axis=1))))

    def score(self, X, y=None, sample_weight=None):
        if not self._uses_native(X):
            return super().score(X, y, sample_weight=sample_weight)
        X, centres, xp = self._native_args(X, "score")
        _, dev = namespace(X)
        w = self._sample_weight(sample_weight, X.shape[0], xp, dev, X.dtype)
        return -LocalBlocks(X, w).inertia(centres, nearest(X, centres))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags


def _n_threads() -> int:
    """The thread count scikit-learn's own predict uses (it reads it from the fitted estimator)."""
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        return _openmp_effective_n_threads()
    except ImportError:  # a scikit-learn that moved it: any positive count works
        import os

        return os.cpu_count() or 1


def _is_cupy(xp) -> bool:
    import array_api_compat

    return array_api_compat.is_cupy_namespace(xp)
