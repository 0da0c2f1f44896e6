"""Which of several mixture fits to start the refinement from: choices that need no retraining, on kept runs.

The default's refinement (gpuclust.training.mixture.refine) pulls the encoder towards the mixture fitted
to its pre-refinement latents (n_init starts, the best training lower bound kept), and the final clusters
are that mixture's, refitted: the start decides much of the result. For each run directory kept by
`bench_quality.py --eval --keep DIR` this re-encodes every row with the trained encoder (checkpoints/best.pt,
before refinement) and scores, against the ground truth, the start each rule would pick from the same
N_FITS single-start fits (seeds fixed here), on those latents:

  lower bound (n_init=4)    the default: the pipeline's own fit_mixture, as the refinement calls it
  lower bound (16)          the best training lower bound of the 16
  held-out likelihood (16)  each start fitted on the training split, scored on the validation split; the
                            best one refitted on all rows from where it ended
  stability (16)            the fit agreeing most (mean ARI) with the other 15
  consensus (16)            the 16 fits' labels matched to the most stable one (Hungarian), the majority
                            vote per row, a mixture started from the vote's clusters

and, on the final (refined) latents where the run has finished, the run's own labels beside a fresh
16-start fit by lower bound.
Seeds are split: the first half of the runs given is for choosing, the second half for reporting.

    python benchmarks/bench_mixture_start.py DIR [--out benchmarks/results/mixture-start.json]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

N_FITS = 16
RULES = ("lower bound (n_init=4)", "lower bound (16)", "held-out likelihood (16)", "stability (16)",
         "consensus (16)")


def pre_refinement(run_dir: str):
    """(latents of all usable rows from checkpoints/best.pt, truth, train mask, val mask, run seed)."""
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.latents.encode import encode_source
    from gpuclust.training.checkpoint import load_model
    from gpuclust.training.sources import make_source

    with open(os.path.join(run_dir, "config.json")) as fh:
        cfg = json.load(fh)
    with np.load(os.path.join(run_dir, "splits.npz")) as z:
        sp = {k: z[k] for k in z.files}
    rows = np.sort(np.concatenate([sp["train"], sp["val"], sp["test"]]))
    model, _ = load_model(os.path.join(run_dir, "checkpoints", "best.pt"), "cpu")
    with open_spectrograms(cfg["data"]) as sf:
        z = encode_source(model, make_source(sf, rows, cfg["norm"], "cpu", 4 * 2**30), "cpu")
        truth = np.asarray(sf.labels(rows), np.int64)
    return z, truth, np.isin(rows, sp["train"]), np.isin(rows, sp["val"]), int(cfg["seed"]), int(cfg["n_init"])


def standardised(z):
    return (z - z.mean(axis=0)) / (float(z.std()) or 1.0)


def matched(ref, labels, k):
    """labels renamed to agree best with ref (Hungarian on the contingency table)."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((k, k))
    np.add.at(table, (labels, ref), 1)
    r, c = linear_sum_assignment(-table)
    rename = np.empty(k, np.int64)
    rename[r] = c
    return rename[labels]


def mixture_from_labels(zs, labels, k, seed):
    from gpuclust.clustering.gmm import GaussianMixture

    d = zs.shape[1]
    w = np.array([(labels == j).mean() for j in range(k)])
    if (w * len(labels) < d + 1).any():
        return None
    means = np.array([zs[labels == j].mean(axis=0) for j in range(k)])
    cov = np.array([np.cov(zs[labels == j].T) + 1e-6 * np.eye(d) for j in range(k)])
    return GaussianMixture(k, random_state=seed, weights_init=w, means_init=means,
                           precisions_init=np.linalg.inv(cov), max_iter=300).fit(zs)


def choices(z, train, val, k, seed, n_init) -> dict:
    """Labels of all rows from each rule of the module docstring."""
    from sklearn.metrics import adjusted_rand_score

    from gpuclust.clustering.gmm import GaussianMixture
    from gpuclust.training.mixture import fit_mixture

    zs = standardised(z)
    g, _, _ = fit_mixture(z, k, seed, n_init)
    out = {"lower bound (n_init=4)": g.predict(zs)}
    fits = [GaussianMixture(k, random_state=seed * 100 + i, max_iter=300).fit(zs) for i in range(N_FITS)]
    labels = [f.predict(zs) for f in fits]
    out["lower bound (16)"] = labels[int(np.argmax([f.lower_bound_ for f in fits]))]
    held = []
    for i in range(N_FITS):
        f = GaussianMixture(k, random_state=seed * 100 + i, max_iter=300).fit(zs[train])
        held.append((f.score(zs[val]), f))
    best = max(held, key=lambda t: t[0])[1]
    g = GaussianMixture(k, random_state=seed, weights_init=best.weights_, means_init=best.means_,
                        precisions_init=best.precisions_, max_iter=300).fit(zs)
    out["held-out likelihood (16)"] = g.predict(zs)
    agree = np.array([[adjusted_rand_score(a, b) if i != j else 0.0 for j, b in enumerate(labels)]
                      for i, a in enumerate(labels)])
    medoid = int(agree.sum(axis=1).argmax())
    out["stability (16)"] = labels[medoid]
    votes = np.zeros((len(zs), k))
    for lab in labels:
        np.add.at(votes, (np.arange(len(zs)), matched(labels[medoid], lab, k)), 1)
    g = mixture_from_labels(zs, votes.argmax(axis=1), k, seed)
    out["consensus (16)"] = labels[medoid] if g is None else g.predict(zs)
    out["_stability_mean_ari"] = float(agree.sum() / (N_FITS * (N_FITS - 1)))
    return out


def final_choices(run_dir, seed, k) -> dict:
    from gpuclust.clustering.gmm import GaussianMixture
    from gpuclust.latents import load_latents

    lat = load_latents(os.path.join(run_dir, "latents.h5"))
    zs = standardised(lat.z.astype(np.float64))
    g = GaussianMixture(k, random_state=seed, n_init=N_FITS, max_iter=300).fit(zs)
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        m = json.load(fh)
    from gpuclust.clustering.metrics import external_metrics

    return {"the run's labels (refined start)": {x: m[x] for x in ("nmi", "ari", "accuracy")},
            "refit, 16 starts by lower bound": external_metrics(np.asarray(lat.truth, np.int64), g.predict(zs))}


def trained(run_dir: str) -> bool:
    """The run's training stage finished (its best.pt is final; the refinement may still be running)."""
    try:
        with open(os.path.join(run_dir, "stages.json")) as fh:
            return "train" in json.load(fh)
    except (OSError, ValueError):
        return False


def main(argv=None) -> int:
    from gpuclust import threads

    threads.configure_before_import()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("keep", help="the --keep folder of bench_quality --eval (its runs/default-SEED)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/mixture-start.json")
    a = ap.parse_args(argv)
    threads.configure(a.threads)
    from gpuclust.atomic import write_json
    from gpuclust.clustering.metrics import external_metrics
    from gpuclust.environment import describe

    runs = sorted(d for d in glob.glob(os.path.join(a.keep, "runs", "default-*")) if trained(d))
    if not runs:
        raise SystemExit(f"no finished run under {a.keep}/runs")
    load_before, per_seed = os.getloadavg(), {}
    for d in runs:
        t = time.perf_counter()
        z, truth, train, val, seed, n_init = pre_refinement(d)
        ch = choices(z, train, val, 8, seed, n_init)
        row = {"stability_mean_ari": ch.pop("_stability_mean_ari"),
               "pre_refinement": {r: external_metrics(truth, ch[r]) for r in RULES},
               "final": final_choices(d, seed, 8) if os.path.exists(os.path.join(d, "metrics.json")) else None,
               "seconds": time.perf_counter() - t}
        per_seed[str(seed)] = row
        print(f"seed {seed} ({row['seconds']:.0f} s): " + "; ".join(
            f"{r} ARI {row['pre_refinement'][r]['ari']:.3f}" for r in RULES), flush=True)
    seeds = list(per_seed)
    half = (len(seeds) + 1) // 2
    groups = {"choose": seeds[:half], "report": seeds[half:]}
    summary = {g: {r: {m: float(np.mean([per_seed[s]["pre_refinement"][r][m] for s in ss]))
                       for m in ("nmi", "ari", "accuracy")} for r in RULES} for g, ss in groups.items() if ss}
    doc = {"environment": describe("cpu"), "threads": a.threads, "load_average_before": load_before,
           "load_average_after": os.getloadavg(), "n_fits": N_FITS, "seed_groups": groups,
           "protocol": __doc__.strip().splitlines()[0], "mean_pre_refinement": summary, "per_seed": per_seed}
    write_json(a.out, doc)
    print(json.dumps(summary, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
