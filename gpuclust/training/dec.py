"""DEC refinement: reconstruction MSE + gamma * KL(P || Q), P recomputed on the whole training set."""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ..latents.encode import encode_source
from ..models.dec import DEC, soft_assignment, target_distribution
from .checkpoint import save_checkpoint
from .loop import Epoch, Objective, run_epochs


@torch.no_grad()
def assign_all(model: DEC, source, device: str) -> torch.Tensor:
    """Q for every sample of the source, in source order."""
    z = torch.as_tensor(encode_source(model, source, device), dtype=torch.float32, device=device)
    return soft_assignment(z, model.centres)


def kl_pq(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q), summed over clusters and averaged over samples."""
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(dim=1).mean()


class DECObjective(Objective):
    """Reconstruction + gamma * KL(P || Q), P updated `updates_per_epoch` times an epoch; finished when
    fewer than `tol` of the labels change between updates."""
    label = "DEC "

    def __init__(self, model: DEC, source, device, gamma, tol, every, out_dir, quiet):
        self.source, self.device, self.gamma, self.tol, self.every = source, device, gamma, tol, every
        self.out_dir, self.quiet, self.stop = out_dir, quiet, False
        q = assign_all(model, source, device)
        self.p, self.labels = target_distribution(q), q.argmax(dim=1)
        self.history = [{"epoch": 0, "kl": float(kl_pq(self.p, q)), "changed": None}]

    def finished(self) -> bool:
        return self.stop

    def loss(self, out, pos, x):
        recon, _, qb = out
        rec = F.mse_loss(recon.float(), x)
        kl = kl_pq(self.p[torch.as_tensor(pos, device=self.device)], qb.float())
        return rec + self.gamma * kl, {"reconstruction": rec, "kl": kl}

    def after_step(self, model, step: int) -> bool:
        if step % self.every:
            return False
        q = assign_all(model, self.source, self.device)
        new = q.argmax(dim=1)
        self.changed = float((new != self.labels).float().mean())
        self.p, self.labels = target_distribution(q), new
        model.train()
        self.stop = self.changed < self.tol
        return self.stop

    def end_epoch(self, model, epoch: Epoch) -> None:
        q = assign_all(model, self.source, self.device)
        self.history.append({"epoch": epoch.number, "reconstruction": epoch.means["reconstruction"],
                             "kl": float(kl_pq(self.p, q)), "changed": self.changed})
        if not self.quiet:
            print(f"DEC epoch {epoch.number}: reconstruction {epoch.means['reconstruction']:.4e}, "
                  f"KL {self.history[-1]['kl']:.4e}, labels changed {100 * self.changed:.2f}%")
        if self.out_dir is not None:
            save_checkpoint(os.path.join(self.out_dir, "dec.pt"), {"config": model.config, "model": model.state_dict(),
                                                                   "epoch": epoch.number, "history": self.history})


def train_dec(model: DEC, source, device: str = "cpu", gamma: float = 1e-3, tol: float = 0.003,
              max_epochs: int = 20, updates_per_epoch: int = 2, batch_size: int = 64, lr: float = 1e-3,
              seed: int = 0, out_dir=None, quiet: bool = False) -> list[dict]:
    """Refine encoder and centres until fewer than `tol` of the labels change between target updates."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_batches = max(1, -(-len(source) // batch_size))
    every = max(1, n_batches // updates_per_epoch)
    objective = DECObjective(model, source, device, gamma, tol, every, out_dir, quiet)
    run_epochs(model, source, objective, opt, max_epochs, batch_size, seed, device, quiet)
    return objective.history
