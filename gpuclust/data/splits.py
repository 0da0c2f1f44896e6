"""Seeded train / validation / test splits that keep every sample's original row index."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GpuclustError


@dataclass(frozen=True)
class Splits:
    """Sorted original row indices of each part (sorted, so reads stay contiguous)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def make_splits(rows, fractions=(0.7, 0.2, 0.1), seed: int = 0) -> Splits:
    """Split `rows` (original file rows, e.g. the usable ones) at random into three parts.

    The parts partition `rows`: every row is in exactly one part, whatever the count and rounding
    (the fractions are taken relative to their sum; the test part takes what rounding leaves).
    The same rows, fractions and seed always give the same parts.
    """
    rows = np.asarray(rows, dtype=np.int64)
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or not np.isfinite(f).all() or (f < 0).any() or f[0] <= 0:
        raise GpuclustError(
            f"split fractions {tuple(fractions)} must be three non-negative numbers "
            "(train, validation, test) with train > 0"
        )
    f = f / f.sum()
    perm = np.random.default_rng(seed).permutation(rows)
    n = rows.size
    n_train = max(1, int(round(f[0] * n))) if n else 0
    n_val = min(int(round(f[1] * n)), n - n_train)
    parts = np.split(perm, [n_train, n_train + n_val])
    return Splits(*(np.sort(p) for p in parts))
