"""Stage `tsne`: the run's t-SNE map of a seeded sample of the latents (tsne.csv, model/tsne.npz)."""
from __future__ import annotations

import csv

import numpy as np

from ...atomic import atomic_path
from ..saved_run import add_tsne
from .base import Stage


def run(ctx) -> dict:
    from ...embedding.tsne import DEFAULT_MAX_POINTS_CPU, reference_settings, subsample, tsne

    cfg, run_dir, backend = ctx.cfg, ctx.run, ctx.backend
    lat, labels = ctx.get("latents"), ctx.get("labels")["cluster"]
    cap = cfg.tsne_max_points if cfg.tsne_max_points is not None else (
        DEFAULT_MAX_POINTS_CPU if backend.device == "cpu" else 100_000)
    idx = subsample(len(lat.z), cap, cfg.seed)
    if len(idx) < len(lat.z):
        ctx.log(f"t-SNE on a seeded sample of {len(idx)} of {len(lat.z)} latents (--tsne-max-points to change)")
    if len(idx) < 5:
        ctx.log(f"t-SNE skipped: it needs at least 5 events, this run has {len(idx)}")
        idx, xy = idx[:0], np.zeros((0, 2))
    else:
        xy = tsne(lat.z[idx], backend, cfg.seed)
        add_tsne(run_dir.path, lat.z[idx], xy, lat.rows[idx], {"perplexity": reference_settings(len(idx))["perplexity"],
                                                              "seed": cfg.seed})
    with atomic_path(run_dir.file("tsne.csv")) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "x", "y", "cluster"])
        for i, (a, b) in zip(idx, xy):
            w.writerow([int(lat.rows[i]), f"{a:.4f}", f"{b:.4f}", int(labels[i])])
    ctx.put("map", {"row": lat.rows[idx], "xy": np.asarray(xy, np.float64).reshape(-1, 2),
                    "cluster": np.asarray(labels)[idx]})
    return {"points": int(len(idx))}


def load(ctx) -> dict:
    """The map as tsne.csv holds it (positions rounded to 4 decimals, as a resumed run always drew them)."""
    with open(ctx.run.file("tsne.csv"), newline="") as fh:
        lines = list(csv.DictReader(fh))
    return {"row": np.array([int(r["row"]) for r in lines], np.int64),
            "xy": np.array([[float(r["x"]), float(r["y"])] for r in lines]).reshape(-1, 2),
            "cluster": np.array([int(r["cluster"]) for r in lines], np.int64)}


STAGE = Stage("tsne", run, produces=("tsne.csv",), needs=("latents", "labels"), keys=("tsne_max_points",))
