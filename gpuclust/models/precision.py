"""The one rule for how a network runs on each device: its precision, and, for passes without gradients, its
memory layout and batch size.

Precision: bfloat16 autocast on a GPU, float32 on the CPU. bfloat16 keeps float32's range (no loss scaling
needed) and doubles throughput on the tensor cores; on the CPU autocast would only slow the convolutions down.

Inference on the CPU (encoding, validation loss): the model in channels-last layout, 128 rows a batch.
Measured on the 2-core AVX-512 VM (`benchmarks/bench_inference.py`, `results/inference-cpu.json`): the whole
default autoencoder ran 2.8x faster than in the contiguous layout at the former batch of 1,024 (7,438
against 2,703 spectrograms/s; the encoder alone 31,685 against 9,866, 184 GFLOP/s), the batch's activations
staying in the caches; the results differ by under 1e-7. oneDNN splits a batch this size by thread count, so
encoding runs at the fixed count of runs (gpuclust.threads). On a GPU the layout and the batch of 1,024 stay as
they were until they are measured there (`benchmarks/gpu_session.sh`, step inference).
"""
from __future__ import annotations

import copy

import torch

INFERENCE_BATCH = {"cpu": 128}
DEFAULT_INFERENCE_BATCH = 1024


def autocast(device: str):
    """The autocast context every forward pass (training, refinement, encoding) runs in."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda")


def inference_batch(device: str) -> int:
    """Rows a batch for passes without gradients on `device`."""
    return INFERENCE_BATCH.get(device, DEFAULT_INFERENCE_BATCH)


def for_inference(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """The model to run passes without gradients with, in eval mode: on the CPU a channels-last copy (the model
    itself is left as it is, since training may go on with it), elsewhere the model itself."""
    model.eval()
    if device != "cpu":
        return model
    return copy.deepcopy(model).to(memory_format=torch.channels_last)

