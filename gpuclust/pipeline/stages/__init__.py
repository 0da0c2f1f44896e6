"""The stages of `gpuclust run`, in order, each a `Stage` record (base.py) in a module of its own.

To add one (say, a page written after the map), write a module with `run(ctx) -> info`, which takes
earlier results with ctx.get(...) and hands its own on with ctx.put(...), and a
`STAGE = Stage(name, run, produces=(...files...), keys=(...options...), needs=(...results...))`;
then place it in STAGES. If a later stage needs one of its results after a resume skipped it, add
a loader (the result read back from its files) to LOADERS.
"""
from . import cluster, data, dec, embed, figures, refine, train, tsne
from .base import Context, Stage
from .common import default_data_path, ensure_default_data, load_data_file, load_splits

STAGES = (data.STAGE, train.STAGE, refine.STAGE, dec.STAGE, embed.STAGE, cluster.STAGE, tsne.STAGE, figures.STAGE)

# How each result is read back from the files, when the stage that makes it was skipped by --resume.
LOADERS = {"splits": load_splits, "data_file": load_data_file, "latents": embed.load, "labels": cluster.load_labels,
           "centres": cluster.load_centres, "catalogue": cluster.load_catalogue, "map": tsne.load}

__all__ = ["STAGES", "LOADERS", "Context", "Stage", "default_data_path", "ensure_default_data"]
