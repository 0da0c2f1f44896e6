"""Spectrograms per second: gpuclust's contiguous block reads against row-by-row random access.

Row-by-row random access is what the reference code's Dataset.__getitem__ does
(one h5py read per sample, in shuffled order). Both read the same rows of the
same file in one run.

    python benchmarks/bench_loader.py [--rows 20000] [--out benchmarks/results/loader.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import h5py
import numpy as np

from gpuclust.data.loader import iter_batches
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.synth import write_synthetic


def evict(path):
    """Drop the file from the OS page cache, so reads come from the disk as for a file larger than RAM."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--random-reads", type=int, default=3000, help="rows read one by one (it is slow)")
    ap.add_argument("--file", help="an existing RIS file (default: a synthetic one)")
    ap.add_argument("--out", default="benchmarks/results/loader.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = a.file or os.path.join(tmp, "bench.h5")
        if not a.file:
            write_synthetic(path, a.rows, seed=0)
        sf = open_spectrograms(path)
        n = sf.n_rows
        rng = np.random.default_rng(0)
        idx = rng.permutation(n)[: a.random_reads]
        rates = {}
        for cache in ("cold", "warm"):
            # Row by row, shuffled, one open handle: the reference loader at its best.
            if cache == "cold":
                evict(path)
            t = time.perf_counter()
            with h5py.File(path, "r") as h5:
                ds = h5[sf.dataset]
                for i in idx:
                    _ = ds[i, :-1, 1:]
            rates[f"row_by_row_random_per_s_{cache}"] = round(len(idx) / (time.perf_counter() - t))
            # gpuclust: every row, shuffled batches of 512, contiguous windowed reads, normalised.
            if cache == "cold":
                evict(path)
            t = time.perf_counter()
            count = sum(len(r) for r, _ in iter_batches(sf, np.arange(n), 512, shuffle=True, seed=0))
            rates[f"gpuclust_blocks_per_s_{cache}"] = round(count / (time.perf_counter() - t))
            sf.close()
    res = {
        "machine": platform.node() or "unknown", "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
        "rows_in_file": n, **rates,
        "speedup_cold": round(rates["gpuclust_blocks_per_s_cold"] / rates["row_by_row_random_per_s_cold"], 1),
        "speedup_warm": round(rates["gpuclust_blocks_per_s_warm"] / rates["row_by_row_random_per_s_warm"], 1),
        "note": "cold: the file's pages evicted from the OS cache first (posix_fadvise DONTNEED), as for a "
                "file larger than memory, such as the full 15 GB RIS file; warm: file already in memory",
    }
    print(json.dumps(res, indent=2))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
