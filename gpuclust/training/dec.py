"""DEC refinement: reconstruction MSE + gamma * KL(P || Q), P recomputed on the whole training set."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..latents.encode import encode_source
from ..models.dec import DEC, soft_assignment, target_distribution
from ..models.precision import autocast
from .checkpoint import save_checkpoint


@torch.no_grad()
def assign_all(model: DEC, source, device: str) -> torch.Tensor:
    """Q for every sample of the source, in source order."""
    z = torch.as_tensor(encode_source(model, source, device), dtype=torch.float32, device=device)
    return soft_assignment(z, model.centres)


def kl_pq(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q), summed over clusters and averaged over samples."""
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(dim=1).mean()


def train_dec(model: DEC, source, device: str = "cpu", gamma: float = 1e-3, tol: float = 0.003,
              max_epochs: int = 20, updates_per_epoch: int = 2, batch_size: int = 64, lr: float = 1e-3,
              seed: int = 0, out_dir=None, quiet: bool = False) -> list[dict]:
    """Refine encoder and centres until fewer than `tol` of the labels change between target updates."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(source)
    n_batches = max(1, -(-n // batch_size))
    every = max(1, n_batches // updates_per_epoch)
    q = assign_all(model, source, device)
    p, labels = target_distribution(q), q.argmax(dim=1)
    history = [{"epoch": 0, "kl": float(kl_pq(p, q)), "changed": None}]
    for epoch in range(1, max_epochs + 1):
        model.train()
        step, rec_sum, kl_sum, seen, stop = 0, 0.0, 0.0, 0, False
        shuffle = int(np.random.default_rng([seed, epoch]).integers(2**31 - 1))
        for pos, x in source.batches(batch_size, shuffle=True, seed=shuffle):
            with autocast(device):
                recon, _, qb = model(x)
            rec = F.mse_loss(recon.float(), x)
            kl = kl_pq(p[torch.as_tensor(pos, device=device)], qb.float())
            loss = rec + gamma * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            rec_sum, kl_sum, seen = rec_sum + rec.item() * len(x), kl_sum + kl.item() * len(x), seen + len(x)
            step += 1
            if step % every == 0:
                q = assign_all(model, source, device)
                new = q.argmax(dim=1)
                changed = float((new != labels).float().mean())
                p, labels = target_distribution(q), new
                model.train()
                if changed < tol:
                    stop = True
                    break
        q = assign_all(model, source, device)
        history.append({"epoch": epoch, "reconstruction": rec_sum / seen, "kl": float(kl_pq(p, q)),
                        "changed": changed})
        if not quiet:
            print(f"DEC epoch {epoch}: reconstruction {rec_sum / seen:.4e}, KL {history[-1]['kl']:.4e}, "
                  f"labels changed {100 * changed:.2f}%")
        if out_dir is not None:
            save_checkpoint(os.path.join(out_dir, "dec.pt"), {"config": model.config, "model": model.state_dict(),
                                                              "epoch": epoch, "history": history})
        if stop:
            break
    return history
