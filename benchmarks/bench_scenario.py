"""The deployment scenario (`gpuclust synth --scenario deployment`) through the default pipeline.

1. The whole timeline, K not given: `select-k` on the run's latents (BIC of the mixture, gap statistic of
   K-means) and the default run with K = 8 and with K = the number of true classes; NMI / ARI / accuracy.
2. Monitoring: a run trained on the first half of the timeline labels the second half (`predict`); the share
   of each class flagged unknown: the glitches (spike, step, hum), the calving class that only exists in the
   second half, and the known kinds of event (false alarms).
3. The counts-over-time figure of the second half with the temperature driver drawn beside it, and the
   correlation of the daily icequake count with temperature, of the daily swell count with the tidal range.

    python benchmarks/bench_scenario.py [--rows 6000] [--out-dir benchmarks/results/scenario]
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import tempfile
import time

import numpy as np


def main(argv=None) -> int:
    from gpuclust.backend import resolve_backend
    from gpuclust.clustering.select_k import sweep
    from gpuclust.data import scenario as sc
    from gpuclust.data.ris_writer import write_subset
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.environment import describe
    from gpuclust.latents import load_latents
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.predict import predict
    from gpuclust.pipeline.run import run

    from bench_novelty import run_overrides  # benchmarks/ is on the path of a script run from it

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out-dir", default="benchmarks/results/scenario")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a run option other than its default (the config-file name, e.g. refine_epochs=3); repeatable")
    a = ap.parse_args(argv)
    os.makedirs(a.out_dir, exist_ok=True)
    backend = resolve_backend("cpu")
    quiet = {"quiet": True, "device": "cpu", "seed": a.seed, **({"epochs": a.epochs} if a.epochs else {}),
             **run_overrides(a.set)}
    res = {"environment": describe("cpu"), "rows": a.rows, "seed": a.seed, "run_options": run_overrides(a.set)}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "deployment.h5")
        info = sc.write_deployment(data, a.rows, seed=a.seed)
        with open_spectrograms(data) as sf:
            labels, cat = sf.labels(), sf.catalogue()
        times = np.array([dt.datetime.fromisoformat(c["dt_on"]) for c in cat])
        n_classes = len(np.unique(labels))
        # 1. the whole timeline
        runs = {}
        for k in (8, n_classes):
            out = os.path.join(tmp, f"run-k{k}")
            run(make_config(None, data=data, out=out, k=k, **quiet), backend, log=lambda *x: None, explore=False,
                until="cluster")  # scores and latents; the run on the first half below draws the figures
            with open(os.path.join(out, "metrics.json")) as fh:
                m = json.load(fh)
            runs[f"K={k}"] = {key: m[key] for key in ("nmi", "ari", "accuracy")}
            print(f"whole timeline, K = {k}: NMI {m['nmi']:.3f} ARI {m['ari']:.3f} accuracy {m['accuracy']:.3f}",
                  flush=True)
        res["whole_timeline"] = runs
        lat = load_latents(os.path.join(tmp, "run-k8", "latents.h5"))
        z = lat.z / lat.z.std()
        chosen = sweep(z, range(4, 17), seed=a.seed)["suggestion"]
        res["select_k"] = {"true_classes": int(n_classes), **{m: s["k"] for m, s in chosen.items()},
                           "why": {m: s["why"] for m, s in chosen.items()}}
        print(f"select-k on the latents: {res['select_k']} (true classes: {n_classes})", flush=True)
        # 2. train on the first half, predict the second
        mid = sc.START + dt.timedelta(days=info["days"] / 2)
        first, second = np.flatnonzero(times < mid), np.flatnonzero(times >= mid)
        write_subset(data, os.path.join(tmp, "first.h5"), first)
        write_subset(data, os.path.join(tmp, "second.h5"), second)
        run(make_config(None, data=os.path.join(tmp, "first.h5"), out=os.path.join(tmp, "run-first"), **quiet),
            backend, log=lambda *x: None, explore=False)
        out = os.path.join(tmp, "predict-second")
        predict(os.path.join(tmp, "run-first"), [os.path.join(tmp, "second.h5")], out, backend,
                overlay=f"{data}.temperature.csv", log=lambda *x: None, explore=False)
        with open(os.path.join(out, "metrics.json")) as fh:
            m = json.load(fh)
        res["first_half_predicts_second"] = {"unknown_by_class": m["unknown_by_class"],
                                             "unknown_fraction": m["novelty"]["unknown_fraction"],
                                             "nmi_known": m.get("known_only", {}).get("nmi")}
        for name, v in sorted(m["unknown_by_class"].items(), key=lambda kv: -kv[1]["flagged_unknown"]):
            tag = " (new in the second half)" if name == sc.LATE_CLASS else (" (glitch)" if name in sc.GLITCHES else "")
            print(f"  {name:>20}{tag}: {100 * v['flagged_unknown']:5.1f} % of {v['events']} flagged unknown",
                  flush=True)
        # where the events of each class went: its main cluster, and how much of that cluster it makes up
        with open(os.path.join(out, "labels.csv")) as fh:
            pred = list(csv.DictReader(fh))
        known = [r for r in pred if r["unknown"] == "0"]
        cl = np.array([int(r["cluster"]) for r in known])
        truth = np.array([r["true_class"] for r in known])
        where = {}
        for name in sorted(set(truth)):
            j = int(np.bincount(cl[truth == name]).argmax())
            where[name] = {"main_cluster": j, "share_of_class": float(np.mean(cl[truth == name] == j)),
                           "share_of_cluster": float(np.mean(truth[cl == j] == name))}
        res["first_half_predicts_second"]["where_classes_went"] = where
        for name in sc.GLITCHES:
            if name in where:
                w = where[name]
                print(f"  {name}: {100 * w['share_of_class']:.0f} % of its labelled events in cluster "
                      f"{w['main_cluster']}, which it makes {100 * w['share_of_cluster']:.0f} % of", flush=True)
        for name in ("temporal.png", "map.png"):
            if os.path.exists(os.path.join(out, name)):
                shutil.copy(os.path.join(out, name), os.path.join(a.out_dir, f"second-half-{name}"))
        # 3. the drivers in the counts
        day = np.array([(t - sc.START).days for t in times])
        daily = {name: np.bincount(day[labels == sc.CLASSES.index(name)], minlength=info["days"])
                 for name in ("icequake", "swell_low_frequency")}
        temp = sc.temperature(sc.hours(info["days"]), a.seed).reshape(info["days"], 24).mean(axis=1)
        amp = sc.tidal_amplitude(sc.hours(info["days"])).reshape(info["days"], 24).mean(axis=1)
        res["drivers_in_true_counts"] = {
            "icequake_vs_temperature_r": float(np.corrcoef(daily["icequake"], temp)[0, 1]),
            "swell_vs_tidal_range_r": float(np.corrcoef(daily["swell_low_frequency"], amp)[0, 1])}
        # the cluster holding most events of a class, and how its daily count follows that class's driver
        res["drivers_in_found_clusters"] = {}
        for k in (8, n_classes):
            with open(os.path.join(tmp, f"run-k{k}", "labels.csv")) as fh:
                rows = list(csv.DictReader(fh))
            clusters = np.array([int(r["cluster"]) for r in rows])
            row_day = day[[int(r["row"]) for r in rows]]
            row_truth = labels[[int(r["row"]) for r in rows]]
            found = {}
            for name, driver, series in (("icequake", "temperature", temp), ("swell_low_frequency", "tidal_range", amp)):
                j = int(np.bincount(clusters[row_truth == sc.CLASSES.index(name)]).argmax())
                count = np.bincount(row_day[clusters == j], minlength=info["days"])
                found[f"{name}_cluster"] = j
                found[f"{name}_cluster_vs_{driver}_r"] = float(np.corrcoef(count, series)[0, 1])
            res["drivers_in_found_clusters"][f"K={k}"] = found
        print(f"drivers: {res['drivers_in_true_counts']}; found: {res['drivers_in_found_clusters']}", flush=True)
    res["seconds"] = time.perf_counter() - t0
    with open(os.path.join(a.out_dir, "scenario.json"), "w") as fh:
        json.dump(res, fh, indent=2, default=float)
    print(f"wrote {a.out_dir}/scenario.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
