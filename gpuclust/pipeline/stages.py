"""The stages of `gpuclust run`, each reading what the previous ones wrote in the run directory."""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import torch

from ..atomic import atomic_path, write_json
from ..backend import Backend, to_numpy
from ..clustering import novelty
from ..clustering.api import centres_of, cluster, write_outputs
from ..data.loader import usable_rows
from ..data.spectrograms import open_spectrograms
from ..data.splits import make_splits
from ..errors import GpuclustError
from ..latents import Latents, load_latents, save_latents
from ..latents.encode import encode_rows
from ..latents.handoff import to_array
from ..models import build_model
from ..models.autoencoder import CHANNELS
from ..training.checkpoint import load_model
from ..training.sources import make_source
from ..training.trainer import TrainConfig, train_autoencoder
from .config import RunConfig
from .model import add_tsne, load_run_model, majority_classes, save_model


def default_data_path(rows: int, seed: int) -> str:
    root = os.environ.get("GPUCLUST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gpuclust")
    return os.path.join(root, f"synthetic-{rows}-seed{seed}.h5")


def ensure_default_data(cfg: RunConfig, log) -> str:
    """The built-in dataset: the synthetic benchmark, generated once and cached."""
    from ..data.synth import write_synthetic

    path = default_data_path(cfg.synth_rows, cfg.seed)
    if not os.path.exists(path):
        log(f"generating the built-in synthetic dataset ({cfg.synth_rows} spectrograms) at {path}")
        write_synthetic(path, cfg.synth_rows, seed=cfg.seed)
    return path


def open_data(cfg: RunConfig):
    return open_spectrograms(cfg.data, cfg.group, cfg.dataset, cfg.freqs_dataset, cfg.times_dataset,
                             cfg.labels_dataset)


def data_stage(cfg: RunConfig, run, log) -> dict:
    """Usable rows and the seeded split, saved as splits.npz (original row indices)."""
    with open_data(cfg) as sf:
        rows, n_bad = usable_rows(sf, cfg.bad_rows, cfg.norm)
        sp = make_splits(rows, cfg.split, cfg.seed)
        check_k(cfg, len(sp.train), len(rows), sf.n_rows)
        if n_bad:
            from ..data.loader import describe_bad

            log(f"skipped {describe_bad(sf.row_health())}")
        with atomic_path(run.file("splits.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **sp.as_dict())
        return {"file": os.path.abspath(cfg.data), "layout": sf.layout, "dataset": sf.dataset,
                "rows": sf.n_rows, "bad_rows": n_bad, "image": list(sf.shape),
                "train": len(sp.train), "validation": len(sp.val), "test": len(sp.test),
                "ground_truth": sf.label_dataset is not None, "class_names": sf.class_names,
                "catalogue": sf.catalogue_dataset is not None, "traces": sf.trace_dataset is not None}


def check_k(cfg: RunConfig, n_train: int, n_usable: int, n_rows: int) -> None:
    """K against the rows the clustering is fitted on, before any training."""
    need = cfg.k if cfg.k != "auto" else 4
    if need > n_train:
        raise GpuclustError(
            f"K = {cfg.k} clusters asked for, but the clustering is fitted on the training split: "
            f"{n_train} of the file's {n_usable} usable rows ({n_rows} in all); use a smaller --k or more data")


def load_splits(run) -> dict:
    with np.load(run.file("splits.npz")) as z:
        return {k: z[k] for k in z.files}


def model_config(cfg: RunConfig, shape) -> dict:
    if cfg.model == "ae":
        return {"arch": "ae", "input_shape": list(shape), "latent_dim": cfg.latent_dim, "channels": list(CHANNELS),
                "latent_activation": cfg.latent_activation}
    return {"arch": "unet", "input_shape": list(shape), "latent_dim": cfg.latent_dim, "base": 8,
            "skips": cfg.unet_skips, "dropout": 0.1, "latent_activation": cfg.latent_activation}


def train_stage(cfg: RunConfig, run, backend: Backend, resume: bool, log) -> dict:
    from ..plots.figures import loss_figure

    sp = load_splits(run)
    check_k(cfg, len(sp["train"]), sum(len(v) for v in sp.values()), sum(len(v) for v in sp.values()))
    with open_data(cfg) as sf:
        budget = cfg.memory_budget_gb * 2**30
        train = make_source(sf, sp["train"], cfg.norm, backend.device, budget)
        val = make_source(sf, sp["val"], cfg.norm, backend.device, budget)
        torch.manual_seed(cfg.seed)
        model = build_model(model_config(cfg, sf.shape))
        tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience,
                         seed=cfg.seed, quiet=cfg.quiet)
        hist = train_autoencoder(model, train, val, tc, run.file("checkpoints"), backend.device, resume=resume)
    loss_figure(hist, run.file("loss.png"), title=f"{cfg.model.upper()} training")
    return {"epochs": len(hist), "final_train_loss": hist[-1]["train_loss"], "final_val_loss": hist[-1]["val_loss"],
            "best_val_loss": min(h["val_loss"] if h["val_loss"] is not None else h["train_loss"] for h in hist),
            "samples_per_s": float(np.median([h["samples_per_s"] for h in hist]))}


def _encode(cfg, run, backend, model):
    sp = load_splits(run)
    rows = np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
    with open_data(cfg) as sf:
        z = encode_rows(model, sf, rows, cfg.norm, backend.device)
        truth = sf.labels(rows)
    return rows, z, truth, sp


def encoder_checkpoint(cfg: RunConfig) -> str:
    """The checkpoint the later stages encode with: DEC's, the refined one, or the trained one."""
    if cfg.dec:
        return "encoder_dec.pt"
    return "refined.pt" if cfg.objective == "mixture" else "best.pt"


def refine_stage(cfg: RunConfig, run, backend: Backend, log) -> dict:
    """The trained encoder refined with the clustering mixture as its objective (gpuclust.training.mixture)."""
    from ..training.mixture import refine

    model, _ = load_model(run.file("checkpoints", "best.pt"), backend.device)
    sp = load_splits(run)
    k = int(cfg.k) if cfg.k != "auto" else 8
    with open_data(cfg) as sf:
        budget = cfg.memory_budget_gb * 2**30
        train = make_source(sf, sp["train"], cfg.norm, backend.device, budget)
        rows = sp["train"] if cfg.fit_on == "train" else np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
        fit_rows = train if cfg.fit_on == "train" else make_source(sf, rows, cfg.norm, backend.device, budget)
        hist = refine(model, train, k, backend.device, cfg.refine_epochs, cfg.refine_gamma, cfg.batch_size, cfg.lr,
                      cfg.seed, n_init=cfg.n_init, out_dir=run.file("checkpoints"), quiet=cfg.quiet,
                      fit_source=fit_rows)
    write_json(run.file("refine_history.json"), hist)
    return {"epochs": len(hist) - 1, "final_lower_bound": hist[-1]["lower_bound"]}


def dec_stage(cfg: RunConfig, run, backend: Backend, log) -> dict:
    """DEC on top of the trained encoder, centres from the chosen clusterer on the training latents."""
    from ..models.dec import DEC
    from ..training.dec import train_dec

    model, _ = load_model(run.file("checkpoints", "best.pt"), backend.device)
    rows, z, _, sp = _encode(cfg, run, backend, model)
    train_mask = np.isin(rows, sp["train"])
    k = int(cfg.k) if cfg.k != "auto" else 8
    fitted, _, _, metrics = cluster(to_array(z), cfg.method, k, replace(backend, client=None, estimators=None),
                                    cfg.seed, cfg.covariance_type, train_mask=train_mask)
    dec = DEC(model, torch.as_tensor(centres_of(fitted, metrics), dtype=torch.float32, device=backend.device))
    with open_data(cfg) as sf:
        train = make_source(sf, sp["train"], cfg.norm, backend.device, cfg.memory_budget_gb * 2**30)
        hist = train_dec(dec, train, backend.device, cfg.dec_gamma, cfg.dec_tol, cfg.dec_epochs,
                         batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, out_dir=run.file("checkpoints"),
                         quiet=cfg.quiet)
    write_json(run.file("dec_history.json"), hist)
    from ..training.checkpoint import save_checkpoint

    save_checkpoint(run.file("checkpoints", "encoder_dec.pt"),
                    {"config": model.config, "model": dec.autoencoder.state_dict()})
    return {"epochs": len(hist) - 1, "final_kl": hist[-1]["kl"]}


def data_spec(cfg: RunConfig) -> dict:
    return {"path": os.path.abspath(cfg.data), "group": cfg.group, "dataset": cfg.dataset,
            "freqs_dataset": cfg.freqs_dataset, "times_dataset": cfg.times_dataset,
            "labels_dataset": cfg.labels_dataset}


def embed_stage(cfg: RunConfig, run, backend: Backend, log, ctx=None) -> dict:
    ckpt = encoder_checkpoint(cfg)
    if backend.client is not None:
        from ..distributed.encode import encode_distributed

        sp = load_splits(run)
        rows = np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
        dz = encode_distributed(data_spec(cfg), os.path.abspath(run.file("checkpoints", ckpt)), rows, cfg.norm,
                                cfg.latent_dim, backend.device)
        host = np.asarray(to_numpy(dz.compute()))  # once, for latents.h5
        if ctx is not None:
            ctx["latents"] = (dz, host)  # the partitions stay on the workers for the clustering stage
        with open_data(cfg) as sf:
            truth = sf.labels(rows)
    else:
        model, _ = load_model(run.file("checkpoints", ckpt), backend.device)
        rows, z, truth, _ = _encode(cfg, run, backend, model)
        arr = to_array(z)  # zero-copy: NumPy view on CPU, CuPy view on GPU
        if ctx is not None:
            ctx["device_latents"] = (rows, arr)  # the cluster stage starts from these, still on the device
        host = to_numpy(arr)
    save_latents(run.file("latents.h5"), Latents(host, rows, truth, {"model": cfg.model, "checkpoint": ckpt}))
    return {"n": int(len(rows)), "dims": int(host.shape[1])}


def cluster_stage(cfg: RunConfig, run, backend: Backend, log, ctx=None) -> dict:
    from ..clustering.select_k import sweep
    from ..plots.figures import k_selection_figure

    lat = load_latents(run.file("latents.h5"))
    sp = load_splits(run)
    train_mask = np.isin(lat.rows, sp["train"])
    k = cfg.k
    if k == "auto":
        x = backend.asarray(lat.z[train_mask], dtype=backend.float_dtype)
        hi = min(cfg.k_max, int(train_mask.sum()) - 1)
        if hi < 3:
            raise GpuclustError("too few training samples to choose K automatically; give --k")
        res = sweep(x, range(2, hi + 1), (cfg.method,), seed=cfg.seed)
        write_json(run.file("k_selection.json"), res)
        k_selection_figure(res, run.file("k_selection.png"))
        k = res["suggestion"][cfg.method]["k"]
        log(f"K = {k} chosen automatically ({res['suggestion'][cfg.method]['why']})")
    host_z = None
    if backend.client is not None:
        z, host_z = (ctx or {}).get("latents", (lat.z, lat.z))
    else:
        rows, on_device = (ctx or {}).get("device_latents", (None, None))
        z = on_device if rows is not None and np.array_equal(rows, lat.rows) else lat.z
    start = None
    if cfg.objective == "mixture" and not cfg.dec and cfg.method == "gmm" and cfg.covariance_type == "full":
        from ..training.mixture import load_mixture

        refined = run.file("checkpoints", "refined_mixture.npz")
        if os.path.exists(refined) and len(np.load(refined)["weights"]) == int(k):
            start = lambda scale: load_mixture(refined, scale)  # noqa: E731  the mixture the encoder was refined to
    fit_mask = train_mask if cfg.fit_on == "train" else None
    res = cluster(z, cfg.method, int(k), backend, cfg.seed, cfg.covariance_type, lat.truth, cfg.n_init, fit_mask,
                  start, host_z)
    metrics = res.metrics
    with open_data(cfg) as sf:
        catalogue = sf.catalogue(lat.rows)
        names = sf.class_names
        data = data_description(cfg, sf)
    np.save(run.file("centres.npy"), centres_of(res.model, metrics))
    ckpt = encoder_checkpoint(cfg)
    model_path = save_model(run.path, clusterer=res.model, method=cfg.method, covariance_type=cfg.covariance_type,
                            latent_scale=metrics["latent_scale"], train_scores=res.scores[train_mask],
                            percentile=cfg.novelty_percentile, data=data,
                            encoder_checkpoint=run.file("checkpoints", ckpt), class_names=names,
                            cluster_to_class=majority_classes(lat.truth, res.labels, int(k), names))
    limit = load_run_model(model_path).threshold()
    unknown = novelty.flags(res.scores, limit)
    metrics.update(fitted_on=("training split latents" if cfg.fit_on == "train" else "all usable rows")
                   + "; every row labelled",
                   novelty={"percentile": cfg.novelty_percentile, "threshold": limit,
                            "unknown": int(unknown.sum()), "unknown_fraction": float(unknown.mean())})
    write_outputs(run.path, lat.rows, res.labels, res.probs, metrics, catalogue, lat.truth, names, res.scores,
                  unknown)
    if cfg.format == "quakeml":
        from ..export import quakeml_types, write_quakeml

        meta = load_run_model(model_path).meta
        write_quakeml(run.file("catalogue.xml"), lat.rows, res.labels, catalogue, res.probs, res.scores, unknown,
                      quakeml_types(meta["classes"]["cluster_to_class"]), os.path.basename(os.path.normpath(run.path)))
    return {"k": int(k), **{m: metrics[m] for m in ("silhouette", "ari", "nmi", "accuracy") if m in metrics}}


def data_description(cfg: RunConfig, sf) -> dict:
    """What new data must match to be labelled by this run's model (and how waveforms were cut)."""
    import json

    params = None
    try:
        g = sf.h5[sf.dataset.rsplit("/", 1)[0] or "/"]
        if "gpuclust_params" in g.attrs:
            params = json.loads(g.attrs["gpuclust_params"])
    except (KeyError, ValueError):
        params = None
    return {"norm": cfg.norm, "image_shape": list(sf.shape), "layout": sf.layout, "group": cfg.group,
            "dataset": cfg.dataset, "freqs_dataset": cfg.freqs_dataset, "times_dataset": cfg.times_dataset,
            "freqs": None if sf.freqs is None else [float(f) for f in sf.freqs],
            "times": None if sf.times is None else [float(t) for t in sf.times],
            "waveform_params": params, "source": os.path.abspath(cfg.data)}


def tsne_stage(cfg: RunConfig, run, backend: Backend, log) -> dict:
    import csv

    from ..embedding.tsne import DEFAULT_MAX_POINTS_CPU, reference_settings, subsample, tsne

    lat = load_latents(run.file("latents.h5"))
    labels = _labels(run)
    cap = cfg.tsne_max_points if cfg.tsne_max_points is not None else (
        DEFAULT_MAX_POINTS_CPU if backend.device == "cpu" else 100_000)
    idx = subsample(len(lat.z), cap, cfg.seed)
    if len(idx) < len(lat.z):
        log(f"t-SNE on a seeded sample of {len(idx)} of {len(lat.z)} latents (--tsne-max-points to change)")
    if len(idx) < 5:
        log(f"t-SNE skipped: it needs at least 5 events, this run has {len(idx)}")
        idx, xy = idx[:0], np.zeros((0, 2))
    else:
        xy = tsne(lat.z[idx], backend, cfg.seed)
        add_tsne(run.path, lat.z[idx], xy, lat.rows[idx], {"perplexity": reference_settings(len(idx))["perplexity"],
                                                          "seed": cfg.seed})
    with atomic_path(run.file("tsne.csv")) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "x", "y", "cluster"])
        for i, (a, b) in zip(idx, xy):
            w.writerow([int(lat.rows[i]), f"{a:.4f}", f"{b:.4f}", int(labels[i])])
    return {"points": int(len(idx))}


def _labels(run) -> np.ndarray:
    import csv

    with open(run.file("labels.csv")) as fh:
        return np.array([int(r["cluster"]) for r in csv.DictReader(fh)])
