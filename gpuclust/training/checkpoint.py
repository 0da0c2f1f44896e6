"""Checkpoints: written atomically, read with weights_only=True (no arbitrary unpickling)."""
from __future__ import annotations

import os

import torch

from ..atomic import atomic_path
from ..errors import GpuclustError


def save_checkpoint(path, state: dict) -> None:
    """state holds tensors, state dicts and plain Python values only.

    Written through a Python file: given a path, torch.save reports a full disk as "[enforce fail at
    inline_container.cc] unexpected pos"; given a file, the OSError (ENOSPC) is kept as its context,
    and atomic_path names the full disk.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


def load_checkpoint(path, device: str = "cpu") -> dict:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GpuclustError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a truncated file, a foreign pickle: never unpickled beyond weights
        raise GpuclustError(f"{path}: not a gpuclust checkpoint that loads safely ({type(e).__name__}: {e})")


def check_same_model(state: dict, config: dict, path) -> None:
    """A checkpoint resumes or loads only into the architecture and input size that wrote it."""
    saved = state.get("config")
    if saved != config:
        diff = {k: (saved.get(k) if saved else None, v) for k, v in config.items() if not saved or saved.get(k) != v}
        raise GpuclustError(f"{path}: checkpoint is for a different model or input size "
                            f"(checkpoint vs now: {diff})")


def load_model(path, device: str = "cpu"):
    """The trained model a checkpoint holds (its best weights), ready for encoding."""
    from ..models import build_model

    state = load_checkpoint(path, device)
    if "config" not in state or "model" not in state:
        raise GpuclustError(f"{path}: not a gpuclust model checkpoint (no config or weights)")
    model = build_model(state["config"])
    model.load_state_dict(state.get("best_model") or state["model"])
    return model.to(device), state
