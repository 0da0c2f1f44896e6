"""Cluster a latent set with one call, and write labels and metrics."""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

import numpy as np

from ..atomic import atomic_path, write_json
from ..backend import Backend, namespace, to_numpy
from ..errors import GpuclustError
from .gmm import GaussianMixture
from .kmeans import KMeans
from . import novelty
from .metrics import external_metrics, internal_metrics, internal_metrics_of_partitions
from .validation import check_latents

METHODS = ("gmm", "kmeans")


@dataclass
class Clustering:
    """A fitted clusterer and what it says of every row (host arrays)."""

    model: object  # fitted on latents / metrics["latent_scale"]
    labels: np.ndarray  # (N,) nearest cluster
    probs: np.ndarray | None  # (N, K) mixture probabilities (None for K-means; a Dask array if left on workers)
    scores: np.ndarray  # (N,) novelty score: log-likelihood, or minus squared distance for K-means
    metrics: dict

    def __iter__(self):  # (model, labels, probs, metrics), as earlier callers unpack it
        return iter((self.model, self.labels, self.probs, self.metrics))


def cluster(z, method: str, k: int, backend: Backend, seed: int = 0, covariance_type: str = "full",
            truth=None, n_init: int = 1, train_mask=None, start=None, probs_on_workers: bool = False) -> Clustering:
    """Fit on z (or on the rows where train_mask is True) and label and score every row.

    Where the fit runs is the backend's: this process on its device and in its float dtype, or the
    latents partitioned on its Dask workers (z may already be a Dask array there). On Dask the labels,
    scores and metrics are computed on the partitions too: N labels and scores, K-sized sums and the
    silhouette's sample come back, never the N x D latents. The estimators are the backend's pair,
    one surface either way. The model is fitted on z / metrics["latent_scale"]; `centres_of` gives its
    centres in latent units. `start(scale)` may give the mixture's starting (weights, means,
    precisions) in units of latent / scale (the mixture an encoder was refined towards); n_init then
    does not apply. probs_on_workers: on Dask, the mixture's probabilities stay there, persisted (a Dask
    array in Clustering.probs, which write_labels reads a block at a time), instead of N x K numbers here.
    """
    if method not in METHODS:
        raise GpuclustError(f"unknown clustering method {method!r}: use gmm or kmeans")
    try:
        x, scale = scaled_latents(z, backend, k)
        fit_x = x if train_mask is None else x[_mask_on(x, train_mask)]
        if backend.client is None:
            check_latents(fit_x, k, what="the training rows")
        model = estimator(method, k, seed, covariance_type, n_init, classes=backend.estimators,
                          init=start(scale) if start else None)
        extra = caught_warnings(lambda: model.fit(fit_x))
        if backend.client is not None:
            extra["dask_workers"] = backend.n_workers
        if method == "gmm" and probs_on_workers and backend.client is not None:
            probs = model.predict_proba(x).persist()
            labels = probs.argmax(axis=1).compute()
        elif method == "gmm":
            probs = to_numpy(_computed(model.predict_proba(x)))
            labels = probs.argmax(axis=1)
        else:
            labels, probs = to_numpy(_computed(model.predict(x))), None
    except GpuclustError:
        raise
    except ValueError as e:  # the estimators' own (scikit-learn's) messages: a problem with the data
        raise GpuclustError(f"{method} with K = {k} failed: {e}".replace("\n", " "))
    metrics = {"method": method, "k": int(k), "n": int(len(z)), "device": backend.latent_device,
               "latent_scale": scale, **extra}
    labels = np.asarray(labels).astype(np.int64)
    if backend.client is None:
        metrics.update(internal_metrics(x, labels, k, seed=seed))
        scores = novelty.scores(model, x)
    else:
        metrics.update(internal_metrics_of_partitions(x, labels, k, seed=seed))
        scores = _scores_of_partitions(model, x)
    if method == "gmm":
        bic, aic = (model.bic(x), model.aic(x)) if backend.client is None else _criteria(model, scores)
        metrics.update(bic=float(bic), aic=float(aic), converged=bool(model.converged_), n_iter=int(model.n_iter_))
    else:
        metrics.update(inertia=float(model.inertia_), n_iter=int(model.n_iter_))
    if truth is not None:
        metrics.update(external_metrics(truth, labels))
    return Clustering(model, labels, probs, scores, metrics)


def _scores_of_partitions(model, x) -> np.ndarray:
    """Novelty scores of a Dask array's rows, computed on its partitions (N numbers come back, as NumPy)."""
    if hasattr(model, "score_samples"):
        return to_numpy(model.score_samples(x).compute()).astype(np.float64)
    return x.map_blocks(novelty.distance_scores, to_numpy(model.cluster_centers_), drop_axis=1, dtype=np.float64,
                        meta=np.empty((0,), np.float64)).compute()


def _criteria(model, scores: np.ndarray) -> tuple[float, float]:
    """The mixture's (BIC, AIC) from its per-row log-likelihoods: GaussianMixture.bic and .aic without the rows."""
    n, p = len(scores), model._n_parameters()
    fit = -2 * float(np.mean(scores)) * n
    return fit + p * math.log(n), fit + 2 * p


def scaled_latents(z, backend: Backend, k: int):
    """(latents / scale, scale): on the backend's device and in its float dtype, or partitioned on its workers.

    One global scale (geometry unchanged) so that reg_covar and tolerances mean the same for latents of
    any magnitude: an encoder fed L2-normalised spectrograms gives latents ~1e-3.
    """
    if backend.client is None:
        x = check_latents(backend.asarray(z, dtype=backend.float_dtype), k)
        xp, _ = namespace(x)
        scale = float(xp.std(x)) or 1.0
        return x / scale, scale
    import dask.array as da

    from ..distributed.read import partition_rows

    if not isinstance(z, da.Array):
        z = da.from_array(np.asarray(z), chunks=(partition_rows(len(z), backend.n_workers), -1))
    z = z.astype(backend.latent_dtype)  # the partitions' own rule: float64 in NumPy even with GPU workers
    scale = float(z.std().compute()) or 1.0
    return (z / scale).persist(), scale


def _mask_on(x, mask):
    """A boolean row mask that indexes x (host for Dask and NumPy, on the device for CuPy)."""
    if hasattr(x, "dask"):
        return np.asarray(mask)
    xp, dev = namespace(x)
    return xp.asarray(np.asarray(mask), device=dev)


def _computed(a):
    return a.compute() if hasattr(a, "dask") else a


def estimator(method: str, k: int, seed: int, covariance_type: str, n_init: int, classes=None, init=None):
    """The clustering estimator for `method`, of the given (mixture, K-means) classes (gpuclust's own by default).

    init: (weights, means, precisions) to start a full-covariance mixture from.
    """
    gm, km = classes or (GaussianMixture, KMeans)
    if method == "gmm":
        if init is not None and covariance_type == "full":
            w, m, p = init
            return gm(k, covariance_type=covariance_type, random_state=seed, max_iter=300, weights_init=w / w.sum(),
                      means_init=m, precisions_init=p)
        return gm(k, covariance_type=covariance_type, random_state=seed, n_init=n_init, max_iter=300)
    return km(k, n_init=n_init, random_state=seed)


def caught_warnings(fn) -> dict:
    """Run fn; the convergence warnings it raised, for metrics.json (where a batch user will see them)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fn()
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)})
    return {"warnings": msgs} if msgs else {}


def centres_of(model, metrics) -> np.ndarray:
    """Cluster centres in the latent space's own units (host array)."""
    c = model.means_ if hasattr(model, "means_") else model.cluster_centers_
    return to_numpy(c) * metrics["latent_scale"]


# The per-event novelty score's column; runs before the rename called it "score" (read_labels reads both).
SCORE_COLUMN, OLD_SCORE_COLUMN = "log_likelihood", "score"
COMBINED_COLUMNS = ("novelty_score", "reconstruction_error")
CATALOGUE_COLUMNS = ("network", "station", "location", "channel", "id", "dt_on", "dt_peak", "dt_off")


def write_labels(path, rows, labels, probs=None, catalogue=None, truth=None, class_names=None, scores=None,
                 unknown=None, cluster_names=None, novelty_scores=None, errors=None) -> None:
    """labels.csv: row, nearest cluster, [its name], [unknown flag, log_likelihood (minus the squared distance to
    the nearest centre for K-means), [novelty_score, reconstruction_error: the combined novelty score the flag
    compares with the threshold, where the model has one; else the log-likelihood is the novelty score]],
    [max probability, per-cluster probabilities], [true class], catalogue columns. cluster_names: the user's
    (`gpuclust name`), one per cluster, or None."""
    cat_cols = []
    if catalogue:
        cat_cols = [c for c in CATALOGUE_COLUMNS if c in catalogue[0]]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        head = ["row", "cluster"] + (["cluster_name"] if cluster_names else [])
        combined = unknown is not None and novelty_scores is not None
        if unknown is not None:
            head += ["unknown", SCORE_COLUMN] + (list(COMBINED_COLUMNS) if combined else [])
        if probs is not None:
            head += ["probability"] + [f"p{j}" for j in range(probs.shape[1])]
        if truth is not None:
            head += ["true_class"]
        w.writerow(head + cat_cols)
        for i in range(len(rows)):
            if probs is not None and i % LABEL_BLOCK_ROWS == 0:  # a Dask array's rows come a block at a time
                block = _host_rows(probs, i, i + LABEL_BLOCK_ROWS)
            line = [int(rows[i]), int(labels[i])]
            if cluster_names:
                line += [cluster_names[int(labels[i])] or ""]
            if unknown is not None:
                line += [int(bool(unknown[i])), f"{scores[i]:.6g}"]
                if combined:
                    line += [f"{novelty_scores[i]:.6g}", f"{errors[i]:.6g}"]
            if probs is not None:
                pi = block[i % LABEL_BLOCK_ROWS]
                line += [f"{pi.max():.4f}"] + [f"{p:.4f}" for p in pi]
            if truth is not None:
                t = int(truth[i])
                line += [class_names[t] if class_names and t < len(class_names) else t]
            if catalogue:
                line += [catalogue[i].get(c, "") for c in cat_cols]
            w.writerow(line)


LABEL_BLOCK_ROWS = 65536


def _host_rows(a, lo: int, hi: int) -> np.ndarray:
    """Rows lo:hi of a host, device or Dask array, as NumPy."""
    part = a[lo:hi]
    return np.asarray(part.compute() if hasattr(part, "dask") else to_numpy(part))


def read_labels(path) -> dict:
    """A labels.csv as arrays: row, cluster, and unknown, log_likelihood (old runs' `score` too), novelty_score and
    reconstruction_error where written."""
    with open(path, newline="") as fh:
        lines = list(csv.DictReader(fh))
    out = {"row": np.array([int(r["row"]) for r in lines], np.int64),
           "cluster": np.array([int(r["cluster"]) for r in lines], np.int64)}
    head = set(lines[0]) if lines else set()
    if "unknown" in head:
        out["unknown"] = np.array([r["unknown"] == "1" for r in lines])
    column = SCORE_COLUMN if SCORE_COLUMN in head else OLD_SCORE_COLUMN
    if column in head:
        out["log_likelihood"] = np.array([float(r[column]) for r in lines])
    for column in COMBINED_COLUMNS:
        if column in head:
            out[column] = np.array([float(r[column]) for r in lines])
    return out


def novelty_column(labels: dict):
    """The score a read_labels dict's unknown flags compare with the threshold (None where it has none)."""
    return labels.get("novelty_score", labels.get("log_likelihood"))


def write_outputs(out_dir, rows, labels, probs, metrics, catalogue=None, truth=None, class_names=None,
                  scores=None, unknown=None, novelty_scores=None, errors=None) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_labels(os.path.join(out_dir, "labels.csv"), rows, labels, probs, catalogue, truth, class_names, scores,
                 unknown, None, novelty_scores, errors)
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
