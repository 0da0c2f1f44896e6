"""Choosing K by stability, merging mixture components by entropy, and how stable each cluster is.

- `k_stability`: Lange et al. (2004): for each K, fit on two disjoint random halves of the data, label
  every point with both fits and count the disagreement under the best matching of labels (Hungarian);
  normalise by the same disagreement between the fits' labels randomly permuted (so that small K, whose
  disagreement is small for any data, is not favoured by default). Also the mean ARI between the pairs.
- `entropy_merge`: Baudry et al. (2010), "Combining mixture components for clustering": from a mixture's
  posteriors, merge the pair of components whose union lowers the posterior entropy most, down to one
  cluster; the number of clusters is the elbow of the entropy curve (two-segment least squares).
- `cluster_stability`: Hennig (2007): each cluster's mean Jaccard overlap with its best match in refits
  on bootstrap samples (refits label every row; the overlap is counted on the rows of the bootstrap).
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy


# --- agreement between two labellings ----------------------------------------------------------------

def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cm = np.zeros((int(a.max()) + 1, int(b.max()) + 1), np.int64)
    np.add.at(cm, (a, b), 1)
    return cm


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of points whose labels differ under the best one-to-one matching of a's labels to b's."""
    from scipy.optimize import linear_sum_assignment

    cm = _contingency(a, b)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(a)


def _fit_labels(x, method: str, k: int, seed: int, fit_rows: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Labels of every row of x from a fit of `method` with K on x[fit_rows] (one start)."""
    from .gmm import GaussianMixture
    from .kmeans import KMeans

    xp_rows = x[fit_rows] if isinstance(x, np.ndarray) else x[_on(x, fit_rows)]
    if method == "gmm":
        model = GaussianMixture(k, random_state=seed, max_iter=max_iter).fit(xp_rows)
    else:
        model = KMeans(k, n_init=1, random_state=seed, max_iter=max_iter).fit(xp_rows)
    return np.asarray(to_numpy(model.predict(x)), np.int64)


def _on(x, rows):
    from ..backend import namespace

    xp, dev = namespace(x)
    return xp.asarray(rows, device=dev)


# --- stability of K ----------------------------------------------------------------------------------

def k_stability(x, k_values, method: str = "kmeans", n_splits: int = 3, seed: int = 0, progress=None) -> list[dict]:
    """Per K: Lange's normalised instability (lower is better) and the mean ARI between half-split fits."""
    from sklearn.metrics import adjusted_rand_score

    n = x.shape[0]
    rng = np.random.default_rng(seed)
    splits = [rng.permutation(n) for _ in range(n_splits)]
    rows = []
    for k in k_values:
        d, d_rand, ari = [], [], []
        for s, perm in enumerate(splits):
            half = n // 2
            a = _fit_labels(x, method, k, seed + 2 * s, np.sort(perm[:half]))
            b = _fit_labels(x, method, k, seed + 2 * s + 1, np.sort(perm[half:]))
            d.append(disagreement(a, b))
            d_rand.append(disagreement(rng.permutation(a), rng.permutation(b)))
            ari.append(adjusted_rand_score(a, b))
        inst = float(np.mean(d)) / max(float(np.mean(d_rand)), 1e-12)
        rows.append({"k": int(k), "instability": inst, "instability_sd": float(np.std(d)) / max(np.mean(d_rand), 1e-12),
                     "stability_ari": float(np.mean(ari))})
        if progress:
            progress(1)
    return rows


# --- entropy-based merging of mixture components -----------------------------------------------------

def _entropy(tau: np.ndarray) -> float:
    t = np.clip(tau, 1e-300, 1.0)
    return float(-(tau * np.log(t)).sum())


def entropy_merge(probs) -> dict:
    """Greedy merging of a mixture's components (Baudry et al. 2010) from its (N, K) posteriors.

    Returns entropies[j] for j + 1 clusters, the merge order, the elbow's number of clusters, and `maps`:
    maps[m] is the component -> cluster map (length K, clusters numbered 0..m-1) for m clusters.
    """
    tau = np.asarray(to_numpy(probs), np.float64)
    k = tau.shape[1]
    groups = [[j] for j in range(k)]
    cols = [tau[:, j] for j in range(k)]
    ent = {k: _entropy(tau)}
    maps = {k: _map_of(groups, k)}
    merges = []
    while len(cols) > 1:
        best, pair = -np.inf, None
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                a, b = cols[i], cols[j]
                u = a + b
                gain = float((u * np.log(np.clip(u, 1e-300, None))).sum()
                             - (a * np.log(np.clip(a, 1e-300, None))).sum()
                             - (b * np.log(np.clip(b, 1e-300, None))).sum())
                if gain > best:
                    best, pair = gain, (i, j)
        i, j = pair
        merges.append([sorted(groups[i]), sorted(groups[j])])
        cols[i] = cols[i] + cols[j]
        groups[i] = groups[i] + groups[j]
        del cols[j], groups[j]
        ent[len(cols)] = _entropy(np.stack(cols, axis=1))
        maps[len(cols)] = _map_of(groups, k)
    curve = [ent[m] for m in range(1, k + 1)]
    return {"entropy": curve, "merges": merges, "k": elbow(curve, len(tau)), "maps": maps}


def _map_of(groups, k: int) -> list[int]:
    out = [0] * k
    for c, g in enumerate(sorted(groups, key=min)):
        for j in g:
            out[j] = c
    return out


def elbow(curve, n: int | None = None, tol: float = 0.01) -> int:
    """The number of clusters at the change of slope of curve[j] (j + 1 clusters): two-segment least squares.

    With n (the number of points): when even the last merge lowers the entropy by less than tol * n nats,
    the components are already separate clusters and none is merged (the curve has no steep part).
    """
    y = np.asarray(curve, np.float64)
    m = len(y)
    if m <= 2 or (n is not None and y[-1] - y[-2] < tol * n):
        return m
    x = np.arange(1, m + 1, dtype=np.float64)
    best, pick = np.inf, m
    for c in range(2, m + 1):  # the break point c belongs to both segments
        sse = 0.0
        for lo, hi in ((0, c), (c - 1, m)):
            xs, ys = x[lo:hi], y[lo:hi]
            if len(xs) >= 2:
                coef = np.polyfit(xs, ys, 1)
                sse += float(((np.polyval(coef, xs) - ys) ** 2).sum())
        if sse < best:
            best, pick = sse, c
    return int(pick)


# --- how stable each cluster is ----------------------------------------------------------------------

def cluster_stability(x, labels, refit, n_refits: int = 5, seed: int = 0) -> np.ndarray:
    """Each cluster's mean (over refits) Jaccard overlap with its best-matching cluster of a refit.

    refit(rows, seed) -> labels of every row of x from a clustering fitted on x[rows]; rows is a bootstrap
    sample, and the overlap is counted on the distinct rows it drew. A cluster absent from a refit's rows
    counts 0 there.
    """
    labels = np.asarray(labels, np.int64)
    n, k = len(labels), int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    jac = np.zeros((n_refits, k))
    for r in range(n_refits):
        rows = np.sort(rng.integers(0, n, n))
        other = np.asarray(refit(rows, seed + 1 + r), np.int64)
        seen = np.unique(rows)
        a, b = labels[seen], other[seen]
        cm = _contingency(a, b)
        cm = np.pad(cm, ((0, k - cm.shape[0]), (0, 0)))
        union = cm.sum(axis=1)[:, None] + cm.sum(axis=0)[None, :] - cm
        j = np.where(union > 0, cm / np.maximum(union, 1), 0.0)
        jac[r] = j.max(axis=1)
    return jac.mean(axis=0)


STABLE, DOUBTFUL = 0.75, 0.5  # Hennig (2007): above 0.75 stable, 0.5 or below dissolved


def stability_word(j: float) -> str:
    return "stable" if j > STABLE else ("doubtful" if j > DOUBTFUL else "unstable")


def refit_stability(x, labels, method: str, k: int, seed: int = 0, covariance_type: str = "full",
                    fit_rows=None, n_refits: int = 5) -> dict:
    """Per-cluster stability of a fitted clustering over bootstrap refits of `method` (one start each, random
    initialisation with another seed each time) on x (host array, the latents the fit saw, scaled alike).

    Bootstraps are drawn from fit_rows (the fit's training rows; all rows when None)."""
    from .api import estimator

    x = np.asarray(to_numpy(x))
    pool = np.arange(len(x)) if fit_rows is None else np.flatnonzero(np.asarray(fit_rows))

    def refit(rows, s):
        model = estimator(method, k, s, covariance_type, 1).fit(x[pool[rows]])
        return np.asarray(to_numpy(model.predict(x[pool])), np.int64)

    jac = cluster_stability(x[pool], np.asarray(labels)[pool], refit, n_refits, seed)
    jac = np.pad(jac, (0, k - len(jac)))
    return {"method": f"mean Jaccard overlap with the best-matching cluster of {n_refits} refits on bootstrap "
                      "samples of the fitted rows (Hennig 2007)", "refits": int(n_refits),
            "per_cluster": [float(j) for j in jac], "verdict": [stability_word(float(j)) for j in jac],
            "thresholds": {"stable": STABLE, "unstable": DOUBTFUL}}


def write_stability_csv(path, stability: dict, sizes) -> None:
    """cluster_stability.csv: cluster, events, stability, verdict; the most stable first."""
    import csv

    from ..atomic import atomic_path

    jac = stability["per_cluster"]
    order = sorted(range(len(jac)), key=lambda j: -jac[j])
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cluster", "events", "stability", "verdict"])
        for j in order:
            w.writerow([j, int(sizes[j]), f"{jac[j]:.4f}", stability["verdict"][j]])
