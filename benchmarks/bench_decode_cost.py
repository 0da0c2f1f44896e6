"""What the combined novelty score costs the encoding: encode_rows with and without the reconstruction errors.

The default model on a synthetic file, both passes alternated in one process (the machine's load hits
both alike), the ratio of their medians reported.

    python benchmarks/bench_decode_cost.py [--rows 3000] [--repeats 5] [--out benchmarks/results/decode-cost.json]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    import torch

    from gpuclust.atomic import write_json
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic
    from gpuclust.environment import describe
    from gpuclust.latents.encode import encode_rows
    from gpuclust.models.autoencoder import AutoEncoder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/decode-cost.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    times = {"latents only": [], "latents and reconstruction errors": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.h5")
        write_synthetic(path, a.rows, seed=0)
        with open_spectrograms(path) as sf:
            model = AutoEncoder(tuple(sf.shape), 9, latent_activation="linear")  # the default run's encoder
            rows = np.arange(a.rows)
            encode_rows(model, sf, rows[:256])  # warm-up
            for _ in range(a.repeats):
                for key, errors in (("latents only", False), ("latents and reconstruction errors", True)):
                    t = time.perf_counter()
                    encode_rows(model, sf, rows, errors=errors)
                    times[key].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    doc = {"environment": describe("cpu"), "rows": a.rows, "seconds": times, "median_s": med,
           "events_per_s": {k: a.rows / v for k, v in med.items()},
           "ratio": med["latents and reconstruction errors"] / med["latents only"]}
    write_json(a.out, doc)
    print(f"{doc['ratio']:.2f}x the time with the reconstruction errors "
          f"({doc['events_per_s']['latents only']:.0f} against "
          f"{doc['events_per_s']['latents and reconstruction errors']:.0f} events/s); wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
