"""The distributed EM: cost per iteration as N grows, with 1 and 2 Dask workers, against one process.

Latents are generated on the workers, partition by partition (the set never
exists in one process), persisted, and fitted with the same initial
parameters each time. Per-iteration cost is the median wall time of the
statistics pass of each EM iteration (the M-step is K x D x D numbers),
timed inside the fit, so set-up costs that vary from fit to fit do not blur it.

    python benchmarks/bench_dask.py [--sizes 100000,427798,4000000,10000000] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings

import numpy as np

from gpuclust.bench import synthetic_latents


def _block(seed, n, d, k):
    return synthetic_latents(n, d, k, seed=seed)


def latents(n, d, k, block=500_000):
    import dask
    import dask.array as da

    parts = [da.from_delayed(dask.delayed(_block)(i, min(block, n - lo), d, k), shape=(min(block, n - lo), d),
                             dtype=np.float64) for i, lo in enumerate(range(0, n, block))]
    return da.concatenate(parts)


def timed(cls):
    """The estimator class, recording the wall time of every EM statistics pass in iter_times_."""

    class Timed(cls):
        def _run_em(self, stats, initial, pool):
            self.iter_times_ = []

            def timed_stats(p):
                t = time.perf_counter()
                out = stats(p)
                self.iter_times_.append(time.perf_counter() - t)
                return out

            return super()._run_em(timed_stats, initial, pool)

    return Timed


def per_iteration(make, x, iters, repeats):
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            est = make(iters)
            est.fit(x)
            times += est.iter_times_[1:]  # the first pass also warms caches
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,427798,4000000,10000000")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/dask-cpu.json")
    a = ap.parse_args()
    from distributed import Client, LocalCluster

    from gpuclust import GaussianMixture
    from gpuclust.distributed import DaskGaussianMixture

    k, d = 8, 9
    ref = synthetic_latents(20000, d, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init = GaussianMixture(k, random_state=0, max_iter=3).fit(ref)
    init = dict(weights_init=init.weights_, means_init=init.means_,
                precisions_init=np.linalg.inv(init.covariances_))
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        row = {"n": n}
        if n <= 4_000_000:
            x = latents(n, d, k).compute()
            row["one_process_s"] = per_iteration(
                lambda m: timed(GaussianMixture)(k, tol=0, max_iter=m, init_params="random", **init), x, a.iters,
                a.repeats)
            del x
        for w in [int(s) for s in a.workers.split(",")]:
            with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                              memory_limit=None) as cluster, Client(cluster):
                dx = latents(n, d, k, block=max(50_000, n // (4 * w))).persist()
                row[f"dask_{w}_workers_s"] = per_iteration(
                    lambda m: timed(DaskGaussianMixture)(k, tol=0, max_iter=m, init_params="random", **init), dx,
                    a.iters, a.repeats)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = {"machine": platform.node(), "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
           "device": "cpu", "k": k, "d": d, "iterations": a.iters, "repeats": a.repeats, "rows": rows}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
