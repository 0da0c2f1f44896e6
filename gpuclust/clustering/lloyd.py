"""K-means (k-means++ seeding and Lloyd iterations) against the array API standard.

A line-for-line transcription of scikit-learn's `_kmeans_plusplus` and
`_kmeans_single_lloyd`: the same calls on the same `RandomState`, the same
greedy local trials, the same empty-cluster relocation and the same stopping
rules. From the same `random_state` it therefore picks the same start as
scikit-learn and ends at the same centres, on any array library.

The algorithms see the data only through a "blocks" object: `LocalBlocks`
here (one array in one process), `DaskBlocks` in gpuclust.distributed (the
partitions of a Dask array, where only small results cross the network).
Per-sample state (closest distances, labels) stays with the blocks.
"""
from __future__ import annotations

import numpy as np

from ..backend import namespace, one_hot, to_numpy


def squared_distances(c, x, x_sq):
    """Squared Euclidean distances (m, n) of the rows of c to the rows of x, scikit-learn's way (clipped at 0)."""
    xp, _ = namespace(x)
    d = -2 * (c @ xp.matrix_transpose(x))
    d = d + xp.sum(c * c, axis=1)[:, None]
    d = d + x_sq[None, :]
    return xp.maximum(d, xp.zeros_like(d[:1, :1]))


def nearest(x, centres):
    """Index of the nearest centre for every row; ties go to the lowest index, as in scikit-learn."""
    xp, _ = namespace(x)
    part = xp.sum(centres * centres, axis=1)[None, :] - 2 * (x @ xp.matrix_transpose(centres))
    return xp.argmin(part, axis=1)


class LocalBlocks:
    """The samples of one process (any array-API array) as the k-means algorithms address them."""

    def __init__(self, x, sample_weight):
        self.x, self.w = x, sample_weight
        self.xp, self.device = namespace(x)
        self.n = x.shape[0]
        self.x_sq = self.xp.sum(x * x, axis=1)

    # -- k-means++ ------------------------------------------------------------
    def weights_host(self) -> np.ndarray:
        return to_numpy(self.w)

    def rows(self, idx):
        xp = self.xp  # a copy: `farthest` passes a reversed view, whose negative stride PyTorch refuses
        return xp.take(self.x, xp.asarray(np.array(idx, dtype=np.int64), device=self.device), axis=0)

    def sq_dist(self, c):
        """State: distances (m, n) of candidate rows c to every sample."""
        return squared_distances(c, self.x, self.x_sq)

    def weighted_sums(self, d):
        """(m,) host floats: sum over samples of w * d, per row of d."""
        return to_numpy(d @ self.w).astype(np.float64)

    def search(self, closest, targets):
        """First sample index whose running sum of w * closest reaches each target (np.searchsorted)."""
        xp = self.xp
        cum = xp.astype(xp.cumulative_sum(self.w * closest), xp.float64)
        t = xp.asarray(np.asarray(targets, dtype=np.float64), device=self.device)
        return np.minimum(to_numpy(xp.searchsorted(cum, t)), self.n - 1)

    def minimum(self, closest, d):
        return self.xp.minimum(closest[None, :], d)

    def row(self, d, i):
        return d[i, :]

    # -- Lloyd ------------------------------------------------------------------
    def assign(self, centres):
        """labels (state), per-cluster weights (K,) and weighted sums (K, D)."""
        xp = self.xp
        k = centres.shape[0]
        labels = nearest(self.x, centres)
        onehot = one_hot(labels, k, self.x.dtype)
        return labels, self.w @ onehot, xp.matrix_transpose(onehot) @ (self.w[:, None] * self.x)

    def labels(self, centres):
        return nearest(self.x, centres)

    def same(self, a, b) -> bool:
        return bool(self.xp.all(a == b))

    def inertia(self, centres, labels) -> float:
        xp = self.xp
        diff = self.x - xp.take(centres, labels, axis=0)
        return float(xp.sum(self.w * xp.sum(diff * diff, axis=1)))

    def farthest(self, centres, labels, n_far):
        """(indices, rows, labels, weights) of the n_far samples farthest from their centres, scikit-learn's order."""
        xp = self.xp
        diff = self.x - xp.take(centres, labels, axis=0)
        dist = to_numpy(xp.sum(diff * diff, axis=1))
        far = np.argpartition(dist, -n_far)[:-n_far - 1:-1]
        return far, self.rows(far), to_numpy(labels)[far], to_numpy(self.w)[far], float(dist.max())

    def host_labels(self, labels) -> np.ndarray:
        return to_numpy(labels)


def kmeans_plusplus(blocks, n_clusters: int, random_state, n_local_trials: int | None = None):
    """Centres (K, D) in the data's namespace and their sample indices, as scikit-learn's k-means++ picks them."""
    xp = blocks.xp
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    w = blocks.weights_host()
    center_id = random_state.choice(blocks.n, p=w / w.sum())
    indices = [int(center_id)]
    centres = [blocks.rows([center_id])]
    d0 = blocks.sq_dist(centres[0])
    current_pot = blocks.weighted_sums(d0)[0]
    closest = blocks.row(d0, 0)
    for _ in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = blocks.search(closest, rand_vals)
        cand = blocks.rows(candidate_ids)
        dist = blocks.minimum(closest, blocks.sq_dist(cand))
        pots = blocks.weighted_sums(dist)
        best = int(np.argmin(pots))
        current_pot = pots[best]
        closest = blocks.row(dist, best)
        indices.append(int(candidate_ids[best]))
        centres.append(cand[best:best + 1, :])
    return xp.concat(centres, axis=0), np.asarray(indices)


def _relocate(blocks, centres, labels, weights, sums):
    """scikit-learn's `_relocate_empty_clusters_dense`: empty clusters take the points farthest from their centres."""
    xp = blocks.xp
    w_host = to_numpy(weights).copy()
    empty = np.flatnonzero(w_host == 0)
    if empty.size == 0:
        return weights, sums
    far, rows, far_labels, far_w, max_dist = blocks.farthest(centres, labels, empty.size)
    if max_dist == 0:  # more clusters than distinct samples: relocating is pointless
        return weights, sums
    sums_host = to_numpy(sums).copy()
    rows_host = to_numpy(rows)
    for j, new in enumerate(empty):
        old = far_labels[j]
        sums_host[old] -= rows_host[j] * far_w[j]
        sums_host[new] = rows_host[j] * far_w[j]
        w_host[new] = far_w[j]
        w_host[old] -= far_w[j]
    _, dev = namespace(sums)
    return (xp.asarray(w_host, dtype=weights.dtype, device=dev), xp.asarray(sums_host, dtype=sums.dtype, device=dev))


def _average(sums, weights, xp):
    """scikit-learn's `_average_centers`: means of the clusters; a still-empty cluster takes the place of the
    heaviest one (as its in-place loop leaves it: already averaged if it comes earlier, else still a sum)."""
    positive = weights > 0
    new = xp.where(positive[:, None], sums / xp.where(positive, weights, xp.ones_like(weights))[:, None], sums)
    if bool(xp.all(positive)):
        return new
    w = to_numpy(weights)
    big = int(np.argmax(w))
    _, dev = namespace(sums)
    k = w.shape[0]
    empty = xp.asarray(w <= 0, device=dev)
    after = xp.asarray(np.arange(k) > big, device=dev)
    fill = xp.where(after[:, None], new[big:big + 1, :], sums[big:big + 1, :])
    return xp.where(empty[:, None], fill, new)


def lloyd(blocks, centres, max_iter: int = 300, tol: float = 0.0, verbose: bool = False):
    """One k-means run from `centres` (scikit-learn's `_kmeans_single_lloyd`): (labels, inertia, centres, n_iter)."""
    xp = blocks.xp
    labels_old, strict = None, False
    i = 0
    for i in range(max_iter):
        labels, weights, sums = blocks.assign(centres)
        weights, sums = _relocate(blocks, centres, labels, weights, sums)
        new = _average(sums, weights, xp)
        shift = xp.sum((new - centres) ** 2)
        if verbose:
            print(f"Iteration {i}, inertia {blocks.inertia(centres, labels)}.")
        centres = new
        if labels_old is not None and blocks.same(labels, labels_old):
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            strict = True
            break
        shift_tot = float(shift)
        if shift_tot <= tol:
            if verbose:
                print(f"Converged at iteration {i}: center shift {shift_tot} within tolerance {tol}.")
            break
        labels_old = labels
    if not strict:
        labels = blocks.labels(centres)
    return labels, blocks.inertia(centres, labels), centres, i + 1


def same_clustering(a: np.ndarray, b: np.ndarray, k: int) -> bool:
    """True if two labellings are the same partition up to a permutation of the labels (scikit-learn's test)."""
    mapping = np.full(k, -1)
    for x, y in zip(a, b):
        if mapping[x] == -1:
            mapping[x] = y
        elif mapping[x] != y:
            return False
    return True
