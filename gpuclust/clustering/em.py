"""The EM steps of a Gaussian mixture, written once for NumPy and CuPy.

One iteration is: for each chunk of samples, `chunk_stats` (E-step and the
sufficient statistics it implies) -> `combine` -> `m_step`. The one-process
fit loops over chunks; the Dask fit maps `chunk_stats` over partitions and
reduces with `combine`. Only K x D x D numbers cross between the two halves.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import array_namespace
from ..errors import GpuclustError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@dataclass
class Params:
    """Mixture parameters in full form: weights (K,), means (K, D), precision Cholesky (K, D, D)."""

    weights: object
    means: object
    prec_chol: object

    @property
    def xp(self):
        return array_namespace(self.means)


@dataclass
class Stats:
    """Sufficient statistics of a set of samples under the current parameters."""

    nk: object  # (K,) responsibility sums
    s1: object  # (K, D) responsibility-weighted sums
    s2: object  # (K, D, D) responsibility-weighted second moments
    loglik: float  # summed log-likelihood
    n: int


# -- the quadratic design ---------------------------------------------------

def _upper(d: int):
    return np.triu_indices(d)


def design(x):
    """phi(x) = [x_i x_j (i <= j), x, 1] for every row: (n, D(D+1)/2 + D + 1)."""
    xp = array_namespace(x)
    n, d = x.shape
    iu, ju = _upper(d)
    out = xp.empty((n, len(iu) + d + 1), dtype=x.dtype)
    q = len(iu)
    xp.multiply(x[:, xp.asarray(iu)], x[:, xp.asarray(ju)], out=out[:, :q])
    out[:, q:q + d] = x
    out[:, -1] = 1
    return out


def quadratic_coefficients(p: "Params"):
    """A (K, P) with A @ phi(x) = squared Mahalanobis distance of x to each component."""
    xp = p.xp
    k, d = p.means.shape
    prec = p.prec_chol @ p.prec_chol.transpose(0, 2, 1)  # (K, D, D) precision matrices
    iu, ju = _upper(d)
    quad = prec[:, xp.asarray(iu), xp.asarray(ju)] * xp.asarray(np.where(iu == ju, 1.0, 2.0), dtype=prec.dtype)
    lin = -2 * xp.einsum("kde,ke->kd", prec, p.means)
    const = xp.einsum("kd,kde,ke->k", p.means, prec, p.means)
    return xp.concatenate([quad, lin, const[:, None]], axis=1)


def stats_from_moments(t, d: int, loglik: float, n: int) -> Stats:
    """Unpack resp.T @ phi (K, P) into responsibility sums, first and second moments."""
    xp = array_namespace(t)
    iu, ju = (xp.asarray(i) for i in _upper(d))
    q = len(iu)
    s2 = xp.empty((t.shape[0], d, d), dtype=t.dtype)
    s2[:, iu, ju] = t[:, :q]
    s2[:, ju, iu] = t[:, :q]
    return Stats(t[:, -1].copy(), t[:, q:q + d].copy(), s2, loglik, n)


# -- parameters <-> precisions ------------------------------------------------

def precision_cholesky(cov):
    """Upper factors U with precision = U @ U.T, from covariances (K, D, D); batched, no Python loop."""
    xp = array_namespace(cov)
    try:
        chol = xp.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = None
    if chol is None or not bool(xp.isfinite(chol).all()):  # CuPy returns NaN instead of raising
        raise GpuclustError(
            "some mixture components have an ill-defined covariance (not positive definite); "
            "try fewer components, a larger reg_covar, or scaled input"
        )
    eye = xp.broadcast_to(xp.eye(cov.shape[-1], dtype=cov.dtype), cov.shape).copy()  # batched solve wants real memory
    return xp.linalg.solve(chol, eye).transpose(0, 2, 1)


def full_covariances(cov, cov_type: str, k: int, d: int):
    """Expand covariances of any type to (K, D, D)."""
    xp = array_namespace(cov)
    if cov_type == "full":
        return cov
    if cov_type == "tied":
        return xp.broadcast_to(cov, (k, d, d)).copy()
    eye = xp.eye(d, dtype=cov.dtype)
    if cov_type == "diag":
        return cov[:, :, None] * eye
    return cov[:, None, None] * eye  # spherical


def log_det_chol(prec_chol):
    xp = array_namespace(prec_chol)
    return xp.log(xp.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)


# -- E-step ---------------------------------------------------------------

def log_norm_const(p: Params):
    """log w_k - D/2 log 2 pi + log |Lambda_k|^(1/2), per component."""
    xp = p.xp
    d = p.means.shape[1]
    return xp.log(p.weights) - 0.5 * d * math.log(2 * math.pi) + log_det_chol(p.prec_chol)


def weighted_log_prob(phi, p: Params, a=None, const=None):
    """log w_k + log N(x | mu_k, Sigma_k) for every component and every row of the design: (K, n).

    Component-major on purpose: reductions over K then run across K long rows,
    which NumPy vectorises, instead of along rows of length K, which it does not.
    """
    a = quadratic_coefficients(p) if a is None else a
    const = log_norm_const(p) if const is None else const
    wlp = a @ phi.T
    wlp *= -0.5
    wlp += const.astype(phi.dtype)[:, None]
    return wlp


def responsibilities(phi, p: Params, a=None, const=None):
    """(resp (K, n), log-likelihood per sample (n,)), with a stable log-sum-exp."""
    xp = array_namespace(phi)
    wlp = weighted_log_prob(phi, p, a, const)
    top = wlp.max(axis=0)
    wlp -= top
    # Responsibilities below e^-80 (float32) are zero to every later sum, and left alone they
    # become subnormal numbers that make exp and the next product many times slower.
    xp.maximum(wlp, -80.0 if wlp.dtype == xp.float32 else -700.0, out=wlp)
    e = xp.exp(wlp, out=wlp)
    s = e.sum(axis=0)
    e /= s
    return e, xp.log(s) + top


def chunk_stats(phi, p: Params, a=None, const=None) -> Stats:
    """E-step on one chunk (given as its design rows) and the sufficient statistics for the M-step."""
    resp, ll = responsibilities(phi, p, a, const)
    d = p.means.shape[1]
    return stats_from_moments(resp @ phi, d, float(ll.sum()), phi.shape[0])


def initial_stats(phi, resp, d: int) -> Stats:
    """Statistics from given responsibilities (n, K): the initialisation's hard or soft labels."""
    return stats_from_moments(resp.T @ phi, d, float("nan"), phi.shape[0])


def combine(parts) -> Stats:
    """Add statistics of disjoint chunks (associative: any tree of partial sums gives the same)."""
    parts = list(parts)
    first = parts[0]
    out = Stats(first.nk.copy(), first.s1.copy(), first.s2.copy(), first.loglik, first.n)
    for s in parts[1:]:
        out.nk += s.nk
        out.s1 += s.s1
        out.s2 += s.s2
        out.loglik += s.loglik
        out.n += s.n
    return out


# -- M-step ---------------------------------------------------------------

def covariances_from_stats(st: Stats, means, nk, cov_type: str, reg_covar: float):
    """Covariances in the estimator's own shape for its type, regularised on the diagonal."""
    xp = array_namespace(means)
    d = means.shape[1]
    if cov_type == "full":
        cov = st.s2 / nk[:, None, None] - means[:, :, None] * means[:, None, :]
        cov += reg_covar * xp.eye(d, dtype=means.dtype)
        return cov
    if cov_type == "tied":
        cov = (st.s2.sum(axis=0) - (nk[:, None] * means).T @ means) / nk.sum()
        return cov + reg_covar * xp.eye(d, dtype=means.dtype)
    var = xp.diagonal(st.s2, axis1=1, axis2=2) / nk[:, None] - means * means + reg_covar
    return var if cov_type == "diag" else var.mean(axis=1)


def m_step(st: Stats, cov_type: str, reg_covar: float):
    """(weights, means, covariances in the type's shape) from combined statistics."""
    xp = array_namespace(st.s1)
    nk = st.nk + 10 * xp.finfo(st.s1.dtype).eps  # as scikit-learn, so empty components stay finite
    means = st.s1 / nk[:, None]
    cov = covariances_from_stats(st, means, nk, cov_type, reg_covar)
    return nk / nk.sum(), means, cov


def params_from(weights, means, cov, cov_type: str) -> Params:
    k, d = means.shape
    return Params(weights, means, precision_cholesky(full_covariances(cov, cov_type, k, d)))
