"""Novelty: an event that fits none of the clusters is flagged "unknown" instead of being forced into one.

The score of an event is its log-likelihood under the fitted mixture (for K-means, minus its squared
distance to the nearest centre, the log-likelihood of a mixture of equal spherical Gaussians up to a
constant). The threshold is learned from the run's own training events: a low percentile of their
scores (1 % by default), so about that fraction of events like the training ones are flagged, and
events unlike any of them (a new kind of source, an instrument glitch) far more often.
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
