"""How near the CPU's arithmetic peak the embed stage's network runs: the default autoencoder's forward pass
alone (no file reading, no normalisation), by batch size and memory layout, for the latents only (the
encoder) and for the latents with the reconstruction errors (the whole autoencoder, the combined novelty
score's default).

FLOPs per spectrogram are counted by torch's FlopCounterMode (a multiply-add is 2 FLOPs); GFLOP/s is that
count times spectrograms per second. Every configuration runs once per round, in the same order, for
--repeats rounds in one process (the machine's load hits them alike); the median is reported. The rows
are normalised synthetic spectrograms (the values do not change the arithmetic). Beside the network, the
reading and normalising of the same rows (`load_rows`), the rest of the embed stage's work. Then the embed
stage's own loop end to end (`encode_rows` with the errors, --e2e-rows rows of a synthetic file: reading,
normalising, the network), with the next window read ahead in a thread and without, alternated in each round,
and checked to give the same bytes.

    python benchmarks/bench_inference.py [--rows 2048] [--repeats 5] [--out benchmarks/results/inference-cpu.json]
    python benchmarks/bench_inference.py --device cuda --rows 16384 --batches 128,256,1024,4096   # gpu_session.sh
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

BATCHES = (32, 64, 128, 256, 512, 1024)
LAYOUTS = ("contiguous", "channels_last")
PASSES = ("latents only", "latents and reconstruction errors")


def flops_per_row(model, x, whole: bool) -> float:
    """FLOPs of one spectrogram's pass (counted on the CPU: the count does not depend on the device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x) if whole else model.encode(x)
    return fc.get_total_flops() / len(x)


def forward(model, x, batch: int, whole: bool, device: str):
    import torch

    from gpuclust.models.precision import autocast

    with torch.no_grad(), autocast(device):
        for s in range(0, len(x), batch):
            xb = x[s: s + batch]
            if whole:
                recon, z = model(xb)
                ((recon.float() - xb) ** 2).flatten(1).mean(dim=1)
            else:
                model.encode(xb)
    if device == "cuda":
        torch.cuda.synchronize()


def end_to_end(model, rows: int, repeats: int, device: str) -> dict:
    """encode_rows(errors=True) over `rows` rows of a synthetic file, with and without read-ahead, alternated."""
    from gpuclust.data.loader import READ_WINDOW
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic
    from gpuclust.latents.encode import encode_rows

    modes = {"read ahead": True, "in turn": False}
    times, outputs = {m: [] for m in modes}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "e2e.h5")
        write_synthetic(path, rows, seed=1)
        with open_spectrograms(path) as sf:
            idx = np.arange(rows)
            encode_rows(model, sf, idx[:1024], device=device, errors=True)  # warm-up
            for _ in range(repeats):
                for m, ahead in modes.items():
                    t = time.perf_counter()
                    z, err = encode_rows(model, sf, idx, device=device, errors=True, read_ahead=ahead)
                    times[m].append(time.perf_counter() - t)
                    outputs[m] = (z.cpu().numpy(), err.cpu().numpy())
    same = all(np.array_equal(a, b) for a, b in zip(*outputs.values()))
    return {"rows": rows, "window": READ_WINDOW, "identical": same,
            "modes": {m: {"seconds": ts, "median_s": float(np.median(ts)),
                          "spectrograms_per_s": rows / float(np.median(ts))} for m, ts in times.items()}}


def main(argv=None) -> int:
    import torch

    from gpuclust.atomic import write_json
    from gpuclust.data.loader import load_rows
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic
    from gpuclust.environment import describe
    from gpuclust.models.autoencoder import AutoEncoder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help="Batch sizes, comma-separated.")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: on the GPU in bf16 autocast, as gpuclust encodes there")
    ap.add_argument("--e2e-rows", type=int, default=32768,
                    help="rows of the end-to-end encode_rows comparison (0: skip it); READ_WINDOW rows a window")
    ap.add_argument("--out", default="benchmarks/results/inference-cpu.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.h5")
        write_synthetic(path, a.rows, seed=0)
        with open_spectrograms(path) as sf:
            shape = tuple(sf.shape)
            rows = np.arange(a.rows)
            load_times = []
            for _ in range(a.repeats):
                t = time.perf_counter()
                x = load_rows(sf, rows, "log-aligned")
                load_times.append(time.perf_counter() - t)
    torch.manual_seed(0)
    model = AutoEncoder(shape, 12, latent_activation="linear").eval()  # the default run's autoencoder
    x = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)
    flops = {p: flops_per_row(model, x[:8], p != PASSES[0]) for p in PASSES}
    dev = a.device
    model, x = model.to(dev), x.to(dev)
    inputs = {"contiguous": x, "channels_last": x.contiguous(memory_format=torch.channels_last)}
    models = {"contiguous": model,
              "channels_last": AutoEncoder(shape, 12, latent_activation="linear").eval()}
    models["channels_last"].load_state_dict(model.state_dict())
    models["channels_last"].to(dev, memory_format=torch.channels_last)
    with torch.no_grad():  # the layouts compute the same function
        z0, z1 = model.encode(x[:256]), models["channels_last"].encode(inputs["channels_last"][:256])
        r0, r1 = model(x[:256])[0], models["channels_last"](inputs["channels_last"][:256])[0]  # float32
    agreement = {"latents_max_abs_diff": float((z0 - z1).abs().max()),
                 "reconstruction_max_abs_diff": float((r0 - r1).abs().max())}
    batches = [int(b) for b in a.batches.split(",")]
    configs = [(p, lay, b) for p in PASSES for lay in LAYOUTS for b in batches]
    times = {c: [] for c in configs}
    for c in configs:  # warm-up: oneDNN picks and caches its kernels for each shape
        forward(models[c[1]], inputs[c[1]][: 2 * c[2]], c[2], c[0] != PASSES[0], dev)
    for _ in range(a.repeats):
        for c in configs:
            t = time.perf_counter()
            forward(models[c[1]], inputs[c[1]], c[2], c[0] != PASSES[0], dev)
            times[c].append(time.perf_counter() - t)
    results = []
    for (p, lay, b), ts in times.items():
        med = float(np.median(ts))
        results.append({"pass": p, "layout": lay, "batch": b, "median_s": med, "seconds": ts,
                        "spectrograms_per_s": a.rows / med, "gflop_per_s": flops[p] * a.rows / med / 1e9})
    e2e = end_to_end(model, a.e2e_rows, a.repeats, dev) if a.e2e_rows else None
    load_med = float(np.median(load_times))
    doc = {"benchmark": "bench_inference", "environment": describe(dev), "device": dev, "rows": a.rows,
           "threads": a.threads,
           "shape": list(shape), "mflop_per_spectrogram": {p: f / 1e6 for p, f in flops.items()},
           "layout_agreement": agreement, "results": results,
           "read_and_normalise": {"median_s": load_med, "seconds": load_times, "spectrograms_per_s": a.rows / load_med},
           "encode_rows_end_to_end": e2e}
    write_json(a.out, doc)
    print(f"{a.rows} rows of {shape[0]} x {shape[1]} on {dev}, {a.threads} threads; MFLOP per spectrogram: "
          + ", ".join(f"{p} {f / 1e6:.1f}" for p, f in flops.items()))
    print(f"read and normalise: {a.rows / load_med:,.0f} spectrograms/s")
    for r in results:
        print(f"{r['pass']:<35} {r['layout']:<14} batch {r['batch']:>5}: {r['spectrograms_per_s']:>8,.0f} /s "
              f"{r['gflop_per_s']:>6.1f} GFLOP/s")
    if e2e:
        print(f"encode_rows end to end, {e2e['rows']} rows: " + ", ".join(
            f"{k} {v['spectrograms_per_s']:,.0f} /s" for k, v in e2e["modes"].items())
            + f"; the same bytes: {e2e['identical']}")
    print(f"channels_last against contiguous: latents differ by {agreement['latents_max_abs_diff']:.1e} at most, "
          f"reconstructions by {agreement['reconstruction_max_abs_diff']:.1e}; wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
