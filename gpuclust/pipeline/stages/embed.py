"""Stage `embed`: the latent vector of every usable row, with its row index (latents.h5).

It hands the latents on twice: on the host (`latents`, what latents.h5 holds) and where the
clustering will use them (`latents_on_backend`: still on the GPU, or partitioned on the Dask workers).
"""
from __future__ import annotations

import os

import numpy as np

from ...backend import to_numpy
from ...latents import Latents, load_latents, save_latents
from ...latents.encode import encode_rows
from ...latents.handoff import to_array
from ...training.checkpoint import load_model
from .base import Stage
from .common import all_rows, data_spec, encoder_checkpoint, open_data


def run(ctx) -> dict:
    cfg, run_dir, backend = ctx.cfg, ctx.run, ctx.backend
    ckpt = encoder_checkpoint(cfg)
    rows = all_rows(ctx.get("splits"))
    errors = cfg.novelty_score == "combined"  # the reconstruction errors from the same pass
    err = None
    if backend.client is not None:
        from ...distributed.encode import encode_distributed

        out = encode_distributed(data_spec(cfg), os.path.abspath(run_dir.file("checkpoints", ckpt)), rows,
                                 cfg.norm, cfg.latent_dim, backend, errors=errors)
        on_backend, err = out if errors else (out, None)
        host = np.asarray(to_numpy(on_backend.compute()))  # the one pull to the client: latents.h5 needs them
        err = None if err is None else np.asarray(err.compute())
    else:
        model, _ = load_model(run_dir.file("checkpoints", ckpt), backend.device)
        with open_data(cfg) as sf:
            out = encode_rows(model, sf, rows, cfg.norm, backend.device, errors=errors)
        on_backend, err = (to_array(out[0]), to_numpy(to_array(out[1]))) if errors else (to_array(out), None)
        host = to_numpy(on_backend)  # zero-copy views
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
