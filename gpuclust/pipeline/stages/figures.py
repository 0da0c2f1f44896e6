"""Stage `figures`: the map, the confusion matrix, the cluster gallery and the counts over time."""
from __future__ import annotations

import os

import numpy as np
import torch

from ...clustering.metrics import confusion
from ...data.loader import load_rows, mean_image
from ...models import decode_only
from ...plots.figures import confusion_figure, temporal_figure, tsne_figure
from ...plots.gallery import cluster_gallery, pick_examples
from ...training.checkpoint import load_model
from .base import Stage
from .common import encoder_checkpoint, open_data


def run(ctx) -> dict:
    cfg, run, backend = ctx.cfg, ctx.run, ctx.backend
    lat, found = ctx.get("latents"), ctx.get("labels")
    labels, centres, tmap = found["cluster"], ctx.get("centres"), ctx.get("map")
    k = int(max(labels.max() + 1, len(centres)))
    made = []
    if len(tmap["row"]):  # no map for fewer than 5 events
        tsne_figure(tmap["xy"], tmap["cluster"], k, run.file("tsne.png"),
                    title=f"t-SNE of {cfg.model.upper()}{'+DEC' if cfg.dec else ''} latents, {cfg.method} K={k}")
        made.append("tsne.png")
    if lat.truth is not None:
        names = ctx.get("data_file")["class_names"]
        confusion_figure(confusion(lat.truth, labels, len(names) or None, k), names, run.file("confusion.png"))
        made.append("confusion.png")
    made += gallery(cfg, run, backend, lat, labels, centres, k)
    cat = ctx.get("catalogue")
    overlay = None
    if cfg.overlay:
        from ..predict import read_overlay

        overlay = read_overlay(cfg.overlay)
    if cat and temporal_figure(cat, labels, k, run.file("temporal.png"), unknown=found.get("unknown"), overlay=overlay):
        made.append("temporal.png")
    return {"figures": made}


def gallery(cfg, run, backend, lat, labels, centres, k) -> list[str]:
    centres = np.asarray(centres).astype(np.float32)
    ckpt = encoder_checkpoint(cfg)
    model, _ = load_model(run.file("checkpoints", ckpt), backend.device)
    model.eval()
    with torch.no_grad():
        decoded = decode_only(model, torch.as_tensor(centres, device=backend.device)).float().cpu().numpy()[:, 0]
    os.makedirs(run.file("gallery"), exist_ok=True)
    made = []
    with open_data(cfg) as sf:
        fs = 50.0
        cat0 = sf.catalogue([int(lat.rows[0])])
        if cat0 and "fs" in cat0[0]:
            fs = float(cat0[0]["fs"])
        rng = np.random.default_rng(cfg.seed)
        for j in range(k):
            members = np.flatnonzero(labels == j)
            if members.size == 0:
                continue
            dist = np.linalg.norm(lat.z[members] - centres[j], axis=1)
            pick = pick_examples(dist)
            ex_rows = lat.rows[members[pick]]
            sample = members if members.size <= 2000 else rng.choice(members, 2000, replace=False)
            mean_img = mean_image(sf, lat.rows[sample], cfg.norm)  # a window at a time, not 2,000 images at once
            examples = load_rows(sf, ex_rows, cfg.norm)
            traces = sf.traces(ex_rows)
            name = f"gallery/cluster{j:02d}.png"
            cluster_gallery(j, k, mean_img, decoded[j] if j < len(decoded) else None, examples, ex_rows,
                            dist[pick], traces, sf.freqs, sf.times, fs, run.file(name))
            made.append(name)
    return made


STAGE = Stage("figures", run, produces=("tsne.png",),
              needs=("latents", "labels", "centres", "map", "catalogue", "data_file"), keys=("overlay",))
