"""Stage `train`: the encoder trained on the training split (checkpoints/best.pt, last.pt; loss.png)."""
from __future__ import annotations

import numpy as np
import torch

from ...models import build_model
from ...training.sources import held_bytes, make_source
from ...training.trainer import TrainConfig, epoch_score, train_autoencoder
from .base import Stage
from .common import check_k, model_config, open_data


def run(ctx) -> dict:
    from ...plots.figures import loss_figure

    cfg, run_dir, device = ctx.cfg, ctx.run, ctx.backend.device
    sp = ctx.get("splits")
    n = sum(len(v) for v in sp.values())
    check_k(cfg, len(sp["train"]), n, n)
    with open_data(cfg) as sf:
        budget = cfg.memory_budget_gb * 2**30
        train = make_source(sf, sp["train"], cfg.norm, device, budget)
        val = make_source(sf, sp["val"], cfg.norm, device, max(0, budget - held_bytes(train)))  # one budget
        torch.manual_seed(cfg.seed)
        model = build_model(model_config(cfg, sf.shape))
        tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience,
                         seed=cfg.seed, quiet=cfg.quiet)
        hist = train_autoencoder(model, train, val, tc, run_dir.file("checkpoints"), device, resume=ctx.resume)
    loss_figure(hist, run_dir.file("loss.png"), title=f"{cfg.model.upper()} training")
    return {"epochs": len(hist), "final_train_loss": hist[-1]["train_loss"], "final_val_loss": hist[-1]["val_loss"],
            "best_val_loss": min(epoch_score(h) for h in hist),
            "samples_per_s": float(np.median([h["samples_per_s"] for h in hist]))}


STAGE = Stage("train", run, produces=("checkpoints/best.pt",), needs=("splits",),
              keys=("compute_threads", "norm", "model", "latent_dim", "latent_activation", "objective", "unet_skips", "epochs",
                    "batch_size", "lr", "patience"))
