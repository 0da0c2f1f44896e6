"""Deep Embedded Clustering (Xie et al. 2016) as the reference used it, on top of any encoder."""
from __future__ import annotations

import torch
from torch import nn


def soft_assignment(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Student's t kernel (one degree of freedom): q_ij ~ (1 + |z_i - mu_j|^2)^-1, rows summing to 1."""
    q = 1.0 / (1.0 + torch.cdist(z, centres).pow(2))
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q):
    """p_ij = q_ij^2 / f_j, normalised per row (f_j: soft cluster frequency). Sharpens confident assignments.

    The target of DEC and of the mixture refinement alike; q a torch tensor or a NumPy array. The floors
    keep a cluster (or a row) with no mass at all from dividing by zero.
    """
    w = q ** 2 / q.sum(0).clip(min=1e-12)
    return w / w.sum(1)[:, None].clip(min=1e-12)


class DEC(nn.Module):
    """An encoder-decoder plus learnable cluster centres in its latent space."""

    def __init__(self, autoencoder: nn.Module, centres: torch.Tensor):
        super().__init__()
        self.autoencoder = autoencoder
        self.centres = nn.Parameter(centres.detach().clone().float())
        self.config = {**autoencoder.config, "dec_k": int(centres.shape[0])}

    def encode(self, x):
        return self.autoencoder.encode(x)

    def forward(self, x):
        recon, z = self.autoencoder(x)
        return recon, z, soft_assignment(z, self.centres)
