"""`gpuclust.GaussianMixture`: scikit-learn's estimator, with one fast EM for every array library.

A user swaps it in for sklearn.mixture.GaussianMixture and nothing changes but the
speed: the same parameters and validation, the same initialisations drawn from
the same `random_state` (so the same start), the same EM loop, n_init, warm_start,
convergence rule, warnings, errors and fitted attributes. What differs, by design:
  - the E- and M-steps (gpuclust.clustering.em) are two matrix products per chunk
    instead of a loop over components (10-20x faster on the CPU);
  - the data are centred before the fit (likelihood unchanged, float32 far more accurate);
  - NumPy, CuPy and PyTorch arrays (CPU or CUDA) and any array-API array are fitted in
    their own namespace and on their own device, every initialisation included;
  - a component left with no responsibility at all sits at the data's mean (scikit-learn's
    sits at the origin); it keeps no weight either way, so the likelihood is the same;
  - in float32, an M-step whose covariances come out ill-defined (a component holding a
    single sample, far from the mean) is redone in float64 before giving up.
Results agree with scikit-learn's to rounding: its own test file for GaussianMixture
passes against this class (tests/sklearn_suite).
"""
from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backend import host_or_same, namespace, to_numpy
from . import em, fused_em
from .local_data import LocalData, default_chunk, spans
from .validation import check_data, same_namespace

# -- the estimator ---------------------------------------------------------------------

class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM: scikit-learn's GaussianMixture, on any array library.

    Parameters and fitted attributes are those of sklearn.mixture.GaussianMixture
    (see its documentation), plus `chunk_size`: rows per E-step chunk, which bounds
    memory (default 32,768 on NumPy, large enough for BLAS to run at speed, and 1,048,576 on
    other libraries, where kernel launches cost more than memory). Fitted attributes
    live in the namespace and on the device of the data.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(em.COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100,
                 n_init=1, init_params="kmeans", weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10, chunk_size=None):
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
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size

    # -- fitting ----------------------------------------------------------------------
    def fit(self, X, y=None):
        """Estimate the parameters with EM (n_init starts, the best kept); see scikit-learn's documentation."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None):
        """Fit, then label X with the most probable component (consistent with fit(X).predict(X))."""
        self._validate_params()
        X = check_data(self, X, reset=True, min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {X.shape[0]}")
        xp, _ = namespace(X)
        inits = self._checked_inits(X)
        shift = xp.mean(X, axis=0)
        data = fused_em.accelerate(LocalData(X, shift, self._chunk(xp)))  # fused kernels for CUDA data
        best = self._em(data, inits, shift)
        return data.labels(best)

    def _chunk(self, xp) -> int:
        return self.chunk_size or default_chunk(xp)

    def _em(self, data, inits, shift) -> em.Params:
        """scikit-learn's BaseMixture.fit_predict loop over any data object (one process here, Dask there)."""
        xp = data.xp
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        max_lower_bound = -math.inf
        best_params, best_n_iter, best_lower_bounds = None, 0, []
        self.converged_ = False
        random_state = check_random_state(self.random_state)
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            params = self._initial_params(data, inits, random_state) if do_init else self._current_params(xp, shift)
            lower_bound = -math.inf if do_init else self.lower_bound_
            current_lower_bounds = []
            if self.max_iter == 0:
                best_params, best_n_iter = params, 0
            else:
                converged = False
                n_iter = 0
                for n_iter in range(1, self.max_iter + 1):
                    prev_lower_bound = lower_bound
                    fused = getattr(data, "em_step", None)  # fused_em's whole iteration, where it applies
                    step = fused(params, self.covariance_type, self.reg_covar) if fused else None
                    st, params = step or self._m_step(data, lambda d, p=params: d.stats(p))
                    lower_bound = float(st.loglik) / st.n
                    current_lower_bounds.append(lower_bound)
                    change = lower_bound - prev_lower_bound
                    self._print_verbose_msg_iter_end(n_iter, change)
                    if abs(change) < self.tol:
                        converged = True
                        break
                self._print_verbose_msg_init_end(lower_bound, converged)
                if lower_bound > max_lower_bound or max_lower_bound == -math.inf:
                    max_lower_bound = lower_bound
                    best_params, best_n_iter, best_lower_bounds = params, n_iter, current_lower_bounds
                    self.converged_ = converged
        if not self.converged_ and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, "
                          "or increase max_iter, tol, or check for degenerate data.", ConvergenceWarning,
                          stacklevel=3)
        self._publish(best_params, shift)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return best_params

    # -- initialisation -------------------------------------------------------------------
    def _total(self, data, initial: bool):
        """The tied covariance's extra statistic, needed only where responsibilities need not sum to one."""
        return data.total() if initial and self.covariance_type == "tied" else None

    def _checked_inits(self, x) -> dict:
        """weights_init, means_init, precisions_init validated as scikit-learn does, in the data's namespace."""
        xp, dev = namespace(x)
        k, d = self.n_components, x.shape[1]
        out = {}
        if self.weights_init is not None:
            w = host_or_same(self.weights_init, np)
            w = check_array(w, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(w, (k,), "weights")
            if (w < 0).any() or (w > 1).any():
                raise ValueError("The parameter 'weights' should be in the range [0, 1], but got max value "
                                 f"{np.min(w):.5f}, min value {np.max(w):.5f}")
            atol = 1e-6 if w.dtype == np.float32 else 1e-8
            if not np.allclose(abs(1.0 - w.sum()), 0.0, atol=atol):
                raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {w.sum():.5f}")
            out["weights"] = w
        if self.means_init is not None:
            m = check_array(host_or_same(self.means_init, np), dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(m, (k, d), "means")
            out["means"] = m
        if self.precisions_init is not None:
            out["precisions"] = _check_precisions(host_or_same(self.precisions_init, np), self.covariance_type, k, d)
        return {key: xp.asarray(v, dtype=x.dtype, device=dev) for key, v in out.items()}

    def _initial_params(self, data, inits, random_state) -> em.Params:
        """scikit-learn's `_initialize_parameters` + `_initialize`, on the data object's namespace."""
        k, n = self.n_components, data.n
        params = None
        if len(inits) < 3:  # scikit-learn skips the initialisation (and its draws) when all three are given
            assignment = self._initial_assignment(data, random_state)
            _, params = self._m_step(data, lambda d: d.stats_from_assignment(assignment, k), n_samples=n)
        return self._with_inits(params, inits, data.shift)

    def _with_inits(self, params, inits, shift) -> em.Params:
        """params, with whichever of weights, means (data coordinates) and precisions the user gave instead."""
        weights = inits["weights"] if "weights" in inits else params.weights
        means = inits["means"] - shift if "means" in inits else params.means
        if "precisions" in inits:
            prec = inits["precisions"]
            cov = em.covariances_from_precisions(prec, self.covariance_type)
            chol = em.cholesky_from_precisions(prec, self.covariance_type)
        else:
            cov, chol = params.covariances, params.prec_chol
        return em.Params(weights, means, cov, chol, self.covariance_type)

    def _initial_assignment(self, data, random_state):
        """scikit-learn's starting responsibilities, drawn as it draws them: ("labels", hard labels) or ("resp", ...)."""
        k, n = self.n_components, data.n
        if self.init_params == "kmeans":
            return "labels", data.kmeans_labels(k, random_state)
        if self.init_params == "random":
            resp = np.asarray(random_state.uniform(size=(n, k)), dtype=_np_dtype(data))
            resp /= resp.sum(axis=1)[:, np.newaxis]
            return "resp", resp
        if self.init_params == "random_from_data":
            indices = random_state.choice(n, size=k, replace=False)
        else:
            indices = data.kmeanspp_indices(k, random_state)
        labels = np.full(n, -1)
        labels[np.asarray(indices)] = np.arange(k)
        return "labels", labels

    def _m_step(self, data, stats_of, n_samples=None):
        """(statistics, parameters) from stats_of(data).

        In float32 the second moments of a component that holds one sample (or none) can
        cancel to a matrix that is not positive definite where scikit-learn's two-pass
        estimate is not; then, and only then, the statistics are recomputed in float64
        and the parameters cast back.
        """
        st = stats_of(data)
        try:
            return st, em.params_from_stats(st, self.covariance_type, self.reg_covar, n_samples,
                                                  self._total(data, n_samples is not None))
        except ValueError:
            if data.x.dtype != data.xp.float32:
                raise
        precise = data.as_float64()
        st64 = stats_of(precise)
        p = em.params_from_stats(st64, self.covariance_type, self.reg_covar, n_samples,
                                 self._total(precise, n_samples is not None))
        return st, em.cast_params(p, data.x.dtype)

    def _current_params(self, xp, shift) -> em.Params:
        """The fitted parameters, as the start of a warm-started fit on data centred at `shift`."""
        _, dev = namespace(shift)

        def on(a):
            return xp.asarray(host_or_same(a, xp), dtype=shift.dtype, device=dev)

        return em.Params(on(self.weights_), on(self.means_) - shift, on(self.covariances_),
                         on(self.precisions_cholesky_), self.covariance_type)

    def _publish(self, p: em.Params, shift) -> None:
        """Fitted attributes in data coordinates (scikit-learn's names and shapes); the centred form kept for use."""
        self._params, self._shift = p, shift
        self._converted = {}
        self.weights_ = p.weights
        self.means_ = p.means + shift
        self.covariances_ = p.covariances
        self.precisions_cholesky_ = p.prec_chol
        self.precisions_ = em.precisions(p.prec_chol, self.covariance_type)

    @classmethod
    def from_parameters(cls, weights, means, covariances, precisions_cholesky, covariance_type="full",
                        centring=None):
        """A fitted mixture from saved parameters (a run's model), ready for predict and score_samples.

        centring: the fit's (shift, means - shift), as `centring()` gives them; with them the mixture scores
        data bit for bit as the fitted one did (it centres the data on the same shift; rebuilt from the
        means alone it scores to rounding, ~1e-11 relative)."""
        g = cls(len(weights), covariance_type=covariance_type)
        if centring is None:
            g._set_parameters((weights, means, covariances, precisions_cholesky))
        else:
            shift, centred = centring
            g._publish(em.Params(weights, centred, covariances, precisions_cholesky, covariance_type), shift)
        g.n_features_in_ = means.shape[1]
        g.converged_, g.n_iter_, g.lower_bound_ = True, 0, float("nan")
        return g

    def centring(self):
        """(shift, centred means): the coordinates the fit scores data in, for from_parameters."""
        check_is_fitted(self)
        return self._shift, self._params.means

    # -- scikit-learn's private surface, used by its own tests and helpers ---------------------
    def _get_parameters(self):
        return self.weights_, self.means_, self.covariances_, self.precisions_cholesky_

    def _set_parameters(self, params, xp=None):
        weights, means, cov, chol = params
        xp, _ = namespace(means)
        shift = xp.zeros_like(means[0, :])
        self._publish(em.Params(weights, means, cov, chol, self.covariance_type), shift)

    def _initialize(self, X, resp):
        """Parameters from responsibilities (scikit-learn's `_initialize`), honouring the *_init arguments."""
        xp, _ = namespace(X)
        shift = xp.zeros_like(X[0, :])
        data = LocalData(X, shift, self._chunk(xp))
        inits = {k: xp.asarray(host_or_same(v, xp), dtype=X.dtype) for k, v in
                 (("weights", self.weights_init), ("means", self.means_init), ("precisions", self.precisions_init))
                 if v is not None}  # unchecked, as scikit-learn's `_initialize`
        st = data.stats_from_resp(xp.asarray(resp, dtype=X.dtype)) if resp is not None else None
        params = em.params_from_stats(st, self.covariance_type, self.reg_covar, n_samples=X.shape[0]) \
            if st is not None else None
        self._publish(self._with_inits(params, inits, shift), shift)

    def _n_parameters(self) -> int:
        _, n_features = self.means_.shape
        cov = {"full": self.n_components * n_features * (n_features + 1) / 2.0,
               "diag": self.n_components * n_features,
               "tied": n_features * (n_features + 1) / 2.0,
               "spherical": self.n_components}[self.covariance_type]
        return int(cov + n_features * self.n_components + self.n_components - 1)

    # -- using a fitted mixture -----------------------------------------------------------
    def _prepared(self, X, method: str):
        """X centred as in the fit and the parameters in X's namespace, device and (promoted) dtype."""
        check_is_fitted(self)
        same_namespace(X, self, "means_", method)
        X = check_data(self, X, reset=False)
        xp, dev = namespace(X)
        if X.dtype == xp.float32 and str(self._params.means.dtype).endswith("float64") and _has_float64(xp, dev):
            X = xp.astype(X, xp.float64)  # a float64 model scores float32 data in float64, as scikit-learn does
        key = (xp.__name__, str(dev), str(X.dtype))
        if key not in self._converted:
            p, s = self._params, self._shift

            def on(a):
                return xp.asarray(host_or_same(a, xp), dtype=X.dtype, device=dev)

            self._converted[key] = (em.Params(on(p.weights), on(p.means), on(p.covariances), on(p.prec_chol),
                                              p.cov_type), on(s))
        p, shift = self._converted[key]
        return X - shift, p, xp

    def _by_chunk(self, X, fn, method: str):
        xc, p, xp = self._prepared(X, method)
        _, dev = namespace(xc)
        design = em.Design(xc.shape[1], xp, dev, xc.dtype)
        a, const = em.quadratic_coefficients(p, design), em.log_norm_const(p)
        c = self._chunk(xp)
        return xp.concat([fn(design.rows(xc[lo:hi, :]), a, const, xp) for lo, hi in spans(xc.shape[0], c)])

    def predict(self, X):
        """The most probable component of every sample."""
        return self._by_chunk(X, lambda phi, a, c, xp: xp.argmax(em.weighted_log_prob(phi, a, c), axis=0),
                              "predict")

    def predict_proba(self, X):
        """Posterior probability of every component for every sample: (n_samples, n_components)."""
        return self._by_chunk(X, lambda phi, a, c, xp: xp.matrix_transpose(em.responsibilities(phi, a, c)[0]),
                              "predict_proba")

    def score_samples(self, X):
        """Log-likelihood of every sample under the mixture."""
        return self._by_chunk(X, lambda phi, a, c, xp: em.responsibilities(phi, a, c)[1], "score_samples")

    def score(self, X, y=None):
        """Mean log-likelihood per sample."""
        ll = self.score_samples(X)
        xp, _ = namespace(ll)
        return float(xp.mean(ll))

    def bic(self, X):
        """Bayesian information criterion of the mixture on X (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * math.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion of the mixture on X (lower is better)."""
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw samples (and their components) from the fitted mixture, as scikit-learn does."""
        check_is_fitted(self)
        xp, dev = namespace(self.means_)
        if n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {self.n_components} . The sampling requires at "
                             "least one sample.")
        means, cov, weights = to_numpy(self.means_), to_numpy(self.covariances_), to_numpy(self.weights_)
        n_features = means.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, weights)
        if self.covariance_type == "full":
            x = np.vstack([rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, cov, counts)])
        elif self.covariance_type == "tied":
            x = np.vstack([rng.multivariate_normal(m, cov, int(s)) for m, s in zip(means, counts)])
        else:
            x = np.vstack([m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                           for m, c, s in zip(means, cov, counts)])
        y = np.concatenate([np.full(int(s), j, dtype=np.int64) for j, s in enumerate(counts)])
        dtype = xp.float64 if _has_float64(xp, dev) else xp.float32
        return xp.asarray(x, dtype=dtype, device=dev), xp.asarray(y, device=dev)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    # -- scikit-learn's progress messages -----------------------------------------------------
    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose == 1:
            print("Initialization %d" % n_init)
        elif self.verbose >= 2:
            print("Initialization %d" % n_init)
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print("  Iteration %d" % n_iter)
            elif self.verbose >= 2:
                cur_time = time()
                print("  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                      % (n_iter, cur_time - self._iter_prev_time, diff_ll))
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")

# -- scikit-learn's checks of user-given parameters (same rules, same messages) ----------------

def _check_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}")

def _check_precisions(prec, cov_type, k, d):
    prec = check_array(prec, dtype=[np.float64, np.float32], ensure_2d=False, allow_nd=cov_type == "full")
    shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[cov_type]
    _check_shape(prec, shape, f"{cov_type} precision")
    if cov_type in ("diag", "spherical"):
        if (prec <= 0.0).any():
            raise ValueError(f"'{cov_type} precision' should be positive")
        return prec
    for m in (prec if cov_type == "full" else prec[None]):
        if not (np.allclose(m, m.T) and (np.linalg.eigvalsh(m) > 0.0).all()):
            raise ValueError(f"'{cov_type} precision' should be symmetric, positive-definite")
    return prec

def _np_dtype(data):
    return np.float32 if data.x.dtype == data.xp.float32 else np.float64

def _has_float64(xp, dev) -> bool:
    try:
        xp.zeros(1, dtype=xp.float64, device=dev)
        return True
    except Exception:
        return False
