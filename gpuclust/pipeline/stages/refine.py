"""Stage `refine`: the trained encoder refined with the clustering mixture as its objective
(gpuclust.training.mixture; checkpoints/refined.pt and refined_mixture.npz)."""
from __future__ import annotations

from ...atomic import write_json
from ...training.checkpoint import load_model
from ...training.sources import held_bytes, make_source
from .base import Stage
from .common import open_data, sample_rows


def run(ctx) -> dict:
    from ...training.mixture import refine

    cfg, run_dir, device = ctx.cfg, ctx.run, ctx.backend.device
    model, _ = load_model(run_dir.file("checkpoints", "best.pt"), device)
    sp = ctx.get("splits")
    with open_data(cfg) as sf:
        budget = cfg.memory_budget_gb * 2**30
        train = make_source(sf, sp["train"], cfg.norm, device, budget)
        # one budget for the stage: the rows the mixture is fitted on include the training rows
        fit_rows = train if cfg.fit_on == "train" else make_source(sf, sample_rows(sp), cfg.norm, device,
                                                                   max(0, budget - held_bytes(train)))
        hist = refine(model, train, cfg.k_before_sweep, device, cfg.refine_epochs, cfg.refine_gamma, cfg.batch_size,
                      cfg.lr, cfg.seed, n_init=cfg.n_init, out_dir=run_dir.file("checkpoints"), quiet=cfg.quiet,
                      fit_source=fit_rows)
    write_json(run_dir.file("refine_history.json"), hist)
    return {"epochs": len(hist) - 1, "final_lower_bound": hist[-1]["lower_bound"]}


STAGE = Stage("refine", run, produces=("checkpoints/refined.pt",), needs=("splits",),
              keys=("objective", "refine_epochs", "refine_gamma", "k", "fit_on", "n_init"),
              when=lambda cfg: cfg.objective == "mixture")
