"""`gpuclust run`: data -> split -> train -> (DEC) -> embed -> cluster -> t-SNE -> figures -> report.

Each stage finishes by recording itself in stages.json; `resume=True` skips
stages that finished with the same inputs and whose outputs exist, and
training resumes from its last per-epoch checkpoint.
"""
from __future__ import annotations

import json
import os
import time

from ..atomic import unique_dir, write_json
from ..backend import Backend
from ..environment import describe
from ..errors import GpuclustError
from ..threads import fixed_threads
from .config import RunConfig
from .rundir import RunDir, fingerprint
from .stages import LOADERS, STAGES, Context, ensure_default_data


def run(cfg: RunConfig, backend: Backend, resume: bool = False, log=print, until: str | None = None,
        explore: bool = True) -> dict:
    """Run every stage (or those up to `until`); returns a summary (paths, metrics, seconds per stage).

    The backend (device, Dask client) is the caller's, built once from cfg.device and cfg.dask
    (gpuclust.distributed.client.open_backend).

    The output directory is checked (writable, not in use by another run) before any work; a run
    that fails before finishing a stage leaves no directory behind, one that fails later keeps its
    finished stages for --resume.
    """
    fresh = cfg.out is None
    if fresh:  # runs/<time>, or runs/<time>-2 for a second run started in the same second
        cfg.out = unique_dir(os.path.join("runs", time.strftime("%Y%m%d-%H%M%S")))
    run_dir = RunDir(cfg.out, resume, fresh=fresh)
    try:
        if cfg.data is None:
            cfg.data = ensure_default_data(cfg, log)
        if resume:
            _keep_device_defaults(cfg, run_dir)
        cfg.for_device(backend.device)  # unset batch size and learning rate: the device's defaults
        write_json(run_dir.file("config.json"), cfg.record())
        if backend.client is not None:
            where = f"encoding on their {backend.worker_device}"
            if backend.worker_device != backend.latent_device:  # no GPU here to receive CuPy partitions
                where += ", latents kept in their host memory (no GPU on this machine)"
            log(f"Dask: {backend.n_workers} worker(s) at {backend.client.scheduler.address}, {where}")
        ctx = Context(cfg, run_dir, backend, resume, log, loaders=dict(LOADERS))
        with fixed_threads(cfg.compute_threads):  # every stage: their results depend on the count
            write_json(run_dir.file("environment.json"), describe(backend.device))
            summary = _run_stages(ctx, until)
        if explore and until is None:  # the interactive page: every event on the map, latents handed in memory
            from ..explore import write_explore_or_warn

            lat = ctx.get("latents")
            summary["explore"] = write_explore_or_warn(run_dir.path, latents=(lat.rows, lat.z),
                                                       device=backend.device, log=log)
    except GpuclustError as e:
        run_dir.close(failed=True)
        if run_dir.record:
            raise GpuclustError(f"{e} (finished stages are kept in {run_dir.path}: fix this and rerun with "
                                "--resume to continue)")
        raise
    except BaseException as e:
        run_dir.close(failed=True)
        if isinstance(e, KeyboardInterrupt):  # Ctrl-C or SIGTERM: the CLI says where --resume continues
            e.resume_dir = run_dir.path if run_dir.record else None
        raise
    run_dir.close()
    return summary


def _keep_device_defaults(cfg: RunConfig, run_dir: RunDir) -> None:
    """A run resumed on another device keeps the batch size and learning rate it started with, when the
    user left them unset: the device's defaults would otherwise continue the training with other ones."""
    path = run_dir.file("config.json")
    if not os.path.exists(path):
        return
    with open(path) as fh:
        before = json.load(fh)
    for key in ("batch_size", "lr"):
        if getattr(cfg, key) is None and before.get(key) is not None:
            setattr(cfg, key, before[key])


def _run_stages(ctx: Context, until: str | None) -> dict:
    from ..report import build_report

    c, run_dir, log = ctx.cfg.as_dict(), ctx.run, ctx.log
    upstream = {}
    for stage in STAGES:
        if not stage.when(ctx.cfg):
            continue
        upstream.update({k: c[k] for k in stage.keys})
        fp = fingerprint(upstream)  # a stage is valid only if nothing it or an earlier stage depends on changed
        if ctx.resume and run_dir.done(stage.name, fp, list(stage.produces)):
            log(f"[{stage.name}] already complete, skipped")
            continue
        log(f"[{stage.name}] ...")
        t = time.perf_counter()
        info = stage.run(ctx)
        run_dir.finish(stage.name, fp, time.perf_counter() - t, info=info)
        if stage.name == until:
            return {"run_dir": run_dir.path, "seconds": run_dir.seconds(), "info": info}
    t = time.perf_counter()
    report = build_report(run_dir.path)
    run_dir.finish("report", "always", time.perf_counter() - t)
    with open(run_dir.file("metrics.json")) as fh:
        metrics = json.load(fh)
    return {"run_dir": run_dir.path, "report": report, "metrics": metrics, "seconds": run_dir.seconds()}
