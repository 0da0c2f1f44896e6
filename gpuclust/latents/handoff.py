"""Latents from PyTorch to the clustering side without a copy, through DLPack.

On the GPU the tensor becomes a CuPy array sharing its memory (cupy.from_dlpack);
CuPy work then runs on PyTorch's current stream, so it cannot read the latents
before the encoder has finished writing them. On the CPU the same path gives a
NumPy array sharing the tensor's memory (numpy.from_dlpack).
"""
from __future__ import annotations

import numpy as np
import torch


def to_array(t: torch.Tensor):
    """A NumPy (CPU tensor) or CuPy (CUDA tensor) view of a float32 tensor: no copy is made."""
    t = t.detach()
    if t.dtype != torch.float32:
        t = t.float()  # a copy, but only when the encoder ran in another precision
    t = t.contiguous()
    if t.is_cuda:
        import cupy

        return cupy.from_dlpack(t)
    return np.from_dlpack(t)
