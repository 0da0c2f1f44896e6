"""`gpuclust run`: data -> split -> train -> (DEC) -> embed -> cluster -> t-SNE -> figures -> report.

Each stage finishes by recording itself in stages.json; `resume=True` skips
stages that finished with the same inputs and whose outputs exist, and
training resumes from its last per-epoch checkpoint.
"""
from __future__ import annotations

import json
import os
import time

from ..atomic import write_json
from ..backend import Backend
from ..environment import describe
from ..errors import GpuclustError
from .config import RunConfig
from .figures_stage import figures_stage
from .rundir import RunDir, fingerprint
from .stages import (cluster_stage, data_stage, dec_stage, embed_stage, ensure_default_data, refine_stage,
                     train_stage, tsne_stage)


def run(cfg: RunConfig, backend: Backend, resume: bool = False, log=print, until: str | None = None) -> dict:
    """Run every stage (or those up to `until`); returns a summary (paths, metrics, seconds per stage).

    The backend (device, Dask client) is the caller's, built once from cfg.device and cfg.dask
    (gpuclust.distributed.client.open_backend).

    The output directory is checked (writable, not in use by another run) before any work; a run
    that fails before finishing a stage leaves no directory behind, one that fails later keeps its
    finished stages for --resume.
    """
    if cfg.out is None:
        cfg.out = os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    run_dir = RunDir(cfg.out, resume)
    try:
        if cfg.data is None:
            cfg.data = ensure_default_data(cfg, log)
        write_json(run_dir.file("config.json"), cfg.as_dict())
        write_json(run_dir.file("environment.json"), describe(backend.device))
        c = cfg.as_dict()
        keys = {
            "data": ["data", "group", "dataset", "labels_dataset", "bad_rows", "split", "seed", "synth_rows", "norm"],
            "train": ["norm", "model", "latent_dim", "latent_activation", "objective", "unet_skips", "epochs",
                      "batch_size", "lr", "patience"],
            "refine": ["objective", "refine_epochs", "refine_gamma", "k", "fit_on", "n_init"],
            "dec": ["dec", "dec_gamma", "dec_tol", "dec_epochs", "method", "k", "covariance_type"],
            "embed": [], "cluster": ["method", "k", "k_max", "covariance_type", "n_init", "novelty_percentile", "format",
                                     "fit_on"],
            "tsne": ["tsne_max_points"], "figures": ["overlay"],
        }
        if backend.client is not None:
            log(f"Dask: {backend.n_workers} worker(s) at {backend.client.scheduler.address}")
        ctx = {}
        stages = [("data", lambda: data_stage(cfg, run_dir, log), ["splits.npz"]),
                  ("train", lambda: train_stage(cfg, run_dir, backend, resume, log), ["checkpoints/best.pt"]),
                  ("refine", lambda: refine_stage(cfg, run_dir, backend, log), ["checkpoints/refined.pt"]),
                  ("dec", lambda: dec_stage(cfg, run_dir, backend, log), ["checkpoints/encoder_dec.pt"]),
                  ("embed", lambda: embed_stage(cfg, run_dir, backend, log, ctx), ["latents.h5"]),
                  ("cluster", lambda: cluster_stage(cfg, run_dir, backend, log, ctx),
                   ["labels.csv", "metrics.json"]),
                  ("tsne", lambda: tsne_stage(cfg, run_dir, backend, log), ["tsne.csv"]),
                  ("figures", lambda: figures_stage(cfg, run_dir, backend, log), ["tsne.png"])]
        summary = _run_stages(stages, keys, c, run_dir, resume, log, until)
    except GpuclustError as e:
        run_dir.close(failed=True)
        if run_dir.record:
            raise GpuclustError(f"{e} (finished stages are kept in {run_dir.path}: fix this and rerun with "
                                "--resume to continue)")
        raise
    except BaseException:
        run_dir.close(failed=True)
        raise
    run_dir.close()
    return summary


def _run_stages(stages, keys, c, run_dir, resume, log, until):
    from ..report import build_report

    upstream = {}
    for name, fn, outputs in stages:
        if (name == "dec" and not c["dec"]) or (name == "refine" and c["objective"] != "mixture"):
            continue
        upstream.update({k: c[k] for k in keys[name]})
        fp = fingerprint(upstream)  # a stage is valid only if nothing it depends on changed
        if resume and run_dir.done(name, fp, outputs):
            log(f"[{name}] already complete, skipped")
            continue
        log(f"[{name}] ...")
        t = time.perf_counter()
        info = fn()
        run_dir.finish(name, fp, time.perf_counter() - t, info=info)
        if name == until:
            return {"run_dir": run_dir.path, "seconds": run_dir.seconds(), "info": info}
    t = time.perf_counter()
    report = build_report(run_dir.path)
    run_dir.finish("report", "always", time.perf_counter() - t)
    with open(run_dir.file("metrics.json")) as fh:
        metrics = json.load(fh)
    return {"run_dir": run_dir.path, "report": report, "metrics": metrics, "seconds": run_dir.seconds()}
