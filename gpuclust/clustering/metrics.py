"""Clustering quality: internal indices (no ground truth) and agreement with ground truth.

Internal indices run in the input's namespace (NumPy or CuPy) and never build
an N x N matrix: silhouette uses a seeded sample and chunked distances.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_namespace, to_numpy


def _onehot(labels, k, xp, dtype):
    out = xp.zeros((labels.shape[0], k), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels] = 1
    return out


def centroids(x, labels, k):
    xp = array_namespace(x)
    oh = _onehot(labels, k, xp, x.dtype)
    counts = oh.sum(axis=0)
    return (oh.T @ x) / xp.maximum(counts, 1)[:, None], counts


def silhouette_samples(x, labels, k: int, chunk: int = 2048):
    """Silhouette of every row of x (use a sample of rows: cost is n^2 D, memory chunk x n)."""
    xp = array_namespace(x)
    n = x.shape[0]
    oh = _onehot(labels, k, xp, x.dtype)
    counts = oh.sum(axis=0)
    sq = (x * x).sum(axis=1)
    out = xp.empty(n, dtype=x.dtype)
    for i in range(0, n, chunk):
        c = x[i:i + chunk]
        d = xp.sqrt(xp.maximum(sq[i:i + chunk, None] + sq[None, :] - 2 * (c @ x.T), 0))
        sums = d @ oh  # (c, K): summed distance to every cluster
        own = labels[i:i + chunk]
        rows = xp.arange(c.shape[0])
        n_own = counts[own]
        a = sums[rows, own] / xp.maximum(n_own - 1, 1)
        mean_other = sums / xp.maximum(counts, 1)[None, :]
        mean_other[rows, own] = xp.inf
        mean_other[:, counts == 0] = xp.inf
        b = mean_other.min(axis=1)
        finite_b = xp.isfinite(b)  # b is infinite when no other cluster has members
        s = (xp.where(finite_b, b, a) - a) / xp.maximum(xp.maximum(a, xp.where(finite_b, b, a)), 1e-30)
        out[i:i + chunk] = xp.where((n_own > 1) & finite_b, s, 0)
    return out


def internal_metrics(x, labels, k: int, sample_size: int = 10000, seed: int = 0) -> dict:
    """Silhouette (sampled; overall and per cluster), Calinski-Harabasz, Davies-Bouldin, sizes, spread."""
    xp = array_namespace(x)
    labels = xp.asarray(labels).astype(xp.int64)
    n = x.shape[0]
    cent, counts = centroids(x, labels, k)
    dist = xp.sqrt(((x - cent[labels]) ** 2).sum(axis=1))
    spread = (_onehot(labels, k, xp, x.dtype).T @ dist) / xp.maximum(counts, 1)
    used = counts > 0
    k_used = int(used.sum())
    overall = x.mean(axis=0)
    between = float((counts * ((cent - overall) ** 2).sum(axis=1)).sum())
    within = float((dist ** 2).sum())
    ch = between / within * (n - k_used) / (k_used - 1) if k_used > 1 and within > 0 else float("nan")
    c_used, s_used = cent[used], spread[used]
    cd = xp.sqrt(((c_used[:, None] - c_used[None]) ** 2).sum(axis=2))
    ratio = (s_used[:, None] + s_used[None]) / xp.where(cd > 0, cd, xp.inf)
    ratio[xp.arange(k_used), xp.arange(k_used)] = 0
    db = float(ratio.max(axis=1).mean()) if k_used > 1 else float("nan")
    rng = np.random.default_rng(seed)
    idx = xp.asarray(np.sort(rng.choice(n, min(n, sample_size), replace=False)))
    sil = silhouette_samples(x[idx], labels[idx], k)
    sil_lab = to_numpy(labels[idx])
    sil_h = to_numpy(sil)
    per = [float(sil_h[sil_lab == j].mean()) if (sil_lab == j).any() else float("nan") for j in range(k)]
    return {
        "silhouette": float(sil_h.mean()) if k_used > 1 else float("nan"),
        "silhouette_sample_size": int(len(sil_h)),
        "silhouette_per_cluster": per,
        "calinski_harabasz": ch,
        "davies_bouldin": db,
        "cluster_sizes": [int(c) for c in to_numpy(counts)],
        "mean_distance_to_centre": [float(s) for s in to_numpy(spread)],
    }


def external_metrics(truth, labels) -> dict:
    """ARI, NMI and accuracy under the best one-to-one matching of clusters to classes (Hungarian)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t, p = to_numpy(truth).astype(np.int64), to_numpy(labels).astype(np.int64)
    cm = confusion(t, p)
    r, c = linear_sum_assignment(-cm)
    return {
        "ari": float(adjusted_rand_score(t, p)),
        "nmi": float(normalized_mutual_info_score(t, p)),
        "accuracy": float(cm[r, c].sum() / len(t)),
    }


def confusion(truth, labels) -> np.ndarray:
    """Counts (true class, cluster)."""
    t, p = np.asarray(truth, np.int64), np.asarray(labels, np.int64)
    cm = np.zeros((t.max() + 1, p.max() + 1), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm
