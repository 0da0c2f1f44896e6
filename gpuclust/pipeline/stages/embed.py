"""Stage `embed`: the latent vector of every usable row, with its row index (latents.h5).

It hands the latents on twice: on the host (`latents`, what latents.h5 holds) and where the
clustering will use them (`latents_on_backend`: still on the GPU, or partitioned on the Dask workers).
"""
from __future__ import annotations

import os

import numpy as np

from ...backend import to_numpy
from ...latents import Latents, load_latents, save_latents
from ...latents.encode import encode_arrays
from ...training.checkpoint import load_model
from .base import Stage
from .common import all_rows, data_spec, encoder_checkpoint, open_data


def run(ctx) -> dict:
    cfg, run_dir, backend = ctx.cfg, ctx.run, ctx.backend
    ckpt = encoder_checkpoint(cfg)
    rows = all_rows(ctx.get("splits"))
    errors = cfg.novelty_score == "combined"  # the reconstruction errors from the same pass
    if backend.client is not None:
        from ...distributed.encode import encode_distributed

        on_backend, err = encode_distributed(data_spec(cfg), os.path.abspath(run_dir.file("checkpoints", ckpt)),
                                             rows, cfg.norm, cfg.latent_dim, backend, errors=errors)
        host = np.asarray(to_numpy(on_backend.compute()))  # the one pull to the client: latents.h5 needs them
    else:
        model, _ = load_model(run_dir.file("checkpoints", ckpt), backend.device)
        with open_data(cfg) as sf:
            on_backend, err = encode_arrays(model, sf, rows, cfg.norm, backend.device, errors=errors)
        host = to_numpy(on_backend)  # zero-copy view
    with open_data(cfg) as sf:
        truth = sf.labels(rows)
    lat = Latents(np.asarray(host, np.float32), rows, None if truth is None else np.asarray(truth, np.int64),
                  {"model": cfg.model, "checkpoint": ckpt}, None if err is None else np.asarray(err, np.float32))
    save_latents(run_dir.file("latents.h5"), lat)
    ctx.put("latents", lat)
    ctx.put("latents_on_backend", on_backend)
    return {"n": int(len(rows)), "dims": int(host.shape[1])}


def load(ctx) -> Latents:
    return load_latents(ctx.run.file("latents.h5"))


STAGE = Stage("embed", run, produces=("latents.h5",), needs=("splits",), keys=("novelty_score",))
