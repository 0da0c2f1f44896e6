"""Stage `data`: the usable rows of the file and the seeded split (splits.npz)."""
from __future__ import annotations

import os

import numpy as np

from ...atomic import atomic_path
from ...data.loader import describe_bad, usable_rows
from ...data.splits import make_splits
from .base import Stage
from .common import check_k, open_data


def run(ctx) -> dict:
    cfg, run_dir = ctx.cfg, ctx.run
    with open_data(cfg) as sf:
        rows, n_bad = usable_rows(sf, cfg.bad_rows, cfg.norm)
        sp = make_splits(rows, cfg.split, cfg.seed)
        check_k(cfg, len(sp.train), len(rows), sf.n_rows)
        if n_bad:
            ctx.log(f"skipped {describe_bad(sf.row_health())}")
        with atomic_path(run_dir.file("splits.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **sp.as_dict())
        ctx.put("splits", {k: np.asarray(v) for k, v in sp.as_dict().items()})
        return {"file": os.path.abspath(cfg.data), "layout": sf.layout, "dataset": sf.dataset,
                "rows": sf.n_rows, "bad_rows": n_bad, "image": list(sf.shape),
                "train": len(sp.train), "validation": len(sp.val), "test": len(sp.test),
                "ground_truth": sf.label_dataset is not None, "class_names": sf.class_names,
                "catalogue": sf.catalogue_dataset is not None, "traces": sf.trace_dataset is not None}


STAGE = Stage("data", run, produces=("splits.npz",),
              keys=("data", "group", "dataset", "labels_dataset", "bad_rows", "split", "seed", "synth_rows", "norm"))
