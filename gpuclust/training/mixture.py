"""Refining an encoder with the mixture itself as its clustering objective (IDEC-style, Gaussian components).

After the autoencoder is trained, a K-component full-covariance Gaussian mixture is fitted to its
training latents. Each refinement epoch then trains the encoder-decoder on

    reconstruction MSE  +  gamma * MSE.detach() * KL(P || Q)

where Q is the mixture's posterior of every sample (differentiable in the latent) and P the sharpened
target q_ij^2 / f_j (renormalised per sample: DEC's, gpuclust.models.dec.target_distribution), fixed for the epoch; after the epoch the
mixture is refitted from where it was. The latent is pulled towards the clusters the mixture sees,
while reconstruction keeps it from collapsing. Unlike the reference DEC (a Student's t kernel around
centres, and a weight of 1e-3), the clustering term speaks the language of the final clusterer: the
same full-covariance mixture that labels the events, and a weight tied to the reconstruction error,
so it matters whatever the scale of the input.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..backend import to_numpy
from ..errors import GpuclustError
from ..latents.encode import encode_source
from ..models.dec import target_distribution
from .checkpoint import save_checkpoint
from .loop import Epoch, Objective, run_epochs


def fit_mixture(z: np.ndarray, k: int, seed: int, n_init: int, warm=None):
    """A full-covariance GaussianMixture on the standardised latents (warm-started from `warm` if given)."""
    from ..clustering.gmm import GaussianMixture

    mu, sd = z.mean(axis=0), float(z.std()) or 1.0
    zs = (z - mu) / sd
    if warm is not None:
        try:
            g = GaussianMixture(k, random_state=seed, weights_init=warm.weights_, means_init=warm.means_,
                                precisions_init=warm.precisions_, max_iter=300).fit(zs)
            return g, mu, sd
        except ValueError:  # the latents moved too far for the old parameters: start afresh
            pass
    g = GaussianMixture(k, random_state=seed, n_init=n_init, max_iter=300).fit(zs)
    return g, mu, sd


def mixture_log_posterior(z: torch.Tensor, g, mu, sd) -> torch.Tensor:
    """log q_ij of latents z (n, D) under the mixture g fitted on (z - mu) / sd; differentiable in z."""
    dev, dt = z.device, torch.float32
    zs = (z.float() - torch.as_tensor(mu, dtype=dt, device=dev)) / sd
    means = torch.as_tensor(to_numpy(g.means_), dtype=dt, device=dev)
    chol = torch.as_tensor(to_numpy(g.precisions_cholesky_), dtype=dt, device=dev)  # (K, D, D)
    y = torch.einsum("nd,kde->nke", zs, chol) - torch.einsum("kd,kde->ke", means, chol)[None]
    logdet = torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(dim=1)
    logw = torch.log(torch.as_tensor(to_numpy(g.weights_), dtype=dt, device=dev))
    return torch.log_softmax(-0.5 * (y * y).sum(dim=2) + logdet[None] + logw[None], dim=1)


class MixtureRefinement(Objective):
    """Reconstruction + gamma * MSE.detach() * KL(P || Q) under the mixture, refitted after each epoch."""
    label = "refine "

    def __init__(self, model, source, fit_source, k, device, gamma, seed, n_init, out_dir, quiet):
        self.source, self.fit_source, self.k, self.device, self.gamma = source, fit_source, k, device, gamma
        self.seed, self.n_init, self.out_dir, self.quiet = seed, n_init, out_dir, quiet
        self.g, self.mu, self.sd = fit_mixture(encode_source(model, fit_source, device), k, seed, n_init)
        self.history = [{"epoch": 0, "lower_bound": float(self.g.lower_bound_)}]

    def start_epoch(self, model, epoch: int) -> None:
        z = encode_source(model, self.source, self.device)
        with torch.no_grad():
            q = torch.exp(mixture_log_posterior(torch.as_tensor(z, dtype=torch.float32), self.g, self.mu, self.sd))
        self.p = torch.as_tensor(target_distribution(q.numpy()), dtype=torch.float32, device=self.device)

    def loss(self, out, pos, x):
        recon, zb = out
        rec = F.mse_loss(recon.float(), x)
        logq = mixture_log_posterior(zb, self.g, self.mu, self.sd)
        pb = self.p[torch.as_tensor(pos, device=self.device)]
        kl = (pb * (torch.log(pb.clamp_min(1e-12)) - logq)).sum(dim=1).mean()
        return rec + self.gamma * rec.detach() * kl, {"reconstruction": rec, "kl": kl}

    def diverged(self, epoch: Epoch) -> GpuclustError:
        return GpuclustError(f"the mixture refinement diverged at epoch {epoch.number}; try a lower --lr")

    def end_epoch(self, model, epoch: Epoch) -> None:
        z_fit = encode_source(model, self.fit_source, self.device)
        # Before the refit: diverged weights give NaN latents, which the mixture would reject with a
        # message about its input ("internal error" to the user) instead of the advice to lower --lr.
        if not np.isfinite(z_fit).all():
            raise self.diverged(epoch)
        self.g, self.mu, self.sd = fit_mixture(z_fit, self.k, self.seed, self.n_init, warm=self.g)
        rec, kl = epoch.means["reconstruction"], epoch.means["kl"]
        self.history.append({"epoch": epoch.number, "reconstruction": rec, "kl": kl,
                             "lower_bound": float(self.g.lower_bound_)})
        if not self.quiet:
            print(f"refine epoch {epoch.number}: reconstruction {rec:.4e}, KL(P||Q) {kl:.4f}")
        if self.out_dir is not None:
            save_checkpoint(os.path.join(self.out_dir, "refined.pt"), {"config": model.config,
                                                                       "model": model.state_dict(),
                                                                       "epoch": epoch.number})
            save_mixture(os.path.join(self.out_dir, "refined_mixture.npz"), self.g, self.mu, self.sd)


def refine(model, source, k: int, device: str = "cpu", epochs: int = 5, gamma: float = 1.0, batch_size: int = 64,
           lr: float = 1e-3, seed: int = 0, n_init: int = 4, out_dir=None, quiet: bool = False,
           fit_source=None) -> list[dict]:
    """Refine `model` in place (see the module docstring); returns the history, one entry per epoch.

    The encoder is trained on `source`; the mixture is fitted to the latents of `fit_source` (all the
    run's rows, say: the clustering the encoder is pulled towards is the one that will label them),
    by default `source` itself.
    """
    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    fit_source = source if fit_source is None else fit_source
    objective = MixtureRefinement(model, source, fit_source, k, device, gamma, seed, n_init, out_dir, quiet)
    run_epochs(model, source, objective, opt, epochs, batch_size, seed, device, quiet)
    return objective.history


def save_mixture(path, g, mu, sd) -> None:
    """The refinement's last mixture, in latent units: where the final clustering starts from."""
    from ..atomic import atomic_path

    means = to_numpy(g.means_) * sd + mu
    cov = to_numpy(g.covariances_) * sd ** 2
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, weights=to_numpy(g.weights_), means=means, covariances=cov)


def load_mixture(path, scale: float):
    """(weights, means, precisions) of a saved refinement mixture in units of latent / scale, or None."""
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as z:
        means, cov = z["means"] / scale, z["covariances"] / scale ** 2
        return z["weights"], means, np.linalg.inv(cov)
