"""A run is a model: everything needed to label new detections, saved in <run>/model/ without pickle.

    model.json       what the model is (format version, data description, encoder configuration,
                     clusterer, latent scale, novelty threshold, class names, t-SNE parameters)
    encoder.pt       encoder weights and configuration: tensors and plain values only, read back with
                     torch.load(weights_only=True)
    clusterer.npz    the fitted mixture (weights, means, covariances, precision Cholesky factors, and the
                     shift the fit centred the data on with the means relative to it) or the
                     K-means centres, in the scaled latent units the clusterer was fitted in, and the
                     quantiles of the reference events' novelty scores (with the combined score, also of
                     their log-likelihoods and minus their reconstruction errors, which rank new events)
    tsne.npz         the run's t-SNE map: the embedded (scaled) latents and their 2-D positions, so new
                     events can be placed on it without recomputing it
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..atomic import atomic_path, write_json
from ..backend import to_numpy
from ..clustering import novelty
from ..errors import GpuclustError

FORMAT = "gpuclust-model"
FORMAT_VERSION = 1
MODEL_DIR = "model"
COMBINED_COMPONENTS = ("likelihood_quantiles", "reconstruction_quantiles")

@dataclass
class RunModel:
    """A loaded model: metadata, the clusterer ready to predict, and the pieces to label new data."""

    path: str
    meta: dict
    clusterer: object
    quantiles: np.ndarray
    tsne: dict | None = None
    components: dict = field(default_factory=dict)  # the combined score's reference quantiles, where it has one
    _encoder: object = field(default=None, repr=False)

    @property
    def k(self) -> int:
        return int(self.meta["clusterer"]["k"])

    @property
    def scale(self) -> float:
        return float(self.meta["latent"]["scale"])

    @property
    def has_encoder(self) -> bool:
        return self.meta.get("encoder") is not None

    def threshold(self, percentile: float | None = None) -> float:
        p = self.meta["novelty"]["percentile"] if percentile is None else percentile
        return novelty.threshold(self.quantiles, p)

    @property
    def needs_errors(self) -> bool:
        """Whether its novelty score needs each event's reconstruction error (the combined score)."""
        return COMBINED_COMPONENTS[1] in self.components

    def novelty_scores(self, log_likelihood, errors=None) -> np.ndarray:
        """The model's novelty score of events (host), from their log-likelihoods [and reconstruction errors]."""
        if not self.needs_errors:
            return np.asarray(log_likelihood, dtype=np.float64)
        if errors is None:
            raise GpuclustError("this model's novelty score needs the events' reconstruction errors")
        return novelty.combined_scores(log_likelihood, errors, *(self.components[k] for k in COMBINED_COMPONENTS))

    def encoder(self, device: str = "cpu"):
        if self._encoder is None:
            from ..training.checkpoint import load_model

            self._encoder, _ = load_model(os.path.join(self.path, "encoder.pt"), device)
        return self._encoder.to(device)

    def class_of_cluster(self) -> list:
        return list(self.meta.get("classes", {}).get("cluster_to_class") or [])


def model_dir(run_dir: str) -> str:
    return os.path.join(run_dir, MODEL_DIR)


def save_model(run_dir: str, *, clusterer, method: str, covariance_type: str, latent_scale: float, reference_scores,
               percentile: float, data: dict, encoder_checkpoint: str | None = None, class_names=None,
               cluster_to_class=None, components: dict | None = None, learned_on: str = "the training rows of the run"
               ) -> str:
    """Write <run_dir>/model/ (see the module docstring); returns its path.

    reference_scores: the novelty scores of the events the threshold is learned on (`learned_on`);
    components: the combined score's quantiles (COMBINED_COMPONENTS), None for the log-likelihood alone."""
    d = model_dir(run_dir)
    os.makedirs(d, exist_ok=True)
    arrays = {"score_quantiles": novelty.reference_quantiles(reference_scores), **(components or {})}
    if method == "gmm":
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            arrays[name.rstrip("_")] = to_numpy(getattr(clusterer, name)).astype(np.float64)
        if hasattr(clusterer, "centring"):  # so that predict scores the run's own rows exactly as the run did
            shift, centred = clusterer.centring()
            arrays["centring_shift"], arrays["centred_means"] = to_numpy(shift), to_numpy(centred)
        k, dim = arrays["means"].shape
    else:
        arrays["cluster_centers"] = to_numpy(clusterer.cluster_centers_).astype(np.float64)
        k, dim = arrays["cluster_centers"].shape
    with atomic_path(os.path.join(d, "clusterer.npz")) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    encoder = None
    if encoder_checkpoint is not None:
        encoder = _copy_encoder(encoder_checkpoint, os.path.join(d, "encoder.pt"))
    from .. import __version__

    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "gpuclust_version": __version__,
        "data": data,
        "encoder": encoder,
        "latent": {"dim": int(dim), "scale": float(latent_scale)},
        "clusterer": {"method": method, "k": int(k), "covariance_type": covariance_type},
        "novelty": {"percentile": float(percentile), "threshold": novelty.threshold(arrays["score_quantiles"],
                                                                                    percentile),
                    "score": SCORE_NAMES["combined" if components else method],
                    "learned_on": learned_on},
        "classes": {"names": list(class_names or []), "cluster_to_class": cluster_to_class},
        "tsne": None,
    }
    write_json(os.path.join(d, "model.json"), meta)
    return d


SCORE_NAMES = {"gmm": "log-likelihood under the mixture", "kmeans": "minus the squared distance to the nearest centre",
               "combined": "combined: log rank of the log-likelihood + log rank of minus the reconstruction error"}


def _copy_encoder(src: str, dst: str) -> dict:
    """The encoder's configuration and best weights, alone, in a weights_only-loadable file."""
    import torch

    from ..training.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(src)
    weights = state.get("best_model") or state["model"]
    save_checkpoint(dst, {"config": state["config"], "model": {k: v.detach().cpu() for k, v in weights.items()}})
    del torch
    return {"file": "encoder.pt", "config": state["config"]}


def add_tsne(run_dir: str, ref_latents, xy, rows, params: dict) -> None:
    """Add the run's t-SNE map to its model (the reference points new events are placed among)."""
    d = model_dir(run_dir)
    if not os.path.exists(os.path.join(d, "model.json")):
        return
    with atomic_path(os.path.join(d, "tsne.npz")) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, latents=np.asarray(ref_latents, np.float64), xy=np.asarray(xy, np.float64),
                 rows=np.asarray(rows, np.int64))
    with open(os.path.join(d, "model.json")) as fh:
        meta = json.load(fh)
    meta["tsne"] = {"file": "tsne.npz", **params}
    write_json(os.path.join(d, "model.json"), meta)


def load_run_model(path: str) -> RunModel:
    """The model of a run directory (or of a model/ directory itself), with one-line errors."""
    path = os.fspath(path)
    d = path if os.path.exists(os.path.join(path, "model.json")) else model_dir(path)
    if not os.path.isdir(path):
        raise GpuclustError(f"{path}: no such run directory")
    meta_path = os.path.join(d, "model.json")
    if not os.path.exists(meta_path):
        raise GpuclustError(f"{path}: holds no saved model (no {MODEL_DIR}/model.json); it was made by an older "
                            "gpuclust or did not finish its cluster stage: rerun it with `gpuclust run ... --resume`")
    try:
        with open(meta_path) as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as e:
        raise GpuclustError(f"{meta_path}: not a readable model description ({type(e).__name__}: {e})")
    if meta.get("format") != FORMAT:
        raise GpuclustError(f"{meta_path}: not a gpuclust model")
    if meta.get("format_version") != FORMAT_VERSION:
        raise GpuclustError(f"{meta_path}: model format version {meta.get('format_version')}, this gpuclust reads "
                            f"version {FORMAT_VERSION}; rerun the run with this gpuclust")
    try:
        with np.load(os.path.join(d, "clusterer.npz"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        raise GpuclustError(f"{d}/clusterer.npz: missing or damaged ({type(e).__name__})")
    if meta.get("encoder") and not os.path.exists(os.path.join(d, "encoder.pt")):
        raise GpuclustError(f"{d}/encoder.pt: missing; the model cannot encode new spectrograms")
    tsne = None
    if meta.get("tsne") and os.path.exists(os.path.join(d, "tsne.npz")):
        with np.load(os.path.join(d, "tsne.npz"), allow_pickle=False) as z:
            tsne = {**meta["tsne"], **{k: z[k] for k in z.files}}
    components = {k: arrays[k] for k in COMBINED_COMPONENTS if k in arrays}
    if components and len(components) != len(COMBINED_COMPONENTS):
        raise GpuclustError(f"{d}/clusterer.npz: holds part of the combined novelty score's quantiles only")
    return RunModel(d, meta, _estimator(meta, arrays), arrays["score_quantiles"], tsne, components)


def _estimator(meta: dict, arrays: dict):
    """The fitted clusterer rebuilt from its parameters, ready for predict / predict_proba / score_samples."""
    c = meta["clusterer"]
    if c["method"] == "gmm":
        from ..clustering.gmm import GaussianMixture

        centring = (arrays["centring_shift"], arrays["centred_means"]) if "centred_means" in arrays else None
        return GaussianMixture.from_parameters(arrays["weights"], arrays["means"], arrays["covariances"],
                                               arrays["precisions_cholesky"], c["covariance_type"], centring)
    from ..clustering.kmeans import KMeans

    return KMeans.from_centres(arrays["cluster_centers"])


def majority_classes(truth, labels, k: int, class_names) -> list | None:
    """For each cluster, the name of the true class most of its members have (None without ground truth)."""
    if truth is None:
        return None
    t, p = np.asarray(truth, np.int64), np.asarray(labels, np.int64)
    out = []
    for j in range(k):
        members = t[(p == j) & (t >= 0)]
        if members.size == 0:
            out.append(None)
            continue
        c = int(np.bincount(members).argmax())
        out.append(class_names[c] if class_names and c < len(class_names) else str(c))
    return out
