"""Where training batches come from: held in (device) memory when they fit, else streamed from the file.

Either way a batch is (positions, images): positions index the source's own
`rows`, so a batch can always be traced back to rows of the file.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.loader import iter_batches, load_rows
from ..data.spectrograms import SpectrogramFile


class InMemory:
    """All images as one tensor on the device (bf16 on the GPU: the full RIS set is 7.4 GB so)."""

    def __init__(self, sf: SpectrogramFile, rows, norm: str, device: str):
        self.rows = np.sort(np.asarray(rows, dtype=np.int64))
        x = torch.from_numpy(load_rows(sf, self.rows, norm)).unsqueeze(1)
        self.x = x.to(device, dtype=torch.bfloat16) if device == "cuda" else x
        self.device = device

    def __len__(self):
        return len(self.rows)

    def batches(self, batch_size: int, shuffle: bool, seed: int = 0):
        n = len(self.rows)
        order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
        for b in range(0, n, batch_size):
            pos = order[b:b + batch_size]
            yield pos, self.x[torch.from_numpy(pos).to(self.x.device)].float()


class Streamed:
    """Batches read from the file in contiguous windows, the next read while this one trains (data.readahead);
    host batches pinned and copied asynchronously."""

    def __init__(self, sf: SpectrogramFile, rows, norm: str, device: str):
        self.sf, self.norm, self.device = sf, norm, device
        self.rows = np.sort(np.asarray(rows, dtype=np.int64))

    def __len__(self):
        return len(self.rows)

    def batches(self, batch_size: int, shuffle: bool, seed: int = 0):
        for idx, x in iter_batches(self.sf, self.rows, batch_size, norm=self.norm, shuffle=shuffle, seed=seed,
                                   ahead=True):
            t = torch.from_numpy(x).unsqueeze(1)
            if self.device == "cuda":
                t = t.pin_memory().to(self.device, non_blocking=True)
            yield np.searchsorted(self.rows, idx), t


def make_source(sf: SpectrogramFile, rows, norm: str, device: str, memory_budget: float):
    """In memory when the set fits, else streamed.

    On the CPU "fits" means under `memory_budget` bytes of host memory; on the GPU,
    under 60 % of the device memory free now (the rest is for the model and activations).
    """
    h, w = sf.shape
    per_row = h * w * (2 if device == "cuda" else 4)
    if device == "cuda":
        memory_budget = 0.6 * torch.cuda.mem_get_info()[0]
    cls = InMemory if len(rows) * per_row <= memory_budget else Streamed
    return cls(sf, rows, norm, device)


def held_bytes(source) -> int:
    """Host (or device) bytes a source holds: its images when in memory, nothing when streamed."""
    return source.x.element_size() * source.x.nelement() if isinstance(source, InMemory) else 0
