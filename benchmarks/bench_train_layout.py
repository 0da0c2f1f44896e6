"""How fast the train stage's network trains on the CPU in each memory layout, with the training loop itself.

The default autoencoder and the U-Net (the run's defaults: 12-dim linear latent, all skips) train for one
epoch of --rows in-memory rows (the pipeline's InMemory source, log-aligned), batch --batch, Adam, through
gpuclust's own `run_epochs`, once with the model in the contiguous layout and once in channels-last (tried as
the CPU's training layout on 2026-12-07 and reverted: see the README's "How near the hardware").
Every configuration runs once per round, in the same order,
for --repeats rounds in one process, so the machine's load hits them alike; the median is reported, with
GFLOP/s from torch's FlopCounterMode count of one forward and backward pass (a multiply-add is 2 FLOPs).
The two layouts start from the same weights; after the timed epochs a further epoch from those weights shows
how far apart the layouts' latents of the first 256 rows end (rounding only: the same arithmetic, summed in
another order; Adam's first steps, about the learning rate in each weight whatever the gradient's size, turn
rounding-sized gradients, as of a bias before a batch normalisation, into full steps).

    python benchmarks/bench_train_layout.py [--rows 1024] [--repeats 3] [--out benchmarks/results/train-layout.json]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

LAYOUTS = ("contiguous", "channels_last")
MODELS = {"ae": {}, "unet": {"skips": "all"}}


def build(arch: str, shape, layout: str):
    import torch

    from gpuclust.models import build_model

    torch.manual_seed(0)
    model = build_model({"arch": arch, "input_shape": shape, "latent_dim": 12, "latent_activation": "linear",
                         **MODELS[arch]})
    return model.to(memory_format=torch.channels_last) if layout == "channels_last" else model


def mse_objective():
    import torch.nn.functional as F

    from gpuclust.training.loop import Objective

    class Reconstruction(Objective):  # the train stage's loss, without its checkpoints and validation
        def loss(self, out, pos, x):
            loss = F.mse_loss(out[0].float(), x)
            return loss, {"train_loss": loss}

    return Reconstruction()


def train_epoch(model, source, batch: int, opt=None):
    import torch

    from gpuclust.training.loop import run_epochs

    opt = opt or torch.optim.Adam(model.parameters(), lr=1e-3)
    t = time.perf_counter()
    run_epochs(model, source, mse_objective(), opt, 1, batch, 0, "cpu", quiet=True)
    return time.perf_counter() - t, opt


def flops_per_row(model, x) -> float:
    """FLOPs of one spectrogram's forward and backward pass (the optimiser step is negligible beside them)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        ((model(x)[0] - x) ** 2).mean().backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / len(x)


def main(argv=None) -> int:
    import torch

    from gpuclust.atomic import ensure_writable_file, write_json
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import write_synthetic
    from gpuclust.environment import describe
    from gpuclust.errors import GpuclustError
    from gpuclust.training.sources import InMemory

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=64, help="the CPU's default training batch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="the run's fixed compute_threads")
    ap.add_argument("--out", default="benchmarks/results/train-layout.json")
    a = ap.parse_args(argv)
    for name in ("rows", "batch", "repeats", "threads"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1, got {getattr(a, name)}")
    try:
        ensure_writable_file(a.out, "--out")  # before minutes of training, not after
    except GpuclustError as e:
        ap.error(str(e))
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.h5")
        write_synthetic(path, a.rows, seed=0)
        with open_spectrograms(path) as sf:
            shape = tuple(sf.shape)
            source = InMemory(sf, np.arange(a.rows), "log-aligned", "cpu")
            warm = InMemory(sf, np.arange(min(a.rows, 2 * a.batch)), "log-aligned", "cpu")  # oneDNN picks its kernels
    configs = [(arch, layout) for arch in MODELS for layout in LAYOUTS]
    models = {c: build(c[0], shape, c[1]) for c in configs}
    flops = {arch: flops_per_row(build(arch, shape, "contiguous"), source.x[:4]) for arch in MODELS}
    opts = {c: train_epoch(models[c], warm, a.batch)[1] for c in configs}
    times = {c: [] for c in configs}
    for _ in range(a.repeats):
        for c in configs:
            times[c].append(train_epoch(models[c], source, a.batch, opts[c])[0])
    agreement = {}
    for arch in MODELS:
        trained = {lay: build(arch, shape, lay) for lay in LAYOUTS}
        z = {}
        for lay, m in trained.items():
            torch.manual_seed(1)  # the same shuffle and dropout masks for both
            train_epoch(m, source, a.batch)
            with torch.no_grad():
                z[lay] = m.eval()(source.x[:256])[1]
        agreement[arch] = {"latents_max_abs_diff_after_one_epoch": float((z[LAYOUTS[0]] - z[LAYOUTS[1]]).abs().max()),
                           "latents_max_abs": float(z[LAYOUTS[0]].abs().max())}
    results = []
    for (arch, lay), ts in times.items():
        med = float(np.median(ts))
        results.append({"model": arch, "layout": lay, "median_s": med, "seconds": ts,
                        "spectrograms_per_s": a.rows / med, "gflop_per_s": flops[arch] * a.rows / med / 1e9})
    speedup = {arch: {"median": float(np.median(times[(arch, LAYOUTS[0])]) / np.median(times[(arch, LAYOUTS[1])])),
                      "per_round": [c / cl for c, cl in zip(times[(arch, LAYOUTS[0])], times[(arch, LAYOUTS[1])])]}
               for arch in MODELS}
    doc = {"benchmark": "bench_train_layout", "environment": describe("cpu"), "rows": a.rows, "batch": a.batch,
           "threads": a.threads, "shape": list(shape),
           "mflop_per_spectrogram_forward_and_backward": {k: v / 1e6 for k, v in flops.items()},
           "results": results, "channels_last_speedup": speedup, "layout_agreement": agreement,
           "load_average_after": list(os.getloadavg())}
    write_json(a.out, doc)
    print(f"{a.rows} rows of {shape[0]} x {shape[1]}, batch {a.batch}, {a.threads} threads, {a.repeats} rounds")
    for r in results:
        print(f"{r['model']:<5} {r['layout']:<14} {r['spectrograms_per_s']:>7,.0f} spectrograms/s "
              f"{r['gflop_per_s']:>6.1f} GFLOP/s")
    for arch, s in speedup.items():
        print(f"{arch}: channels-last {s['median']:.2f}x (rounds: {', '.join(f'{v:.2f}' for v in s['per_round'])}); "
              f"latents differ by {agreement[arch]['latents_max_abs_diff_after_one_epoch']:.1e} after an epoch "
              f"(of {agreement[arch]['latents_max_abs']:.1f})")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
