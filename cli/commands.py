"""Command definitions, registered on the `cli` group."""
from __future__ import annotations

import os

import click

from .main import cli, friendly

existing_file = click.Path(dir_okay=False)  # existence is checked by the library, with one-line errors


def data_options(fn):
    """Options that say where the spectrograms are inside a file."""
    for opt in reversed([
        click.option("--group", help="RIS segment-length group, e.g. 4.0 (automatic when the file has one)."),
        click.option("--dataset", help="Plain layout: the (N, H, W) or (N, 1, H, W) dataset to read instead of RIS."),
        click.option("--freqs-dataset", help="Plain layout: dataset holding the frequency vector (Hz)."),
        click.option("--times-dataset", help="Plain layout: dataset holding the time vector (s)."),
        click.option("--labels-dataset", help="Plain layout: dataset of ground-truth labels, if any."),
    ]):
        fn = opt(fn)
    return fn


@cli.command(short_help="Write the synthetic benchmark with ground truth.")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("-n", "--rows", type=click.IntRange(1, 427_798), default=20_000, show_default=True,
              help="Number of spectrograms (up to the full RIS size, 427,798).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same file.")
@friendly
def synth(output, rows, seed):
    """Write the synthetic benchmark (8 event classes, ground truth in /4.0/Label) in the RIS layout."""
    from tqdm import tqdm

    from gpuclust.data.synth import write_synthetic

    with tqdm(total=rows, unit="spec", desc="synth", disable=None) as bar:
        write_synthetic(output, rows, seed=seed, progress=bar.update)
    click.echo(f"wrote {rows} spectrograms to {output} (catalogue: {output}.csv)")


@cli.command(short_help="Waveform files to spectrograms (STA/LTA).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="RIS file to write.")
@click.option("--append", is_flag=True, help="Add to an existing file (safely: a copy is renamed over it).")
@click.option("--fs", type=float, default=50.0, show_default=True, help="Sampling rate to decimate to (Hz).")
@click.option("--nperseg", type=int, default=20, show_default=True, help="Kaiser window length (samples).")
@click.option("--beta", type=float, default=5.7, show_default=True, help="Kaiser window beta.")
@click.option("--noverlap", type=int, default=18, show_default=True, help="Window overlap (samples).")
@click.option("--nfft", type=int, default=256, show_default=True, help="FFT length.")
@click.option("--fmin", type=float, default=3.0, show_default=True, help="Lowest frequency kept (Hz).")
@click.option("--fmax", type=float, default=20.0, show_default=True, help="Highest frequency kept (Hz).")
@click.option("--frames", type=int, default=100, show_default=True, help="Time frames per spectrogram.")
@click.option("--sta", type=float, default=0.5, show_default=True, help="STA window (s).")
@click.option("--lta", type=float, default=30.0, show_default=True, help="LTA window (s).")
@click.option("--on", "on_", type=float, default=15.0, show_default=True, help="Trigger-on STA/LTA ratio.")
@click.option("--off", type=float, default=10.0, show_default=True, help="Trigger-off STA/LTA ratio.")
@click.option("--min-gap", type=float, default=5.0, show_default=True,
              help="Drop a detection within this many seconds of an earlier one at the station.")
@click.option("--channel", default="*Z", show_default=True, help="Channels to use (ObsPy wildcard).")
@friendly
def spectrograms(inputs, output, append, fs, nperseg, beta, noverlap, nfft, fmin, fmax, frames,
                 sta, lta, on_, off, min_gap, channel):
    """Detect events in waveform files (miniSEED, SAC, ...) and write their spectrograms (RIS layout)."""
    from gpuclust.data.spectrogram import SpectrogramParams
    from gpuclust.data.waveforms import DetectionParams, waveforms_to_ris

    p = SpectrogramParams(fs=fs, nperseg=nperseg, beta=beta, noverlap=noverlap, nfft=nfft,
                          fmin=fmin, fmax=fmax, n_frames=frames)
    d = DetectionParams(sta_s=sta, lta_s=lta, on=on_, off=off, min_gap_s=min_gap, channel=channel)
    n = waveforms_to_ris(list(inputs), output, p, d, append=append)
    click.echo(f"{'appended' if append else 'wrote'} {n} spectrograms to {output}")


@cli.command(short_help="Describe a spectrogram file.")
@click.argument("path", type=existing_file)
@data_options
@friendly
def info(path, group, dataset, freqs_dataset, times_dataset, labels_dataset):
    """Describe a spectrogram file: layout, rows, image size, axes, bad rows, labels."""
    import numpy as np

    from gpuclust.data.spectrograms import open_spectrograms

    with open_spectrograms(path, group, dataset, freqs_dataset, times_dataset, labels_dataset) as sf:
        ok = sf.finite_rows()
        click.echo(f"{path}: {sf.layout} layout, dataset {sf.dataset}")
        click.echo(f"  rows: {sf.n_rows} ({int((~ok).sum())} with NaN/inf)")
        click.echo(f"  image: {sf.shape[0]} x {sf.shape[1]}")
        if sf.freqs is not None:
            click.echo(f"  frequency: {sf.freqs[0]:.3f} .. {sf.freqs[-1]:.3f} Hz")
        if sf.times is not None:
            click.echo(f"  time: {sf.times[0]:.2f} .. {sf.times[-1]:.2f} s")
        click.echo(f"  traces: {'yes' if sf.trace_dataset else 'no'}; catalogue: {'yes' if sf.catalogue_dataset else 'no'}")
        labels = sf.labels()
        if labels is not None:
            counts = np.bincount(np.asarray(labels, dtype=np.int64))
            names = sf.class_names or [str(i) for i in range(len(counts))]
            click.echo("  ground truth: " + ", ".join(f"{n}={c}" for n, c in zip(names, counts)))


device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                             show_default=True, help="Where to compute; auto picks a working GPU.")


@cli.command(short_help="Cluster latents: labels.csv, metrics.json.")
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
@device_option
@friendly
def cluster(latents, method, k, covariance_type, n_init, seed, out, dask, device):
    """Cluster a latent file (HDF5 from `embed`, or .npy): labels.csv and metrics.json."""
    from gpuclust.backend import resolve_backend
    from gpuclust.clustering.api import cluster as run_cluster
    from gpuclust.clustering.api import write_outputs
    from gpuclust.latents import load_latents

    from gpuclust.distributed.client import connect, disconnect

    lat = load_latents(latents)
    backend = resolve_backend(device)
    client = connect(dask)
    try:
        _, labels, probs, metrics = run_cluster(lat.z, method, k, backend, seed, covariance_type, lat.truth,
                                                n_init, client=client)
    finally:
        disconnect(client)
    write_outputs(out, lat.rows, labels, probs, metrics, truth=lat.truth)
    click.echo(f"{method} K={k} on {len(lat.z)} latents ({backend.device}): silhouette {metrics['silhouette']:.3f}"
               + (f", ARI {metrics['ari']:.3f}, NMI {metrics['nmi']:.3f}" if "ari" in metrics else ""))
    click.echo(f"wrote {out}/labels.csv and {out}/metrics.json")


@cli.command("select-k", short_help="Sweep K and suggest one (BIC, gap, ...).")
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
    from gpuclust.clustering.select_k import sweep
    from gpuclust.errors import GpuclustError
    from gpuclust.latents import load_latents
    from gpuclust.plots.figures import k_selection_figure

    if k_max <= k_min:
        raise GpuclustError(f"--k-max ({k_max}) must exceed --k-min ({k_min})")
    lat = load_latents(latents)
    backend = resolve_backend(device)
    x = backend.asarray(lat.z, dtype="float32" if backend.device == "cuda" else "float64")
    ks = list(range(k_min, k_max + 1))
    with tqdm(total=len(ks), desc="select-k", disable=None) as bar:
        res = sweep(x, ks, methods, seed=seed, progress=bar.update)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "k_selection.json"), res)
    k_selection_figure(res, os.path.join(out, "k_selection.png"))
    for m, s in res["suggestion"].items():
        click.echo(f"{m}: suggested K = {s['k']} ({s['why']})")
    click.echo(f"wrote {out}/k_selection.json and {out}/k_selection.png")


@cli.command(short_help="Clustering speed, CPU against GPU.")
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

    try:
        ns = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise GpuclustError(f"--sizes must be comma-separated integers, got {sizes!r}")
    if not ns or min(ns) < 2 * k:
        raise GpuclustError(f"--sizes must be at least 2 x K = {2 * k} each")
    res = run_bench(ns, k, dims, iters, repeats, tsne_size, progress=lambda m: click.echo(m, err=True))
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "bench.json"), res)
    bench_figure(res, os.path.join(out, "bench.png"))
    click.echo(table(res))
    click.echo(f"wrote {out}/bench.json and {out}/bench.png")


RUN_OPTIONS = [
    # (flag, config key, type, help)
    ("--group", "group", str, "RIS segment-length group (automatic when there is one)."),
    ("--dataset", "dataset", str, "Plain layout: the (N, H, W) dataset to read instead of RIS."),
    ("--labels-dataset", "labels_dataset", str, "Plain layout: ground-truth labels dataset, if any."),
    ("--synth-rows", "synth_rows", click.IntRange(16, 427_798), "Size of the built-in synthetic dataset [6000]."),
    ("--norm", "norm", click.Choice(["l2", "maxabs", "none"]), "Per-spectrogram normalisation [l2]."),
    ("--bad-rows", "bad_rows", click.Choice(["skip", "refuse"]), "Rows with NaN/inf: skip and count, or refuse [skip]."),
    ("--model", "model", click.Choice(["ae", "unet"]), "Encoder: reference autoencoder or U-Net [ae]."),
    ("--latent-dim", "latent_dim", click.IntRange(1), "Latent dimensions [9]."),
    ("--unet-skips", "unet_skips", click.Choice(["all", "none", "no_full"]), "U-Net skip connections [all]."),
    ("--epochs", "epochs", click.IntRange(1), "Training epochs at most [15]."),
    ("--batch-size", "batch_size", click.IntRange(1), "Batch size [64]."),
    ("--lr", "lr", float, "Adam learning rate [1e-3]."),
    ("--patience", "patience", click.IntRange(1), "Early-stopping patience in epochs [10]."),
    ("--dec-epochs", "dec_epochs", click.IntRange(1), "DEC epochs at most [10]."),
    ("--method", "method", click.Choice(["gmm", "kmeans"]), "Clustering method [gmm]."),
    ("--k", "k", str, "Number of clusters, or 'auto' to choose it from a sweep [8]."),
    ("--k-max", "k_max", click.IntRange(3), "Largest K tried by --k auto [12]."),
    ("--covariance-type", "covariance_type", click.Choice(["full", "tied", "diag", "spherical"]),
     "Mixture covariance type [full]."),
    ("--n-init", "n_init", click.IntRange(1), "Clustering restarts; the best is kept [2]."),
    ("--tsne-max-points", "tsne_max_points", click.IntRange(10), "t-SNE subsample size [5000 CPU, 100000 GPU]."),
    ("--seed", "seed", int, "Seed for splits, initialisation and sampling [0]."),
    ("--dask", "dask", str, "Partition encoding and clustering on Dask: local, local-cuda, tcp://HOST:PORT "
                            "or a scheduler file [off: one process]."),
    ("--dask-workers", "dask_workers", click.IntRange(1), "Worker processes for --dask local [one per core]."),
    ("-o", "out", click.Path(file_okay=False), "Run directory [runs/<timestamp>]."),
]


def run_options(fn):
    """The options of `run` and `train`; None means 'not given', so a config file can supply it."""
    for flag, key, typ, help_ in reversed(RUN_OPTIONS):
        names = [flag, f"--{key.replace('_', '-')}"] if flag == "-o" else [flag]
        fn = click.option(*names, key, type=typ, default=None, help=help_)(fn)
    for opt in reversed([
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                     help="Where to compute; auto picks a working GPU and says so [auto]."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="TOML or YAML file of options; options given here override it."),
        click.option("--resume", is_flag=True,
                     help="Continue a run directory: skip finished stages, resume training from its last epoch."),
        click.option("-q", "--quiet", is_flag=True, default=None, help="No progress bars (batch jobs)."),
    ]):
        fn = opt(fn)
    return fn


def run_pipeline_from_cli(data, config_file, resume, options, until=None):
    from gpuclust.backend import resolve_backend
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.run import run as run_pipeline

    cfg = make_config(config_file, data=data, **options)
    backend = resolve_backend(cfg.device)
    click.echo(f"device: {backend.device}" + (" (auto)" if cfg.device == "auto" else ""))
    return cfg, run_pipeline(cfg, backend, resume=resume, log=click.echo, until=until)


@cli.command(short_help="Everything: data to report, in one go.")
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@run_options
@click.option("--dec/--no-dec", default=None, help="Refine the encoder with DEC [off].")
@friendly
def run(data, config_file, resume, **options):
    """Everything in one go: read (or make) data, train, encode, cluster, t-SNE, figures, report."""
    _, summary = run_pipeline_from_cli(data, config_file, resume, options)
    m = summary["metrics"]
    click.echo("")
    click.echo(f"run directory: {summary['run_dir']}")
    click.echo(f"report:        {summary['report']}")
    click.echo(f"labels:        {os.path.join(summary['run_dir'], 'labels.csv')}")
    head = f"{m['method']} K={m['k']} on {m['n']} events: silhouette {m['silhouette']:.3f}"
    if "ari" in m:
        head += f"; against ground truth ARI {m['ari']:.3f}, NMI {m['nmi']:.3f}, accuracy {m['accuracy']:.3f}"
    click.echo(head)
    click.echo("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))


@cli.command(short_help="Rebuild a run's HTML report.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@friendly
def report(run_dir):
    """Rebuild the one-page HTML report of a run directory (figures embedded)."""
    from gpuclust.report import build_report

    click.echo(f"wrote {build_report(run_dir)}")


@cli.command(short_help="Train the encoder only.")
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@run_options
@friendly
def train(data, config_file, resume, **options):
    """Train the encoder only: checkpoints, loss history (JSON) and loss figure in the output directory."""
    cfg, s = run_pipeline_from_cli(data, config_file, resume, options, until="train")
    i = s["info"] or {}
    click.echo(f"trained {cfg.model} for {i.get('epochs')} epoch(s): best validation MSE "
               f"{i.get('best_val_loss', float('nan')):.4e}, {i.get('samples_per_s', 0):.0f} spectrograms/s")
    click.echo(f"checkpoint: {os.path.join(s['run_dir'], 'checkpoints', 'best.pt')}")


@cli.command(short_help="Encode every row; latents with row index.")
@click.argument("checkpoint", type=existing_file)
@click.argument("path", type=existing_file)
@data_options
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="latents.h5", show_default=True,
              help="Latent file to write (HDF5: latent, row, truth).")
@click.option("--norm", type=click.Choice(["l2", "maxabs", "none"]), default="l2", show_default=True,
              help="Must match the normalisation used in training.")
@click.option("--bad-rows", type=click.Choice(["skip", "refuse"]), default="skip", show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=1024, show_default=True)
@device_option
@friendly
def embed(checkpoint, path, group, dataset, freqs_dataset, times_dataset, labels_dataset, out, norm, bad_rows,
          batch_size, device):
    """Encode every row of a spectrogram file in file order; write latents with their row index."""
    from tqdm import tqdm

    from gpuclust.backend import resolve_backend
    from gpuclust.data.loader import usable_rows
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.errors import GpuclustError
    from gpuclust.latents import Latents, save_latents
    from gpuclust.latents.encode import encode_rows
    from gpuclust.latents.handoff import to_array
    from gpuclust.training.checkpoint import load_model

    backend = resolve_backend(device)
    model, _ = load_model(checkpoint, backend.device)
    with open_spectrograms(path, group, dataset, freqs_dataset, times_dataset, labels_dataset) as sf:
        if list(sf.shape) != list(model.config["input_shape"]):
            raise GpuclustError(f"{checkpoint}: model takes {model.config['input_shape']} images, "
                                f"{path} has {list(sf.shape)}")
        rows, n_bad = usable_rows(sf, bad_rows)
        with tqdm(total=len(rows), unit="spec", desc="embed", disable=None) as bar:
            z = encode_rows(model, sf, rows, norm, backend.device, batch_size, bar.update)
        host = to_array(z)
        host = host.get() if hasattr(host, "get") else host
        save_latents(out, Latents(host, rows, sf.labels(rows), {"checkpoint": os.path.abspath(checkpoint)}))
    click.echo(f"wrote {len(rows)} latents of {host.shape[1]} dims to {out}"
               + (f" ({n_bad} bad rows skipped)" if n_bad else ""))


@cli.command(short_help="t-SNE map of latents.")
@click.argument("latents", type=existing_file)
@click.option("--labels", type=existing_file, help="labels.csv from `cluster` or `run`, to colour the map.")
@click.option("--max-points", type=click.IntRange(10), default=None,
              help="Seeded subsample above this size [5000 on CPU, 100000 on GPU].")
@click.option("--perplexity", type=float, default=None, help="[scaled with N, 30 to 100]")
@click.option("--learning-rate", type=float, default=None, help="[N/12, at least 200]")
@click.option("--early-exaggeration", type=float, default=20.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), default="tsne-out", show_default=True)
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

    backend = resolve_backend(device)
    lat = load_latents(latents)
    cap = max_points or (DEFAULT_MAX_POINTS_CPU if backend.device == "cpu" else 100_000)
    idx = subsample(len(lat.z), cap, seed)
    if len(idx) < len(lat.z):
        click.echo(f"embedding a seeded sample of {len(idx)} of {len(lat.z)} points (--max-points to change)")
    if backend.device == "cpu" and len(idx) > 10_000:
        click.echo(f"note: openTSNE on CPU takes about 30 s per 10,000 points on 2 cores; {len(idx)} points "
                   "will take several minutes")
    t = time.perf_counter()
    xy = run_tsne(lat.z[idx], backend.device, seed, perplexity, learning_rate, early_exaggeration)
    lab = np.zeros(len(idx), dtype=int)
    if labels:
        with open(labels) as fh:
            by_row = {int(r["row"]): int(r["cluster"]) for r in csv.DictReader(fh)}
        lab = np.array([by_row.get(int(r), 0) for r in lat.rows[idx]])
    os.makedirs(out, exist_ok=True)
    with atomic_path(os.path.join(out, "tsne.csv")) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "x", "y", "cluster"])
        w.writerows([int(r), f"{a:.4f}", f"{b:.4f}", int(c)] for r, (a, b), c in zip(lat.rows[idx], xy, lab))
    tsne_figure(xy, lab, int(lab.max()) + 1, os.path.join(out, "tsne.png"))
    click.echo(f"t-SNE of {len(idx)} points in {time.perf_counter() - t:.1f} s ({backend.device}); "
               f"wrote {out}/tsne.csv and {out}/tsne.png")
