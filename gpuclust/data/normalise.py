"""Per-spectrogram normalisation of batches (n, H, W), in the batch's array namespace (NumPy, CuPy, ...)."""
from __future__ import annotations

from ..backend import namespace
from ..errors import GpuclustError

NORMALISATIONS = ("log-aligned", "log", "l2", "maxabs", "none")
DEFAULT = "log-aligned"
LOG_FLOOR = 1e-3  # relative to the spectrogram's median power
_TINY = 1e-30


def normalise(x, method: str = DEFAULT, inplace: bool = False):
    """Scale each spectrogram on its own.

    log: log10 of the power plus a floor (1e-3 of the spectrogram's median power, so that the
        noise floor, not the quietest pixel, sets the bottom of the range), minus the
        spectrogram's mean log level (loudness says nothing about the kind of event). Overtones,
        chirp tails and the noise floor stay visible where linear power is dominated by its
        brightest pixels.
    log-aligned: log, then each spectrogram shifted in time so that its energy centroid sits in the
        middle of the window (see `align_in_time`): where in the window the detector put the event
        says nothing about its kind. The default.
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
    if method.startswith("log"):
        flat = _log_centred(flat, xp)
        if method == "log-aligned":
            return align_in_time(xp.reshape(flat, tuple(x.shape)))
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
    sample = xp.sort(flat[:, ::7], axis=1, stable=False)  # equal values are alike: stability buys nothing
    median = sample[:, sample.shape[1] // 2][:, None]
    top = xp.max(flat, axis=1, keepdims=True)
    floor = xp.where(median > 0, LOG_FLOOR * median, 1e-6 * top)
    floor = xp.where(floor > 0, floor, xp.ones_like(floor))  # all-zero rows: log10(1) = 0
    out = xp.log10(xp.maximum(flat, xp.zeros_like(flat[:1, :1])) + floor)
    return out - xp.mean(out, axis=1, keepdims=True)


def align_in_time(x):
    """Shift each log spectrogram (n, H, W) along time so that its energy centroid lands on column W // 2.

    The energy of a column is the mean over frequencies of how far the pixels rise above their
    frequency's median level (the noise floor); the centroid weights each column by that energy
    squared, so the event, not the noise around it, decides where it is. Columns shifted in from
    outside the window are filled with each frequency's median level, so no event is wrapped round
    or smeared. A detector triggers anywhere from the onset to the peak of an event, and an encoder
    that sees events in one place spends no latent dimension on where they were (on the built-in
    data: PCA-16 + mixture from 0.637 to 0.668 NMI, over 3 seeds, benchmarks/results/quality.json).
    """
    xp, dev = namespace(x)
    if x.ndim != 3:
        raise GpuclustError(f"aligning in time needs spectrograms (n, H, W), got an array of shape {tuple(x.shape)}")
    n, h, w = x.shape
    if n == 0 or w < 2:
        return x
    # (n, H, 1): each frequency's median level. Unstable: equal values are alike, and NumPy's stable sort (the
    # array API's default) made this sort 8x slower, two thirds of the whole normalisation
    base = xp.sort(x, axis=2, stable=False)[:, :, w // 2:w // 2 + 1]
    excess = x - base
    # (n, W); maximum with a broadcast zero, not where(excess > 0, excess, zeros): the same values, 7x faster
    energy = xp.mean(xp.maximum(excess, xp.zeros_like(excess[:1, :1, :1])), axis=1)
    weight = energy * energy
    total = xp.sum(weight, axis=1)
    cols = xp.arange(w, dtype=x.dtype, device=dev)
    centre = xp.sum(weight * cols[None, :], axis=1) / xp.where(total > 0, total, xp.ones_like(total))
    centre = xp.where(total > 0, xp.round(centre), xp.full_like(total, float(w // 2)))
    shift = w // 2 - xp.astype(centre, xp.int64)  # (n,)
    src = xp.arange(w, dtype=xp.int64, device=dev)[None, :] - shift[:, None]  # (n, W): the column each one comes from
    inside = (src >= 0) & (src < w)
    src = xp.clip(src, 0, w - 1)
    moved = xp.take_along_axis(x, xp.broadcast_to(src[:, None, :], (n, h, w)), axis=2)
    return xp.where(inside[:, None, :], moved, base)
