"""`gpuclust run` and `gpuclust train`: the pipeline, with options from the command line or a file."""
from __future__ import annotations

import os

import click

from .main import cli, friendly


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
    ("--epochs", "epochs", click.IntRange(1), "Training epochs at most (early stopping may end sooner) [30]."),
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
