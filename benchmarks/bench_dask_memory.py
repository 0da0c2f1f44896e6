"""Memory per Dask worker against the partitions it holds: `gpuclust cluster` of N latents, one process
against `--dask local` with W workers, peak resident memory of the client and of each worker.

The latents are N x D float32 blobs (K = 8 groups, seeded) written as .npy; the processes are
sampled every 0.25 s (psutil: the command and every process below it; the Dask workers are the
children running distributed's worker). What the partitions need: N x D x 8 bytes (float64 on the
CPU) split over the workers, plus the per-event state of the fit (responsibilities, N x K).

    python benchmarks/bench_dask_memory.py [--sizes 1000000,4000000] [--workers 2]
        [--out benchmarks/results/dask-memory.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil

from gpuclust.atomic import write_json

HERE = os.path.dirname(os.path.abspath(__file__))


def latents(path: str, n: int, d: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (8, d)).astype(np.float32)
    z = np.empty((n, d), np.float32)
    for lo in range(0, n, 1_000_000):
        hi = min(n, lo + 1_000_000)
        z[lo:hi] = centres[rng.integers(0, 8, hi - lo)] + rng.normal(0, 1, (hi - lo, d)).astype(np.float32)
    np.save(path, z)


def sampled(cmd: list[str], interval: float = 0.25) -> dict:
    """Run cmd; seconds, the command's own peak RSS (MB) and each child process's peak, by pid."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    ps = psutil.Process(proc.pid)
    main_peak, children = 0.0, {}
    while proc.poll() is None:
        try:
            main_peak = max(main_peak, ps.memory_info().rss / 2**20)
            for c in ps.children(recursive=True):
                try:
                    children[c.pid] = max(children.get(c.pid, 0.0), c.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        time.sleep(interval)
    reader.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{''.join(out)[-2000:]}")
    big = sorted((round(v, 1) for v in children.values() if v > 150), reverse=True)  # workers, not helpers
    return {"seconds": round(time.perf_counter() - t0, 2), "client_peak_mb": round(main_peak, 1),
            "worker_peaks_mb": big, "output_tail": "".join(out)[-400:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,4000000")
    ap.add_argument("--dim", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "dask-memory.json"))
    a = ap.parse_args(argv)
    exe = os.path.join(os.path.dirname(sys.executable), "gpuclust")
    res = {"benchmark": "bench_dask_memory", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "cores": os.cpu_count(), "load_before": os.getloadavg(), "dim": a.dim, "workers": a.workers, "sizes": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in a.sizes.split(",")):
            path = os.path.join(tmp, f"z-{n}.npy")
            latents(path, n, a.dim)
            row = {"n": n, "latents_float64_mb": round(n * a.dim * 8 / 2**20, 1),
                   "responsibilities_mb": round(n * 8 * 8 / 2**20, 1)}
            base = [exe, "--threads", "2", "cluster", path, "-k", "8", "--device", "cpu"]
            row["one_process"] = sampled([*base, "-o", os.path.join(tmp, f"one-{n}")])
            row["dask"] = sampled([*base, "--dask", "local", "--dask-workers", str(a.workers),
                                   "-o", os.path.join(tmp, f"dask-{n}")])
            res["sizes"].append(row)
            print(json.dumps(row), flush=True)
    res["load_after"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    write_json(a.out, res)  # whole or not at all, as the other benchmarks write theirs
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
