"""A map of every event: the t-SNE sample with the rest placed on it, or UMAP, which places new events on GPU too.

t-SNE (tsne.py) embeds a seeded sample; `tsne_every_event` keeps the sample where it is and places
every other event on it with openTSNE's transform, so every event has coordinates. UMAP embeds a
reference set (every event up to `max_points`) and places the others, and later new events, with
its `transform`: umap-learn on the CPU, cuML's UMAP on a GPU (cuML's t-SNE has no transform).

A fitted UMAP is an object graph only pickle could save, and a model holds no pickle: the map is
saved as its reference latents, positions and parameters, and `rebuild_umap` fits it again with the
same seed, which gives the same map (a seeded umap-learn fit runs single-threaded and is
deterministic; the rebuilt positions are checked against the saved ones).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..backend import to_numpy
from ..errors import GpuclustError

UMAP_DEFAULTS = {"n_neighbors": 15, "min_dist": 0.1}
DEFAULT_MAX_UMAP_POINTS = 50_000  # reference set; the rest are placed with transform
REBUILD_TOLERANCE = 1e-3  # of the map's extent


def tsne_every_event(ref_latents, ref_xy, ref_rows, latents, rows, perplexity: float, seed: int = 0) -> np.ndarray:
    """(N, 2) positions for every row: the t-SNE sample's own, the others placed on that map."""
    from .tsne import place_on_map

    rows = np.asarray(rows, np.int64)
    xy = np.empty((len(rows), 2), np.float64)
    where = {int(r): i for i, r in enumerate(np.asarray(ref_rows, np.int64))}
    in_ref = np.array([int(r) in where for r in rows], bool)
    xy[in_ref] = np.asarray(ref_xy)[[where[int(r)] for r in rows[in_ref]]]
    if (~in_ref).any():
        xy[~in_ref] = place_on_map(ref_latents, ref_xy, np.asarray(latents)[~in_ref], perplexity, seed)
    return xy


# -- UMAP ---------------------------------------------------------------------------------------

def has_cuml_umap() -> bool:
    from ..backend import has_cuml

    return has_cuml("cuml.manifold")


def _estimator(device: str, seed: int, n_neighbors: int, min_dist: float):
    if device == "cuda":
        from cuml.manifold import UMAP

        # cuML: random_state makes the fit reproducible (documented as slower); output stays on the host
        return UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed,
                    output_type="numpy")
    import umap

    # a seeded umap-learn fit is single-threaded and deterministic: what lets rebuild_umap refit the same map
    return umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1)


def resolve_umap_device(device: str) -> str:
    if device == "cuda" and not has_cuml_umap():
        warnings.warn("cuML is not installed: UMAP runs on the CPU with umap-learn", stacklevel=2)
        return "cpu"
    return "cuda" if device == "cuda" else "cpu"


def fit_umap(z, device: str = "cpu", seed: int = 0, n_neighbors: int | None = None, min_dist: float | None = None):
    """(positions (N, 2), fitted estimator with .transform, params) of a UMAP of latents z (N, D)."""
    n = len(z)
    if n < 4:
        raise GpuclustError(f"UMAP needs at least 4 events, got {n}")
    device = resolve_umap_device(device)
    params = {"n_neighbors": int(min(n_neighbors or UMAP_DEFAULTS["n_neighbors"], n - 1)),
              "min_dist": float(UMAP_DEFAULTS["min_dist"] if min_dist is None else min_dist),
              "seed": int(seed), "device": device}
    est = _estimator(device, seed, params["n_neighbors"], params["min_dist"])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # umap-learn notes n_jobs=1 with a seed
        xy = est.fit_transform(np.asarray(to_numpy(z), np.float32))
    return np.asarray(to_numpy(xy), np.float64), est, params


def umap_transform(est, new) -> np.ndarray:
    """Positions of new latents on a fitted UMAP map (which stays as it is)."""
    new = np.asarray(to_numpy(new), np.float32)
    if len(new) == 0:
        return np.zeros((0, 2))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        return np.asarray(to_numpy(est.transform(new)), np.float64)


def rebuild_umap(ref_latents, ref_xy, params: dict):
    """The fitted estimator of a saved UMAP map, fitted again with its seed where it was made (umap-learn or
    cuML: their maps differ); refuses one that comes out otherwise."""
    want = params.get("device", "cpu")
    if want == "cuda" and not has_cuml_umap():
        raise GpuclustError("this UMAP map was made with cuML on a GPU and can be rebuilt only where cuML is "
                            "installed: predict there, or make the map again on the CPU")
    xy, est, _ = fit_umap(ref_latents, want, params["seed"], params["n_neighbors"], params["min_dist"])
    ref_xy = np.asarray(ref_xy, np.float64)
    extent = float(np.ptp(ref_xy, axis=0).max()) or 1.0
    if xy.shape != ref_xy.shape or np.abs(xy - ref_xy).max() > REBUILD_TOLERANCE * extent:
        raise GpuclustError("the run's UMAP map could not be rebuilt as it was (another umap-learn or numba "
                            "version?): make the map again with `gpuclust explore RUN_DIR --map umap --remap`")
    return est


def umap_every_event(latents, device: str = "cpu", seed: int = 0, max_points: int = DEFAULT_MAX_UMAP_POINTS):
    """(positions of every event, reference indices, reference positions, params): UMAP of a seeded reference
    set (every event up to max_points), the other events placed with transform."""
    from .tsne import subsample

    z = np.asarray(to_numpy(latents))
    idx = subsample(len(z), max_points, seed)
    ref_xy, est, params = fit_umap(z[idx], device, seed)
    xy = np.empty((len(z), 2), np.float64)
    xy[idx] = ref_xy
    rest = np.setdiff1d(np.arange(len(z)), idx)
    if rest.size:
        xy[rest] = umap_transform(est, z[rest])
    return xy, idx, ref_xy, params


# -- how well a map keeps clusters apart ---------------------------------------------------------

def neighbour_agreement(xy, labels, k: int = 10) -> float:
    """Mean fraction of each event's k nearest map neighbours (itself excluded) that share its cluster."""
    from sklearn.neighbors import NearestNeighbors

    xy, labels = np.asarray(xy, np.float64), np.asarray(labels)
    k = min(k, len(xy) - 1)
    if k < 1:
        raise GpuclustError("neighbour agreement needs at least 2 events")
    _, ind = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy)
    return float((labels[ind[:, 1:]] == labels[:, None]).mean())
