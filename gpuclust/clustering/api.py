"""Cluster a latent set with one call, and write labels and metrics."""
from __future__ import annotations

import csv
import os

import numpy as np

from ..atomic import atomic_path, write_json
from ..backend import Backend, to_numpy
from ..errors import GpuclustError
from .gmm import GaussianMixture
from .kmeans import KMeans
from .metrics import external_metrics, internal_metrics

METHODS = ("gmm", "kmeans")


def cluster(z, method: str, k: int, backend: Backend, seed: int = 0, covariance_type: str = "full",
            truth=None, n_init: int = 1, train_mask=None, client=None):
    """Fit on z (or on the rows where train_mask is True) and label every row.

    The model is fitted on z / metrics["latent_scale"]; `centres_of` gives its centres in latent units.
    With a Dask `client`, z may be a Dask array (e.g. latents encoded on the workers) or is partitioned
    across the workers; the fit and the labelling then run there.
    Returns (model, labels (N,) host, probabilities (N, K) host or None, metrics dict).
    """
    if method not in METHODS:
        raise GpuclustError(f"unknown clustering method {method!r}: use gmm or kmeans")
    if client is not None:
        model, labels, probs, x, scale, extra = _fit_dask(z, method, k, backend, seed, covariance_type, n_init,
                                                          train_mask, client)
    else:
        model, labels, probs, x, scale = _fit_local(z, method, k, backend, seed, covariance_type, n_init,
                                                    train_mask)
        extra = {}
    metrics = {"method": method, "k": int(k), "n": int(len(z)), "device": backend.device,
               "latent_scale": scale, **extra}
    metrics.update(internal_metrics(x, labels, k, seed=seed))
    if method == "gmm":
        metrics.update(bic=float(model.bic(x)), aic=float(model.aic(x)), converged=bool(model.converged_),
                       n_iter=int(model.n_iter_))
    else:
        metrics.update(inertia=float(model.inertia_), n_iter=int(model.n_iter_))
    labels = to_numpy(labels).astype(np.int64)
    if truth is not None:
        metrics.update(external_metrics(truth, labels))
    return model, labels, probs, metrics


def _fit_local(z, method, k, backend, seed, covariance_type, n_init, train_mask):
    x = backend.asarray(z, dtype=np.float32 if backend.device == "cuda" else np.float64)
    # One global scale (geometry unchanged) so that reg_covar and tolerances mean the same for
    # latents of any magnitude: an encoder fed L2-normalised spectrograms gives latents ~1e-3.
    scale = float(x.std()) or 1.0
    x = x / scale
    fit_x = x if train_mask is None else x[backend.asarray(train_mask)]
    if method == "gmm":
        model = GaussianMixture(k, covariance_type=covariance_type, random_state=seed, n_init=n_init,
                                max_iter=300).fit(fit_x)
        probs = model.predict_proba(x)
        return model, probs.argmax(axis=1), to_numpy(probs), x, scale
    model = KMeans(k, n_init=n_init, random_state=seed).fit(fit_x)
    return model, model.predict(x), None, x, scale


def _fit_dask(z, method, k, backend, seed, covariance_type, n_init, train_mask, client):
    """The same fit with the latents partitioned across the workers; only labels come back."""
    import dask.array as da

    from ..distributed import DaskGaussianMixture, DaskKMeans

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    if not isinstance(z, da.Array):
        z = da.from_array(np.asarray(z), chunks=max(1000, -(-len(z) // (4 * n_workers))))
    dtype = np.float32 if backend.device == "cuda" else np.float64
    z = z.astype(dtype)
    scale = float(z.std().compute()) or 1.0
    x = (z / scale).persist()
    fit_x = x if train_mask is None else x[np.asarray(train_mask)]
    if method == "gmm":
        model = DaskGaussianMixture(k, covariance_type=covariance_type, random_state=seed, n_init=n_init,
                                    max_iter=300, dtype=dtype).fit(fit_x)
        probs = to_numpy(model.predict_proba(x).compute())
        labels = probs.argmax(axis=1)
    else:
        model = DaskKMeans(k, n_init=n_init, random_state=seed, client=client).fit(fit_x)
        labels, probs = to_numpy(model.predict(x).compute()), None
    host = to_numpy(x.compute())  # N x D: small; the metrics use a sample of it
    return model, labels, probs, host, scale, {"dask_workers": n_workers}


def centres_of(model, metrics) -> np.ndarray:
    """Cluster centres in the latent space's own units (host array)."""
    c = model.means_ if hasattr(model, "means_") else model.cluster_centers_
    return to_numpy(c) * metrics["latent_scale"]


def write_labels(path, rows, labels, probs=None, catalogue=None, truth=None, class_names=None) -> None:
    """labels.csv: row index, cluster, [max probability, per-cluster probabilities], catalogue columns."""
    cat_cols = []
    if catalogue:
        cat_cols = [c for c in ("station", "network", "channel", "dt_on", "dt_peak", "dt_off") if c in catalogue[0]]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        head = ["row", "cluster"]
        if probs is not None:
            head += ["probability"] + [f"p{j}" for j in range(probs.shape[1])]
        if truth is not None:
            head += ["true_class"]
        w.writerow(head + cat_cols)
        for i in range(len(rows)):
            line = [int(rows[i]), int(labels[i])]
            if probs is not None:
                line += [f"{probs[i].max():.4f}"] + [f"{p:.4f}" for p in probs[i]]
            if truth is not None:
                t = int(truth[i])
                line += [class_names[t] if class_names and t < len(class_names) else t]
            if catalogue:
                line += [catalogue[i].get(c, "") for c in cat_cols]
            w.writerow(line)


def write_outputs(out_dir, rows, labels, probs, metrics, catalogue=None, truth=None, class_names=None) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_labels(os.path.join(out_dir, "labels.csv"), rows, labels, probs, catalogue, truth, class_names)
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
