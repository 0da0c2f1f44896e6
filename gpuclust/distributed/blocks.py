"""A Dask array's partitions as the clustering algorithms address them.

`DaskBlocks` gives k-means++ and Lloyd (gpuclust.clustering.lloyd) the same
methods `LocalBlocks` gives them in one process; `DaskData` gives the EM loop
(gpuclust.clustering.gmm) the same methods `LocalData` does. So the
algorithms, their random draws and their stopping rules are written once: a
fit on Dask starts where the one-process fit starts and ends where it ends.

Per-sample state (design rows where they fit DESIGN_CACHE_BYTES, closest
distances, labels) lives in persisted Dask arrays chunked like the data, on
the workers; only per-partition sums
(K x P numbers), a few sample rows and the final labels ever reach the client.
Partitions may be NumPy or CuPy arrays: every function below runs in the
namespace of the block it gets.
"""
from __future__ import annotations

import functools

import numpy as np

from ..backend import host_or_same, namespace, one_hot, to_numpy
from ..clustering import em
from ..clustering.local_data import DESIGN_CACHE_BYTES, default_chunk, spans
from ..clustering.lloyd import nearest, squared_distances
from .reduce import map_reduce


@functools.lru_cache(maxsize=16)
def _design(d: int, xp_name: str, device: str, dtype: str):
    import importlib

    xp = importlib.import_module(xp_name)
    return em.Design(d, xp, device if device != "cpu" else "cpu", getattr(xp, dtype))


def design_for(x) -> em.Design:
    xp, dev = namespace(x)
    if str(dev) != "cpu":
        return em.Design(x.shape[1], xp, dev, x.dtype)
    return _design(x.shape[1], xp.__name__, "cpu", str(x.dtype).split(".")[-1])


def on(a, like):
    """`a` (a host or device array) in the namespace, device and dtype of `like`."""
    xp, dev = namespace(like)
    return xp.asarray(host_or_same(a, xp), dtype=like.dtype, device=dev)


def params_on(p: em.Params, like) -> em.Params:
    return em.Params(on(p.weights, like), on(p.means, like), on(p.covariances, like), on(p.prec_chol, like),
                     p.cov_type)


# -- tasks that run on the workers ------------------------------------------------------
# A partition reaches a task either as its cached design rows (a fit whose design fits DESIGN_CACHE_BYTES
# over all partitions, as in one process) or as its centred samples, whose design rows are then built a
# chunk of rows at a time inside the task: a worker holds its samples and one chunk's design, never the
# design of its partitions (91 numbers a row at D = 12, against 12).

def _design_rows(xc):
    return design_for(xc).rows(xc)


def _phis(block, chunk: int | None):
    """(lo, hi, design rows, design) of a partition's chunks: the cached design (chunk None) or built."""
    if chunk is None:
        yield 0, block.shape[0], block, _design_of_phi(block)
        return
    design = design_for(block)
    for lo, hi in spans(block.shape[0], chunk):
        yield lo, hi, design.rows(block[lo:hi, :]), design


def _stats(block, p, chunk):
    p = params_on(p, block)
    out = None
    for _, _, phi, design in _phis(block, chunk):
        a = em.quadratic_coefficients(p, design)
        st = em.chunk_stats(phi, a, em.log_norm_const(p), design)
        out = st if out is None else em.combine((out, st))
    return out


def _design_of_phi(phi):
    width = phi.shape[1]
    d = int((-3 + (9 + 8 * (width - 1)) ** 0.5) / 2)  # width = d(d+1)/2 + d + 1
    xp, dev = namespace(phi)
    return em.Design(d, xp, dev, phi.dtype)


def _resp_stats(block, resp, chunk):
    resp = on(resp, block)
    return em.combine(em.initial_stats(phi, resp[lo:hi, :], design) for lo, hi, phi, design in _phis(block, chunk))


def _labels_stats(block, labels, k, chunk):
    xp, dev = namespace(block)
    labels = xp.asarray(host_or_same(labels, xp), device=dev)
    return _resp_stats(block, one_hot(labels, k, block.dtype), chunk)


def _total(block, chunk):
    return _add(em.total_second_moment(phi, design) for _, _, phi, design in _phis(block, chunk))


def _argmax_labels(block, p, chunk):
    p = params_on(p, block)
    xp, _ = namespace(block)
    return xp.concat([xp.argmax(em.weighted_log_prob(phi, em.quadratic_coefficients(p, design), em.log_norm_const(p)),
                                axis=0) for _, _, phi, design in _phis(block, chunk)])


def _add(parts):
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = tuple(a + b for a, b in zip(out, p)) if isinstance(out, tuple) else out + p
    return out


class DaskData:
    """The partitions of a Dask array, centred, as the EM loop sees them.

    Their design rows are persisted on the workers when those of all rows take at most
    DESIGN_CACHE_BYTES (the one-process rule); otherwise only the samples are, and each task builds the
    design of its partition chunk by chunk: memory per worker grows with its samples, not their design.
    """

    def __init__(self, x, shift, kmeans_factory=None):
        import dask.array as da

        self.dask_x = x
        self.shift = shift
        self.xp, self.device = namespace(shift)
        self.n = int(x.shape[0])
        self.x = _Meta(x.dtype, self.xp)
        self.chunks = x.chunks[0]
        xc = x - shift
        d = x.shape[1]
        width = d * (d + 1) // 2 + d + 1
        if self.n * width * np.dtype(x.dtype).itemsize <= DESIGN_CACHE_BYTES:
            self.chunk = None  # the tasks get design rows
            self.blocks = xc.map_blocks(_design_rows, chunks=(xc.chunks[0], (width,)), dtype=x.dtype).persist()
        else:
            self.chunk = default_chunk(self.xp)  # the tasks get samples and build the design this many rows at once
            self.blocks = xc  # x is persisted by the caller; the centring is recomputed in each task
        self._kmeans_factory = kmeans_factory
        self._da = da

    def as_float64(self) -> "DaskData":
        return DaskData(self.dask_x.astype(np.float64), self.xp.astype(self.shift, self.xp.float64),
                        self._kmeans_factory)

    def stats(self, p: em.Params) -> em.Stats:
        return map_reduce(self.blocks, _stats, em.combine, p, self.chunk)

    def total(self) -> em.Total:
        if not hasattr(self, "_total"):
            self._total = em.Total(map_reduce(self.blocks, _total, _add, self.chunk), self.n, self.shift)
        return self._total

    def stats_from_assignment(self, assignment, k: int) -> em.Stats:
        import dask

        from .reduce import tree_reduce

        kind, value = assignment
        blocks = self.blocks.to_delayed().ravel()
        if kind == "labels":
            labels = value if hasattr(value, "to_delayed") else self._da.from_array(np.asarray(value),
                                                                                    chunks=(self.chunks,))
            labels = labels.rechunk((self.chunks,))
            parts = [dask.delayed(_labels_stats)(b, lb, k, self.chunk)
                     for b, lb in zip(blocks, labels.to_delayed().ravel())]
        else:
            edges = np.cumsum((0,) + self.chunks)
            parts = [dask.delayed(_resp_stats)(b, value[lo:hi], self.chunk)
                     for b, lo, hi in zip(blocks, edges, edges[1:])]
        return tree_reduce(parts, em.combine).compute()

    def labels(self, p: em.Params):
        return self.blocks.map_blocks(_argmax_labels, p, self.chunk, drop_axis=1, dtype=np.int64)

    def kmeans_labels(self, k: int, random_state):
        return self._kmeans_factory(n_clusters=k, n_init=1, random_state=random_state).fit(self.dask_x).labels_

    def kmeanspp_indices(self, k: int, random_state) -> np.ndarray:
        from ..clustering.lloyd import kmeans_plusplus

        return kmeans_plusplus(DaskBlocks(self.dask_x), k, random_state)[1]


class _Meta:
    """Stands in for the data array where the EM loop asks only its dtype."""

    def __init__(self, dtype, xp):
        self.dtype = getattr(xp, np.dtype(dtype).name)


# -- k-means ----------------------------------------------------------------------------

def _sq_dist_block(xb, c):
    c = on(c, xb)
    xp, _ = namespace(xb)
    return xp.matrix_transpose(squared_distances(c, xb, xp.sum(xb * xb, axis=1)))  # (n_block, m)


def _colsum(d):
    xp, _ = namespace(d)
    return xp.sum(d, axis=0)


def _search_block(closest, targets):
    xp, dev = namespace(closest)
    cum = xp.astype(xp.cumulative_sum(closest), xp.float64)
    return to_numpy(xp.searchsorted(cum, xp.asarray(np.asarray(targets, np.float64), device=dev)))


def _assign_block(xb, c):
    c = on(c, xb)
    return nearest(xb, c)


def _lloyd_stats(xb, labels, k):
    xp, _ = namespace(xb)
    onehot = one_hot(labels, k, xb.dtype)
    return xp.sum(onehot, axis=0), xp.matrix_transpose(onehot) @ xb


def _inertia_block(xb, labels, c):
    c = on(c, xb)
    xp, _ = namespace(xb)
    diff = xb - xp.take(c, labels, axis=0)
    return xp.sum(diff * diff)


def _changed_block(a, b):
    xp, _ = namespace(a)
    return xp.sum(xp.astype(a != b, xp.int64))


def _far_block(xb, labels, c, n_far, lo):
    """The n_far largest distances of a block to their centres: (distances, global indices, rows, labels)."""
    c = on(c, xb)
    xp, _ = namespace(xb)
    diff = xb - xp.take(c, labels, axis=0)
    dist = to_numpy(xp.sum(diff * diff, axis=1))
    top = np.argsort(-dist, kind="stable")[:n_far]
    return dist[top], top + lo, to_numpy(xb)[top], to_numpy(labels)[top]


class DaskBlocks:
    """A Dask array of (centred) samples as k-means++ and Lloyd address them; unit sample weights.

    State arrays are Dask arrays chunked like the samples: distances to candidates are (n, m), the
    closest distance and the labels (n,). Every reduction returns per-partition partial sums only.
    """

    def __init__(self, x):
        import dask.array as da

        self.da = da
        self.x = x.persist()
        self.n = int(x.shape[0])
        meta = getattr(x, "_meta", np.empty((0, 0)))
        self.xp, self.device = namespace(meta)
        self.dtype = x.dtype
        self.edges = np.cumsum((0,) + x.chunks[0])

    # -- k-means++ ---------------------------------------------------------------------------
    def weights_host(self) -> np.ndarray:
        return np.ones(self.n, dtype=self.dtype)

    def rows(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        got = self.x[idx[order]].compute()
        xp, dev = namespace(got)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        return xp.take(got, xp.asarray(inverse, device=dev), axis=0)

    def sq_dist(self, c):
        return self.x.map_blocks(_sq_dist_block, c, chunks=(self.x.chunks[0], (c.shape[0],)),
                                 dtype=self.dtype).persist()

    def minimum(self, closest, d):
        return self.da.minimum(closest[:, None], d).persist()

    def row(self, d, i):
        return d[:, i].persist()

    def weighted_sums(self, d):
        return to_numpy(map_reduce(d, _colsum, _add)).astype(np.float64)

    def search(self, closest, targets):
        """np.searchsorted(cumsum(closest), targets), from per-partition sums and one search inside each."""
        sums = [float(s) for s in self.da.compute(*[closest.blocks[i].sum() for i in range(closest.numblocks[0])])]
        offsets = np.concatenate([[0.0], np.cumsum(sums)])
        targets = np.asarray(targets, dtype=np.float64)
        out = np.full(targets.shape, self.n - 1, dtype=np.int64)
        where = np.searchsorted(offsets[1:], targets, side="left")
        for b in np.unique(where):
            if b >= len(sums):
                continue
            sel = where == b
            local = closest.blocks[int(b)].map_blocks(_search_block, targets[sel] - offsets[b], dtype=np.int64,
                                                       chunks=((int(sel.sum()),),)).compute()
            out[sel] = np.asarray(local) + self.edges[b]
        return np.minimum(out, self.n - 1)

    # -- Lloyd ------------------------------------------------------------------------------------
    def assign(self, centres):
        labels = self.x.map_blocks(_assign_block, centres, drop_axis=1, dtype=np.int64).persist()
        k = centres.shape[0]
        counts, sums = _zip_reduce(self.x, labels, _lloyd_stats, k)
        return labels, counts, sums

    def labels(self, centres):
        return self.x.map_blocks(_assign_block, centres, drop_axis=1, dtype=np.int64).persist()

    def same(self, a, b) -> bool:
        return int(_zip_reduce(a, b, _changed_block)) == 0

    def inertia(self, centres, labels) -> float:
        return float(to_numpy(_zip_reduce(self.x, labels, _inertia_block, centres)))

    def farthest(self, centres, labels, n_far):
        import dask

        parts = [dask.delayed(_far_block)(xb, lb, centres, n_far, lo)
                 for xb, lb, lo in zip(self.x.to_delayed().ravel(), labels.to_delayed().ravel(), self.edges)]
        got = dask.compute(*parts)
        dist = np.concatenate([g[0] for g in got])
        top = np.argsort(-dist, kind="stable")[:n_far]
        idx = np.concatenate([g[1] for g in got])[top]
        rows = np.concatenate([g[2] for g in got])[top]
        labs = np.concatenate([g[3] for g in got])[top]
        return idx, self.xp.asarray(rows, device=self.device), labs, np.ones(n_far), float(dist.max())

    def host_labels(self, labels) -> np.ndarray:
        return to_numpy(labels.compute())


def _zip_reduce(a, b, fn, *args):
    """Sum of fn(a_block, b_block, *args) over aligned row blocks of two Dask arrays."""
    import dask

    from .reduce import tree_reduce

    b = b.rechunk((a.chunks[0],) + b.chunks[1:])
    parts = [dask.delayed(fn)(x, y, *args) for x, y in zip(a.to_delayed().ravel(), b.to_delayed().ravel())]
    return tree_reduce(parts, _add).compute()
