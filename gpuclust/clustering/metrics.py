"""Clustering quality: internal indices (no ground truth) and agreement with ground truth.

Internal indices run against the array API standard, in the namespace and on the
device of the latents (NumPy, CuPy, PyTorch, ...), and never build an N x N matrix:
silhouette uses a seeded sample and chunked distances. Per-cluster sizes and
centres (K numbers) are brought to the host, where the small K x K parts are done.
"""
from __future__ import annotations

import numpy as np

from ..backend import host_or_same, namespace, one_hot, to_numpy


def centroids(x, labels, k):
    """Cluster means (K, D) and sizes (K,), in x's namespace (an empty cluster's mean is 0)."""
    xp, dev = namespace(x)
    oh = one_hot(labels, k, x.dtype)
    counts = xp.sum(oh, axis=0)
    return (xp.matrix_transpose(oh) @ x) / xp.maximum(counts, xp.ones_like(counts))[:, None], counts


def silhouette_samples(x, labels, k: int, chunk: int = 2048):
    """Silhouette of every row of x (use a sample of rows: cost is n^2 D, memory chunk x n)."""
    xp, dev = namespace(x)
    n = x.shape[0]
    labels = xp.astype(labels, xp.int64)
    oh = one_hot(labels, k, x.dtype)
    counts = xp.sum(oh, axis=0)
    sq = xp.sum(x * x, axis=1)
    inf = xp.asarray(float("inf"), dtype=x.dtype, device=dev)
    out = []
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        c = x[lo:hi, :]
        d2 = sq[lo:hi, None] + sq[None, :] - 2 * (c @ xp.matrix_transpose(x))
        d = xp.sqrt(xp.maximum(d2, xp.zeros_like(d2)))
        sums = d @ oh  # (c, K): summed distance to every cluster
        own = oh[lo:hi, :] > 0
        n_own = xp.take(counts, labels[lo:hi], axis=0)
        a = xp.sum(xp.where(own, sums, xp.zeros_like(sums)), axis=1) / xp.maximum(n_own - 1, xp.ones_like(n_own))
        mean_other = sums / xp.maximum(counts, xp.ones_like(counts))[None, :]
        mean_other = xp.where(own | (counts == 0)[None, :], inf, mean_other)
        b = xp.min(mean_other, axis=1)
        finite_b = xp.isfinite(b)  # b is infinite when no other cluster has members
        b_or_a = xp.where(finite_b, b, a)
        s = (b_or_a - a) / xp.maximum(xp.maximum(a, b_or_a), xp.full_like(a, 1e-30))
        out.append(xp.where((n_own > 1) & finite_b, s, xp.zeros_like(s)))
    return xp.concat(out)


def internal_metrics(x, labels, k: int, sample_size: int = 10000, seed: int = 0) -> dict:
    """Silhouette (sampled; overall and per cluster), Calinski-Harabasz, Davies-Bouldin, sizes, spread.

    Any index that is undefined for this clustering (one cluster, no spread) is NaN, never an error.
    """
    xp, dev = namespace(x)
    labels = xp.astype(xp.asarray(labels, device=dev), xp.int64)
    n = x.shape[0]
    cent, counts = centroids(x, labels, k)
    dist = xp.sqrt(xp.sum((x - xp.take(cent, labels, axis=0)) ** 2, axis=1))
    oh = one_hot(labels, k, x.dtype)
    spread_sum = to_numpy(dist[None, :] @ oh)[0]
    cent_h, counts_h = to_numpy(cent).astype(np.float64), to_numpy(counts).astype(np.float64)
    overall = to_numpy(xp.mean(x, axis=0)).astype(np.float64)
    within = float(xp.sum(dist * dist))
    idx = silhouette_rows(n, sample_size, seed)
    idx_dev = xp.asarray(idx, device=dev)
    sil = to_numpy(silhouette_samples(xp.take(x, idx_dev, axis=0), xp.take(labels, idx_dev, axis=0), k))
    return indices(n, k, cent_h, counts_h, spread_sum, overall, within, sil, to_numpy(labels)[idx])


def internal_metrics_of_partitions(x, labels, k: int, sample_size: int = 10000, seed: int = 0) -> dict:
    """internal_metrics of a Dask array x (NumPy or CuPy partitions) and host labels, without the rows.

    Two passes over the partitions where they live (per-cluster sums and sizes, then summed distances to
    the centres) send K-sized numbers back, summed here in partition order; the silhouette's seeded
    sample (the same rows as internal_metrics draws, at most sample_size x D) is the only part of x
    that comes to this process. The indices equal internal_metrics' up to the order of the sums.
    """
    import dask

    n = int(x.shape[0])
    labels = np.asarray(labels, np.int64)
    bounds = np.cumsum((0,) + tuple(x.chunks[0]))
    blocks = list(zip(x.to_delayed().ravel(), (labels[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]))))
    sums = dask.compute(*[dask.delayed(_cluster_sums)(b, lab, k) for b, lab in blocks])
    total = np.sum([s for s, _ in sums], axis=0)
    counts_h = np.sum([c for _, c in sums], axis=0)
    cent_h = total / np.maximum(counts_h, 1)[:, None]
    spreads = dask.compute(*[dask.delayed(_distance_sums)(b, lab, cent_h) for b, lab in blocks])
    spread_sum = np.sum([s for s, _ in spreads], axis=0)
    within = float(np.sum([w for _, w in spreads]))
    overall = total.sum(axis=0) / n
    idx = silhouette_rows(n, sample_size, seed)
    sample = x[idx].compute()
    xp, dev = namespace(sample)
    sil = to_numpy(silhouette_samples(sample, xp.asarray(labels[idx], device=dev), k))
    return indices(n, k, cent_h, counts_h, spread_sum, overall, within, sil, labels[idx])


def _cluster_sums(xb, labels, k):
    """On a worker: per-cluster sums (K, D) and sizes (K,) of a partition and its labels (host, float64)."""
    xp, dev = namespace(xb)
    oh = one_hot(xp.asarray(host_or_same(labels, xp), device=dev), k, xb.dtype)
    return (to_numpy(xp.matrix_transpose(oh) @ xb).astype(np.float64),
            to_numpy(xp.sum(oh, axis=0)).astype(np.float64))


def _distance_sums(xb, labels, cent):
    """On a worker: per-cluster summed distances to the centre (K,) and the summed squares of a partition."""
    xp, dev = namespace(xb)
    lab = xp.asarray(host_or_same(labels, xp), device=dev)
    c = xp.asarray(host_or_same(cent, xp), dtype=xb.dtype, device=dev)
    dist = xp.sqrt(xp.sum((xb - xp.take(c, lab, axis=0)) ** 2, axis=1))
    oh = one_hot(lab, c.shape[0], xb.dtype)
    return to_numpy(dist[None, :] @ oh)[0].astype(np.float64), float(xp.sum(dist * dist))


def silhouette_rows(n: int, sample_size: int, seed: int) -> np.ndarray:
    """The seeded sample of rows (sorted) the silhouette is computed on."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, min(n, sample_size), replace=False))


def indices(n, k, cent_h, counts_h, spread_sum, overall, within, sil, sil_lab) -> dict:
    """internal_metrics from what it needs of the rows: per-cluster centres, sizes and summed distances to the
    centre, the overall mean, the within-cluster sum of squares, and the silhouettes of a sample (host, K-sized)."""
    spread = spread_sum / np.maximum(counts_h, 1)
    used = counts_h > 0
    k_used = int(used.sum())
    between = float((counts_h * ((cent_h - overall) ** 2).sum(axis=1)).sum())
    ch = between / within * (n - k_used) / (k_used - 1) if k_used > 1 and within > 0 else float("nan")
    c_used, s_used = cent_h[used], spread[used]
    cd = np.sqrt(((c_used[:, None] - c_used[None]) ** 2).sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (s_used[:, None] + s_used[None]) / np.where(cd > 0, cd, np.inf)
    np.fill_diagonal(ratio, 0)
    db = float(ratio.max(axis=1).mean()) if k_used > 1 else float("nan")
    per = [float(sil[sil_lab == j].mean()) if (sil_lab == j).any() else float("nan") for j in range(k)]
    return {
        "silhouette": float(sil.mean()) if k_used > 1 and len(sil) else float("nan"),
        "silhouette_sample_size": int(len(sil)),
        "silhouette_per_cluster": per,
        "calinski_harabasz": ch,
        "davies_bouldin": db,
        "cluster_sizes": [int(c) for c in counts_h],
        "mean_distance_to_centre": [float(s) for s in spread],
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


def confusion(truth, labels, n_classes: int | None = None, n_clusters: int | None = None) -> np.ndarray:
    """Counts (true class, cluster), at least n_classes x n_clusters; labels of -1 (unknown) are left out."""
    t, p = np.asarray(truth, np.int64), np.asarray(labels, np.int64)
    keep = (t >= 0) & (p >= 0)
    t, p = t[keep], p[keep]
    rows = max(t.max() + 1 if t.size else 1, n_classes or 0)
    cols = max(p.max() + 1 if p.size else 1, n_clusters or 0)
    cm = np.zeros((rows, cols), np.int64)
    np.add.at(cm, (t, p), 1)
    return cm
