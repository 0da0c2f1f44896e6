"""`gpuclust.GaussianMixture`: scikit-learn's estimator surface, one EM code path for NumPy and CuPy."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import array_namespace, to_numpy
from ..errors import GpuclustError
from . import em
from .validation import check_latents

INIT_PARAMS = ("kmeans", "k-means++", "random")


class GaussianMixture:
    """Gaussian mixture fitted by EM on NumPy (CPU) or CuPy (GPU) arrays: the input decides.

    Arguments and fitted attributes are scikit-learn's. `chunk_size` bounds the
    memory of one E-step (rows at a time; by default 8,192 on NumPy, which keeps
    a chunk in cache, and 1,048,576 on CuPy, where kernel launches, not memory,
    are the cost); `dtype` defaults to float64 for
    NumPy input and float32 for CuPy input. The quadratic design of the data
    (see `em`) is kept between iterations while it needs less than
    `design_cache_bytes`, and rebuilt chunk by chunk otherwise.
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100,
                 n_init=1, init_params="kmeans", weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, chunk_size=None, dtype=None,
                 design_cache_bytes=2**31):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.design_cache_bytes = design_cache_bytes

    # -- fitting ------------------------------------------------------------
    def _check(self, x):
        if self.covariance_type not in em.COVARIANCE_TYPES:
            raise GpuclustError(f"covariance_type must be one of {em.COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.init_params not in INIT_PARAMS:
            raise GpuclustError(f"init_params must be one of {INIT_PARAMS}, got {self.init_params!r}")
        if self.n_init < 1 or self.max_iter < 1:
            raise GpuclustError("n_init and max_iter must be at least 1")
        xp = array_namespace(x)
        dtype = self.dtype or (np.float32 if xp is not np else np.float64)
        return check_latents(x, self.n_components, dtype=dtype)

    def _chunk(self, x) -> int:
        return self.chunk_size or (8192 if array_namespace(x) is np else 1 << 20)

    def _stats(self, chunks, p):
        a, const = em.quadratic_coefficients(p), em.log_norm_const(p)
        return em.combine(em.chunk_stats(phi, p, a, const) for phi in chunks)

    def fit(self, x, y=None):
        self.fit_predict(x)
        return self

    def fit_predict(self, x, y=None):
        x = self._check(x)
        # Centre once: the likelihood does not change, and second moments about the mean lose
        # far less precision (it matters in float32 on the GPU).
        self._shift = x.mean(axis=0)
        xc = x - self._shift
        chunks = DesignChunks(xc, self._chunk(xc), self.design_cache_bytes)
        self._run_em(lambda p: self._stats(chunks, p), lambda rng: self._initial_params(xc, chunks, rng), xc)
        return self.predict(x)

    def _run_em(self, stats, initial, pool):
        """The EM loop, whatever computes the statistics (chunks here, partitions on Dask).

        stats(params) -> combined Stats over all samples; initial(rng) -> Params;
        pool: centred samples (all, or a sample) from which emptied components are re-seeded.
        """
        rng = np.random.default_rng(self.random_state)
        warm = self.warm_start and hasattr(self, "_params")
        best = None
        for _ in range(1 if warm else self.n_init):
            p = self._params if warm else initial(rng)
            lb, converged, n_iter = -np.inf, False, 0
            for n_iter in range(1, self.max_iter + 1):
                prev = lb
                st = stats(p)
                lb = st.loglik / st.n
                p = self._update(st, pool, rng)
                if self.verbose:
                    print(f"  EM iteration {n_iter}: lower bound {lb:.6f}")
                if abs(lb - prev) < self.tol:
                    converged = True
                    break
            if best is None or lb > best[0]:
                best = (lb, p, converged, n_iter)
        lb, p, converged, n_iter = best
        if not converged:
            warnings.warn(f"EM did not converge in {self.max_iter} iterations; raise max_iter or tol", stacklevel=3)
        self._params, self.converged_, self.n_iter_, self.lower_bound_ = p, converged, n_iter, float(lb)
        self._publish(array_namespace(p.means))

    def _update(self, st, xc, rng):
        """M-step; components that lost all their samples are re-seeded on the worst-fitted points."""
        weights, means, cov = em.m_step(st, self.covariance_type, self.reg_covar)
        xp = array_namespace(means)
        empty = to_numpy(st.nk) < max(2.0, 1e-6 * st.n)
        if empty.any():
            warnings.warn(f"{int(empty.sum())} mixture component(s) emptied and were re-seeded", stacklevel=3)
            idx = rng.choice(len(xc), int(empty.sum()), replace=False)
            means[xp.asarray(np.flatnonzero(empty))] = xc[xp.asarray(idx)]
            weights = weights + xp.asarray(empty.astype(float) / len(empty), dtype=weights.dtype)
            weights /= weights.sum()
            if self.covariance_type in ("full", "diag", "spherical"):
                glob = xc.var(axis=0) + self.reg_covar
                fill = {"full": xp.diag(glob), "diag": glob, "spherical": glob.mean()}[self.covariance_type]
                cov[xp.asarray(np.flatnonzero(empty))] = fill
        self._cov = cov
        return em.params_from(weights, means, cov, self.covariance_type)

    def _initial_params(self, xc, chunks, rng):
        xp = array_namespace(xc)
        n, d = xc.shape
        k = self.n_components
        resp = self._initial_resp(xc, rng)
        c = self._chunk(xc)
        st = em.combine(em.initial_stats(phi, resp[i:i + c], d) for i, phi in zip(range(0, n, c), chunks))
        weights, means, cov = em.m_step(st, self.covariance_type, self.reg_covar)
        if self.weights_init is not None:
            weights = xp.asarray(self.weights_init, dtype=xc.dtype)
            if weights.shape != (k,) or bool((weights < 0).any()) or abs(float(weights.sum()) - 1) > 1e-6:
                raise GpuclustError(f"weights_init must be {k} non-negative numbers summing to 1")
        if self.means_init is not None:
            means = xp.asarray(self.means_init, dtype=xc.dtype)
            if means.shape != (k, d):
                raise GpuclustError(f"means_init must have shape ({k}, {d}), got {tuple(means.shape)}")
            means = means - self._shift
        if self.precisions_init is not None:
            prec = xp.asarray(self.precisions_init, dtype=xc.dtype)
            cov = _invert_precisions(prec, self.covariance_type)
        self._cov = cov
        return em.params_from(weights, means, cov, self.covariance_type)

    def _initial_resp(self, xc, rng):
        xp = array_namespace(xc)
        n, k = len(xc), self.n_components
        if self.init_params == "random":
            r = xp.asarray(rng.random((n, k)), dtype=xc.dtype)
            return r / r.sum(axis=1, keepdims=True)
        if self.init_params == "kmeans":
            from .kmeans import KMeans

            labels = KMeans(k, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit_predict(xc)
        else:
            from .kmeans import kmeans_plusplus

            centres = kmeans_plusplus(xc, k, rng)
            labels = nearest(xc, centres)
        resp = xp.zeros((n, k), dtype=xc.dtype)
        resp[xp.arange(n), xp.asarray(labels)] = 1
        return resp

    def _publish(self, xp):
        """Fitted attributes in scikit-learn's shapes, in the input's namespace, in data coordinates."""
        p = self._params
        k, d = p.means.shape
        self.weights_ = p.weights
        self.means_ = p.means + self._shift
        self.covariances_ = self._cov
        pc = p.prec_chol
        if self.covariance_type == "full":
            self.precisions_cholesky_ = pc
        elif self.covariance_type == "tied":
            self.precisions_cholesky_ = pc[0]
        elif self.covariance_type == "diag":
            self.precisions_cholesky_ = xp.diagonal(pc, axis1=1, axis2=2).copy()
        else:
            self.precisions_cholesky_ = pc[:, 0, 0].copy()
        self.n_features_in_ = d

    # -- using a fitted mixture ------------------------------------------------
    def _fitted(self, x):
        if not hasattr(self, "_params"):
            raise GpuclustError("this GaussianMixture is not fitted yet: call fit first")
        xp = self._params.xp
        x = xp.asarray(x) if xp is not np else to_numpy(x)
        x = check_latents(x, dtype=self._params.means.dtype)
        if x.shape[1] != self.n_features_in_:
            raise GpuclustError(f"input has {x.shape[1]} features, the mixture was fitted on {self.n_features_in_}")
        return x - self._shift

    def _chunks(self, x, fn):
        xp = array_namespace(x)
        return xp.concatenate([fn(phi) for phi in DesignChunks(x, self._chunk(x), 0)])

    def predict_proba(self, x):
        return self._chunks(self._fitted(x), lambda phi: em.responsibilities(phi, self._params)[0].T)

    def predict(self, x):
        return self._chunks(self._fitted(x), lambda phi: em.weighted_log_prob(phi, self._params).argmax(axis=0))

    def score_samples(self, x):
        return self._chunks(self._fitted(x), lambda phi: em.responsibilities(phi, self._params)[1])

    def score(self, x, y=None):
        return float(self.score_samples(x).mean())

    def _n_parameters(self):
        k, d = self._params.means.shape
        cov = {"full": k * d * (d + 1) / 2, "diag": k * d, "tied": d * (d + 1) / 2, "spherical": k}
        return int(cov[self.covariance_type] + k * d + k - 1)

    def bic(self, x):
        n = len(x)
        return -2 * self.score(x) * n + self._n_parameters() * math.log(n)

    def aic(self, x):
        return -2 * self.score(x) * len(x) + 2 * self._n_parameters()

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self.__init__.__code__.co_varnames[1:self.__init__.__code__.co_argcount
                                                                              + self.__init__.__code__.co_kwonlyargcount]}


class DesignChunks:
    """The design rows of x, chunk by chunk: built once and kept if they fit the budget, else rebuilt."""

    def __init__(self, x, chunk_size: int, budget_bytes: int):
        self.x, self.c = x, chunk_size
        d = x.shape[1]
        size = x.shape[0] * (d * (d + 1) // 2 + d + 1) * x.dtype.itemsize
        self.cached = [em.design(x[i:i + chunk_size]) for i in range(0, len(x), chunk_size)] \
            if size <= budget_bytes else None

    def __iter__(self):
        if self.cached is not None:
            return iter(self.cached)
        return (em.design(self.x[i:i + self.c]) for i in range(0, len(self.x), self.c))


def _invert_precisions(prec, cov_type):
    xp = array_namespace(prec)
    if cov_type in ("diag", "spherical"):
        return 1.0 / prec
    return xp.linalg.inv(prec)


def nearest(x, centres):
    """Index of the nearest centre for every row (squared Euclidean, by one matrix product)."""
    xp = array_namespace(x)
    d = (centres * centres).sum(axis=1)[None, :] - 2 * (x @ centres.T)
    return xp.argmin(d, axis=1)
