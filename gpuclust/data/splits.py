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
    """Split `rows` (original file rows, e.g. the finite ones) at random into three parts.

    The same rows, fractions and seed always give the same parts.
    """
    rows = np.asarray(rows, dtype=np.int64)
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or f.sum() > 1 + 1e-9 or f[0] <= 0:
        raise GpuclustError(
            f"split fractions {tuple(fractions)} must be three non-negative numbers "
            "(train, validation, test), train > 0, summing to at most 1"
        )
    perm = np.random.default_rng(seed).permutation(rows)
    n = rows.size
    n_train, n_val = int(round(f[0] * n)), int(round(f[1] * n))
    n_test = min(int(round(f[2] * n)), n - n_train - n_val)
    parts = np.split(perm, [n_train, n_train + n_val, n_train + n_val + n_test])[:3]
    return Splits(*(np.sort(p) for p in parts))
