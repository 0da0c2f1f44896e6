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
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..atomic import write_json
from ..errors import GpuclustError
from ..models.precision import autocast, for_inference
from .checkpoint import check_same_model, load_checkpoint, save_checkpoint
from .loop import Epoch, Objective, check_not_empty, run_epochs


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 10
    seed: int = 0
    quiet: bool = False


def evaluate(model, source, batch_size: int, device: str) -> float:
    """Mean reconstruction MSE over a source (no gradients, eval mode, the device's inference layout)."""
    model = for_inference(model, device)
    total, n = 0.0, 0
    with torch.no_grad():
        for _, x in source.batches(max(batch_size, 256), shuffle=False):
            with autocast(device):
                recon, _ = model(x)
            total += F.mse_loss(recon.float(), x, reduction="sum").item() / x[0].numel()
            n += len(x)
    return total / max(n, 1)


class Reconstruction(Objective):
    """Reconstruction MSE, with validation, early stopping and the per-epoch checkpoints of train_autoencoder."""

    def __init__(self, opt, val, cfg: TrainConfig, out_dir, device, history, best_val, bad, best_state):
        self.opt, self.val, self.cfg, self.device = opt, val, cfg, device
        self.last, self.best_path = os.path.join(out_dir, "last.pt"), os.path.join(out_dir, "best.pt")
        self.out_dir, self.history = out_dir, history
        self.best_val, self.bad, self.best_state = best_val, bad, best_state

    def finished(self) -> bool:
        return self.bad >= self.cfg.patience

    def loss(self, out, pos, x):
        recon, _ = out
        loss = F.mse_loss(recon.float(), x)
        return loss, {"train_loss": loss}

    def diverged(self, epoch: Epoch) -> GpuclustError:
        return GpuclustError(
            f"training loss became {epoch.means['train_loss']} at epoch {epoch.number}; the last good checkpoint "
            f"({self.last}, epoch {epoch.number - 1}) is kept; try a lower --lr")

    def end_epoch(self, model, epoch: Epoch) -> None:
        cfg, train_loss = self.cfg, epoch.means["train_loss"]
        val_loss = evaluate(model, self.val, cfg.batch_size, self.device) if len(self.val) else None
        score = val_loss if val_loss is not None else train_loss
        if score < self.best_val:
            self.best_val, self.bad = score, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_checkpoint(self.best_path, {"config": model.config, "model": self.best_state, "epoch": epoch.number})
        else:
            self.bad += 1
        rate = epoch.rate
        self.history.append({"epoch": epoch.number, "train_loss": train_loss, "val_loss": val_loss,
                             "samples_per_s": rate, "lr": self.opt.param_groups[0]["lr"]})
        save_checkpoint(self.last, {
            "config": model.config, "model": model.state_dict(), "optimizer": self.opt.state_dict(),
            "epoch": epoch.number, "history": self.history, "best_val": self.best_val, "bad_epochs": self.bad,
            "best_model": self.best_state, "torch_rng": torch.get_rng_state(), "train_config": asdict(cfg)})
        write_json(os.path.join(self.out_dir, "history.json"), self.history)
        if not cfg.quiet:
            vl = f", validation {val_loss:.4e}" if val_loss is not None else ""
            print(f"epoch {epoch.number}: training loss {train_loss:.4e}{vl} ({rate:.0f} spectrograms/s)")


def epoch_score(entry: dict) -> float:
    """What the best epoch is chosen by: its validation loss, or its training loss without a validation split."""
    return entry["val_loss"] if entry["val_loss"] is not None else entry["train_loss"]


def train_autoencoder(model, train, val, cfg: TrainConfig, out_dir, device: str = "cpu", resume: bool = False,
                      on_epoch_end=None) -> list[dict]:
    """Train `model` on sources `train` / `val`; return the loss history (also in out_dir/history.json).

    Checkpoints: out_dir/last.pt every epoch, out_dir/best.pt at the best validation loss.
    """
    check_not_empty(train)
    os.makedirs(out_dir, exist_ok=True)
    last = os.path.join(out_dir, "last.pt")
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
    objective = Reconstruction(opt, val, cfg, out_dir, device, history, best_val, bad, best_state)
    run_epochs(model, train, objective, opt, cfg.epochs, cfg.batch_size, cfg.seed, device, cfg.quiet, first=start,
               on_epoch_end=on_epoch_end)
    if objective.best_state is not None:
        model.load_state_dict(objective.best_state)
        if not os.path.exists(objective.best_path):  # deleted, and resumed with no epoch left to improve on it
            best = min(history, key=epoch_score)  # the first of equal scores, as end_epoch kept it
            save_checkpoint(objective.best_path, {"config": model.config, "model": objective.best_state,
                                                  "epoch": best["epoch"]})
    return history

