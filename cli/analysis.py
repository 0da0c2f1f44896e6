"""Commands on latents and runs: clustering, choice of K, t-SNE, report, benchmark."""
from __future__ import annotations

import os

import click

from .boundary import friendly
from .options import device_option, existing_file


@click.command(short_help="Cluster latents: labels.csv, metrics.json.")
@click.argument("latents", type=existing_file)
@click.option("--method", type=click.Choice(["gmm", "kmeans"]), default="gmm", show_default=True,
              help="Full-covariance Gaussian mixture or K-means.")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=8, show_default=True, help="Number of clusters.")
@click.option("--covariance-type", type=click.Choice(["full", "tied", "diag", "spherical"]), default="full",
              show_default=True, help="Mixture covariance type.")
@click.option("--n-init", type=click.IntRange(1), default=1, show_default=True, help="Restarts; the best is kept.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), default="cluster-out", show_default=True,
              help="Directory for labels.csv and metrics.json.")
@click.option("--dask", help="Partition the latents on Dask: local, local-cuda, tcp://HOST:PORT or a scheduler file.")
@click.option("--dask-workers", type=click.IntRange(1), help="Worker processes for --dask local [one per core].")
@device_option
@friendly
def cluster(latents, method, k, covariance_type, n_init, seed, out, dask, dask_workers, device):
    """Cluster a latent file (HDF5 from `embed`, or .npy): labels.csv and metrics.json."""
    from gpuclust.atomic import output_dir
    from gpuclust.clustering.api import cluster as run_cluster
    from gpuclust.clustering.api import write_outputs
    from gpuclust.distributed.client import open_backend
    from gpuclust.latents import load_latents

    from gpuclust.threads import fixed_threads

    # a bad file is one line before any Dask cluster starts; with --dask only its header is read here
    lat = load_latents(latents, n_workers=1 if dask else None)
    # the fixed thread count of runs: BLAS sums, and so the fit, differ with the count
    with output_dir(out), open_backend(device, dask, dask_workers) as backend, fixed_threads():
        if backend.client is not None:  # the workers read their own rows: the latents never pass through here
            from gpuclust.distributed.read import workers_see

            if workers_see(backend.client, latents):
                lat = load_latents(latents, n_workers=backend.n_workers)
            else:
                click.echo(f"the Dask workers do not see {latents}: its latents are sent to them from here", err=True)
                lat = load_latents(latents)
        _, labels, probs, metrics = run_cluster(lat.z, method, k, backend, seed, covariance_type, lat.truth, n_init,
                                                probs_on_workers=True)  # written a block at a time
        write_outputs(out, lat.rows, labels, probs, metrics, truth=lat.truth)
    sil = metrics.get("silhouette")
    click.echo(f"{method} K={k} on {len(lat.z)} latents ({backend.device}): silhouette "
               + (f"{sil:.3f}" if sil == sil and sil is not None else "unavailable")
               + (f", ARI {metrics['ari']:.3f}, NMI {metrics['nmi']:.3f}" if "ari" in metrics else ""))
    click.echo(f"wrote {out}/labels.csv and {out}/metrics.json")


@click.command("select-k", short_help="Sweep K and suggest one (BIC, gap, ...).")
@click.argument("latents", type=existing_file)
@click.option("--k-min", type=click.IntRange(1), default=2, show_default=True)
@click.option("--k-max", type=click.IntRange(2), default=12, show_default=True)
@click.option("--method", "methods", type=click.Choice(["gmm", "kmeans"]), multiple=True,
              default=("gmm", "kmeans"), show_default=True, help="Repeat to sweep both.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), default="select-k-out", show_default=True)
@device_option
@friendly
def select_k(latents, k_min, k_max, methods, seed, out, device):
    """Sweep K: BIC/AIC (mixture), inertia, silhouette and gap (K-means); table, plot and a suggestion."""
    import os

    from tqdm import tqdm

    from gpuclust.atomic import write_json
    from gpuclust.backend import resolve_backend
    from gpuclust.clustering.select_k import highest_k, suggest_all, sweep
    from gpuclust.errors import GpuclustError
    from gpuclust.latents import load_latents
    from gpuclust.plots.figures import k_selection_figure

    from gpuclust.atomic import output_dir
    from gpuclust.clustering.validation import check_latents

    if k_max <= k_min:
        raise GpuclustError(f"--k-max ({k_max}) must exceed --k-min ({k_min})")
    lat = load_latents(latents)
    backend = resolve_backend(device)
    x = check_latents(backend.asarray(lat.z, dtype=backend.float_dtype),
                      what=latents)
    if highest_k(len(lat.z)) < k_max:
        raise GpuclustError(f"{latents}: {len(lat.z)} latents are too few to try K up to {k_max} (the stability "
                            f"criterion fits each K on half of them); use --k-max {max(2, highest_k(len(lat.z)))} "
                            "or more data")
    from gpuclust.threads import fixed_threads

    with output_dir(out), fixed_threads():  # as for runs: results that do not depend on the thread count
        ks = list(range(k_min, k_max + 1))
        with tqdm(total=len(ks), desc="select-k", disable=None) as bar:
            res = sweep(x, ks, methods, seed=seed, progress=bar.update, stability=True, entropy="gmm" in methods)
        res["chosen"] = suggest_all(res["rows"], res.get("entropy"))
        write_json(os.path.join(out, "k_selection.json"), res)
        k_selection_figure(res, os.path.join(out, "k_selection.png"))
    for m, s in res["suggestion"].items():
        click.echo(f"{m}: suggested K = {s['k']} ({s['why']})")
    for c, s in res["chosen"].items():
        click.echo(f"  {c}: K = {s['k']}" + (f", runner-up {s['runner_up']}" if s.get("runner_up") else "")
                   + f" ({s['why']})")
    click.echo(f"wrote {out}/k_selection.json and {out}/k_selection.png")


@click.command(short_help="t-SNE map of latents.")
@click.argument("latents", type=existing_file)
@click.option("--labels", type=existing_file, help="labels.csv from `cluster` or `run`, to colour the map.")
@click.option("--max-points", type=click.IntRange(10), default=None,
              help="Seeded subsample above this size [5000 on CPU, 100000 on GPU].")
@click.option("--perplexity", type=click.FloatRange(0, min_open=True), default=None,
              help="Perplexity [scaled with N, 30 to 100].")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Learning rate [N/12, at least 200].")
@click.option("--early-exaggeration", type=click.FloatRange(1), default=20.0, show_default=True,
              help="Early exaggeration (the reference's 20).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the subsample and the map.")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="tsne-out", show_default=True,
              help="Directory for tsne.csv and tsne.png.")
@device_option
@friendly
def tsne(latents, labels, max_points, perplexity, learning_rate, early_exaggeration, seed, out, device):
    """t-SNE map of latents (cuML FFT on GPU, openTSNE on CPU): coordinates with row index, and a figure."""
    import csv
    import time

    import numpy as np

    from gpuclust.atomic import atomic_path
    from gpuclust.backend import resolve_backend
    from gpuclust.embedding.tsne import DEFAULT_MAX_POINTS_CPU, subsample
    from gpuclust.embedding.tsne import tsne as run_tsne
    from gpuclust.latents import load_latents
    from gpuclust.plots.figures import tsne_figure

    from gpuclust.atomic import output_dir
    from gpuclust.clustering.validation import check_latents
    from gpuclust.errors import GpuclustError

    backend = resolve_backend(device)
    lat = load_latents(latents)
    check_latents(lat.z, what=latents)
    by_row = None
    if labels:
        by_row = read_cluster_labels(labels)
    with output_dir(out):
        cap = max_points or (DEFAULT_MAX_POINTS_CPU if backend.device == "cpu" else 100_000)
        idx = subsample(len(lat.z), cap, seed)
        if len(idx) < len(lat.z):
            click.echo(f"embedding a seeded sample of {len(idx)} of {len(lat.z)} points (--max-points to change)")
        if backend.device == "cpu" and len(idx) > 10_000:
            click.echo(f"note: openTSNE on CPU takes about 30 s per 10,000 points on 2 cores; {len(idx)} points "
                       "will take several minutes")
        lab = np.zeros(len(idx), dtype=int)
        if by_row is not None:  # before the map is computed, not after
            missing = [int(r) for r in lat.rows[idx] if int(r) not in by_row]
            if len(missing) == len(idx):
                raise GpuclustError(f"{labels}: none of its rows are rows of {latents}; are they from the same run?")
            if missing:
                raise GpuclustError(f"{labels}: {len(missing)} of the {len(idx)} points mapped have no label there "
                                    f"(row {missing[0]}, ...); are they from the same run?")
            lab = np.array([by_row[int(r)] for r in lat.rows[idx]])
        t = time.perf_counter()
        xy = run_tsne(lat.z[idx], backend, seed, perplexity, learning_rate, early_exaggeration)
        with atomic_path(os.path.join(out, "tsne.csv")) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "x", "y", "cluster"])
            w.writerows([int(r), f"{a:.4f}", f"{b:.4f}", int(c)] for r, (a, b), c in zip(lat.rows[idx], xy, lab))
        tsne_figure(xy, lab, max(int(lab.max()) + 1, 1), os.path.join(out, "tsne.png"))
    click.echo(f"t-SNE of {len(idx)} points in {time.perf_counter() - t:.1f} s ({backend.device}); "
               f"wrote {out}/tsne.csv and {out}/tsne.png")


@click.command(short_help="Rebuild a run's HTML report.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@friendly
def report(run_dir):
    """Rebuild the one-page HTML report of a run directory (figures embedded)."""
    from gpuclust.report import build_report

    click.echo(f"wrote {build_report(run_dir)}")


@click.command(short_help="Clustering speed, CPU against GPU.")
@click.option("--sizes", default="10000,100000,427798", show_default=True,
              help="Comma-separated numbers of latent vectors.")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=8, show_default=True)
@click.option("--dims", type=click.IntRange(1), default=9, show_default=True, help="Latent dimensions.")
@click.option("--iters", type=click.IntRange(1), default=20, show_default=True, help="EM iterations timed.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True, help="Median of this many runs.")
@click.option("--tsne-size", type=click.IntRange(0), default=5000, show_default=True,
              help="Points for the t-SNE comparison (0 skips it).")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="bench-out", show_default=True)
@friendly
def bench(sizes, k, dims, iters, repeats, tsne_size, out):
    """Clustering speed, CPU against GPU, in one run: mixture, K-means and t-SNE; table, JSON, plot."""
    import os

    from gpuclust.atomic import write_json
    from gpuclust.bench import bench_figure, run_bench, table
    from gpuclust.errors import GpuclustError

    from gpuclust.atomic import output_dir

    try:
        ns = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise GpuclustError(f"--sizes must be comma-separated integers, got {sizes!r}")
    if not ns or min(ns) < 2 * k:
        raise GpuclustError(f"--sizes must be at least 2 x K = {2 * k} each")
    with output_dir(out):
        res = run_bench(ns, k, dims, iters, repeats, tsne_size, progress=lambda m: click.echo(m, err=True))
        write_json(os.path.join(out, "bench.json"), res)
        bench_figure(res, os.path.join(out, "bench.png"))
    click.echo(table(res))
    click.echo(f"wrote {out}/bench.json and {out}/bench.png")


@click.command(short_help="Compare runs on one page.")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="compare.html", show_default=True)
@friendly
def compare(run_dirs, out):
    """One self-contained page comparing runs: encoder, clusterer, scores and t-SNE maps side by side."""
    from gpuclust.atomic import ensure_writable_file
    from gpuclust.report import build_comparison

    ensure_writable_file(out, "-o")
    click.echo(f"wrote {build_comparison(list(run_dirs), out)}")


def read_cluster_labels(path) -> dict:
    """{file row: cluster} from a labels.csv of `cluster`, `run` or `predict`; one-line errors otherwise."""
    import csv

    from gpuclust.errors import GpuclustError

    if not os.path.isfile(path):
        raise GpuclustError(f"{path}: no such labels file")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {int(r["row"]): int(r["cluster"]) for r in rows}
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, csv.Error) as e:
        raise GpuclustError(f"{path}: not a labels.csv with row and cluster columns ({type(e).__name__}: {e})")
