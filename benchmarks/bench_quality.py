"""Cluster quality on the built-in data: every encoder and objective beside the baselines and the ceiling.

For each seed s of --seeds, the built-in dataset `gpuclust synth -n ROWS --seed s` is clustered into 8
by each configuration below, run through gpuclust's own pipeline (so each number is what
`gpuclust run` gives), and scored on ALL rows against the ground truth: NMI, ARI and accuracy under
the best one-to-one matching of clusters to classes. Reported as mean and spread over the seeds,
with the wall time each configuration took (on this machine, whatever its load; see the JSON).

  pipeline configurations   the default of `gpuclust run`; the reference (L2 input, ReLU latent,
                            reconstruction); each change on its own; DEC; the U-Net with each skip
                            setting (the student study's 1 epoch)
  baselines (no training)   PCA to 9 and to 16 of the L2, log and log-aligned spectrograms, then the same
                            full-covariance mixture (same n_init)
  ceiling                   a small CNN trained WITH the labels on 70 %, scored on the held-out 30 % (log and
                            log-aligned input: the better is the ceiling)
  diagnostic                the same mixture fitted to the default's latents with the labels (one
                            Gaussian per class, QDA): how far the latent's classes are from Gaussian
                            blobs, the limit of any mixture on that latent

    python benchmarks/bench_quality.py [--rows 6000] [--seeds 0,1,2] [--out benchmarks/results/quality.json]
    python benchmarks/bench_quality.py --rows 300 --seeds 0 --epochs 1 --only default,pca   # CI size

Evaluation mode (--eval): the default and the PCA-16 baseline only, on the ten EVAL_SEEDS below, which
were never used to choose anything (choosing settings on seeds 0-5 is allowed; these stay untouched).
Per seed, mean, spread and the worst seed of NMI / ARI / accuracy, and on which seeds the default
beats the baseline; --keep DIR keeps the data and run directories there and reuses the runs that
finished (result.json), so an interrupted evaluation continues; --finished-only writes the seeds
that finished without running the others (and lists those missing); --reuse JSON takes the finished
seeds of an earlier evaluation's JSON (their runs' results, not rerun) so that it continues on a new machine.

    python benchmarks/bench_quality.py --eval --keep /scratch/q --out benchmarks/results/quality-heldout.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

# The held-out evaluation: fixed here, never used for choosing a setting (see the module docstring).
EVAL_SEEDS = tuple(range(1000, 1010))
# The baseline of the evaluation (issue 24): PCA to 16 of the log spectrograms (each event's mean log level
# removed), one global standardisation, a full-covariance mixture with 5 initialisations.
EVAL_BASELINE = {"norm": "log", "dims": 16, "n_init": 5}
EVAL_TARGET = {"nmi": 0.67, "ari": 0.62, "accuracy": 0.78}
# Reported beside it, not part of the target: the same on the default's own input (the stronger baseline).
EVAL_ALIGNED_BASELINE = {**EVAL_BASELINE, "norm": "log-aligned"}

CONFIGS = {
    # name: (RunConfig overrides, description); a row measured with an older default pins what it used
    "default": ({}, "gpuclust run as shipped (the ladder below, to its last step)"),
    "reference": ({"norm": "l2", "latent_dim": 9, "latent_activation": "relu", "objective": "reconstruction"},
                  "the reference (examples/reference.toml): L2 input, 9-dim ReLU latent, reconstruction only"),
    "l2": ({"norm": "l2", "latent_activation": "relu", "objective": "reconstruction"},
           "the reference with a 12-dim latent (the start of the ladder below)"),
    "log": ({"norm": "log", "latent_activation": "relu", "objective": "reconstruction"},
            "+ log input (12-dim ReLU latent, reconstruction)"),
    "log+linear": ({"norm": "log", "latent_activation": "linear", "objective": "reconstruction"},
                   "+ linear latent (log input, 12 dims, reconstruction)"),
    "log+linear+mixture": ({"norm": "log", "refine_epochs": 3, "refine_gamma": 10.0},
                           "+ 3 epochs of mixture refinement, weight 10"),
    "aligned+mixture3": ({"refine_epochs": 3, "refine_gamma": 10.0}, "+ log-aligned input"),
    "aligned+mixture6": ({"refine_epochs": 6, "refine_gamma": 10.0}, "+ 6 refinement epochs instead of 3"),
    "aligned+mixture10": ({"refine_epochs": 10, "refine_gamma": 10.0}, "+ 10 refinement epochs"),
    "aligned+mixture15": ({"refine_epochs": 15, "refine_gamma": 10.0}, "15 refinement epochs (weight 10)"),
    "reference+dec": ({"norm": "l2", "latent_dim": 9, "latent_activation": "relu", "objective": "reconstruction",
                       "dec": True}, "the reference autoencoder (9-dim) refined by the reference DEC"),
    "l2+dec": ({"norm": "l2", "latent_activation": "relu", "objective": "reconstruction", "dec": True},
               "the same with a 12-dim latent"),
    "log+mixture+refine6": ({"norm": "log", "refine_epochs": 6, "refine_gamma": 10.0},
                            "log input (not aligned), 6 refinement epochs, weight 10"),
    "log+mixture+gamma20": ({"norm": "log", "refine_epochs": 3, "refine_gamma": 20.0},
                            "log input (not aligned), 3 refinement epochs, weight 20"),
    "log+mixture+ninit16": ({"norm": "log", "refine_epochs": 3, "refine_gamma": 10.0, "n_init": 16},
                            "log input (not aligned), 3 refinement epochs, 16 mixture initialisations instead of 4"),
    "unet-all-1ep": ({"model": "unet", "unet_skips": "all", "epochs": 1, "objective": "reconstruction"},
                     "the student study's U-Net (all skips), 1 epoch, log-aligned input, 12-dim linear latent"),
    "unet-no_full-1ep": ({"model": "unet", "unet_skips": "no_full", "epochs": 1, "objective": "reconstruction"},
                         "U-Net without the full-resolution skip, 1 epoch"),
    "unet-none-1ep": ({"model": "unet", "unet_skips": "none", "epochs": 1, "objective": "reconstruction"},
                      "U-Net without skips (a true bottleneck), 1 epoch"),
}


def run_config(data: str, seed: int, overrides: dict, epochs: int | None, out: str) -> dict:
    from gpuclust.backend import resolve_backend
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.run import run

    opts = {"seed": seed, "quiet": True, "device": "cpu", "tsne_max_points": 200, **overrides}
    if epochs is not None and "epochs" not in overrides:
        opts["epochs"] = epochs
    cfg = make_config(None, data=data, out=out, **opts)
    t = time.perf_counter()
    summary = run(cfg, resolve_backend("cpu"), log=lambda *a: None, until="cluster")
    secs = time.perf_counter() - t
    with open(os.path.join(out, "metrics.json")) as fh:
        m = json.load(fh)
    return {"nmi": m["nmi"], "ari": m["ari"], "accuracy": m["accuracy"], "seconds": secs,
            "stage_seconds": summary["seconds"]}


def pca_baseline(data: str, seed: int, norm: str, dims: int, n_init: int) -> dict:
    from sklearn.decomposition import PCA

    from gpuclust import GaussianMixture
    from gpuclust.clustering.metrics import external_metrics
    from gpuclust.data.loader import load_rows, usable_rows
    from gpuclust.data.spectrograms import open_spectrograms

    t = time.perf_counter()
    with open_spectrograms(data) as sf:
        rows, _ = usable_rows(sf)
        x = load_rows(sf, rows, norm).reshape(len(rows), -1).astype(np.float64)
        y = sf.labels(rows)
    z = PCA(dims, random_state=seed).fit_transform(x)
    z /= z.std()
    pred = GaussianMixture(8, random_state=seed, n_init=n_init, max_iter=300).fit_predict(z)
    return {**external_metrics(y, pred), "seconds": time.perf_counter() - t}


def supervised_ceiling(data: str, seed: int, norm: str, epochs: int = 25) -> dict:
    """A small CNN trained with the labels on 70 % of the rows (input normalised by `norm`), scored on the rest."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from gpuclust.clustering.metrics import external_metrics
    from gpuclust.data.loader import load_rows, usable_rows
    from gpuclust.data.spectrograms import open_spectrograms

    t = time.perf_counter()
    with open_spectrograms(data) as sf:
        rows, _ = usable_rows(sf)
        x = torch.from_numpy(load_rows(sf, rows, norm)).unsqueeze(1)
        y = torch.from_numpy(np.asarray(sf.labels(rows), np.int64))
    x = F.avg_pool2d(x, 2)
    x = (x - x.mean()) / x.std()
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 4)),
                        nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 8))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_tr = int(0.7 * len(y))
    tr, te = perm[:n_tr], perm[n_tr:]
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        net.train()
        order = tr[rng.permutation(len(tr))]
        for b in range(0, len(order), 128):
            i = torch.from_numpy(order[b:b + 128])
            loss = F.cross_entropy(net(x[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(x[torch.from_numpy(te)]).argmax(dim=1).numpy()
    return {**external_metrics(y[te].numpy(), pred), "seconds": time.perf_counter() - t,
            "scored_on": "held-out 30 %"}


def oracle_qda(run_dir: str) -> dict:
    """One Gaussian per true class on the run's latents (the labels used): the best any mixture could do there.

    The class weights, means and covariances (+ 1e-3 on the diagonal) are the mixture's parameters as
    they would be if the mixture had found the classes exactly; every row goes to its most probable class.
    """
    from gpuclust import GaussianMixture
    from gpuclust.clustering.metrics import external_metrics
    from gpuclust.latents import load_latents

    lat = load_latents(os.path.join(run_dir, "latents.h5"))
    z = lat.z.astype(np.float64) / lat.z.std()
    y = np.asarray(lat.truth, np.int64)
    classes = np.unique(y)
    d = z.shape[1]
    means = np.array([z[y == c].mean(axis=0) for c in classes])
    cov = np.array([np.cov(z[y == c].T, bias=True).reshape(d, d) + 1e-3 * np.eye(d) for c in classes])
    weights = np.array([(y == c).mean() for c in classes])
    g = GaussianMixture(len(classes), weights_init=weights, means_init=means, precisions_init=np.linalg.inv(cov),
                        max_iter=0).fit(z)
    return external_metrics(y, classes[g.predict(z)])


def summary(values: list[dict]) -> dict:
    out = {}
    for key in ("nmi", "ari", "accuracy", "seconds"):
        v = np.array([r[key] for r in values if key in r], dtype=float)
        if v.size:
            out[key] = {"mean": float(v.mean()), "sd": float(v.std()), "per_seed": [float(a) for a in v]}
    return out


def kept_run(keep: str, rows: int, seed: int, epochs: int | None, run_now: bool) -> dict | None:
    """The default's result on seed `seed` from --keep DIR (runs/default-SEED/result.json), run there if missing.

    None where it is missing and run_now is False. The data file (DIR/data/) and the run directory are kept.
    """
    from gpuclust.atomic import write_json
    from gpuclust.data.synth import write_synthetic

    out = os.path.join(keep, "runs", f"default-{seed}")
    done = os.path.join(out, "result.json")
    if os.path.exists(done):
        with open(done) as fh:
            return json.load(fh)
    if not run_now:
        return None
    if os.path.isdir(out):  # an interrupted run: its time would not be a whole run's, so it starts again
        import shutil

        shutil.rmtree(out)
    data = eval_data(keep, rows, seed)
    if not os.path.exists(data):
        write_synthetic(data, rows, seed=seed)
    load_before = os.getloadavg()
    r = run_config(data, seed, {}, epochs, out)
    r.update(load_average_before=load_before, load_average_after=os.getloadavg(), threads=torch_threads())
    write_json(done, r)
    return r


def reuse_finished(earlier: str, keep: str) -> None:
    """Copy the default's per-seed results of an earlier --eval JSON into --keep, where kept_run finds them."""
    from gpuclust.atomic import write_json

    with open(earlier) as fh:
        runs = json.load(fh)["per_seed_runs"]
    for seed, r in runs.items():
        done = os.path.join(keep, "runs", f"default-{seed}", "result.json")
        if not os.path.exists(done):
            os.makedirs(os.path.dirname(done), exist_ok=True)
            write_json(done, {**r["default"], "reused_from": os.path.basename(earlier)})


def eval_data(keep: str, rows: int, seed: int) -> str:
    return os.path.join(keep, "data", f"synthetic-{rows}-seed{seed}.h5")


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def spread(values) -> dict:
    """Mean, standard deviation, worst (lowest) value and its seed index, and every value."""
    v = np.asarray(values, dtype=float)
    worst = int(v.argmin())
    return {"mean": float(v.mean()), "sd": float(v.std()), "worst": float(v[worst]), "worst_at": worst,
            "per_seed": [float(a) for a in v]}


def heldout_summary(seeds: list[int], default: list[dict], baseline: list[dict], target: dict) -> dict:
    """The evaluation's table: per metric the default's and the baseline's spread, wins per seed, the target met."""
    out = {"seeds": list(seeds), "default": {}, "baseline": {}, "target": target}
    for m in ("nmi", "ari", "accuracy"):
        for name, rows in (("default", default), ("baseline", baseline)):
            s = spread([r[m] for r in rows])
            s["worst_seed"] = seeds[s.pop("worst_at")]
            out[name][m] = s
    out["default"]["seconds"] = spread([r["seconds"] for r in default])
    out["default"]["seconds"]["worst_seed"] = seeds[out["default"]["seconds"].pop("worst_at")]
    beats = {m: [d[m] > b[m] for d, b in zip(default, baseline)] for m in ("nmi", "ari")}
    out["beats_baseline"] = {
        m: {"seeds_won": sum(w), "of": len(w),
            "lost_on": {str(s): round(b[m] - d[m], 4) for s, d, b, won in zip(seeds, default, baseline, w) if not won}}
        for m, w in beats.items()}
    met = {m: out["default"][m]["mean"] >= t for m, t in target.items()}
    met["beats_baseline_on_every_seed"] = all(all(w) for w in beats.values())
    out["target_met"] = met
    return out


HELDOUT_BEGIN, HELDOUT_END = "<!-- quality-heldout table: begin -->", "<!-- quality-heldout table: end -->"


def heldout_table(doc) -> str:
    """Markdown: per evaluation seed the default against both PCA-16 baselines, then mean ± sd and the worst."""
    lines = ["| seed | default NMI | ARI | accuracy | PCA-16, log input (5 starts) NMI | ARI | accuracy "
             "| PCA-16, log-aligned NMI | ARI |", "|---|" + "---:|" * 8]
    for seed in doc["seeds_measured"]:
        r = doc["per_seed_runs"][str(seed)]
        d, b, c = r["default"], r["baseline"], r["baseline_log_aligned"]
        lines.append(f"| {seed} | {d['nmi']:.3f} | {d['ari']:.3f} | {d['accuracy']:.3f} | {b['nmi']:.3f} | "
                     f"{b['ari']:.3f} | {b['accuracy']:.3f} | {c['nmi']:.3f} | {c['ari']:.3f} |")
    for missing in doc["seeds_missing"]:
        lines.append(f"| {missing} | not measured yet |" + " |" * 7)
    cell = "{mean:.3f} ± {sd:.3f}".format
    d, b, c = doc["default"], doc["baseline"], doc["baseline_log_aligned"]
    ms = ("nmi", "ari", "accuracy")
    lines.append("| **mean ± sd** | " + " | ".join(cell(**d[m]) for m in ms) + " | "
                 + " | ".join(cell(**b[m]) for m in ms) + " | " + " | ".join(cell(**c[m]) for m in ms[:2]) + " |")
    lines.append("| worst seed | " + " | ".join(f"{d[m]['worst']:.3f}" for m in ms) + " | "
                 + " | ".join(f"{b[m]['worst']:.3f}" for m in ms) + " | "
                 + " | ".join(f"{c[m]['worst']:.3f}" for m in ms[:2]) + " |")
    return "\n".join(lines)


def evaluate(a) -> int:
    """--eval: the default and the PCA-16 baseline on EVAL_SEEDS (see the module docstring)."""
    from gpuclust.atomic import write_json
    from gpuclust.data.synth import write_synthetic
    from gpuclust.environment import describe

    load_before = os.getloadavg()
    keep = a.keep or tempfile.mkdtemp(prefix="bench-quality-eval-")
    if a.reuse:
        reuse_finished(a.reuse, keep)
    seeds, default, baseline, aligned, missing = [], [], [], [], []
    for seed in EVAL_SEEDS:
        r = kept_run(keep, a.rows, seed, a.epochs, run_now=not a.finished_only)
        if r is None:
            missing.append(seed)
            continue
        data = eval_data(keep, a.rows, seed)
        if not os.path.exists(data):
            write_synthetic(data, a.rows, seed=seed)
        b = pca_baseline(data, seed, EVAL_BASELINE["norm"], EVAL_BASELINE["dims"], EVAL_BASELINE["n_init"])
        seeds.append(seed)
        default.append(r)
        baseline.append(b)
        aligned.append(pca_baseline(data, seed, EVAL_ALIGNED_BASELINE["norm"], EVAL_ALIGNED_BASELINE["dims"],
                                    EVAL_ALIGNED_BASELINE["n_init"]))
        print(f"seed {seed}: default NMI {r['nmi']:.3f} ARI {r['ari']:.3f} acc {r['accuracy']:.3f} "
              f"({r['seconds']:.0f} s) | PCA-16 NMI {b['nmi']:.3f} ARI {b['ari']:.3f} acc {b['accuracy']:.3f}",
              flush=True)
    if not seeds:
        raise SystemExit("no evaluation seed has finished yet")
    doc = {"environment": describe("cpu"), "rows": a.rows, "eval_seeds": list(EVAL_SEEDS),
           "seeds_measured": seeds, "seeds_missing": missing, "epochs_override": a.epochs,
           "threads": sorted({r.get("threads") for r in default if r.get("threads")}),
           "load_average_before": load_before, "load_average_after": os.getloadavg(),
           "load_average_per_run": {str(s): [r.get("load_average_before"), r.get("load_average_after")]
                                    for s, r in zip(seeds, default)},
           "protocol": "the default `gpuclust run` (data and run seed s) scored on all rows; seeds 1000-1009 were "
                       "used for nothing else (defaults chosen on seeds 0-2, checked on 3-5)",
           "baseline": ("PCA-{dims} of the {norm} spectrograms (each event's mean log level removed), divided by "
                        "their standard deviation, full-covariance mixture, {n_init} initialisations"
                        ).format(**EVAL_BASELINE),
           **heldout_summary(seeds, default, baseline, EVAL_TARGET),
           "target_judged": not missing,  # the target is met or not on all ten seeds, never on fewer
           "baseline_log_aligned": {m: spread([r[m] for r in aligned]) for m in ("nmi", "ari", "accuracy")},
           "per_seed_runs": {str(s): {"default": r, "baseline": b, "baseline_log_aligned": c}
                             for s, r, b, c in zip(seeds, default, baseline, aligned)}}
    write_json(a.out, doc)
    print(f"\n{'':>10} {'NMI':>22} {'ARI':>22} {'accuracy':>22}   (mean ± sd, worst)")
    for name in ("default", "baseline"):
        cells = [f"{doc[name][m]['mean']:.3f} ± {doc[name][m]['sd']:.3f}, {doc[name][m]['worst']:.3f}"
                 for m in ("nmi", "ari", "accuracy")]
        print(f"{name:>10} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22}")
    verdict = doc["target_met"] if not missing else "not judged (seeds missing)"
    print(f"seeds measured {seeds}, missing {missing}; target met: {verdict}")
    print(f"wrote {a.out}")
    return 0


def main(argv=None) -> int:
    from gpuclust import threads

    threads.configure_before_import()
    from gpuclust.data.synth import write_synthetic
    from gpuclust.environment import describe
    from gpuclust.pipeline.config import RunConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=None, help="override the training epochs (CI uses 1)")
    ap.add_argument("--only", default=None, help="comma-separated: configuration names, pca, ceiling, oracle")
    ap.add_argument("--out", default="benchmarks/results/quality.json")
    ap.add_argument("--merge", action="store_true",
                    help="update only the rows measured now in an existing --out, keeping the others")
    ap.add_argument("--eval", action="store_true",
                    help="the held-out evaluation: the default and PCA-16 on the ten fixed EVAL_SEEDS (1000-1009)")
    ap.add_argument("--keep", default=None, help="--eval: keep data and runs in this folder, reuse finished runs")
    ap.add_argument("--reuse", default=None, metavar="JSON",
                    help="--eval: the default's results of the seeds an earlier --eval JSON holds are taken from it "
                         "(copied into --keep, not rerun; the baselines are recomputed): continues on a new machine")
    ap.add_argument("--finished-only", action="store_true",
                    help="--eval: report the seeds whose runs finished in --keep, run nothing")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch and BLAS threads (as `gpuclust --threads`); default: the free cores")
    ap.add_argument("--readme", default=None, metavar="README",
                    help="--eval: only rewrite the held-out table between the quality-heldout markers of README "
                         "from --out")
    a = ap.parse_args(argv)
    threads.configure(a.threads)
    if a.eval and a.out == "benchmarks/results/quality.json":
        a.out = "benchmarks/results/quality-heldout.json"
    if a.eval and a.readme:
        from bench_select_k import replace_between  # benchmarks/ is on the path of a script run from it

        with open(a.out) as fh:
            replace_between(a.readme, HELDOUT_BEGIN, HELDOUT_END, heldout_table(json.load(fh)))
        return 0
    if a.eval:
        if a.finished_only and not a.keep:
            raise SystemExit("--finished-only needs --keep")
        return evaluate(a)
    seeds = [int(s) for s in a.seeds.split(",")]
    only = set(a.only.split(",")) if a.only else None
    n_init = RunConfig().n_init
    earlier = None
    if a.merge and os.path.exists(a.out):  # refused before measuring anything, not after
        with open(a.out) as fh:
            earlier = json.load(fh)
        if (earlier["rows"], earlier["seeds"], earlier["epochs_override"]) != (a.rows, seeds, a.epochs):
            raise SystemExit(f"{a.out} was measured with other rows, seeds or epochs: cannot merge")
    results: dict[str, list] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            data = os.path.join(tmp, f"synthetic-{a.rows}-seed{seed}.h5")
            write_synthetic(data, a.rows, seed=seed)
            for name, (overrides, _) in CONFIGS.items():
                if only and name not in only:
                    continue
                out = os.path.join(tmp, f"{name}-{seed}")
                r = run_config(data, seed, overrides, a.epochs, out)
                results.setdefault(name, []).append(r)
                print(f"seed {seed} {name:>20}: NMI {r['nmi']:.3f} ARI {r['ari']:.3f} acc {r['accuracy']:.3f} "
                      f"({r['seconds']:.0f} s)", flush=True)
                if name == "default" and (not only or "oracle" in only):
                    q = oracle_qda(out)
                    results.setdefault("oracle: one Gaussian per class on the default's latents", []).append(q)
            if not only or "pca" in only:
                for norm in ("l2", "log", "log-aligned"):
                    for dims in (9, 16):
                        r = pca_baseline(data, seed, norm, dims, n_init)
                        results.setdefault(f"PCA-{dims} of {norm} + mixture", []).append(r)
                        print(f"seed {seed} PCA-{dims} {norm}: NMI {r['nmi']:.3f} ARI {r['ari']:.3f} "
                              f"acc {r['accuracy']:.3f}", flush=True)
            if not only or "ceiling" in only:
                for norm in ("log", "log-aligned"):  # the best supervised score is the ceiling
                    r = supervised_ceiling(data, seed, norm, epochs=25 if a.epochs is None else a.epochs)
                    results.setdefault(f"ceiling: CNN trained with the labels, {norm} input", []).append(r)
                    print(f"seed {seed} supervised ({norm}): NMI {r['nmi']:.3f} ARI {r['ari']:.3f} "
                          f"acc {r['accuracy']:.3f}", flush=True)
    run_info = {"environment": describe("cpu"), "rows": a.rows, "seeds": seeds, "epochs_override": a.epochs,
                "load_average_before": load_before, "load_average_after": os.getloadavg()}
    doc = {**run_info, "scored_on": "all rows (the ceiling: its held-out 30 %)", "results": {}, "per_seed": {}}
    if earlier is not None:
        doc = earlier
        doc.setdefault("merged", []).append({**run_info, "rows_measured": sorted(results)})
    doc["per_seed"].update(results)
    doc["results"].update({name: summary(v) for name, v in results.items()})
    doc["descriptions"] = {name: d for name, (_, d) in CONFIGS.items()}
    table = doc["results"]
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, indent=2, default=float)
    print(f"\n{'':>52} {'NMI':>13} {'ARI':>13} {'accuracy':>13} {'seconds':>8}")
    for name, s in table.items():
        cells = [f"{s[k]['mean']:.3f} ± {s[k]['sd']:.3f}" if k in s else "-" for k in ("nmi", "ari", "accuracy")]
        secs = f"{s['seconds']['mean']:.0f}" if "seconds" in s else "-"
        print(f"{name:>52} {cells[0]:>13} {cells[1]:>13} {cells[2]:>13} {secs:>8}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
