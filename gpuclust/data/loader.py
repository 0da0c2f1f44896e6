"""Batches for training and encoding, read in contiguous slices, normalised per spectrogram."""
from __future__ import annotations

import numpy as np

from ..errors import GpuclustError
from .normalise import DEFAULT, normalise
from .readahead import read_ahead
from .spectrograms import SpectrogramFile


def usable_rows(sf: SpectrogramFile, bad_rows: str = "skip", norm: str | None = None) -> tuple[np.ndarray, int]:
    """Rows fit to use, and how many were not: NaN/inf, or no energy at all (a dead channel, float16 power
    that underflowed to zero). bad_rows='refuse' makes any such row an error. With a log normalisation, negative
    values (not a power spectrum) are refused."""
    if bad_rows not in ("skip", "refuse"):
        raise GpuclustError(f"unknown --bad-rows {bad_rows!r}: use skip or refuse")
    health = sf.row_health()
    ok = health.usable
    n_bad = int((~ok).sum())
    if n_bad and bad_rows == "refuse":
        first = int(np.flatnonzero(~ok)[0])
        raise GpuclustError(f"{sf.path}: {describe_bad(health)} (first: row {first}); "
                            "use --bad-rows skip to leave them out")
    if n_bad == sf.n_rows:
        raise GpuclustError(f"{sf.path}: no usable row: {describe_bad(health)}")
    if norm is not None and norm.startswith("log") and not health.nonnegative[ok].all():
        first = int(np.flatnonzero(ok & ~health.nonnegative)[0])
        raise GpuclustError(f"{sf.path}: row {first} has negative values, which a power spectrogram cannot have; "
                            f"--norm {norm} needs power values (use --norm l2 or maxabs for other data)")
    return np.flatnonzero(ok), n_bad


def describe_bad(health) -> str:
    """'3 row(s) with NaN or inf, 300 all-zero row(s)': what was wrong, in words."""
    parts = []
    n_nan = int((~health.finite).sum())
    n_zero = int((health.finite & ~health.energy).sum())
    if n_nan:
        parts.append(f"{n_nan} row(s) with NaN or inf")
    if n_zero:
        parts.append(f"{n_zero} all-zero row(s) (a dead channel or power that underflowed)")
    return ", ".join(parts) or "no bad rows"


# Rows normalised at a time: the normalisation's temporaries are ~5x its input, and at 128 rows (4.5 MB at
# 87 x 100) they stay in the caches: 1.45x faster than 1,024 rows, the same values (benchmarks/bench_inference.py)
NORM_BLOCK = 128
READ_WINDOW = 8192  # consecutive chosen rows a streamed source reads at once (and shuffles within)


def load_rows(sf: SpectrogramFile, rows, norm: str = DEFAULT) -> np.ndarray:
    """All the given rows, normalised, as one float32 array (n, H, W) in the order given.

    Normalised a block of rows at a time into the array read (each row's normalisation is its own, so the
    values are those of one call): the sorts, masks and gathers of `log-aligned` held about five copies
    of everything read at once (8,192 rows: 1.7 GB above the 272 MB read; an in-memory validation set
    of 85,560 rows: ~15 GB).
    """
    x = sf.read_rows(rows)
    if norm == "none":
        return x
    for lo in range(0, len(x), NORM_BLOCK):
        x[lo:lo + NORM_BLOCK] = normalise(x[lo:lo + NORM_BLOCK], norm, inplace=True)
    return x


def mean_image(sf: SpectrogramFile, rows, norm: str = DEFAULT) -> np.ndarray:
    """The mean normalised image (H, W) of the given rows, read READ_WINDOW rows at a time (float64 sums)."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    total = np.zeros(sf.shape, np.float64)
    for lo in range(0, rows.size, READ_WINDOW):
        total += load_rows(sf, rows[lo:lo + READ_WINDOW], norm).sum(axis=0, dtype=np.float64)
    return (total / max(1, rows.size)).astype(np.float32)


def iter_batches(sf: SpectrogramFile, rows, batch_size: int, norm: str = DEFAULT, shuffle: bool = False,
                 seed: int = 0, window: int | None = None, ahead: bool = False):
    """(row_indices, images) batches streamed from the file without loading it all.

    With shuffle, windows of `window` (READ_WINDOW) consecutive chosen rows are read in a random
    order and shuffled inside: every read stays a contiguous slice, and the
    batches are mixed well enough for SGD (rows of one window are months apart
    only if the file is ordered that way; use a larger window to mix more).
    With ahead, the next window is read and normalised in a background thread while the caller works on
    this one's batches (data.readahead: one window more in memory, the same batches).
    """
    windows = _windows(sf, rows, norm, shuffle, seed, window or READ_WINDOW)
    for part, x, order in (read_ahead(windows) if ahead else windows):
        for b in range(0, part.size, batch_size):
            sel = order[b: b + batch_size]
            yield part[sel], x[sel]


def _windows(sf: SpectrogramFile, rows, norm: str, shuffle: bool, seed: int, window: int):
    """(rows, normalised images, order of the batches' rows) for each window of iter_batches, in its order."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    rng = np.random.default_rng(seed)
    starts = np.arange(0, rows.size, window)
    if shuffle:
        rng.shuffle(starts)
    for s in starts:
        part = rows[s: s + window]
        x = load_rows(sf, part, norm)
        yield part, x, rng.permutation(part.size) if shuffle else np.arange(part.size)
