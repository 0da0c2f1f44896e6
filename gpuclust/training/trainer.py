"""Training an encoder-decoder on reconstruction MSE: Adam, early stopping, atomic per-epoch checkpoints.

An interrupted run (Ctrl-C, a killed process) resumes from `last.pt` and
loses no finished epoch: the checkpoint holds the model, the optimiser, the
loss history, the early-stopping state and the RNG state, and each epoch's
shuffle is seeded from (seed, epoch), so a resumed run continues exactly as
an uninterrupted one would have.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_json
from ..errors import GpuclustError
from ..models.precision import autocast
from .checkpoint import check_same_model, load_checkpoint, save_checkpoint


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 10
    seed: int = 0
    quiet: bool = False


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.default_rng([seed, epoch]).integers(2**31 - 1))


def evaluate(model, source, batch_size: int, device: str) -> float:
    """Mean reconstruction MSE over a source (no gradients, eval mode)."""
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for _, x in source.batches(max(batch_size, 256), shuffle=False):
            with autocast(device):
                recon, _ = model(x)
            total += F.mse_loss(recon.float(), x, reduction="sum").item() / x[0].numel()
            n += len(x)
    return total / max(n, 1)


def train_autoencoder(model, train, val, cfg: TrainConfig, out_dir, device: str = "cpu", resume: bool = False,
                      on_epoch_end=None) -> list[dict]:
    """Train `model` on sources `train` / `val`; return the loss history (also in out_dir/history.json).

    Checkpoints: out_dir/last.pt every epoch, out_dir/best.pt at the best validation loss.
    """
    if len(train) == 0:
        raise GpuclustError("the training split is empty: use more data or a larger training fraction")
    os.makedirs(out_dir, exist_ok=True)
    last, best_path = os.path.join(out_dir, "last.pt"), os.path.join(out_dir, "best.pt")
    torch.manual_seed(cfg.seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)  # the learning rate asked for is the one used
    history, best_val, bad, start = [], math.inf, 0, 1
    best_state = None
    if resume and os.path.exists(last):
        state = load_checkpoint(last, device)
        check_same_model(state, model.config, last)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        for g in opt.param_groups:
            g["lr"] = cfg.lr
        history, best_val, bad = list(state["history"]), float(state["best_val"]), int(state["bad_epochs"])
        best_state = state.get("best_model")
        start = int(state["epoch"]) + 1
        torch.set_rng_state(state["torch_rng"])
        if not cfg.quiet:
            print(f"resuming after epoch {state['epoch']} from {last}")
    from tqdm import tqdm

    for epoch in range(start, cfg.epochs + 1):
        if bad >= cfg.patience:
            break
        model.train()
        t0 = time.perf_counter()
        total, n = 0.0, 0
        bar = tqdm(total=len(train), desc=f"epoch {epoch}/{cfg.epochs}", unit="spec", disable=cfg.quiet or None,
                   leave=False)
        for _, x in train.batches(cfg.batch_size, shuffle=True, seed=_epoch_seed(cfg.seed, epoch)):
            with autocast(device):
                recon, _ = model(x)
            loss = F.mse_loss(recon.float(), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            n += len(x)
            bar.update(len(x))
            bar.set_postfix(loss=f"{total / n:.3e}", rate=f"{n / (time.perf_counter() - t0):.0f}/s")
        bar.close()
        train_loss = total / n
        if not math.isfinite(train_loss):
            raise GpuclustError(
                f"training loss became {train_loss} at epoch {epoch}; the last good checkpoint "
                f"({last}, epoch {epoch - 1}) is kept; try a lower --lr")
        val_loss = evaluate(model, val, cfg.batch_size, device) if len(val) else None
        score = val_loss if val_loss is not None else train_loss
        if score < best_val:
            best_val, bad = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_checkpoint(best_path, {"config": model.config, "model": best_state, "epoch": epoch})
        else:
            bad += 1
        rate = n / (time.perf_counter() - t0)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "samples_per_s": rate,
                        "lr": opt.param_groups[0]["lr"]})
        save_checkpoint(last, {
            "config": model.config, "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
            "history": history, "best_val": best_val, "bad_epochs": bad, "best_model": best_state,
            "torch_rng": torch.get_rng_state(), "train_config": asdict(cfg)})
        write_json(os.path.join(out_dir, "history.json"), history)
        if not cfg.quiet:
            vl = f", validation {val_loss:.4e}" if val_loss is not None else ""
            print(f"epoch {epoch}: training loss {train_loss:.4e}{vl} ({rate:.0f} spectrograms/s)")
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
