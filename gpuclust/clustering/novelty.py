"""Novelty: an event that fits none of the clusters is flagged "unknown" instead of being forced into one.

Two scores (higher = more typical), each compared with a low percentile of the same score on events
the run knows, so that about that fraction (1 % by default) of events like them are flagged, and events
unlike any of them (a new kind of source, an instrument glitch) far more often:

  combined     (the default of `gpuclust run`) Fisher's combination of two ranks, log(rank of the event's
               log-likelihood) + log(rank of minus its reconstruction error), each rank the share of the
               reference events at or below the event. The reference: the run's validation and test rows,
               which no gradient step has seen (the training rows' reconstruction errors are those of
               events the encoder learned). The refinement pulls latents toward the clusters, which can
               hide a new kind of event inside one of them; its reconstruction error still shows
               (benchmarks/bench_novelty.py, README "Novelty").
  likelihood   the event's log-likelihood under the fitted mixture (for K-means, minus its squared
               distance to the nearest centre, the log-likelihood of a mixture of equal spherical
               Gaussians up to a constant), calibrated on the training rows. What a model without a
               decoder (`gpuclust cluster` of latents) has.
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace, to_numpy
from ..errors import GpuclustError
from .lloyd import squared_distances

DEFAULT_PERCENTILE = 1.0
REFERENCE_POINTS = 10_001  # quantiles of the training scores kept in the model: any percentile later


def scores(model, x) -> np.ndarray:
    """Novelty scores (higher = more typical) of the rows of x under a fitted GaussianMixture or KMeans (host)."""
    if hasattr(model, "score_samples"):
        return to_numpy(model.score_samples(x)).astype(np.float64)
    return distance_scores(x, model.cluster_centers_)


def distance_scores(x, centres) -> np.ndarray:
    """K-means' novelty scores: minus the squared distance of each row of x to its nearest centre (host)."""
    xp, dev = namespace(x)
    centres = xp.asarray(to_numpy(centres), dtype=x.dtype, device=dev)
    d = squared_distances(centres, x, xp.sum(x * x, axis=1))
    return -to_numpy(xp.min(d, axis=0)).astype(np.float64)


def reference_quantiles(train_scores: np.ndarray) -> np.ndarray:
    """The training scores' quantiles 0, 0.01 %, ..., 100 %: enough to place any percentile later."""
    s = np.asarray(train_scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise GpuclustError("no finite score on the training rows: cannot learn a novelty threshold")
    return np.quantile(s, np.linspace(0, 1, REFERENCE_POINTS))


RANK_FLOOR = 1.0 / (REFERENCE_POINTS - 1)  # the quantiles' resolution: a rank below it counts as it


def rank(quantiles: np.ndarray, values) -> np.ndarray:
    """Share of the reference scores at or below each value, read from the reference's quantiles (NaN stays NaN)."""
    q = np.asarray(quantiles, dtype=np.float64)
    return np.interp(np.asarray(values, dtype=np.float64), q, np.linspace(0, 1, q.size), left=0.0, right=1.0)


def combined_scores(log_likelihood, reconstruction_error, likelihood_quantiles, reconstruction_quantiles):
    """Fisher's combination: log rank of the log-likelihood + log rank of minus the reconstruction error, the
    ranks among reference events given by their quantiles (reconstruction_quantiles: of minus the errors)."""
    r1 = np.maximum(rank(likelihood_quantiles, log_likelihood), RANK_FLOOR)
    r2 = np.maximum(rank(reconstruction_quantiles, -np.asarray(reconstruction_error, np.float64)), RANK_FLOOR)
    return np.log(r1) + np.log(r2)


def threshold(quantiles: np.ndarray, percentile: float) -> float:
    """The score below which an event is flagged, for a percentile in [0, 100)."""
    if not 0 <= percentile < 100:
        raise GpuclustError(f"the novelty percentile must be at least 0 and below 100, got {percentile}")
    q = np.asarray(quantiles, dtype=np.float64)
    return float(np.interp(percentile / 100, np.linspace(0, 1, q.size), q))


def flags(event_scores: np.ndarray, limit: float) -> np.ndarray:
    """True for the events to call unknown (a score strictly below the threshold; NaN scores too)."""
    s = np.asarray(event_scores, dtype=np.float64)
    return ~(s >= limit)
