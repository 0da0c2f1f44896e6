"""The one rule for the precision a network runs in: bfloat16 autocast on a GPU, float32 on the CPU.

bfloat16 keeps float32's range (no loss scaling needed) and doubles throughput on the tensor cores;
on the CPU autocast would only slow the convolutions down.
"""
from __future__ import annotations

import torch


def autocast(device: str):
    """The autocast context every forward pass (training, refinement, encoding) runs in."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda")
