"""Batches for training and encoding, read in contiguous slices, normalised per spectrogram."""
from __future__ import annotations

import numpy as np

from ..errors import GpuclustError
from .normalise import normalise
from .spectrograms import SpectrogramFile


def usable_rows(sf: SpectrogramFile, bad_rows: str = "skip") -> tuple[np.ndarray, int]:
    """Rows without NaN/inf, and how many were bad. bad_rows='refuse' makes any bad row an error."""
    if bad_rows not in ("skip", "refuse"):
        raise GpuclustError(f"unknown --bad-rows {bad_rows!r}: use skip or refuse")
    ok = sf.finite_rows()
    n_bad = int((~ok).sum())
    if n_bad and bad_rows == "refuse":
        first = int(np.flatnonzero(~ok)[0])
        raise GpuclustError(f"{sf.path}: {n_bad} row(s) contain NaN or inf (first: row {first}); "
                            "use --bad-rows skip to leave them out")
    if n_bad == sf.n_rows:
        raise GpuclustError(f"{sf.path}: every row contains NaN or inf")
    return np.flatnonzero(ok), n_bad


def load_rows(sf: SpectrogramFile, rows, norm: str = "l2") -> np.ndarray:
    """All the given rows, normalised, as one float32 array (n, H, W) in the order given."""
    return normalise(sf.read_rows(rows), norm, inplace=True)


def iter_batches(sf: SpectrogramFile, rows, batch_size: int, norm: str = "l2", shuffle: bool = False,
                 seed: int = 0, window: int = 8192):
    """(row_indices, images) batches streamed from the file without loading it all.

    With shuffle, windows of `window` consecutive chosen rows are read in a random
    order and shuffled inside: every read stays a contiguous slice, and the
    batches are mixed well enough for SGD (rows of one window are months apart
    only if the file is ordered that way; use a larger window to mix more).
    """
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    rng = np.random.default_rng(seed)
    starts = np.arange(0, rows.size, window)
    if shuffle:
        rng.shuffle(starts)
    for s in starts:
        part = rows[s: s + window]
        x = load_rows(sf, part, norm)
        order = rng.permutation(part.size) if shuffle else np.arange(part.size)
        for b in range(0, part.size, batch_size):
            sel = order[b: b + batch_size]
            yield part[sel], x[sel]
