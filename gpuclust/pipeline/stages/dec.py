"""Stage `dec`: DEC on top of the trained encoder, its centres from the chosen clusterer on the training
latents (checkpoints/encoder_dec.pt)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ...atomic import write_json
from ...clustering.api import centres_of, cluster
from ...latents.encode import encode_rows
from ...latents.handoff import to_array
from ...training.checkpoint import load_model, save_checkpoint
from ...training.sources import make_source
from .base import Stage
from .common import open_data, sample_rows


def run(ctx) -> dict:
    from ...models.dec import DEC
    from ...training.dec import train_dec

    cfg, run_dir, device = ctx.cfg, ctx.run, ctx.backend.device
    model, _ = load_model(run_dir.file("checkpoints", "best.pt"), device)
    sp = ctx.get("splits")
    rows = sample_rows(sp)
    with open_data(cfg) as sf:
        z = encode_rows(model, sf, rows, cfg.norm, device)
    # the centres come from one process whatever the backend: the training latents are already here
    local = replace(ctx.backend, client=None, estimators=None)
    fitted, _, _, metrics = cluster(to_array(z), cfg.method, cfg.k_before_sweep, local, cfg.seed,
                                    cfg.covariance_type, train_mask=np.isin(rows, sp["train"]))
    dec = DEC(model, torch.as_tensor(centres_of(fitted, metrics), dtype=torch.float32, device=device))
    with open_data(cfg) as sf:
        train = make_source(sf, sp["train"], cfg.norm, device, cfg.memory_budget_gb * 2**30)
        hist = train_dec(dec, train, device, cfg.dec_gamma, cfg.dec_tol, cfg.dec_epochs, batch_size=cfg.batch_size,
                         lr=cfg.lr, seed=cfg.seed, out_dir=run_dir.file("checkpoints"), quiet=cfg.quiet)
    write_json(run_dir.file("dec_history.json"), hist)
    save_checkpoint(run_dir.file("checkpoints", "encoder_dec.pt"),
                    {"config": model.config, "model": dec.autoencoder.state_dict()})
    return {"epochs": len(hist) - 1, "final_kl": hist[-1]["kl"]}


STAGE = Stage("dec", run, produces=("checkpoints/encoder_dec.pt",), needs=("splits",),
              keys=("dec", "dec_gamma", "dec_tol", "dec_epochs", "method", "k", "covariance_type"),
              when=lambda cfg: cfg.dec)
