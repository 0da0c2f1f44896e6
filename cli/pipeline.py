"""`gpuclust run` and `gpuclust train`: the pipeline, with options from the command line or a file."""
from __future__ import annotations

import os

import click

from .boundary import friendly
from .options import NORMALISATIONS

# (flag, config key, type, help). None as a default means "not given", so a config file can supply it.
DATA_OPTIONS = [
    ("--group", "group", str, "RIS segment-length group (automatic when there is one)."),
    ("--dataset", "dataset", str, "Plain layout: the (N, H, W) dataset to read instead of RIS."),
    ("--freqs-dataset", "freqs_dataset", str, "Plain layout: dataset holding the frequency vector (Hz)."),
    ("--times-dataset", "times_dataset", str, "Plain layout: dataset holding the time vector (s)."),
    ("--labels-dataset", "labels_dataset", str, "Plain layout: ground-truth labels dataset, if any."),
    ("--synth-rows", "synth_rows", click.IntRange(16, 427_798), "Size of the built-in synthetic dataset [6000]."),
    ("--norm", "norm", click.Choice(NORMALISATIONS),
     "Per-spectrogram normalisation: log (log power, the event's mean level removed), log-aligned (log, and "
     "the event's energy centroid shifted to the middle of the window) or the reference's l2 [log-aligned]."),
    ("--bad-rows", "bad_rows", click.Choice(["skip", "refuse"]),
     "Rows with NaN/inf or no energy at all: skip and count, or refuse [skip]."),
    ("--seed", "seed", int, "Seed for splits, initialisation and sampling [0]."),
]
TRAIN_OPTIONS = [
    ("--model", "model", click.Choice(["ae", "unet"]), "Encoder: autoencoder or U-Net [ae]."),
    ("--objective", "objective", click.Choice(["reconstruction", "mixture"]),
     "Encoder objective: reconstruction only, or then refined with the clustering mixture as its objective "
     "(IDEC-style) [mixture]."),
    ("--refine-epochs", "refine_epochs", click.IntRange(1), "Epochs of the mixture refinement [10]."),
    ("--refine-gamma", "refine_gamma", click.FloatRange(0, min_open=True),
     "Weight of the mixture term in the refinement, relative to the reconstruction error [20]."),
    ("--latent-dim", "latent_dim", click.IntRange(1), "Latent dimensions [12; the reference: 9]."),
    ("--latent-activation", "latent_activation", click.Choice(["linear", "relu"]),
     "Last encoder layer: linear (no dead latent units) or the reference's ReLU [linear]."),
    ("--unet-skips", "unet_skips", click.Choice(["all", "none", "no_full"]), "U-Net skip connections [all]."),
    ("--train-rows", "train_rows", click.IntRange(1),
     "Train and refine the encoder on a seeded sample of this many usable rows (split into train and "
     "validation as usual), then encode and cluster every row: the way to a large file on a CPU [all rows]."),
    ("--epochs", "epochs", click.IntRange(1), "Training epochs at most (early stopping may end sooner) [30]."),
    ("--batch-size", "batch_size", click.IntRange(1), "Batch size [64 on the CPU, 256 on a GPU]."),
    ("--lr", "lr", click.FloatRange(0, min_open=True),
     "Adam learning rate [1e-3; 2e-3 with the GPU's default batch]."),
    ("--patience", "patience", click.IntRange(1), "Early-stopping patience in epochs [10]."),
    ("--compute-threads", "compute_threads", str,
     "Threads of training, refinement, encoding and clustering, whose results depend on the count: a fixed "
     "number gives the same results whatever --threads and the machine's load; 'auto' uses the free cores "
     "(--threads'), faster there, but not reproducible [2]."),
]
RUN_ONLY_OPTIONS = [
    ("--dec-epochs", "dec_epochs", click.IntRange(1), "DEC epochs at most [10]."),
    ("--method", "method", click.Choice(["gmm", "kmeans"]), "Clustering method [gmm]."),
    ("--k", "k", str, "Number of clusters, or 'auto' to choose it from a sweep [8]."),
    ("--k-max", "k_max", click.IntRange(3), "Largest K tried by --k auto [12]."),
    ("--covariance-type", "covariance_type", click.Choice(["full", "tied", "diag", "spherical"]),
     "Mixture covariance type [full]."),
    ("--n-init", "n_init", click.IntRange(1), "Clustering restarts; the best is kept [4]."),
    ("--novelty-percentile", "novelty_percentile", click.FloatRange(0, 100, max_open=True),
     "Events scoring below this percentile of the run's reference events are flagged unknown [1]."),
    ("--novelty-score", "novelty_score", click.Choice(["combined", "likelihood"]),
     "Novelty score: 'combined' ranks each event's mixture log-likelihood and reconstruction error among the "
     "run's validation and test events (Fisher's combination; encoding also decodes every row); 'likelihood' "
     "is the log-likelihood alone, ranked among the training events [combined]."),
    ("--tsne-max-points", "tsne_max_points", click.IntRange(10), "t-SNE subsample size [5000 CPU, 100000 GPU]."),
    ("--format", "format", click.Choice(["csv", "quakeml"]),
     "Catalogue of the labelled events: labels.csv, and with quakeml also catalogue.xml [csv]."),
    ("--overlay", "overlay", click.Path(dir_okay=False),
     "A time,value CSV (temperature, wind, tide, ...) drawn beside the counts over time."),
    ("--dask", "dask", str, "Partition encoding and clustering on Dask: local, local-cuda, tcp://HOST:PORT "
                            "or a scheduler file [off: one process]."),
    ("--dask-workers", "dask_workers", click.IntRange(1), "Worker processes for --dask local [one per core]."),
]
OUT_OPTION = ("-o", "out", click.Path(file_okay=False), "Run directory [runs/<timestamp>].")


def _options(specs):
    def deco(fn):
        for flag, key, typ, help_ in reversed(specs):
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
    return deco


def run_pipeline_from_cli(data, config_file, resume, options, until=None, explore=False):
    from gpuclust.distributed.client import open_backend
    from gpuclust.pipeline.config import make_config
    from gpuclust.pipeline.run import run as run_pipeline

    cfg = make_config(config_file, data=data, **options)
    with open_backend(cfg.device, cfg.dask, cfg.dask_workers) as backend:
        click.echo(f"device: {backend.device}" + (" (auto)" if cfg.device == "auto" else ""))
        return cfg, run_pipeline(cfg, backend, resume=resume, log=click.echo, until=until, explore=explore)


def _metric(m: dict, key: str) -> str:
    v = m.get(key)
    return f"{v:.3f}" if isinstance(v, (int, float)) else "unavailable"


@click.command(short_help="Everything: data to report, in one go.")
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@_options(DATA_OPTIONS + TRAIN_OPTIONS + RUN_ONLY_OPTIONS + [OUT_OPTION])
@click.option("--dec/--no-dec", default=None, help="Refine the encoder with DEC [off].")
@click.option("--explore/--no-explore", "explore", default=True, show_default=True,
              help="Write explore.html, every event on an interactive map (`gpuclust explore`).")
@friendly
def run(data, config_file, resume, explore, **options):
    """Everything in one go: read (or make) data, train, encode, cluster, t-SNE, figures, report."""
    _, summary = run_pipeline_from_cli(data, config_file, resume, options, explore=explore)
    m = summary["metrics"]
    click.echo("")
    click.echo(f"run directory: {summary['run_dir']}")
    click.echo(f"report:        {summary['report']}")
    click.echo(f"labels:        {os.path.join(summary['run_dir'], 'labels.csv')}")
    head = f"{m['method']} K={m['k']} on {m['n']} events: silhouette {_metric(m, 'silhouette')}"
    if "ari" in m:
        head += (f"; against ground truth ARI {_metric(m, 'ari')}, NMI {_metric(m, 'nmi')}, "
                 f"accuracy {_metric(m, 'accuracy')}")
    click.echo(head)
    for w in m.get("warnings", []):
        click.echo(f"warning: {w}")
    click.echo("seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items()))


@click.command(short_help="Train the encoder only.")
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@_options(DATA_OPTIONS + TRAIN_OPTIONS + [OUT_OPTION])
@friendly
def train(data, config_file, resume, **options):
    """Train the encoder only: checkpoints, loss history (JSON) and loss figure in the output directory."""
    cfg, s = run_pipeline_from_cli(data, config_file, resume, options, until="train")
    i = s["info"] or {}
    best = i.get("best_val_loss")
    best = f"{best:.4e}" if isinstance(best, float) else "unavailable"
    click.echo(f"trained {cfg.model} for {i.get('epochs')} epoch(s): best validation loss {best}, "
               f"{i.get('samples_per_s') or 0:.0f} spectrograms/s")
    click.echo(f"checkpoint: {os.path.join(s['run_dir'], 'checkpoints', 'best.pt')}")


@click.command(short_help="Label new detections with a trained run.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("data", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(file_okay=False), default=None,
              help="Output directory, not a run's own [a new <run_dir>/predict-<timestamp>].")
@click.option("--format", "fmt", type=click.Choice(["csv", "quakeml"]), default="csv", show_default=True,
              help="Catalogue: labels.csv, and with quakeml also catalogue.xml.")
@click.option("--novelty-percentile", type=click.FloatRange(0, 100, max_open=True), default=None,
              help="Flag events scoring below this percentile of the run's reference events [the run's, 1].")
@click.option("--overlay", type=click.Path(dir_okay=False), help="A time,value CSV drawn beside the counts over time.")
@click.option("--group", help="RIS segment-length group of DATA [the run's, or automatic].")
@click.option("--dataset", help="Plain layout: the spectrogram dataset of DATA [the run's].")
@click.option("--labels-dataset", help="Plain layout: ground-truth labels in DATA, if any.")
@click.option("--bad-rows", type=click.Choice(["skip", "refuse"]), default="skip", show_default=True,
              help="Rows with NaN/inf or no energy: skip and count, or refuse.")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Spectrograms encoded at a time [128 on the CPU, 1024 on a GPU] (any file size streams through).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to compute; auto picks a working GPU.")
@click.option("--dask", help="Encode and label partitions on Dask: local, local-cuda, tcp://HOST:PORT or a "
                             "scheduler file.")
@click.option("--dask-workers", type=click.IntRange(1), help="Worker processes for --dask local [one per core].")
@click.option("--explore/--no-explore", "explore", default=True, show_default=True,
              help="Write explore.html, the new events on the run's map (`gpuclust explore`).")
@friendly
def predict(run_dir, data, out, fmt, novelty_percentile, overlay, group, dataset, labels_dataset, bad_rows,
            batch_size, device, dask, dask_workers, explore):
    """Label new detections with a trained run: a spectrogram file (RIS or plain layout) or waveform files
    (miniSEED, SAC, ..., cut with the run's parameters). Flags events that fit no cluster as unknown,
    places them on the run's t-SNE map and writes labels.csv, metrics.json, figures and the catalogue."""
    from gpuclust.distributed.client import open_backend
    from gpuclust.pipeline.predict import predict as run_predict

    with open_backend(device, dask, dask_workers) as backend:
        m = run_predict(run_dir, list(data), out, backend, fmt=fmt, percentile=novelty_percentile,
                        batch_size=batch_size, overlay=overlay, bad_rows=bad_rows,
                        data_options={k: v for k, v in (("group", group), ("dataset", dataset),
                                                         ("labels_dataset", labels_dataset)) if v is not None},
                        log=click.echo, explore=explore)
    nov = m["novelty"]
    click.echo(f"labelled {m['n']} events with {run_dir}'s model ({backend.device}): "
               f"{nov['unknown']} unknown ({100 * nov['unknown_fraction']:.1f} %, below the "
               f"{nov['percentile']:g} % threshold)")
    if "ari" in m:
        click.echo(f"against ground truth: ARI {m['ari']:.3f}, NMI {m['nmi']:.3f}, accuracy {m['accuracy']:.3f}")
    click.echo(f"wrote {m['out']}: " + ", ".join(m["outputs"]))
