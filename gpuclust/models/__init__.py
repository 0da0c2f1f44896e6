"""Encoders: the reference autoencoder and the student study's U-Net, built from a config dict."""
from __future__ import annotations

from ..errors import GpuclustError
from .autoencoder import AutoEncoder
from .unet import UNet

MODELS = ("ae", "unet")


def build_model(config: dict):
    """The model a config dict (as stored in checkpoints) describes."""
    cfg = dict(config)
    arch = cfg.pop("arch", None)
    cfg.pop("dec_k", None)
    cfg.setdefault("latent_activation", "relu")  # checkpoints written before the option had the reference's ReLU
    cfg["input_shape"] = tuple(cfg["input_shape"])
    if arch == "ae":
        return AutoEncoder(**cfg)
    if arch == "unet":
        return UNet(**cfg)
    raise GpuclustError(f"unknown model {arch!r}: use one of {', '.join(MODELS)}")


def decode_only(model, z):
    """Decode latents without an input image (centroid pictures)."""
    if isinstance(model, UNet):
        return model.decode_latent_only(z)
    return model.decode(z)
