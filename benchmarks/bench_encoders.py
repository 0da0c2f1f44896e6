"""Encoders on the synthetic benchmark: reconstruction error, clustering quality of the latent, speed.

For the reference AE, the U-Net with each skip setting, and AE + DEC: train on
the training split, report reconstruction MSE on the held-out test split,
and the NMI / ARI / accuracy of a K=8 full-covariance mixture fitted on the
training latents and used to label the test latents (the student study's
protocol), plus training throughput. A PCA-9 baseline shows what a linear
9-dim projection of the pixels achieves.

    python benchmarks/bench_encoders.py [--rows 3000] [--out benchmarks/results/encoders-cpu.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch

from gpuclust.backend import Backend
from gpuclust.clustering.api import centres_of, cluster
from gpuclust.clustering.metrics import external_metrics
from gpuclust.data.loader import load_rows
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.splits import make_splits
from gpuclust.data.synth import write_synthetic
from gpuclust.latents.encode import encode_rows
from gpuclust.models import AutoEncoder, UNet
from gpuclust.models.dec import DEC
from gpuclust.training.dec import train_dec
from gpuclust.training.sources import InMemory
from gpuclust.training.trainer import TrainConfig, evaluate, train_autoencoder


def score(z_train, z_test, y_test, seed):
    model, _, _, m = cluster(z_train, "gmm", 8, Backend("cpu"), seed, n_init=2)
    pred = model.predict(z_test / m["latent_scale"])
    return external_metrics(y_test, pred), model, m


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--ae-epochs", type=int, default=15)
    ap.add_argument("--unet-epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/encoders-cpu.json")
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "synth.h5")
        write_synthetic(path, a.rows, seed=a.seed)
        sf = open_spectrograms(path)
        sp = make_splits(np.arange(sf.n_rows), (0.7, 0.2, 0.1), a.seed)
        tr, va, te = (InMemory(sf, r, "l2", "cpu") for r in (sp.train, sp.val, sp.test))
        y_test = sf.labels(sp.test)
        x = load_rows(sf, np.arange(sf.n_rows)).reshape(sf.n_rows, -1)
        from sklearn.decomposition import PCA

        pca = PCA(9, random_state=a.seed).fit(x[sp.train])
        q, _, _ = score(pca.transform(x[sp.train]), pca.transform(x[sp.test]), y_test, a.seed)
        recon = pca.inverse_transform(pca.transform(x[sp.test]))
        results.append({"encoder": "PCA-9 (linear baseline)", "test_mse": float(((recon - x[sp.test]) ** 2).mean()),
                        **q})
        print(results[-1])
        variants = [("AE (reference)", lambda: AutoEncoder(), a.ae_epochs)]
        variants += [(f"U-Net skips={s}", (lambda s=s: UNet(skips=s)), a.unet_epochs)
                     for s in ("all", "no_full", "none")]
        for name, make, epochs in variants:
            torch.manual_seed(a.seed)
            model = make()
            t = time.perf_counter()
            hist = train_autoencoder(model, tr, va, TrainConfig(epochs=epochs, quiet=True, seed=a.seed),
                                     os.path.join(tmp, name.replace(" ", "_")))
            secs = time.perf_counter() - t
            z_tr = encode_rows(model, sf, sp.train).numpy()
            z_te = encode_rows(model, sf, sp.test).numpy()
            q, gm, m = score(z_tr, z_te, y_test, a.seed)
            row = {"encoder": name, "epochs": epochs, "test_mse": evaluate(model, te, 256, "cpu"), **q,
                   "train_samples_per_s": float(np.median([h["samples_per_s"] for h in hist])),
                   "train_seconds": secs, "parameters": sum(p.numel() for p in model.parameters())}
            results.append(row)
            print(row)
            if name.startswith("AE"):
                dec = DEC(model, torch.as_tensor(centres_of(gm, m), dtype=torch.float32))
                train_dec(dec, tr, "cpu", max_epochs=5, seed=a.seed, quiet=True)
                z_tr = encode_rows(dec.autoencoder, sf, sp.train).numpy()
                z_te = encode_rows(dec.autoencoder, sf, sp.test).numpy()
                q, _, _ = score(z_tr, z_te, y_test, a.seed)
                results.append({"encoder": "AE + DEC (5 epochs)", "test_mse": evaluate(dec.autoencoder, te, 256, "cpu"),
                                **q})
                print(results[-1])
    out = {"machine": platform.node(), "cpu_count": os.cpu_count(), "device": "cpu",
           "date": time.strftime("%Y-%m-%d"), "rows": a.rows, "protocol": __doc__.strip().splitlines()[0],
           "results": results}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
