"""A latent file as a Dask array whose partitions the workers read themselves.

The client reads the file's header only (shape, dtype); each partition is a task that opens the file
where the worker runs and reads its own rows, so neither the client nor the task graph ever holds the
latents. The file must be visible to the workers under the same path (a LocalCluster, or a shared
filesystem on a cluster, as for the spectrograms `--dask` encodes).
"""
from __future__ import annotations

import numpy as np


MAX_PARTITION_ROWS = 1 << 18  # 24 MB of float64 latents at D = 12: what one task holds stays bounded at any N


def workers_see(client, path: str) -> bool:
    """Whether every connected worker finds `path` (absolute) where it runs (none connected: this machine's)."""
    import os

    path = os.path.abspath(path)
    found = client.run(os.path.exists, path)
    return all(found.values()) if found else os.path.exists(path)


def partition_rows(n: int, n_workers: int) -> int:
    """Rows a partition: about four partitions a worker (for balance), from 1,000 to MAX_PARTITION_ROWS rows."""
    return min(MAX_PARTITION_ROWS, max(1000, -(-n // (4 * max(1, n_workers)))))


def read_rows(path: str, dataset: str | None, lo: int, hi: int) -> np.ndarray:
    """Rows lo:hi of a .npy array (dataset None) or of an HDF5 dataset, as a NumPy array (runs on a worker)."""
    if dataset is None:
        return np.array(np.load(path, mmap_mode="r", allow_pickle=False)[lo:hi])
    import h5py

    with h5py.File(path, "r") as h5:
        return h5[dataset][lo:hi]


def latent_partitions(path: str, dataset: str | None, shape: tuple, dtype, n_workers: int):
    """The (N, D) latents of `path` as a Dask array of row partitions, each read by the worker that holds it."""
    import dask
    import dask.array as da

    n, d = shape
    step = partition_rows(n, n_workers)
    parts = [da.from_delayed(dask.delayed(read_rows)(path, dataset, lo, min(n, lo + step)),
                             shape=(min(n, lo + step) - lo, d), dtype=dtype, meta=np.empty((0, d), dtype))
             for lo in range(0, n, step)]
    return da.concatenate(parts, axis=0)
