"""The EM steps of a Gaussian mixture, written once against the array API standard.

The same lines run on NumPy, CuPy, PyTorch (CPU or CUDA) and array-api-strict:
every array is made in the namespace and on the device of the data.

One iteration is: for each chunk of samples, `chunk_stats` (E-step and the
sufficient statistics it implies) -> `combine` -> `params_from_stats` (the
M-step). The one-process fit loops over chunks; the Dask fit maps `chunk_stats`
over partitions and reduces with `combine`. Only K x D x D numbers cross
between the two halves.

The hot path is two matrix products per chunk and no per-component loop. Each
sample is expanded once into its quadratic design row
phi(x) = [x_i x_j for i <= j, x, 1] (55 numbers for D = 9). Then, for every
covariance type,
  - squared Mahalanobis distances to all K centres are A @ phi.T, with A (K, P)
    the coefficients of (x - mu)' Lambda (x - mu), and
  - all sufficient statistics (sums of responsibilities, of r x, of r x x')
    are resp @ phi (responsibilities held component-major, K x n).
Neither product materialises anything of size N x K x D, so an iteration
reads the data about once: memory traffic, not arithmetic, sets its speed.
Data are centred before the fit, which keeps the expanded quadratic form
accurate in float32 too.

Parameters follow scikit-learn's conventions exactly (shapes per covariance
type; `prec_chol` is the upper factor U with precision = U U'), so fitted
attributes can be compared with scikit-learn's one for one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import namespace

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

ILL_DEFINED = ("Fitting the mixture model failed because some components have ill-defined empirical covariance "
               "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
               "increase reg_covar, or scale the input data.")
ILL_DEFINED_F32 = " The numerical accuracy can also be improved by passing float64 data instead of float32."


@dataclass
class Params:
    """Mixture parameters in scikit-learn's shapes for the covariance type (means in centred coordinates)."""

    weights: object  # (K,)
    means: object  # (K, D)
    covariances: object  # full (K, D, D), tied (D, D), diag (K, D), spherical (K,)
    prec_chol: object  # same shapes as covariances
    cov_type: str


@dataclass
class Stats:
    """Sufficient statistics of a set of samples under the current parameters."""

    nk: object  # (K,) responsibility sums
    s1: object  # (K, D) responsibility-weighted sums
    s2: object  # (K, D, D) responsibility-weighted second moments
    loglik: object  # summed log-likelihood (a 0-d array: read it once per iteration, not per chunk)
    n: int


class Design:
    """The quadratic design phi(x) = [x_i x_j (i <= j), x, 1] in one namespace, device and dtype.

    `pairs` (D*D, Q) maps the Q products x_i x_j (i <= j) to the D x D positions (i, j) and (j, i),
    so that second moments unpack and precision matrices pack with one matrix product each.
    """

    def __init__(self, d: int, xp, device, dtype):
        iu, ju = np.triu_indices(d)
        q = len(iu)
        pairs = np.zeros((d * d, q))
        pairs[iu * d + ju, np.arange(q)] = 1
        pairs[ju * d + iu, np.arange(q)] = 1
        self.d, self.q, self.xp, self.device, self.dtype = d, q, xp, device, dtype
        self.iu = xp.asarray(iu, device=device)
        self.ju = xp.asarray(ju, device=device)
        self.pairs = xp.asarray(pairs, dtype=dtype, device=device)

    @property
    def width(self) -> int:
        return self.q + self.d + 1

    def rows(self, x):
        """(n, P) design rows of the samples x (n, D)."""
        xp = self.xp
        quad = xp.take(x, self.iu, axis=1) * xp.take(x, self.ju, axis=1)
        return xp.concat([quad, x, xp.ones((x.shape[0], 1), dtype=x.dtype, device=self.device)], axis=1)


# -- parameters in full form ---------------------------------------------------

def full_prec_chol(p: Params):
    """The precision Cholesky factor of every component as (K, D, D), whatever the covariance type."""
    xp, dev = namespace(p.means)
    k, d = p.means.shape
    if p.cov_type == "full":
        return p.prec_chol
    if p.cov_type == "tied":
        return xp.broadcast_to(p.prec_chol[None, ...], (k, d, d))
    eye = xp.eye(d, dtype=p.means.dtype, device=dev)[None, ...]
    if p.cov_type == "diag":
        return p.prec_chol[:, :, None] * eye
    return p.prec_chol[:, None, None] * eye


def log_det_chol(p: Params):
    """log |precision|^(1/2) per component, from the Cholesky factor."""
    xp, _ = namespace(p.means)
    k, d = p.means.shape
    pc = p.prec_chol
    if p.cov_type == "full":
        return xp.sum(xp.log(xp.linalg.diagonal(pc)), axis=1)
    if p.cov_type == "tied":
        return xp.broadcast_to(xp.sum(xp.log(xp.linalg.diagonal(pc))), (k,))
    if p.cov_type == "diag":
        return xp.sum(xp.log(pc), axis=1)
    return d * xp.log(pc)


def quadratic_coefficients(p: Params, design: Design):
    """A (K, P) with A @ phi(x) = squared Mahalanobis distance of x to each component."""
    xp, _ = namespace(p.means)
    k, d = p.means.shape
    u = full_prec_chol(p)
    prec = u @ xp.matrix_transpose(u)  # (K, D, D)
    quad = xp.reshape(prec, (k, d * d)) @ design.pairs  # off-diagonal pairs get prec_ij + prec_ji
    pm = (prec @ p.means[:, :, None])[:, :, 0]
    const = xp.sum(p.means * pm, axis=1)
    return xp.concat([quad, -2 * pm, const[:, None]], axis=1)


def log_norm_const(p: Params):
    """log w_k - D/2 log 2 pi + log |Lambda_k|^(1/2), per component."""
    xp, _ = namespace(p.means)
    d = p.means.shape[1]
    return xp.log(p.weights) - 0.5 * d * math.log(2 * math.pi) + log_det_chol(p)


# -- E-step -------------------------------------------------------------------

def weighted_log_prob(phi, a, const):
    """log w_k + log N(x | mu_k, Sigma_k) for every component and row of the design: (K, n).

    Component-major on purpose: reductions over K then run across K long rows,
    which vectorise, instead of along rows of length K, which do not.
    """
    xp, _ = namespace(phi)
    wlp = a @ xp.matrix_transpose(phi)
    wlp *= -0.5  # in place (the standard's in-place operators): no second K x n temporary
    wlp += xp.astype(const, phi.dtype)[:, None]
    return wlp


def responsibilities(phi, a, const):
    """(resp (K, n), log-likelihood per sample (n,)), with a stable log-sum-exp."""
    xp, _ = namespace(phi)
    wlp = weighted_log_prob(phi, a, const)
    top = xp.max(wlp, axis=0)
    wlp -= top[None, :]
    # Responsibilities below e^-80 (float32) are zero to every later sum, and left alone they
    # become subnormal numbers that make exp and the next product many times slower.
    e = _exp_clipped(wlp, -80.0 if wlp.dtype == xp.float32 else -700.0, xp)
    s = xp.sum(e, axis=0)
    e /= s[None, :]
    return e, xp.log(s) + top


def _exp_clipped(a, floor: float, xp):
    """exp(max(a, floor)), overwriting `a` where the library allows it.

    The standard has no `out=`; NumPy and CuPy do, and on the CPU a fresh K x n
    array per call costs as much as the exponential itself (each is a new mapping
    of memory from the system). Results are identical either way.
    """
    from ..backend import is_numpy

    if is_numpy(xp):
        np.maximum(a, floor, out=a)
        return np.exp(a, out=a)
    return xp.exp(xp.clip(a, min=floor))


def stats_from_moments(t, design: Design, loglik, n: int) -> Stats:
    """Unpack resp.T @ phi (K, P) into responsibility sums, first and second moments."""
    xp = design.xp
    k, q, d = t.shape[0], design.q, design.d
    s2 = xp.reshape(t[:, :q] @ xp.matrix_transpose(design.pairs), (k, d, d))
    return Stats(t[:, q + d], t[:, q:q + d], s2, loglik, n)


def total_second_moment(phi, design: Design):
    """Unweighted sum of x x' over the rows of a design chunk: (D, D)."""
    xp = design.xp
    t = xp.sum(phi[:, :design.q], axis=0)
    return xp.reshape(t[None, :] @ xp.matrix_transpose(design.pairs), (design.d, design.d))


def chunk_stats(phi, a, const, design: Design) -> Stats:
    """E-step on one chunk (given as its design rows) and the sufficient statistics for the M-step."""
    xp = design.xp
    resp, ll = responsibilities(phi, a, const)
    return stats_from_moments(resp @ phi, design, xp.sum(ll), phi.shape[0])


def initial_stats(phi, resp, design: Design) -> Stats:
    """Statistics from given responsibilities (n, K): the initialisation's hard or soft labels."""
    xp = design.xp
    return stats_from_moments(xp.matrix_transpose(resp) @ phi, design, xp.asarray(0.0, device=design.device),
                              phi.shape[0])


def combine(parts) -> Stats:
    """Add statistics of disjoint chunks (associative: any tree of partial sums gives the same)."""
    parts = list(parts)
    out = parts[0]
    for s in parts[1:]:
        out = Stats(out.nk + s.nk, out.s1 + s.s1, out.s2 + s.s2, out.loglik + s.loglik, out.n + s.n)
    return out


# -- M-step ---------------------------------------------------------------------

@dataclass
class Total:
    """What the tied covariance needs beyond the statistics: the unweighted second moment of all the
    (centred) samples, their number and the centring shift. scikit-learn's tied estimate uses X'X of
    the raw data whether or not responsibilities sum to one per row (they do not for the k-means++ and
    random_from_data starts); with these its value is reproduced without losing the centring."""

    second: object  # (D, D) sum over samples of xc xc'
    n: int
    shift: object  # (D,)


def gaussian_estimates(st: Stats, cov_type: str, reg_covar: float, total: Total | None = None):
    """(nk, means, covariances in the type's shape) from combined statistics, as scikit-learn estimates them:
    the M-step's raw estimates, before params_from_stats turns them into weights and precision factors."""
    xp, dev = namespace(st.s1)
    dtype = st.s1.dtype
    d = st.s1.shape[1]
    nk = st.nk + 10 * xp.finfo(dtype).eps  # as scikit-learn, so empty components stay finite
    means = st.s1 / nk[:, None]
    eye = xp.eye(d, dtype=dtype, device=dev)
    outer = means[:, :, None] * means[:, None, :]
    if cov_type == "full":
        # sum r (x - mu)(x - mu)' / nk, expanded; the factor on mu mu' is exactly scikit-learn's
        # (it differs from 1 only for a component with no responsibility at all).
        cov = st.s2 / nk[:, None, None] - (2 - st.nk / nk)[:, None, None] * outer
        return nk, means, cov + reg_covar * eye[None, ...]
    if cov_type == "tied":
        scatter = xp.matrix_transpose(nk[:, None] * means) @ means
        if total is None:
            cov = (xp.sum(st.s2, axis=0) - scatter) / xp.sum(nk)
        else:  # X'X - sum nk mu mu' of the raw data, expanded about the shift
            m = xp.sum(nk[:, None] * means, axis=0)
            s = total.shift
            cov = (total.second - scatter - m[:, None] * s[None, :] - s[:, None] * m[None, :]
                   + (total.n - xp.sum(nk)) * (s[:, None] * s[None, :])) / xp.sum(nk)
        return nk, means, cov + reg_covar * eye
    var = xp.linalg.diagonal(st.s2) / nk[:, None] - means * means + reg_covar
    return nk, means, var if cov_type == "diag" else xp.mean(var, axis=1)


def _flip(a, xp):
    return xp.flip(xp.flip(a, axis=-1), axis=-2)


def _cholesky_or_none(a, xp):
    try:
        chol = xp.linalg.cholesky(a)
    except (np.linalg.LinAlgError, RuntimeError, ValueError):  # NumPy raises; PyTorch raises RuntimeError
        return None
    return chol if bool(xp.all(xp.isfinite(chol))) else None  # CuPy returns NaN instead of raising


def precision_cholesky(cov, cov_type: str):
    """Upper factors U (precision = U U') of covariances in the type's shape; ValueError if not positive definite."""
    xp, dev = namespace(cov)
    msg = ILL_DEFINED + (ILL_DEFINED_F32 if cov.dtype == xp.float32 else "")
    if cov_type in ("full", "tied"):
        chol = _cholesky_or_none(cov, xp)
        if chol is None:
            raise ValueError(msg)
        return xp.matrix_transpose(xp.linalg.inv(chol))
    if bool(xp.any(cov <= 0.0)):
        raise ValueError(msg)
    return 1.0 / xp.sqrt(cov)


def precisions(prec_chol, cov_type: str):
    """Precision matrices (or vectors) from their Cholesky factors."""
    xp, _ = namespace(prec_chol)
    if cov_type in ("full", "tied"):
        return prec_chol @ xp.matrix_transpose(prec_chol)
    return prec_chol * prec_chol


def cholesky_from_precisions(prec, cov_type: str):
    """Upper U with prec = U U' (scikit-learn's flip-Cholesky-flip), for user-given precisions."""
    xp, _ = namespace(prec)
    if cov_type in ("full", "tied"):
        return _flip(xp.linalg.cholesky(_flip(prec, xp)), xp)
    return xp.sqrt(prec)


def covariances_from_precisions(prec, cov_type: str):
    xp, _ = namespace(prec)
    if cov_type in ("full", "tied"):
        return xp.linalg.inv(prec)
    return 1.0 / prec


def cast_params(p: Params, dtype) -> Params:
    xp, _ = namespace(p.means)
    return Params(*(xp.astype(a, dtype) for a in (p.weights, p.means, p.covariances, p.prec_chol)), p.cov_type)


def params_from_stats(st: Stats, cov_type: str, reg_covar: float, n_samples: int | None = None,
                      total: Total | None = None) -> Params:
    """The M-step: mixture parameters (weights, means, covariances and their precision factors) from combined
    statistics. With n_samples, weights are nk / n_samples (scikit-learn's initialisation), else normalised."""
    xp, _ = namespace(st.s1)
    nk, means, cov = gaussian_estimates(st, cov_type, reg_covar, total)
    weights = nk / n_samples if n_samples is not None else nk / xp.sum(nk)
    return Params(weights, means, cov, precision_cholesky(cov, cov_type), cov_type)
