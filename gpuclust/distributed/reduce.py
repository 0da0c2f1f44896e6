"""Map a function over the partitions of a Dask array and tree-reduce the small results."""
from __future__ import annotations

import dask


def tree_reduce(parts, combine, fan_in: int = 8):
    """Combine delayed partial results in a tree (log depth), so no one task receives them all."""
    parts = list(parts)
    while len(parts) > 1:
        parts = [dask.delayed(combine)(parts[i:i + fan_in]) for i in range(0, len(parts), fan_in)]
    return parts[0]


def map_reduce(arr, fn, combine, *args):
    """combine(fn(block, *args) for each row block of the 2-D Dask array `arr`), computed on the workers."""
    blocks = arr.to_delayed().ravel()
    return tree_reduce([dask.delayed(fn)(b, *args) for b in blocks], combine).compute()
