"""The one training loop: epochs of shuffled batches through a model, the objective a part passed in.

An objective (reconstruction in trainer.py, the mixture refinement in mixture.py, DEC in dec.py) says
what is particular to it: the loss of a batch and its parts to record, what to do at the start of an
epoch (a target distribution), after a step (DEC's target update, which may end the epoch) and at the
end of one (validation, a refit of the mixture, checkpoints, the history), and when it is finished.
The loop owns what they share: the epoch's shuffle seeded from (seed, epoch), so a resumed run repeats
an uninterrupted one; the autocast block of the forward pass; the optimiser step; the progress bar;
and the divergence check, made on the epoch's losses before the objective's end of epoch can refit
anything on diverged weights.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import GpuclustError
from ..models.precision import autocast


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: the same for a resumed run as for an uninterrupted one."""
    return int(np.random.default_rng([seed, epoch]).integers(2**31 - 1))


@dataclass
class Epoch:
    """What the loop saw in one epoch: the per-sample means of the objective's loss parts."""
    number: int
    means: dict = field(default_factory=dict)
    seen: int = 0
    started: float = 0.0

    @property
    def rate(self) -> float:
        """Samples per second since the epoch started (read when the objective records it)."""
        return self.seen / (time.perf_counter() - self.started)


class Objective:
    """The part of training that differs between objectives; the defaults do nothing."""
    label = ""  # progress-bar prefix ("refine ", "DEC ")

    def finished(self) -> bool:
        """True to stop before the next epoch (early stopping, DEC's converged labels)."""
        return False

    def start_epoch(self, model, epoch: int) -> None:
        pass

    def loss(self, out, pos, x):
        """(loss to minimise, {name: tensor} of the parts recorded per sample) for one batch."""
        raise NotImplementedError

    def after_step(self, model, step: int) -> bool:
        """Called after each optimiser step (1, 2, ... within the epoch); True ends the epoch."""
        return False

    def diverged(self, epoch: Epoch) -> GpuclustError:
        return GpuclustError(f"training diverged at epoch {epoch.number}; try a lower --lr")

    def end_epoch(self, model, epoch: Epoch) -> None:
        pass


def check_not_empty(source) -> None:
    if len(source) == 0:
        raise GpuclustError("the training split is empty: use more data or a larger training fraction")


def run_epochs(model, source, objective: Objective, opt, epochs: int, batch_size: int, seed: int, device: str,
               quiet: bool = False, first: int = 1, on_epoch_end=None) -> None:
    """Epochs `first`..`epochs` of `objective` on `source`, stepping `opt`."""
    from tqdm import tqdm

    check_not_empty(source)
    for number in range(first, epochs + 1):
        if objective.finished():
            break
        objective.start_epoch(model, number)
        model.train()
        epoch = Epoch(number, started=time.perf_counter())
        sums, step = {}, 0
        bar = tqdm(total=len(source), desc=f"{objective.label}epoch {number}/{epochs}", unit="spec",
                   disable=quiet or None, leave=False)
        for pos, x in source.batches(batch_size, shuffle=True, seed=epoch_seed(seed, number)):
            with autocast(device):
                out = model(x)
            loss, parts = objective.loss(out, pos, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + value.item() * len(x)
            epoch.seen += len(x)
            step += 1
            bar.update(len(x))
            first_part = next(iter(sums.values()))
            bar.set_postfix(loss=f"{first_part / epoch.seen:.3e}", rate=f"{epoch.rate:.0f}/s")
            if objective.after_step(model, step):
                break
        bar.close()
        epoch.means = {name: total / epoch.seen for name, total in sums.items()}
        if not all(math.isfinite(v) for v in epoch.means.values()):
            raise objective.diverged(epoch)
        objective.end_epoch(model, epoch)
        if on_epoch_end is not None:
            on_epoch_end(number)
