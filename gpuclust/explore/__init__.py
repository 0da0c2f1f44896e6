"""Explore a run in a browser: every event on one interactive map, its spectrogram and waveform a hover away.

    write_explore(run_dir)      explore.html in the run (or predict) directory: one self-contained page
    serve(run_dir, port)        the same page from a read-only server on 127.0.0.1 that reads any row's
                                spectrogram and waveform from the data file on demand (serve.py)
    write_names(run_dir, file)  cluster names saved from the page, into the run's model (names.py)

Everything is read from the run's output files (rundata.py), so the page does not depend on how
the pipeline's stages are arranged.
"""
from __future__ import annotations

import os

from ..atomic import write_text
from ..errors import GpuclustError
from .mapping import event_map
from .page import build_page
from .rundata import open_source, read_events
from .thumbs import DEFAULT_BUDGET_MB, embedded

EXPLORE_FILE = "explore.html"


def write_explore(path: str, out: str | None = None, *, run: str | None = None, latents=None, method: str | None = None,
                  device: str = "cpu", remap: bool = False, thumb_budget_mb: float = DEFAULT_BUDGET_MB,
                  log=print) -> str:
    """Write explore.html for a run directory (or a predict output directory with `run`, the run that
    labelled it, and `latents`, (rows, z) in memory); returns its path.

    method: "tsne" (the run's t-SNE sample, the other events placed on it) or "umap" [the run's UMAP map
    if it has one, else t-SNE]. The events' map positions are kept beside labels.csv (map-<method>.npz).
    """
    src = open_source(path, run)
    events = read_events(src.path)
    if len(events) == 0:
        raise GpuclustError(f"{src.path}/labels.csv: no events to explore")
    xy, method = event_map(src, events, method, latents, device, remap, log)
    note = ""
    try:
        emb = embedded(src, events, thumb_budget_mb)
    except GpuclustError as e:  # the map is still worth seeing without the images
        emb, note = None, str(e)
        log(f"explore: no thumbnails: {e}")
    out = out or os.path.join(src.path, EXPLORE_FILE)
    write_text(out, build_page(src, events, xy, method, emb, note))
    return out


def write_explore_or_warn(path: str, log=print, **options) -> str | None:
    """write_explore for the end of `run` and `predict`: a page that cannot be written (its data file gone,
    say) is reported in one line and does not fail the labelling that finished before it."""
    try:
        out = write_explore(path, log=log, **options)
    except GpuclustError as e:
        log(f"explore.html not written: {e}")
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # disk full, a map library's error: the labels are written, say it in one line
        log(f"explore.html not written ({type(e).__name__}: {e}); `gpuclust explore` can make it later")
        return None
    log(f"explore: {out}")
    return out


__all__ = ["EXPLORE_FILE", "write_explore", "write_explore_or_warn"]
