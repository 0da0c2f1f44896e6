"""Map coordinates for every event of a run or predict: its t-SNE sample with the rest placed on it, or UMAP.

The result is kept in <dir>/map-<method>.npz (rows, positions), so writing the page again, or
serving it, does not place the events again. A UMAP map of a run is saved in its model
(model/umap.npz and the parameters in model.json) so that predict places new events on it.
"""
from __future__ import annotations

import os

import numpy as np

from ..atomic import atomic_path
from ..backend import to_numpy
from ..errors import GpuclustError
from .rundata import Events, Source, model_file, update_model_meta

METHODS = ("tsne", "umap")


def map_file(method: str) -> str:
    return f"map-{method}.npz"


def default_method(src: Source) -> str:
    return "umap" if src.meta.get("umap") else "tsne"


def event_map(src: Source, events: Events, method: str | None = None, latents=None, device: str = "cpu",
              remap: bool = False, log=print) -> tuple[np.ndarray, str]:
    """(positions (N, 2) in labels.csv order, method). `latents`: (rows, z) in memory, else latents.h5."""
    method = method or default_method(src)
    if method not in METHODS:
        raise GpuclustError(f"unknown map {method!r}: use one of {', '.join(METHODS)}")
    cached = _cached(src.path, events.rows, method, _map_version(src, method))
    if cached is not None and not remap:
        return cached, method
    z = _latents(src, events, latents)
    if method == "tsne":
        xy = _tsne(src, events, z, log)
    else:
        xy = _umap(src, z, device, remap, log)
    with atomic_path(os.path.join(src.path, map_file(method))) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, rows=events.rows, xy=xy.astype(np.float32), method=np.array(method),
                 version=np.array(_map_version(src, method)))
    return xy, method


def _map_version(src: Source, method: str) -> str:
    """A digest of the run's map (its saved reference positions): a map made again (a rerun t-SNE stage,
    --remap) makes the positions kept beside labels.csv stale."""
    import hashlib

    f = model_file(src.model_path, f"{method}.npz")
    if not os.path.exists(f):
        return ""
    with open(f, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


def _cached(path: str, rows, method: str, version: str):
    f = os.path.join(path, map_file(method))
    if not os.path.exists(f):
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            if (str(z["method"]) == method and str(z["version"]) == version and version
                    and np.array_equal(z["rows"], rows)):
                return z["xy"].astype(np.float64)
    except (OSError, ValueError, KeyError):
        pass  # damaged: made again
    return None


def _latents(src: Source, events: Events, latents):
    if latents is not None:
        rows, z = latents
        if hasattr(z, "compute"):
            z = z.compute()
        rows, z = np.asarray(rows, np.int64), np.asarray(to_numpy(z), np.float64)
    else:
        f = os.path.join(src.path, "latents.h5")
        if not os.path.exists(f):
            raise GpuclustError(f"{src.path}: no latents.h5 and no map-*.npz, so its events cannot be placed on a "
                                "map; `gpuclust predict` writes the page with the map while it has the latents")
        from ..latents import load_latents

        lat = load_latents(f)
        rows, z = lat.rows, np.asarray(lat.z, np.float64)
    where = {int(r): i for i, r in enumerate(rows)}
    missing = [int(r) for r in events.rows if int(r) not in where]
    if missing:
        raise GpuclustError(f"{src.path}: labels.csv has row {missing[0]} with no latent vector")
    return z[[where[int(r)] for r in events.rows]]


def _tsne(src: Source, events: Events, z, log) -> np.ndarray:
    from ..embedding.maps import tsne_every_event
    from ..embedding.tsne import place_on_map

    t = src.meta.get("tsne")
    f = model_file(src.model_path, "tsne.npz")
    if not t or not os.path.exists(f):
        raise GpuclustError(f"{src.model_path}: the run has no t-SNE map (fewer than 5 events?); use --map umap")
    with np.load(f, allow_pickle=False) as a:
        ref, ref_xy, ref_rows = a["latents"], a["xy"], a["rows"]
    seed = int(t.get("seed", 0))
    if src.kind == "run":
        n_new = int((~np.isin(events.rows, ref_rows)).sum())
        if n_new:
            log(f"placing the {n_new} events outside the t-SNE sample on its map (openTSNE transform)")
        return tsne_every_event(ref, ref_xy, ref_rows, z, events.rows, t["perplexity"], seed)
    log(f"placing {len(z)} events on the run's t-SNE map (openTSNE transform)")
    return place_on_map(ref, ref_xy, z, t["perplexity"], seed)


def _umap(src: Source, z, device: str, remap: bool, log) -> np.ndarray:
    from ..embedding.maps import rebuild_umap, umap_every_event, umap_transform

    params = src.meta.get("umap")
    f = model_file(src.model_path, "umap.npz")
    if src.kind == "run" and (remap or not params or not os.path.exists(f)):
        log(f"UMAP of {len(z)} events")
        xy, idx, ref_xy, params = umap_every_event(z, device, int((src.meta.get("tsne") or {}).get("seed", 0)))
        with atomic_path(f) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, latents=z[idx], xy=ref_xy)
        src.meta = update_model_meta(src.model_path, lambda m: m.update(umap={"file": "umap.npz", **params}))
        return xy
    if not params or not os.path.exists(f):
        raise GpuclustError(f"{src.model_path}: the run has no UMAP map; make one with "
                            f"`gpuclust explore {src.model_path} --map umap`")
    with np.load(f, allow_pickle=False) as a:
        ref, ref_xy = a["latents"], a["xy"]
    log(f"placing {len(z)} events on the run's UMAP map (rebuilding it from its {len(ref)} reference events)")
    return umap_transform(rebuild_umap(ref, ref_xy, params), z)
