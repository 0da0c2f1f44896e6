"""Latent vectors: encoding every row, the zero-copy hand-off to NumPy/CuPy, and latent files."""
from .io import Latents, load_latents, save_latents

__all__ = ["Latents", "load_latents", "save_latents"]
