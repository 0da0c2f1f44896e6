"""Per-spectrogram normalisation of batches (n, H, W), in the batch's array namespace (NumPy, CuPy, ...)."""
from __future__ import annotations

from ..backend import namespace
from ..errors import GpuclustError

NORMALISATIONS = ("log", "l2", "maxabs", "none")
DEFAULT = "log"
LOG_FLOOR = 1e-3  # relative to the spectrogram's median power
_TINY = 1e-30


def normalise(x, method: str = DEFAULT, inplace: bool = False):
    """Scale each spectrogram on its own.

    log: log10 of the power plus a floor (1e-3 of the spectrogram's median power, so that the
        noise floor, not the quietest pixel, sets the bottom of the range), minus the
        spectrogram's mean log level (loudness says nothing about the kind of event). Overtones,
        chirp tails and the noise floor stay visible where linear power is dominated by its
        brightest pixels. The default.
    l2: divide by the L2 norm, no centring (the reference pipeline's final runs).
    maxabs: (X - mean) / max|X - mean|, the older variant the student study used.
    none: unchanged.
    All-zero spectrograms are returned as zeros (the loader reports them as bad rows first).
    With inplace=True the batch itself is overwritten (saves a copy of a freshly read batch).
    """
    if method not in NORMALISATIONS:
        raise GpuclustError(f"unknown normalisation {method!r}: use one of {', '.join(NORMALISATIONS)}")
    if method == "none" or x.shape[0] == 0:
        return x
    xp, _ = namespace(x)
    n = x.shape[0]
    flat = xp.reshape(x if inplace else xp.asarray(x, copy=True), (n, -1))
    if method == "log":
        flat = _log_centred(flat, xp)
    else:
        # Scale by the largest value first: the norm of values near 1e30 would overflow float32.
        big = xp.max(xp.abs(flat), axis=1, keepdims=True)
        big = xp.where(big > 0, big, xp.ones_like(big))
        flat /= big
        if method == "maxabs":
            flat -= xp.mean(flat, axis=1, keepdims=True)
            scale = xp.max(xp.abs(flat), axis=1, keepdims=True)
        else:
            scale = xp.sqrt(xp.sum(flat * flat, axis=1, keepdims=True))
        flat /= xp.maximum(scale, xp.full_like(scale, _TINY))
    return xp.reshape(flat, tuple(x.shape))


def _log_centred(flat, xp):
    """log10(x + floor) - mean, row by row; the median is taken over every 7th pixel (same value, 7x cheaper)."""
    sample = xp.sort(flat[:, ::7], axis=1)
    median = sample[:, sample.shape[1] // 2][:, None]
    top = xp.max(flat, axis=1, keepdims=True)
    floor = xp.where(median > 0, LOG_FLOOR * median, 1e-6 * top)
    floor = xp.where(floor > 0, floor, xp.ones_like(floor))  # all-zero rows: log10(1) = 0
    out = xp.log10(xp.maximum(flat, xp.zeros_like(flat[:1, :1])) + floor)
    return out - xp.mean(out, axis=1, keepdims=True)
