"""Does the novelty flag catch a kind of event the run never saw? Hold each class out of training, then predict.

For every held-out class c and every seed s: the default `gpuclust run --seed s` is trained on the built-in
data without class c (`gpuclust synth -n ROWS --seed s`, rows of c removed), and `gpuclust predict` labels a
second file with all classes (`--seed s+100`). Reported: the share of c's events flagged "unknown"
(detections) against the share of the known classes' events flagged (false alarms), with the run's own
novelty score and threshold (its default since 2026-12-03: the combined score, "fisher (held-out)" below,
at the 1st percentile of the run's validation and test rows) and at 2 and 5 %.

Beside it the same rows are scored by scores that need no other training (the refinement pulls latents
towards the clusters, which can hide a new kind of event inside one of them), each calibrated on the
run's own training events at the same percentiles unless "(held-out)" says otherwise. "default" is the
event's log-likelihood under the final mixture, on the refined latent (the run's default score before
2026-12-03, `--novelty-score likelihood` since):

  reconstruction   minus the event's reconstruction error by the refined autoencoder
  pre-refinement   the log-likelihood of the latent of the encoder BEFORE refinement (checkpoints/best.pt)
                   under a mixture fitted to that encoder's training latents
  combined         the lower of the default's and the reconstruction's training-percentile ranks: an
                   event is unknown when it is atypical in either way
  fisher           Fisher's combination of the default's and the reconstruction's percentile ranks,
                   log(rank 1) + log(rank 2): an event moderately atypical in both ways counts too
  ... (held-out)   the default, reconstruction, combined and fisher scores calibrated instead on the
                   run's validation and test rows (30 %, never used for a gradient step), whose
                   reconstruction errors, unlike the training rows', are those of events the encoder
                   did not learn

--dump DIR keeps every run's component scores; --rescore DIR rebuilds the scores of an --out file from
them (the derived scores recomputed by this script), without training again.

    python benchmarks/bench_novelty.py [--rows 6000] [--predict-rows 3000] [--classes all] [--seeds 0] [--out ...]
    python benchmarks/bench_novelty.py --seeds 1000,1001,1002 --alternatives --out novelty-heldout.json
                               # 3 seeds of the evaluation range (bench_quality --eval), every score
    python benchmarks/bench_novelty.py --classes swell_low_frequency --set refine_epochs=3 --set refine_gamma=10 \
        --out novelty-r3.json      # the same with run options other than the defaults
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


COMPONENTS = ("default", "reconstruction", "pre-refinement", "default (held-out)", "reconstruction (held-out)")
SCORES = COMPONENTS + ("combined", "fisher", "combined (held-out)", "fisher (held-out)")


def _source(data: str, rows, norm: str):
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.training.sources import make_source

    with open_spectrograms(data) as sf:
        return make_source(sf, np.asarray(rows), norm, "cpu", 4 * 2**30)


def reconstruction_scores(checkpoint: str, source) -> np.ndarray:
    """Minus each event's mean squared reconstruction error (higher = more typical)."""
    import torch

    from gpuclust.training.checkpoint import load_model

    model, _ = load_model(checkpoint, "cpu")
    model.eval()
    out = np.empty(len(source))
    with torch.no_grad():
        for pos, x in source.batches(512, shuffle=False):
            recon, _ = model(x)
            out[pos] = -((recon.float() - x) ** 2).flatten(1).mean(dim=1).numpy()
    return out


def pre_refinement_scores(run_dir: str, train_source, later_source, k: int, seed: int, n_init: int):
    """(training, later) log-likelihoods under a mixture on the pre-refinement encoder's training latents."""
    from gpuclust.latents.encode import encode_source
    from gpuclust.training.checkpoint import load_model
    from gpuclust.training.mixture import fit_mixture

    model, _ = load_model(os.path.join(run_dir, "checkpoints", "best.pt"), "cpu")
    z_train, z_later = encode_source(model, train_source, "cpu"), encode_source(model, later_source, "cpu")
    g, mu, sd = fit_mixture(z_train, k, seed, n_init)
    return g.score_samples((z_train - mu) / sd), g.score_samples((z_later - mu) / sd)


def ranks(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of the reference (training) scores at or below each value: its training percentile / 100."""
    ref = np.sort(reference)
    return np.searchsorted(ref, values, side="right") / len(ref)


def alternative_scores(run_dir: str, seen: str, later: str, later_rows, norm: str, seed: int, n_init: int,
                       run_default: dict, later_default: np.ndarray) -> dict:
    """{score name: (reference scores, later scores)} for SCORES (module docstring).

    run_default: the run's labels.csv columns (every row of its data, with its log-likelihood)."""
    with np.load(os.path.join(run_dir, "splits.npz")) as z:
        train_rows, held_rows = z["train"], np.sort(np.concatenate([z["val"], z["test"]]))
    by_row = dict(zip(run_default["row"].tolist(), run_default["log_likelihood"]))
    train_default = np.array([by_row[r] for r in train_rows.tolist()])
    held_default = np.array([by_row[r] for r in held_rows.tolist()])
    train_src, later_src = _source(seen, train_rows, norm), _source(later, later_rows, norm)
    refined = os.path.join(run_dir, "checkpoints", "refined.pt")
    later_rec = reconstruction_scores(refined, later_src)
    rec = (reconstruction_scores(refined, train_src), later_rec)
    held_rec = (reconstruction_scores(refined, _source(seen, held_rows, norm)), later_rec)
    return with_derived({"default": (train_default, later_default), "reconstruction": rec,
                         "pre-refinement": pre_refinement_scores(run_dir, train_src, later_src, 8, seed, n_init),
                         "default (held-out)": (held_default, later_default), "reconstruction (held-out)": held_rec})


def with_derived(parts: dict) -> dict:
    """The component scores and the combinations of SCORES made from them."""
    out = {k: parts[k] for k in COMPONENTS}
    for cal in ("", " (held-out)"):
        a, b = out[f"default{cal}"], out[f"reconstruction{cal}"]
        out[f"combined{cal}"], out[f"fisher{cal}"] = combined(a, b), fisher(a, b)
    return out


def combined(a: tuple, b: tuple) -> tuple:
    """(training, later) of the lower of two scores' training-percentile ranks, each score a (training, later)."""
    return (np.minimum(ranks(a[0], a[0]), ranks(b[0], b[0])), np.minimum(ranks(a[0], a[1]), ranks(b[0], b[1])))


def fisher(a: tuple, b: tuple) -> tuple:
    """(reference, later) of log(rank a) + log(rank b), ranks (k + 1) / (n + 1) so that none is 0."""
    def r(ref, v):
        return (np.searchsorted(np.sort(ref), v, side="right") + 1) / (len(ref) + 1)

    return (np.log(r(a[0], a[0])) + np.log(r(b[0], b[0])), np.log(r(a[0], a[1])) + np.log(r(b[0], b[1])))


def score_cells(alt: dict, of_it: np.ndarray) -> dict:
    """{score: detected and false alarms at 1, 2, 5 %}, each score flagged below that percentile of its reference."""
    from gpuclust.clustering import novelty

    cells = {}
    for key, (ref, val) in alt.items():
        cell = {}
        for pct in (1.0, 2.0, 5.0):
            flagged = novelty.flags(val, float(np.percentile(ref, pct)))
            cell[f"detected_at_{pct:g}pct"] = float(flagged[of_it].mean())
            cell[f"false_alarms_at_{pct:g}pct"] = float(flagged[~of_it].mean())
        cells[key] = cell
    return cells


def rescore(dump: str, out: str) -> None:
    """The --out file's per-run scores and summary made again from the --dump files of its runs."""
    import json

    from gpuclust.atomic import write_json

    with open(out) as fh:
        doc = json.load(fh)
    for row in doc["results"]:
        with np.load(os.path.join(dump, f"{row['held_out']}-{row['seed']}.npz")) as z:
            parts = {k: (z[f"{k}|reference"], z[f"{k}|later"]) for k in COMPONENTS}
            row["scores"] = score_cells(with_derived(parts), z["held_out"])
    doc["summary"] = summary(doc["results"])
    write_json(out, doc)


def run_overrides(items: list[str]) -> dict:
    """--set OPTION=VALUE items as run options (typed and checked by the run configuration)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs OPTION=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def main(argv=None) -> int:
    from gpuclust.atomic import write_json
    from gpuclust.backend import resolve_backend
    from gpuclust.data.synth import CLASS_NAMES
    from gpuclust.environment import describe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--predict-rows", type=int, default=3000)
    ap.add_argument("--classes", default="all", help="comma-separated class names, or all")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (data, prediction data at +100, run)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a run option other than its default (the config-file name, e.g. refine_epochs=3); repeatable")
    ap.add_argument("--alternatives", action="store_true",
                    help="also the reconstruction, pre-refinement and combined scores (module docstring)")
    ap.add_argument("--out", default="benchmarks/results/novelty.json")
    ap.add_argument("--rescore", default=None, metavar="DIR",
                    help="rebuild --out's scores from the --dump DIR of its runs (no training) and stop")
    ap.add_argument("--dump", default=None, metavar="DIR",
                    help="with --alternatives: every score's reference and later values, and which later events "
                         "are of the held-out class, as DIR/CLASS-SEED.npz (to try other combinations offline)")
    a = ap.parse_args(argv)
    if a.rescore:
        rescore(a.rescore, a.out)
        print(f"wrote {a.out}")
        return 0
    overrides = run_overrides(a.set)
    held_out = CLASS_NAMES if a.classes == "all" else a.classes.split(",")
    if unknown := [c for c in held_out if c not in CLASS_NAMES]:
        ap.error(f"--classes: no class {', '.join(unknown)} (the classes: {', '.join(CLASS_NAMES)})")
    try:
        seeds = [int(x) for x in a.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds needs comma-separated integers, got {a.seeds!r}")
    backend = resolve_backend("cpu")
    rows = []
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)

    environment = describe("cpu")

    def keep(row: dict) -> None:  # written after every run: an hour's measurement survives a late failure
        rows.append(row)
        doc = {"environment": environment, "rows": a.rows, "predict_rows": a.predict_rows,
               "run_options": overrides, "seeds": seeds, "protocol": __doc__.strip().splitlines()[0],
               "complete": len(rows) == len(seeds) * len(held_out), "results": rows, "summary": summary(rows)}
        write_json(a.out, doc)  # whole or not at all, NaN as null

    for seed in seeds:
        held_out_runs(a, seed, held_out, overrides, backend, keep)
    print(f"wrote {a.out}")
    return 0


def summary(rows: list[dict]) -> dict:
    """{class: {score: {detected/false alarms at 1 %: mean, min, max over seeds}}}; "default" is the run's own flag."""
    out = {}
    for name in dict.fromkeys(r["held_out"] for r in rows):
        mine = [r for r in rows if r["held_out"] == name]
        cells = {"default": mine}  # the run's own flag; scores["default"] is it recalibrated from labels.csv
        for key in mine[0].get("scores", {}):
            cells.setdefault(key, [r["scores"][key] for r in mine])
        out[name] = {key: {f"{what}_at_{pct}pct": {"mean": float(np.mean(v)), "min": float(np.min(v)),
                                                  "max": float(np.max(v))}
                           for what in ("detected", "false_alarms") for pct in ("1", "5")
                           for v in [[c[f"{what}_at_{pct}pct"] for c in cs]]}
                     for key, cs in cells.items()}
    return out


def held_out_runs(a, seed: int, held_out: list[str], overrides: dict, backend, keep) -> None:
    """keep(row) for each held-out class, each row from its own run at this seed (module docstring)."""
    import csv

    from gpuclust.clustering import novelty
    from gpuclust.clustering.api import novelty_column, read_labels
    from gpuclust.data.ris_writer import write_subset
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.data.synth import CLASS_NAMES, write_synthetic
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.predict import predict
    from gpuclust.pipeline.run import run
    from gpuclust.pipeline.saved_run import load_run_model

    with tempfile.TemporaryDirectory() as tmp:
        full, later = os.path.join(tmp, "train-all.h5"), os.path.join(tmp, "later.h5")
        write_synthetic(full, a.rows, seed=seed)
        write_synthetic(later, a.predict_rows, seed=seed + 100)
        with open_spectrograms(full) as sf:
            labels = sf.labels()
        for name in held_out:
            c = CLASS_NAMES.index(name)
            seen = os.path.join(tmp, f"without-{name}.h5")
            write_subset(full, seen, np.flatnonzero(labels != c))
            opts = {"quiet": True, "device": "cpu", "seed": seed, **overrides}
            if a.epochs:
                opts["epochs"] = a.epochs
            t = time.perf_counter()
            run(make_config(None, data=seen, out=os.path.join(tmp, f"run-{name}"), **opts), backend,
                log=lambda *x: None, explore=False, until="cluster")  # the flags are measured, not the map or figures
            out = os.path.join(tmp, f"predict-{name}")
            predict(os.path.join(tmp, f"run-{name}"), [later], out, backend, log=lambda *x: None, explore=False)
            model = load_run_model(os.path.join(tmp, f"run-{name}"))
            with open(os.path.join(out, "labels.csv")) as fh:
                pred = list(csv.DictReader(fh))
            predicted = read_labels(os.path.join(out, "labels.csv"))
            scores = novelty_column(predicted)  # what the run's own flag compares with its threshold
            truth = np.array([CLASS_NAMES.index(r["true_class"]) for r in pred])
            row = {"held_out": name, "seed": seed, "events_of_it": int((truth == c).sum()),
                   "seconds": time.perf_counter() - t}
            for pct in (1.0, 2.0, 5.0):
                flagged = novelty.flags(scores, model.threshold(pct))
                row[f"detected_at_{pct:g}pct"] = float(flagged[truth == c].mean())
                row[f"false_alarms_at_{pct:g}pct"] = float(flagged[truth != c].mean())
            if a.alternatives:
                cfg = make_config(None, data=seen, **opts)
                alt = alternative_scores(os.path.join(tmp, f"run-{name}"), seen, later,
                                         np.array([int(r["row"]) for r in pred]), cfg.norm, cfg.seed, cfg.n_init,
                                         read_labels(os.path.join(tmp, f"run-{name}", "labels.csv")),
                                         predicted["log_likelihood"])
                if a.dump:
                    os.makedirs(a.dump, exist_ok=True)
                    np.savez(os.path.join(a.dump, f"{name}-{seed}.npz"), held_out=truth == c,
                             **{f"{key}|{part}": v for key, pair in alt.items()
                                for part, v in zip(("reference", "later"), pair)})
                row["scores"] = score_cells(alt, truth == c)
                for key, cell in row["scores"].items():
                    print(f"{'':>20}  {key}: {100 * cell['detected_at_1pct']:5.1f} % vs "
                          f"{100 * cell['false_alarms_at_1pct']:4.1f} % (1 %)", flush=True)
            keep(row)
            print(f"{name:>20} (seed {seed}): flagged {100 * row['detected_at_1pct']:5.1f} % of its events, "
                  f"{100 * row['false_alarms_at_1pct']:4.1f} % of the known classes' (threshold 1 %); at 5 %: "
                  f"{100 * row['detected_at_5pct']:5.1f} % vs {100 * row['false_alarms_at_5pct']:4.1f} %", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
