"""Encoding everything: every usable row of a spectrogram file, or every sample of a training source, in batches."""
from __future__ import annotations

import numpy as np
import torch

from ..backend import to_numpy
from ..data.loader import iter_batches
from ..data.normalise import DEFAULT
from ..data.spectrograms import SpectrogramFile
from ..models.precision import autocast, for_inference, inference_batch
from .handoff import to_array


@torch.no_grad()
def encode_rows(model, sf: SpectrogramFile, rows, norm: str = DEFAULT, device: str = "cpu",
                batch_size: int | None = None, progress=None, errors: bool = False, read_ahead: bool = True):
    """Latents (len(rows), D) on `device`, in the order of the sorted rows.

    batch_size: rows a batch [the device's, models.precision.inference_batch].
    errors: also each row's mean squared reconstruction error (len(rows),) on `device`, from the same pass
    (the whole autoencoder instead of its encoder: about twice the work); then (latents, errors).
    read_ahead: read and normalise the next window while this one is encoded (data.readahead; the same values)."""
    model = for_inference(model, device)
    batch_size = batch_size or inference_batch(device)
    rows = np.sort(np.asarray(rows))
    out = None
    err = torch.empty(len(rows), dtype=torch.float32, device=device) if errors else None
    pos = 0
    for idx, x in iter_batches(sf, rows, batch_size, norm=norm, shuffle=False, ahead=read_ahead):
        xb = torch.from_numpy(x).unsqueeze(1)
        if device == "cuda":
            xb = xb.pin_memory().to(device, non_blocking=True)
        with autocast(device):
            if errors:
                recon, z = model(xb)[:2]
                err[pos:pos + len(idx)] = ((recon.float() - xb.float()) ** 2).flatten(1).mean(dim=1)
            else:
                z = model.encode(xb)
            z = z.float()
        if out is None:
            out = torch.empty((len(rows), z.shape[1]), dtype=torch.float32, device=device)
        out[pos:pos + len(idx)] = z
        pos += len(idx)
        if progress:
            progress(len(idx))
    return (out, err) if errors else out


def encode_arrays(model, sf: SpectrogramFile, rows, norm: str = DEFAULT, device: str = "cpu",
                  batch_size: int | None = None, errors: bool = False):
    """encode_rows as (latents: a zero-copy NumPy or CuPy view on `device`, reconstruction errors: host NumPy, or
    None without `errors`)."""
    out = encode_rows(model, sf, rows, norm, device, batch_size, errors=errors)
    z, err = out if errors else (out, None)
    return to_array(z), None if err is None else to_numpy(to_array(err))


@torch.no_grad()
def encode_source(model, source, device: str) -> np.ndarray:
    """Latents of every sample of a training source (gpuclust.training.sources), in source order (host float64)."""
    model = for_inference(model, device)
    out = np.empty((len(source), model.config["latent_dim"]), np.float64)
    for pos, x in source.batches(inference_batch(device), shuffle=False):
        with autocast(device):
            z = model.encode(x).float()
        out[pos] = z.cpu().numpy()
    return out
