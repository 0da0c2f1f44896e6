"""Per-spectrogram normalisation, for NumPy or CuPy batches of shape (n, H, W)."""
from __future__ import annotations

from ..backend import array_namespace
from ..errors import GpuclustError

NORMALISATIONS = ("l2", "maxabs", "none")
_TINY = 1e-30


def normalise(x, method: str = "l2", inplace: bool = False):
    """Scale each spectrogram on its own.

    l2: divide by its L2 norm, no centring (the reference pipeline's final runs; default).
    maxabs: (X - mean) / max|X - mean|, the older variant the student study used.
    none: unchanged.
    With inplace=True the batch itself is overwritten (saves a copy of a freshly read batch).
    """
    xp = array_namespace(x)
    if method == "none" or x.shape[0] == 0:
        return x
    if method not in NORMALISATIONS:
        raise GpuclustError(f"unknown normalisation {method!r}: use one of {', '.join(NORMALISATIONS)}")
    out = x if inplace else x.copy()
    flat = out.reshape(x.shape[0], -1)
    if method == "maxabs":
        flat -= flat.mean(axis=1, keepdims=True)
        scale = xp.abs(flat).max(axis=1)
    else:
        scale = xp.sqrt(xp.einsum("ij,ij->i", flat, flat))
    flat /= xp.maximum(scale, _TINY).astype(flat.dtype)[:, None]
    return out
