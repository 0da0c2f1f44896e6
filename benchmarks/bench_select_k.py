"""Choosing K: criterion x dataset x seed x size -> the chosen K against the true number of classes.

Latents: those the K sweep of `run --k auto` sees (the sweep runs before the mixture refinement): an
encoder trained on reconstruction only (`gpuclust train --objective reconstruction`, then `embed`), one
per dataset and seed, made by the caller (see --latents); the smaller size is a seeded subsample of them.

Criteria, each over K = --k-min..--k-max:
  bic         lowest BIC of the full-covariance mixture (today's `--k auto`)
  gap         Tibshirani's gap rule on K-means (today's select-k for K-means)
  silhouette  highest sampled silhouette of K-means
  entropy     Baudry et al.'s entropy merging of the BIC-chosen mixture, at the elbow of the entropy curve
  stability   Lange et al.'s normalised instability of K-means over half-splits (lowest)
  stability_ari  the mean ARI between the half-split fits (highest)

    python benchmarks/bench_select_k.py --latents 'CACHE/{dataset}-{seed}/latents.h5' [--sizes 3000 6000]
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

TRUE_K = {"benchmark": 8, "deployment": 12}
CRITERIA = ("bic", "gap", "silhouette", "entropy", "stability", "stability_ari")


def choose(x, ks, seed: int, n_refs: int = 3, splits: int = 2) -> dict:
    """Every criterion's curve and choice on latents x (host array, already scaled)."""
    from gpuclust.clustering.select_k import suggest_all, sweep

    t0 = time.perf_counter()
    res = sweep(x, ks, ("gmm", "kmeans"), n_refs=n_refs, seed=seed, stability=True, entropy=True,
                stability_splits=splits)
    return {"rows": res["rows"], "entropy_curve": res["entropy"]["entropy"],
            "chosen": suggest_all(res["rows"], res["entropy"]), "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    from gpuclust.atomic import write_json
    from gpuclust.environment import describe
    from gpuclust.latents import load_latents

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latents", required=True, help="path pattern with {dataset} and {seed}")
    ap.add_argument("--latents-note", default="", help="how the latents were made (written to the results)")
    ap.add_argument("--n-refs", type=int, default=3, help="gap statistic's reference sets")
    ap.add_argument("--splits", type=int, default=2, help="half-splits per K for the stability criterion")
    ap.add_argument("--datasets", nargs="+", default=list(TRUE_K))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sizes", type=int, nargs="+", default=[3000, 6000])
    ap.add_argument("--k-min", type=int, default=4)
    ap.add_argument("--k-max", type=int, default=16)
    ap.add_argument("--cache", default=None, help="directory for one JSON per case (resumable)")
    ap.add_argument("--out", default="benchmarks/results/select_k.json")
    ap.add_argument("--readme", default=None, help="rewrite the table between the select_k markers of this file")
    a = ap.parse_args(argv)
    ks = range(a.k_min, a.k_max + 1)
    cases = []
    for size in a.sizes:  # the smaller size first: its cases are cached before the slower ones start
        for ds in a.datasets:
            for seed in a.seeds:
                lat = load_latents(a.latents.format(dataset=ds, seed=seed))
                cache = a.cache and os.path.join(a.cache, f"{ds}-{seed}-{size}.json")
                if cache and os.path.exists(cache):
                    with open(cache) as fh:
                        cases.append(json.load(fh))
                    continue
                rng = np.random.default_rng(seed)
                idx = np.sort(rng.choice(len(lat.z), min(size, len(lat.z)), replace=False))
                z = np.asarray(lat.z[idx], np.float64)
                z = z / z.std()
                load = os.getloadavg()[0]
                case = {"dataset": ds, "seed": seed, "size": int(len(z)), "true_k": TRUE_K[ds],
                        "load_before": load, **choose(z, ks, seed, a.n_refs, a.splits), "load_after": os.getloadavg()[0]}
                print(ds, seed, len(z), {c: v["k"] for c, v in case["chosen"].items()},
                      f"{case['seconds']:.0f} s", flush=True)
                if cache:
                    os.makedirs(a.cache, exist_ok=True)
                    write_json(cache, case)
                cases.append(case)
    env = {**describe("cpu"), "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
           "load_average": os.getloadavg()}
    write_json(a.out, {"environment": env, "k_values": list(ks), "criteria": list(CRITERIA),
                       "settings": {"gap_reference_sets": a.n_refs, "stability_half_splits": a.splits},
                       "latents": a.latents_note,
                       "summary": summary(cases), "cases": cases})
    print(json.dumps(summary(cases), indent=1))
    if a.readme:
        write_readme_table(a.readme, cases)
    return 0


README_BEGIN, README_END = "<!-- select_k table: begin -->", "<!-- select_k table: end -->"


def readme_table(cases) -> str:
    """Markdown: per criterion and dataset, the chosen K per size (seeds 0, 1, 2) and the hits."""
    datasets = sorted({c["dataset"] for c in cases})
    sizes = sorted({c["size"] for c in cases})
    head = "| criterion | " + " | ".join(f"{d} (true K = {TRUE_K[d]}): " + ", ".join(f"n={s:,}" for s in sizes)
                                          + " | hits" for d in datasets) + " |"
    lines = [head, "|---|" + "---|---|" * len(datasets)]
    for crit in CRITERIA:
        cells = []
        for d in datasets:
            by = {s: [c["chosen"][crit]["k"] for c in sorted(cases, key=lambda c: c["seed"])
                      if c["dataset"] == d and c["size"] == s and crit in c["chosen"]] for s in sizes}
            got = [k for ks in by.values() for k in ks]
            cells += [" / ".join(" ".join(str(k) for k in by[s]) for s in sizes),
                      f"{sum(k == TRUE_K[d] for k in got)} of {len(got)}"]
        lines.append(f"| {crit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme_table(path, cases) -> None:
    replace_between(path, README_BEGIN, README_END, readme_table(cases))


def replace_between(path, begin: str, end: str, body: str) -> None:
    """Rewrite what lies between the markers begin and end of a file (a README's generated table)."""
    from gpuclust.atomic import write_text

    with open(path) as fh:
        text = fh.read()
    if begin not in text or end not in text.split(begin, 1)[1]:
        raise SystemExit(f"{path}: no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_text(path, head + begin + "\n" + body + "\n" + end + tail)


def summary(cases) -> dict:
    """Per criterion and dataset: how many cases chose the true K, and the chosen Ks."""
    out = {}
    for c in CRITERIA:
        for ds in sorted({x["dataset"] for x in cases}):
            mine = [x for x in cases if x["dataset"] == ds and c in x["chosen"]]
            out.setdefault(c, {})[ds] = {"hits": sum(x["chosen"][c]["k"] == x["true_k"] for x in mine),
                                         "cases": len(mine),
                                         "chosen": {f"seed{x['seed']}-n{x['size']}": x["chosen"][c]["k"]
                                                    for x in mine}}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
