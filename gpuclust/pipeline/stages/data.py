"""Stage `data`: the usable rows of the file and the seeded split (splits.npz).

With train_rows, the split is drawn from a seeded sample of that many usable rows, and the rows
outside it are kept as `rest`: the encoder is trained and refined on the sample, every row is encoded.
It also hands on what the cluster and figures stages need of the file besides its rows (`data_file`:
the description saved with the run's model, the class names), so they need not open it for that.
"""
from __future__ import annotations

import os

import numpy as np

from ...atomic import atomic_path
from ...data.loader import describe_bad, usable_rows
from ...data.splits import make_splits
from .base import Stage
from .common import check_k, describe_data_file, open_data


def run(ctx) -> dict:
    cfg, run_dir = ctx.cfg, ctx.run
    with open_data(cfg) as sf:
        rows, n_bad = usable_rows(sf, cfg.bad_rows, cfg.norm)
        sample = training_sample(rows, cfg.train_rows, cfg.seed)
        sp = make_splits(sample, cfg.split, cfg.seed)
        parts = {**sp.as_dict(), "rest": np.setdiff1d(rows, sample)}
        check_k(cfg, len(sp.train), len(rows), sf.n_rows)
        if n_bad:
            ctx.log(f"skipped {describe_bad(sf.row_health())}")
        with atomic_path(run_dir.file("splits.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **parts)
        ctx.put("splits", {k: np.asarray(v) for k, v in parts.items()})
        ctx.put("data_file", describe_data_file(cfg, sf))  # the later stages need not open the file for it
        return {"file": os.path.abspath(cfg.data), "layout": sf.layout, "dataset": sf.dataset,
                "rows": sf.n_rows, "bad_rows": n_bad, "image": list(sf.shape),
                "train": len(sp.train), "validation": len(sp.val), "test": len(sp.test),
                "outside_sample": len(parts["rest"]),
                "ground_truth": sf.label_dataset is not None, "class_names": sf.class_names,
                "catalogue": sf.catalogue_dataset is not None, "traces": sf.trace_dataset is not None}


STAGE = Stage("data", run, produces=("splits.npz",),
              keys=("data", "group", "dataset", "labels_dataset", "bad_rows", "split", "seed", "synth_rows", "norm",
                    "train_rows"))


def training_sample(rows: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """A seeded sample of n of the usable rows, sorted (all of them when n is None or not smaller)."""
    rows = np.asarray(rows, dtype=np.int64)
    if n is None or n >= len(rows):
        return rows
    return np.sort(np.random.default_rng([seed, 19]).choice(rows, n, replace=False))
