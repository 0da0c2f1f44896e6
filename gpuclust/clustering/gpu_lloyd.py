"""Lloyd's k-means without a host synchronisation per iteration: lloyd.lloyd's results, checked on the host
once every few iterations.

lloyd.lloyd asks the host three questions every iteration (is a cluster empty? have the labels stopped
changing? is the centre shift within tol?), and on a GPU each answer waits for the device: at
N = 10,000 that made gpuclust's Lloyd slower than scikit-learn's on the CPU (25.7 ms against 9.3 ms
for 50 iterations on an H100). Here the device runs `check_every` iterations ahead, keeping each
one's centres, labels and the three answers as device arrays, and the host reads all the answers in
one transfer. It then takes the first iteration at which lloyd.lloyd would have stopped, and returns
exactly what lloyd.lloyd returns (labels, inertia, centres, n_iter): the iterations computed past it
are discarded. An iteration with an empty cluster is redone by lloyd.lloyd's own step (scikit-learn's
relocation of the farthest points) and the run goes on from there; without one, an iteration is
lloyd.lloyd's arithmetic operation for operation, so the labels and centres are the same bits.

Written against the array API like lloyd.py, so it runs (and is tested) on NumPy, array-api-strict
and PyTorch on the CPU as on CuPy and CUDA tensors.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from .lloyd import LocalBlocks, _average, _relocate, lloyd, nearest

CHECK_EVERY = 8


class _Assign:
    """blocks.assign(centres) for LocalBlocks, with what does not change between iterations made once
    (the weighted samples, the cluster indices): the same numbers, fewer kernel launches."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.local = isinstance(blocks, LocalBlocks)
        if self.local:
            self.wx = blocks.w[:, None] * blocks.x
            self.ids = None

    def __call__(self, centres):
        if not self.local:
            return self.blocks.assign(centres)
        xp, b = self.blocks.xp, self.blocks
        k = centres.shape[0]
        if self.ids is None or self.ids.shape[1] != k:
            self.ids = xp.arange(k, device=b.device)[None, :]
        labels = nearest(b.x, centres)
        onehot = xp.astype(labels[:, None] == self.ids, b.x.dtype)
        return labels, b.w @ onehot, xp.matrix_transpose(onehot) @ self.wx


def _exact_step(blocks, centres):
    """One iteration exactly as lloyd.lloyd does it, empty-cluster relocation included."""
    labels, weights, sums = blocks.assign(centres)
    weights, sums = _relocate(blocks, centres, labels, weights, sums)
    new = _average(sums, weights, blocks.xp)
    return labels, new, float(blocks.xp.sum((new - centres) ** 2))


def lloyd_deferred(blocks, centres, max_iter: int = 300, tol: float = 0.0, verbose: bool = False,
                   check_every: int = CHECK_EVERY):
    """lloyd.lloyd(blocks, centres, max_iter, tol) with its stopping tests read every `check_every` iterations."""
    if verbose:  # printing the inertia of every iteration synchronises anyway
        return lloyd(blocks, centres, max_iter, tol, verbose)
    xp = blocks.xp
    assign = _Assign(blocks)
    labels_old = None
    done = 0
    while done < max_iter:
        steps = min(check_every, max_iter - done)
        states, answers = [], []
        c, prev = centres, labels_old
        for _ in range(steps):
            labels, weights, sums = assign(c)
            # _average when every cluster weighs more than 0 (any other iteration is redone below, these unused)
            new = sums / weights[:, None]
            differ = xp.sum(xp.astype(labels != prev, new.dtype)) if prev is not None else xp.ones_like(weights[0])
            answers.append(xp.stack([xp.min(weights), differ, xp.sum((new - c) ** 2)]))
            states.append((labels, new))
            c, prev = new, labels
        table = to_numpy(xp.stack(answers)).astype(np.float64)  # the batch's one synchronisation
        for s, (least, differ, shift) in enumerate(table):
            it = done + s
            empty, same = not least > 0, differ == 0  # _average's own test: every cluster's weight positive
            labels, new = states[s]
            if empty:  # lloyd.lloyd relocates: redo this iteration its way, then carry on from it
                labels, new, shift = _exact_step(blocks, centres)
                same = labels_old is not None and blocks.same(labels, labels_old)
            centres = new
            if same:
                return labels, blocks.inertia(centres, labels), centres, it + 1
            if shift <= tol:
                labels = blocks.labels(centres)
                return labels, blocks.inertia(centres, labels), centres, it + 1
            labels_old = labels
            if empty:
                done = it + 1
                break
        else:
            done += steps
    labels = blocks.labels(centres)
    return labels, blocks.inertia(centres, labels), centres, max(max_iter, 1)  # lloyd.lloyd counts 1 for 0
