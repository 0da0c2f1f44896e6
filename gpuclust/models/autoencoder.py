"""The reference convolutional autoencoder (Jenkins et al. 2021), with sizes computed, not fixed.

At 87 x 100 input and a 9-dim latent it has exactly the reference's 218,250
parameters: five 3x3 stride-2 convolutions 1-8-16-32-64-128 (padding 1, and
(1, 0) on the last), Linear to the latent with ReLU, and a mirrored decoder
whose transposed convolutions reproduce each encoder size exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import GpuclustError

CHANNELS = (8, 16, 32, 64, 128)


def conv_out(size: int, pad: int, k: int = 3, stride: int = 2) -> int:
    return (size + 2 * pad - k) // stride + 1


def encoder_sizes(hw: tuple[int, int], pads) -> list[tuple[int, int]]:
    """(H, W) after each convolution, starting with the input; an error if the input is too small."""
    sizes = [tuple(hw)]
    for ph, pw in pads:
        h, w = sizes[-1]
        if h + 2 * ph < 3 or w + 2 * pw < 3:
            raise GpuclustError(f"input of {hw[0]} x {hw[1]} is too small for the {len(pads)}-layer encoder "
                                f"(it shrinks to {h} x {w} before layer {len(sizes)}, which needs 3 x 3)")
        sizes.append((conv_out(h, ph), conv_out(w, pw)))
    return sizes


LATENT_ACTIVATIONS = ("relu", "linear")


def latent_layer(n_in: int, latent_dim: int, activation: str) -> nn.Sequential:
    """Flatten, Linear to the latent, and the reference's ReLU or none.

    The reference ends the encoder in a ReLU: units that go negative for every input stay at zero
    for good ("dead"), and the mixture then works in fewer dimensions than it was given (2 to 5 of
    9 units were dead after training on the built-in data). A linear latent has no such units.
    """
    layers = [nn.Flatten(), nn.Linear(n_in, latent_dim)]
    if activation == "relu":
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Xavier-uniform weights and bias 0.01, as the reference."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.01)


class AutoEncoder(nn.Module):
    """Conv autoencoder: encode (n, 1, H, W) -> (n, latent_dim); decode back to (n, 1, H, W)."""

    def __init__(self, input_shape=(87, 100), latent_dim: int = 9, channels=CHANNELS, latent_activation: str = "relu"):
        super().__init__()
        if latent_dim < 1:
            raise GpuclustError(f"latent dimension must be at least 1, got {latent_dim}")
        if latent_activation not in LATENT_ACTIVATIONS:
            raise GpuclustError(f"latent activation must be one of {', '.join(LATENT_ACTIVATIONS)}, "
                                f"got {latent_activation!r}")
        self.config = {"arch": "ae", "input_shape": list(input_shape), "latent_dim": latent_dim,
                       "channels": list(channels), "latent_activation": latent_activation}
        pads = [(1, 1)] * (len(channels) - 1) + [(1, 0)]
        sizes = encoder_sizes(input_shape, pads)
        chans = [1, *channels]
        enc = []
        for cin, cout, p in zip(chans, chans[1:], pads):
            enc += [nn.Conv2d(cin, cout, 3, stride=2, padding=p), nn.ReLU(inplace=True)]
        self.encoder_conv = nn.Sequential(*enc)
        self.bottleneck_shape = (channels[-1], *sizes[-1])
        flat = channels[-1] * sizes[-1][0] * sizes[-1][1]
        self.to_latent = latent_layer(flat, latent_dim, latent_activation)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(inplace=True))
        dec = []
        for i in range(len(channels) - 1, -1, -1):
            (h_in, w_in), (h_out, w_out), p = sizes[i + 1], sizes[i], pads[i]
            # Output padding that lands exactly on the encoder's size at this level.
            op = (h_out - ((h_in - 1) * 2 - 2 * p[0] + 3), w_out - ((w_in - 1) * 2 - 2 * p[1] + 3))
            dec.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 3, stride=2, padding=p, output_padding=op))
            if i > 0:
                dec.append(nn.ReLU(inplace=True))
        self.decoder_conv = nn.Sequential(*dec)
        init_weights(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.encoder_conv(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_conv(self.from_latent(z).view(-1, *self.bottleneck_shape))

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        return self.decode(z), z
