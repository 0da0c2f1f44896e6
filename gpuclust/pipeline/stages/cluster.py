"""Stage `cluster`: K (given, or chosen by a sweep), the fit, the run's model, novelty, and the catalogues
(labels.csv, metrics.json, centres.npy, model/, and catalogue.xml with --format quakeml)."""
from __future__ import annotations

import os

import numpy as np

from ...atomic import atomic_path, write_json
from ...clustering import novelty
from ...clustering.api import centres_of, cluster, read_labels, write_outputs
from ...clustering.stability import refit_stability, write_stability_csv
from ...errors import GpuclustError
from ..saved_run import load_run_model, majority_classes, save_model
from .base import Stage
from .common import encoder_checkpoint, open_data


def choose_k(ctx, lat, train_mask) -> int:
    """cfg.k, or with "auto" the choice of AUTO_CRITERION on the training latents; every criterion's curve, its
    choice and runner-up in k_selection.json and .png."""
    from ...clustering.select_k import AUTO_CRITERION, highest_k, suggest_all, sweep
    from ...plots.figures import k_selection_figure

    cfg, run_dir, backend = ctx.cfg, ctx.run, ctx.backend
    if cfg.k != "auto":
        return int(cfg.k)
    x = backend.asarray(lat.z[train_mask], dtype=backend.float_dtype)
    hi = min(cfg.k_max, highest_k(int(train_mask.sum())))
    if hi < 3:
        raise GpuclustError("too few training samples to choose K automatically; give --k")
    res = sweep(x, range(2, hi + 1), (cfg.method,), seed=cfg.seed, stability=True, entropy=cfg.method == "gmm")
    res["chosen"] = suggest_all(res["rows"], res.get("entropy"))
    criterion = AUTO_CRITERION[cfg.method]
    res["auto"] = {"criterion": criterion, **res["chosen"][criterion]}
    write_json(run_dir.file("k_selection.json"), res)
    k_selection_figure(res, run_dir.file("k_selection.png"))
    k = res["auto"]["k"]
    ctx.log(f"K = {k} chosen automatically ({res['auto']['why']}; runner-up {res['auto']['runner_up']})")
    return int(k)


def refined_start(ctx, k: int):
    """start(scale) for the mixture the encoder was refined towards, where the final fit can start there."""
    from ...training.mixture import load_mixture

    cfg = ctx.cfg
    if not (cfg.objective == "mixture" and not cfg.dec and cfg.method == "gmm" and cfg.covariance_type == "full"):
        return None
    refined = ctx.run.file("checkpoints", "refined_mixture.npz")
    if not os.path.exists(refined):
        return None
    with np.load(refined, allow_pickle=False) as z:
        if len(z["weights"]) != k:
            return None
    return lambda scale: load_mixture(refined, scale)


def fit(ctx, lat, k: int, train_mask):
    """The clustering of every row, fitted where the backend fits (from the latents where they already are)."""
    cfg, backend = ctx.cfg, ctx.backend
    on_backend = ctx.results.get("latents_on_backend")  # absent after a resume: the host latents then
    if on_backend is None or len(on_backend) != len(lat.z):
        on_backend = lat.z
        if backend.client is not None:  # partitioned as the encoding had: sums in the same order, the same fit
            import dask.array as da

            from ...distributed.encode import BLOCK_ROWS

            on_backend = da.from_array(np.asarray(lat.z, np.float32), chunks=(BLOCK_ROWS, -1))
    return cluster(on_backend, cfg.method, k, backend, cfg.seed, cfg.covariance_type, lat.truth, cfg.n_init,
                   train_mask if cfg.fit_on == "train" else None, refined_start(ctx, k))


STABILITY_REFITS = 5


def stability_of(ctx, lat, res, k: int, train_mask) -> dict:
    """How stable each cluster is over bootstrap refits of the clustering on the run's latents (host), timed."""
    import time

    cfg = ctx.cfg
    t0 = time.perf_counter()
    x = np.asarray(lat.z, np.float64) / res.metrics["latent_scale"]
    out = refit_stability(x, res.labels, cfg.method, k, cfg.seed, cfg.covariance_type,
                          train_mask if cfg.fit_on == "train" else None, STABILITY_REFITS)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


MIN_REFERENCE_ROWS = 200  # held-out rows needed to rank events among them; fewer: the likelihood alone


def novelty_reference(ctx, lat, res, train_mask):
    """(every row's novelty score, the rows its threshold is learned on, the combined score's quantiles or None,
    what those rows are): the combined score where the run measured reconstruction errors and has enough
    validation and test rows, else the log-likelihood calibrated on the training rows (novelty module)."""
    cfg = ctx.cfg
    held = ~train_mask
    if cfg.novelty_score == "combined":
        why = ("the latents hold no reconstruction errors (made by an older gpuclust)" if lat.errors is None
               else f"only {int(held.sum())} validation and test rows (fewer than {MIN_REFERENCE_ROWS})"
               if held.sum() < MIN_REFERENCE_ROWS else None)
        if why is None:
            components = {"likelihood_quantiles": novelty.reference_quantiles(res.scores[held]),
                          "reconstruction_quantiles": novelty.reference_quantiles(-np.asarray(lat.errors)[held])}
            scores = novelty.combined_scores(res.scores, lat.errors, *components.values())
            return scores, held, components, "the validation and test rows of the run"
        ctx.log(f"novelty: the log-likelihood alone, calibrated on the training rows: {why}")
    return res.scores, train_mask, None, "the training rows of the run"


def save_run_model(ctx, lat, res, k: int, train_mask, data_file: dict, reference) -> str:
    cfg, run_dir = ctx.cfg, ctx.run
    names = data_file["class_names"]
    scores, on, components, learned_on = reference
    return save_model(run_dir.path, clusterer=res.model, method=cfg.method, covariance_type=cfg.covariance_type,
                      latent_scale=res.metrics["latent_scale"], reference_scores=scores[on],
                      percentile=cfg.novelty_percentile, data=data_file["description"],
                      encoder_checkpoint=run_dir.file("checkpoints", encoder_checkpoint(cfg)), class_names=names,
                      cluster_to_class=majority_classes(lat.truth, res.labels, k, names), components=components,
                      learned_on=learned_on)


def run(ctx) -> dict:
    cfg, run_dir = ctx.cfg, ctx.run
    lat = ctx.get("latents")
    train_mask = np.isin(lat.rows, ctx.get("splits")["train"])
    k = choose_k(ctx, lat, train_mask)
    res = fit(ctx, lat, k, train_mask)
    metrics = res.metrics
    metrics["cluster_stability"] = stability_of(ctx, lat, res, k, train_mask)
    centres = centres_of(res.model, metrics)
    with atomic_path(run_dir.file("centres.npy")) as tmp, open(tmp, "wb") as fh:
        np.save(fh, centres)
    data_file = ctx.get("data_file")
    names = data_file["class_names"]
    catalogue = load_catalogue(ctx)  # the catalogue's columns for labels.csv, handed on to the figures
    reference = novelty_reference(ctx, lat, res, train_mask)
    model = load_run_model(save_run_model(ctx, lat, res, k, train_mask, data_file, reference))
    limit = model.threshold()
    scores = reference[0]
    unknown = novelty.flags(scores, limit)
    metrics.update(fitted_on=("training split latents" if cfg.fit_on == "train" else "all usable rows")
                   + "; every row labelled",
                   novelty={"percentile": cfg.novelty_percentile, "threshold": limit, "score":
                            model.meta["novelty"]["score"], "learned_on": reference[3],
                            "unknown": int(unknown.sum()), "unknown_fraction": float(unknown.mean())})
    combined = scores if model.needs_errors else None
    write_outputs(run_dir.path, lat.rows, res.labels, res.probs, metrics, catalogue, lat.truth, names, res.scores,
                  unknown, combined, lat.errors if model.needs_errors else None)
    write_stability_csv(run_dir.file("cluster_stability.csv"), metrics["cluster_stability"], metrics["cluster_sizes"])
    if cfg.format == "quakeml":
        from ...export import quakeml_types, write_quakeml

        write_quakeml(run_dir.file("catalogue.xml"), lat.rows, res.labels, catalogue, res.probs, scores, unknown,
                      quakeml_types(model.class_of_cluster()), os.path.basename(os.path.normpath(run_dir.path)))
    ctx.put("labels", {"row": lat.rows, "cluster": res.labels, "unknown": unknown, "log_likelihood": res.scores,
                       **({"novelty_score": scores} if model.needs_errors else {})})
    ctx.put("centres", centres)
    ctx.put("catalogue", catalogue)
    return {"k": int(k), **{m: metrics[m] for m in ("silhouette", "ari", "nmi", "accuracy") if m in metrics}}


def load_labels(ctx) -> dict:
    return read_labels(ctx.run.file("labels.csv"))


def load_catalogue(ctx):
    """The data file's catalogue entries of the latents' rows (None where it has no catalogue)."""
    with open_data(ctx.cfg) as sf:
        return sf.catalogue(ctx.get("latents").rows)


def load_centres(ctx) -> np.ndarray:
    return np.load(ctx.run.file("centres.npy"), allow_pickle=False)


STAGE = Stage("cluster", run, produces=("labels.csv", "metrics.json", "cluster_stability.csv", "model/model.json"),
              needs=("latents", "splits", "data_file"),
              keys=("method", "k", "k_max", "covariance_type", "n_init", "novelty_percentile", "format", "fit_on"))
# (novelty_score is the embed stage's key: a key invalidates its stage and every later one)
