"""The samples of one process as EM sees them: chunks of design rows (cached while they fit), and the
statistics, labels and initialisations GaussianMixture asks of them (distributed/blocks.DaskData is the
same surface over Dask partitions)."""
from __future__ import annotations

import numpy as np

from ..backend import host_or_same, is_numpy, namespace, one_hot
from . import em

# Chunks whose design rows are kept between iterations while they need less than this.
DESIGN_CACHE_BYTES = 2**31


def default_chunk(xp) -> int:
    """Rows per E-step chunk: 32,768 on the CPU (a chunk's design stays in cache), 2**20 on a GPU."""
    return 32768 if is_numpy(xp) else 1 << 20


def spans(n: int, chunk: int):
    """(lo, hi) of consecutive chunks of n rows (in-bounds slices, as the array API requires)."""
    return [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]


class LocalData:
    """The samples of one process: raw (for the initialisations) and centred, as design chunks."""

    def __init__(self, x, shift, chunk_size: int):
        self.x, self.shift = x, shift
        self.xp, self.device = namespace(x)
        self.n, d = x.shape
        self.xc = x - shift
        self.design = em.Design(d, self.xp, self.device, x.dtype)
        self.chunk = chunk_size
        size = self.n * self.design.width * np.dtype(str(x.dtype).split(".")[-1]).itemsize
        self._cache = list(self._build()) if size <= DESIGN_CACHE_BYTES else None

    def _build(self):
        for lo, hi in spans(self.n, self.chunk):
            yield self.design.rows(self.xc[lo:hi, :])

    def phis(self):
        return iter(self._cache) if self._cache is not None else self._build()

    def total(self) -> em.Total:
        if not hasattr(self, "_total"):
            second = sum(em.total_second_moment(phi, self.design) for phi in self.phis())
            self._total = em.Total(second, self.n, self.shift)
        return self._total

    def as_float64(self) -> "LocalData":
        """The same samples in float64, for the rare M-step that float32 cannot resolve (no design cache)."""
        xp = self.xp
        out = LocalData.__new__(LocalData)
        out.x, out.shift = xp.astype(self.x, xp.float64), xp.astype(self.shift, xp.float64)
        out.xp, out.device, out.n, out.chunk = xp, self.device, self.n, self.chunk
        out.xc = xp.astype(self.xc, xp.float64)
        out.design = em.Design(self.x.shape[1], xp, self.device, xp.float64)
        out._cache = None
        return out

    def stats(self, p: em.Params) -> em.Stats:
        p = em.cast_params(p, self.x.dtype)
        a, const = em.quadratic_coefficients(p, self.design), em.log_norm_const(p)
        return em.combine(em.chunk_stats(phi, a, const, self.design) for phi in self.phis())

    def stats_from_resp(self, resp) -> em.Stats:
        """resp: (n, K) responsibilities in this namespace."""
        return em.combine(em.initial_stats(phi, resp[lo:hi, :], self.design)
                          for (lo, hi), phi in zip(spans(self.n, self.chunk), self.phis()))

    def labels(self, p: em.Params):
        a, const = em.quadratic_coefficients(p, self.design), em.log_norm_const(p)
        return self.xp.concat([self.xp.argmax(em.weighted_log_prob(phi, a, const), axis=0) for phi in self.phis()])

    # The initialisations scikit-learn would run, on this namespace.
    def kmeans_labels(self, k: int, random_state):
        from .kmeans import KMeans

        return KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(self.x).labels_

    def kmeanspp_indices(self, k: int, random_state) -> np.ndarray:
        if is_numpy(self.xp):
            from sklearn.cluster import kmeans_plusplus

            return kmeans_plusplus(self.x, k, random_state=random_state)[1]
        from .lloyd import LocalBlocks, kmeans_plusplus

        ones = self.xp.ones(self.n, dtype=self.x.dtype, device=self.device)
        return kmeans_plusplus(LocalBlocks(self.x, ones), k, random_state)[1]

    def stats_from_assignment(self, assignment, k: int) -> em.Stats:
        kind, value = assignment
        return self.stats_from_labels(value, k) if kind == "labels" else self.stats_from_host_resp(value)

    def stats_from_labels(self, labels, k: int) -> em.Stats:
        """Statistics of hard labels (a label of -1 gives a row no responsibility)."""
        xp = self.xp
        labels = xp.asarray(host_or_same(labels, xp), device=self.device)
        return self.stats_from_resp(one_hot(labels, k, self.x.dtype))

    def stats_from_host_resp(self, resp: np.ndarray) -> em.Stats:
        return self.stats_from_resp(self.xp.asarray(resp, dtype=self.x.dtype, device=self.device))
