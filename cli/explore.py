"""`gpuclust explore` (the run in a browser) and `gpuclust name` (cluster names from the page, into the model)."""
from __future__ import annotations

import click

from .boundary import friendly


@click.command(short_help="Every event of a run on one interactive map, in a browser.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="The page to write [RUN_DIR/explore.html].")
@click.option("--run", "model_run", type=click.Path(file_okay=False), default=None,
              help="For a predict output directory: the run whose model labelled it [the directory above it, "
                   "where predict writes by default].")
@click.option("--map", "method", type=click.Choice(["tsne", "umap"]), default=None,
              help="The map: the run's t-SNE (its sample, every other event placed on it) or UMAP, made once "
                   "and kept in the run's model so that predict places new events on it [umap if the run has "
                   "one, else tsne].")
@click.option("--remap", is_flag=True,
              help="Place the events again instead of reading map-<map>.npz; with --map umap on a run, fit a new "
                   "UMAP map.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where UMAP runs (cuML on a GPU, umap-learn on the CPU).")
@click.option("--thumbnails-mb", type=click.FloatRange(0), default=15.0, show_default=True,
              help="Size budget of the thumbnails embedded in the page, shared between the clusters.")
@click.option("--serve", is_flag=True,
              help="Then serve the page from 127.0.0.1, reading any event's spectrogram from the data file.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port for --serve (0: any free one).")
@friendly
def explore(run_dir, out, model_run, method, remap, device, thumbnails_mb, serve, port):
    """Write explore.html: every event of the run (or of a predict) on one map, coloured by cluster, unknowns
    marked, its spectrogram and waveform on hover; filters, lasso selection, counts over time and per
    station, CSV export and cluster naming. It opens from disk with no network; --serve adds every
    event's spectrogram, read from the data file on demand."""
    import os

    from gpuclust.backend import resolve_backend
    from gpuclust.explore import EXPLORE_FILE, write_explore

    if out is not None:
        from gpuclust.atomic import ensure_writable_file

        ensure_writable_file(out, "-o")  # before the map is computed, and naming the path given
    dev = resolve_backend(device).device if method == "umap" else "cpu"
    page = write_explore(run_dir, out, run=model_run, method=method, device=dev, remap=remap,
                         thumb_budget_mb=thumbnails_mb, log=click.echo)
    click.echo(f"wrote {page} ({os.path.getsize(page) / 2**20:.1f} MB): open it in a browser")
    if not serve:
        return
    from gpuclust.explore.serve import ExploreServer

    inside = os.path.dirname(os.path.abspath(page)) == os.path.abspath(run_dir)
    srv = ExploreServer(run_dir, port, run=model_run, page=os.path.basename(page) if inside else EXPLORE_FILE)
    if not inside:
        click.echo(f"note: {page} is outside {run_dir}; the server shows {EXPLORE_FILE} of the run directory")
    click.echo(f"serving {run_dir} read-only at {srv.url} (this machine only); Ctrl-C stops")
    import signal

    def _interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    click.echo("stopped")


@click.command(short_help="Write cluster names (saved from the explore page) into a run's model.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("names", type=click.Path(dir_okay=False))
@friendly
def name(run_dir, names):
    """Write the cluster names of NAMES (the JSON the explore page saves) into RUN_DIR's model and its
    labels.csv (cluster_name): a later predict writes them in its labels.csv and QuakeML. Clusters with
    the same name are merged there."""
    from gpuclust.explore.names import write_names

    got = write_names(run_dir, names)
    named = {j: n for j, n in enumerate(got) if n}
    click.echo(f"named {len(named)} of {len(got)} clusters in {run_dir}/model/model.json and labels.csv: "
               + (", ".join(f"{j} {n}" for j, n in named.items()) or "none"))
