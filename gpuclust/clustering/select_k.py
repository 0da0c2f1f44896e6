"""Choosing K: BIC/AIC for the mixture; inertia, sampled silhouette and the gap statistic for K-means;
optionally the stability of K-means over half-splits and the entropy merging of the BIC-chosen mixture
(gpuclust.clustering.stability)."""
from __future__ import annotations

import math

import numpy as np

from ..backend import namespace, to_numpy
from .gmm import GaussianMixture
from .kmeans import KMeans
from .metrics import silhouette_samples


# The criterion `run --k auto` follows, per clustering method. benchmarks/bench_select_k.py (select_k.json):
# BIC came closest of all (mean error 1.3 and 1.0 on the benchmark and scenario; stability 2.7 and 3.3).
AUTO_CRITERION = {"gmm": "bic", "kmeans": "gap"}


def _log_wk(x, k, seed):
    km = KMeans(k, n_init=1, random_state=seed).fit(x)
    return math.log(max(km.inertia_, 1e-300)), km


def highest_k(n: int) -> int:
    """The highest K a sweep of n latents can try: its stability criterion fits each K on half of them."""
    return n // 2


def sweep(x, k_values, methods=("gmm", "kmeans"), n_refs: int = 5, sample_size: int = 20000,
          seed: int = 0, covariance_type: str = "full", progress=None, stability: bool = False,
          entropy: bool = False, stability_splits: int = 3) -> dict:
    """Fit every K; return rows of scores and a suggested K per method with the reason.

    stability: add Lange's normalised instability and the half-split ARI of K-means to every row.
    entropy: merge the lowest-BIC mixture's components by entropy (Baudry et al.); result["entropy"].

    The gap statistic (Tibshirani et al. 2001) compares log inertia with its mean
    over `n_refs` uniform reference sets in the data's bounding box, on a sample.
    """
    xp, dev = namespace(x)
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    idx = xp.asarray(np.sort(rng.choice(n, min(n, sample_size), replace=False)), device=dev)
    xs = xp.take(x, idx, axis=0)
    lo, hi = to_numpy(xp.min(xs, axis=0)), to_numpy(xp.max(xs, axis=0))
    refs = [xp.asarray(rng.uniform(lo, hi, size=tuple(xs.shape)), dtype=xs.dtype, device=dev) for _ in range(n_refs)]
    rows, best = [], None
    for k in k_values:
        row = {"k": int(k)}
        if "gmm" in methods:
            g = GaussianMixture(k, covariance_type=covariance_type, random_state=seed, max_iter=200).fit(x)
            row["bic"], row["aic"] = float(g.bic(x)), float(g.aic(x))
            if best is None or row["bic"] < best[0]:
                best = (row["bic"], g)
        if "kmeans" in methods:
            km = KMeans(k, n_init=1, random_state=seed).fit(x)
            row["inertia"] = km.inertia_
            lab = km.predict(xs)
            row["silhouette"] = float(silhouette_samples(xs, lab, k).mean()) if k > 1 else float("nan")
            lw, _ = _log_wk(xs, k, seed)
            ref = np.array([_log_wk(r, k, seed)[0] for r in refs])
            row["gap"] = float(ref.mean() - lw)
            row["gap_sd"] = float(ref.std() * math.sqrt(1 + 1 / n_refs))
        rows.append(row)
        if progress:
            progress(1)
    out = {"rows": rows, "suggestion": suggest(rows)}
    if stability:
        from .stability import k_stability

        for row, st in zip(rows, k_stability(x, [r["k"] for r in rows], "kmeans", stability_splits, seed)):
            row.update(instability=st["instability"], instability_sd=st["instability_sd"],
                       stability_ari=st["stability_ari"])
    if entropy and best is not None:
        from .stability import entropy_merge

        merged = entropy_merge(best[1].predict_proba(x))
        out["entropy"] = {"components": int(best[1].n_components), "entropy": merged["entropy"],
                          "k": merged["k"], "maps": {str(m): v for m, v in merged["maps"].items()}}
    return out


def suggest_all(rows, entropy: dict | None = None) -> dict:
    """Every criterion's choice {criterion: {"k", "runner_up", "why"}} from a sweep's rows (and entropy merging)."""
    out = {}

    def ranked(key, lowest: bool, why: str):
        if rows and key in rows[0]:
            order = sorted(rows, key=lambda r: (r[key] if lowest else -r[key], -r["k"]))  # ties: the larger K
            out[key_name.get(key, key)] = {"k": order[0]["k"], "runner_up": order[1]["k"] if len(order) > 1 else None,
                                           "why": why}

    key_name = {"instability": "stability"}
    ranked("bic", True, "lowest BIC")
    if rows and "gap" in rows[0]:
        pick = suggest(rows)["kmeans"]
        out["gap"] = {"k": pick["k"], "runner_up": None, "why": pick["why"]}
    ranked("silhouette", False, "highest silhouette")
    ranked("instability", True, "lowest normalised instability over half-splits (Lange et al.)")
    ranked("stability_ari", False, "highest mean ARI between half-split fits")
    if entropy is not None:
        curve = entropy["entropy"]
        out["entropy"] = {"k": entropy["k"], "runner_up": None, "components": len(curve),
                          "why": f"elbow of the entropy of {len(curve)} merged mixture components (Baudry et al.)"}
    return out


def suggest(rows) -> dict:
    out = {}
    if rows and "bic" in rows[0]:
        best = min(rows, key=lambda r: r["bic"])
        out["gmm"] = {"k": best["k"], "why": "lowest BIC"}
    if rows and "gap" in rows[0]:
        pick = None
        for a, b in zip(rows, rows[1:]):
            if a["gap"] >= b["gap"] - b["gap_sd"]:
                pick = a
                break
        if pick is not None:
            out["kmeans"] = {"k": pick["k"], "why": "smallest K with gap(K) >= gap(K+1) - s(K+1) (Tibshirani)"}
        else:
            best = max(rows, key=lambda r: r["silhouette"])
            out["kmeans"] = {"k": best["k"], "why": "highest silhouette (the gap rule chose none)"}
    return out
