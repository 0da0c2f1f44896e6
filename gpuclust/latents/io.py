"""Latent files: the (N, D) latent vectors with the original row index of each (HDF5)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..atomic import atomic_path, hdf5_output
from ..errors import GpuclustError


@dataclass
class Latents:
    z: np.ndarray  # (N, D)
    rows: np.ndarray  # (N,) row of each latent in the source spectrogram file
    truth: np.ndarray | None = None  # ground-truth class per row, when the source has one
    attrs: dict = field(default_factory=dict)
    errors: np.ndarray | None = None  # (N,) mean squared reconstruction error per row, where the run measured it


def save_latents(path, lat: Latents) -> None:
    with atomic_path(path) as tmp, hdf5_output(tmp) as h5:
        h5["latent"] = np.asarray(lat.z, np.float32)
        h5["row"] = np.asarray(lat.rows, np.int64)
        if lat.truth is not None:
            h5["truth"] = np.asarray(lat.truth, np.int64)
        if lat.errors is not None:
            h5["reconstruction_error"] = np.asarray(lat.errors, np.float32)
        for k, v in lat.attrs.items():
            h5.attrs[k] = v


def load_latents(path, n_workers: int | None = None) -> Latents:
    """A latent file (HDF5 from `embed`, or .npy) with its rows and truth.

    n_workers: the latents not read here but as a Dask array of partitions that the workers (that many)
    read themselves (gpuclust.distributed.read); only the header, the rows and the truth are read here.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GpuclustError(f"{path}: no such file")
    if os.path.isdir(path):
        raise GpuclustError(f"{path}: is a directory, not a latent file")
    if path.endswith(".npy"):
        try:  # never unpickle: a .npy can carry arbitrary objects
            z = np.load(path, allow_pickle=False, mmap_mode="r" if n_workers else None)
        except ValueError as e:
            raise GpuclustError(f"{path}: not a numeric .npy array ({e})".replace("\n", " "))
        except (OSError, EOFError) as e:
            raise GpuclustError(f"{path}: cannot be read as a .npy array ({type(e).__name__}: {e})")
        _check(path, "latents", z)
        if n_workers:
            return Latents(_partitions(path, None, z, n_workers), np.arange(len(z)))
        return Latents(z.astype(np.float64, copy=False), np.arange(len(z)))
    if not h5py.is_hdf5(path):
        raise GpuclustError(f"{path}: not an HDF5 latent file (or a .npy array)")
    from ..data.spectrograms import open_h5

    with open_h5(path) as h5:
        if "latent" not in h5:
            raise GpuclustError(f"{path}: no 'latent' dataset (is this a file written by gpuclust embed?)")
        ds = h5["latent"]
        _check(path, "'latent'", ds)
        z = _partitions(path, "latent", ds, n_workers) if n_workers else ds[:]
        rows = h5["row"][:] if "row" in h5 else np.arange(len(z))
        truth = h5["truth"][:] if "truth" in h5 else None
        errors = h5["reconstruction_error"][:] if "reconstruction_error" in h5 else None
        for name, v in (("row", rows), ("truth", truth), ("reconstruction_error", errors)):
            if v is not None and len(v) != len(z):  # one value per latent: a shorter one labelled only its rows
                raise GpuclustError(f"{path}: '{name}' has {len(v)} values, 'latent' {len(z)} rows; "
                                    "they must match row for row")
        return Latents(z, rows, truth, dict(h5.attrs), errors)


def _check(path, what: str, z) -> None:
    """Shape and dtype of a latent array (read from the header: NumPy memory map or HDF5 dataset)."""
    if z.ndim != 2:
        raise GpuclustError(f"{path}: {what} must be 2-D (samples, dims), got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.number) or np.issubdtype(z.dtype, np.complexfloating):
        raise GpuclustError(f"{path}: {what} must be real numbers, got dtype {z.dtype}")


def _partitions(path, dataset, z, n_workers: int):
    from ..distributed.read import latent_partitions

    dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.dtype(np.float64)
    parts = latent_partitions(os.path.abspath(path), dataset, z.shape, z.dtype, n_workers)
    return parts.astype(dtype) if dtype != z.dtype else parts
