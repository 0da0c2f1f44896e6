"""Encoding on the workers: each reads its own slice of the HDF5 file and encodes it on its own device."""
from __future__ import annotations

import functools

import numpy as np

from ..backend import Backend


@functools.lru_cache(maxsize=4)
def _worker_model(checkpoint: str, device: str):
    from ..training.checkpoint import load_model

    model, _ = load_model(checkpoint, device)
    return model


def _encode_slice(data_spec: dict, checkpoint: str, rows: np.ndarray, norm: str, device: str, host: bool,
                  errors: bool = False):
    """Runs on a worker: the latents of `rows`, encoded on `device`; NumPy with `host`, else on that device.
    errors: (latents, reconstruction errors), the errors always NumPy (one number a row, for the client)."""
    from ..backend import to_numpy
    from ..data.spectrograms import open_spectrograms
    from ..latents.encode import encode_arrays

    model = _worker_model(checkpoint, device)
    with open_spectrograms(**data_spec) as sf:
        z, err = encode_arrays(model, sf, rows, norm, device, errors=errors)
    z = to_numpy(z) if host else z
    return (z, err) if errors else z


BLOCK_ROWS = 16384  # rows a partition: also how a resumed run partitions the latents it reads back


def encode_distributed(data_spec: dict, checkpoint: str, rows, norm: str, latent_dim: int, backend: Backend,
                       block_rows: int = BLOCK_ROWS, errors: bool = False):
    """(latents, reconstruction errors): the latents a Dask array (len(rows), latent_dim), one partition per block
    of rows, persisted on the workers; with `errors` each row's reconstruction error from the same pass, gathered
    here as NumPy (one number a row), else None.

    The workers encode on their own device (backend.worker_device, asked of them when the backend was
    opened) and keep the partitions where backend.latent_device says: CuPy on their GPUs, or NumPy when
    this process could not receive CuPy arrays (no GPU here), so the client never needs CuPy for CPU or
    host partitions.
    """
    import dask
    import dask.array as da

    rows = np.sort(np.asarray(rows))
    on_gpu = backend.latent_device == "cuda"
    if on_gpu:
        import cupy

        meta = cupy.empty((0, latent_dim), np.float32)
    else:
        meta = np.empty((0, latent_dim), np.float32)
    device = backend.worker_device or backend.device
    parts, errs = [], []
    for lo in range(0, len(rows), block_rows):
        part = rows[lo:lo + block_rows]
        d = dask.delayed(_encode_slice, nout=2 if errors else None)(data_spec, checkpoint, part, norm, device,
                                                                    not on_gpu, errors)
        parts.append(da.from_delayed(d[0] if errors else d, shape=(len(part), latent_dim), dtype=np.float32,
                                     meta=meta))
        if errors:
            errs.append(da.from_delayed(d[1], shape=(len(part),), dtype=np.float32, meta=np.empty(0, np.float32)))
    if not errors:
        return da.concatenate(parts).persist(), None
    z, err = dask.persist(da.concatenate(parts), da.concatenate(errs))
    return z, np.asarray(err.compute())
