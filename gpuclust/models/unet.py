"""The student study's U-Net, with its skip connections made configurable.

Four reductions (two 3x3 convolutions with ReLU, 2x2 max-pool, dropout), a
mid-layer of two convolutions, Linear-ReLU to the latent; the decoder starts
from the latent and expands four times (transposed convolution, dropout,
concatenation with the matching skip, two convolutions).

Its known weakness: a skip connection hands the decoder the encoder's
feature maps directly, so reconstruction can bypass the 9-dim bottleneck.
`skips` chooses: "all" (the student code), "none" (a true bottleneck), or
"no_full" (all but the full-resolution one).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GpuclustError
from .autoencoder import init_weights, latent_layer

SKIP_MODES = ("all", "none", "no_full")


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class Down(nn.Module):
    """Two convolutions (kept as the skip), then 2x2 max-pool and dropout."""

    def __init__(self, cin, cout, dropout):
        super().__init__()
        self.conv, self.drop = double_conv(cin, cout), nn.Dropout2d(dropout)

    def forward(self, x):
        skip = self.conv(x)
        return self.drop(F.max_pool2d(skip, 2)), skip


class Up(nn.Module):
    """Transposed convolution, dropout, optional concatenation with the skip, two convolutions."""

    def __init__(self, cin, cout, dropout, use_skip):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.drop = nn.Dropout2d(dropout)
        self.use_skip = use_skip
        self.conv = double_conv(2 * cout if use_skip else cout, cout)

    def forward(self, x, skip_or_size):
        x = self.drop(self.up(x))
        size = skip_or_size.shape[-2:] if self.use_skip else skip_or_size
        x = F.pad(x, (0, size[1] - x.shape[-1], 0, size[0] - x.shape[-2]))  # odd sizes: pad up to the skip's
        if self.use_skip:
            x = torch.cat([x, skip_or_size], dim=1)
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, input_shape=(87, 100), latent_dim: int = 9, base: int = 8, skips: str = "all",
                 dropout: float = 0.1, latent_activation: str = "relu"):
        super().__init__()
        if skips not in SKIP_MODES:
            raise GpuclustError(f"unknown U-Net skip setting {skips!r}: use one of {', '.join(SKIP_MODES)}")
        self.config = {"arch": "unet", "input_shape": list(input_shape), "latent_dim": latent_dim, "base": base,
                       "skips": skips, "dropout": dropout, "latent_activation": latent_activation}
        chans = [base * 2 ** i for i in range(5)]  # 8, 16, 32, 64 and 128 in the middle
        sizes = [tuple(input_shape)]
        for _ in range(4):
            h, w = sizes[-1]
            if h < 2 or w < 2:
                raise GpuclustError(f"input of {input_shape[0]} x {input_shape[1]} is too small for the U-Net's "
                                    "four 2x2 poolings; use at least 16 x 16")
            sizes.append((h // 2, w // 2))
        if min(sizes[-1]) < 1:
            raise GpuclustError(f"input of {input_shape[0]} x {input_shape[1]} is too small for the U-Net")
        self.sizes = sizes
        self.downs = nn.ModuleList(Down(ci, co, dropout) for ci, co in zip([1, *chans[:3]], chans[:4]))
        self.mid = double_conv(chans[3], chans[4])
        self.mid_shape = (chans[4], *sizes[-1])
        flat = chans[4] * sizes[-1][0] * sizes[-1][1]
        self.to_latent = latent_layer(flat, latent_dim, latent_activation)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(inplace=True))
        use = {"all": [True] * 4, "none": [False] * 4, "no_full": [False, True, True, True]}[skips]
        self.use_skip = use  # index 0 is the full-resolution level
        self.ups = nn.ModuleList(Up(chans[i + 1], chans[i], dropout, use[i]) for i in (3, 2, 1, 0))
        self.out = nn.Conv2d(chans[0], 1, 1)
        init_weights(self)

    def _encode(self, x):
        skips = []
        for down in self.downs:
            x, s = down(x)
            skips.append(s)
        return self.to_latent(self.mid(x)), skips

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x)[0]

    def decode(self, z: torch.Tensor, skips=None) -> torch.Tensor:
        x = self.from_latent(z).view(-1, *self.mid_shape)
        for up, level in zip(self.ups, (3, 2, 1, 0)):
            x = up(x, skips[level] if up.use_skip else self.sizes[level])
        return self.out(x)

    def forward(self, x: torch.Tensor):
        z, skips = self._encode(x)
        if any(self.use_skip) and skips is not None:
            return self.decode(z, skips), z
        return self.decode(z), z

    def decode_latent_only(self, z: torch.Tensor) -> torch.Tensor:
        """Decode a latent alone (for centroid images): skips, if any, are replaced by zeros."""
        skips = [torch.zeros((z.shape[0], d.conv[0].out_channels, *s), device=z.device, dtype=z.dtype)
                 for d, s in zip(self.downs, self.sizes)]
        return self.decode(z, skips)
