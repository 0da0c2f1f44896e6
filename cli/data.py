"""Commands that make, describe and encode spectrogram files."""
from __future__ import annotations

import os

import click

from .boundary import friendly
from .options import NORMALISATIONS, data_options, device_option, existing_file


@click.command(short_help="Write the synthetic benchmark (or a deployment scenario) with ground truth.")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("-n", "--rows", type=click.IntRange(1, 427_798), default=20_000, show_default=True,
              help="Number of spectrograms (up to the full RIS size, 427,798).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same file.")
@click.option("--scenario", type=click.Choice(["benchmark", "deployment"]), default="benchmark", show_default=True,
              help="benchmark: 8 classes drawn independently (the built-in data); deployment: a 120-day timeline "
                   "of 9 stations with episodes, daily and tidal cycles, a temperature and a tide driver (written "
                   "beside the file), per-station classes, instrument glitches and a class that starts half-way.")
@friendly
def synth(output, rows, seed, scenario):
    """Write synthetic spectrograms with ground truth (/4.0/Label) in the RIS layout, and a catalogue CSV."""
    from tqdm import tqdm

    from gpuclust.atomic import ensure_writable_file

    ensure_writable_file(output, "OUTPUT")
    with tqdm(total=rows, unit="spec", desc="synth", disable=None) as bar:
        if scenario == "benchmark":
            from gpuclust.data.synth import write_synthetic

            write_synthetic(output, rows, seed=seed, progress=bar.update)
            extra = ""
        else:
            from gpuclust.data.scenario import write_deployment

            info = write_deployment(output, rows, seed=seed, progress=bar.update)
            extra = f"; drivers: {', '.join(info['drivers'])}; rules: {output}.scenario.json"
    click.echo(f"wrote {rows} spectrograms to {output} (catalogue: {output}.csv{extra})")


@click.command(short_help="Waveform files to spectrograms (STA/LTA).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="RIS file to write.")
@click.option("--append", is_flag=True, help="Add to an existing file made with the same parameters (safely: a "
              "copy is renamed over it).")
@click.option("--fs", type=click.FloatRange(0, min_open=True), default=50.0, show_default=True,
              help="Sampling rate to decimate to (Hz).")
@click.option("--nperseg", type=click.IntRange(2), default=20, show_default=True, help="Kaiser window length (samples).")
@click.option("--beta", type=click.FloatRange(0), default=5.7, show_default=True, help="Kaiser window beta.")
@click.option("--noverlap", type=click.IntRange(0), default=18, show_default=True,
              help="Window overlap (samples), less than --nperseg.")
@click.option("--nfft", type=click.IntRange(2), default=256, show_default=True, help="FFT length (at least --nperseg).")
@click.option("--fmin", type=click.FloatRange(0), default=3.0, show_default=True, help="Lowest frequency kept (Hz).")
@click.option("--fmax", type=click.FloatRange(0, min_open=True), default=20.0, show_default=True,
              help="Highest frequency kept (Hz), below --fs / 2.")
@click.option("--frames", type=click.IntRange(1), default=100, show_default=True, help="Time frames per spectrogram.")
@click.option("--sta", type=click.FloatRange(0, min_open=True), default=0.5, show_default=True,
              help="STA window (s), shorter than --lta.")
@click.option("--lta", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
              help="LTA window (s).")
@click.option("--on", "on_", type=click.FloatRange(0, min_open=True), default=15.0, show_default=True,
              help="Trigger-on STA/LTA ratio.")
@click.option("--off", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="Trigger-off STA/LTA ratio.")
@click.option("--min-gap", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Drop a detection within this many seconds of an earlier one at the same channel.")
@click.option("--channel", default="*Z", show_default=True, help="Channels to use (ObsPy wildcard).")
@click.option("--units", type=click.Choice(["counts", "m/s"]), default="counts", show_default=True,
              help="Units of the waveforms: raw counts, or m/s when the instrument response was removed.")
@friendly
def spectrograms(inputs, output, append, fs, nperseg, beta, noverlap, nfft, fmin, fmax, frames,
                 sta, lta, on_, off, min_gap, channel, units):
    """Detect events in waveform files (miniSEED, SAC, ...) and write their spectrograms (RIS layout)."""
    from gpuclust.atomic import ensure_writable_file
    from gpuclust.data.spectrogram import SpectrogramParams
    from gpuclust.data.waveforms import DetectionParams, waveforms_to_ris

    p = SpectrogramParams(fs=fs, nperseg=nperseg, beta=beta, noverlap=noverlap, nfft=nfft,
                          fmin=fmin, fmax=fmax, n_frames=frames)
    d = DetectionParams(sta_s=sta, lta_s=lta, on=on_, off=off, min_gap_s=min_gap, channel=channel)
    p.check()
    d.check()
    ensure_writable_file(output, "--output")
    n = waveforms_to_ris(list(inputs), output, p, d, append=append, units=units)
    click.echo(f"{'appended' if append else 'wrote'} {n} spectrograms to {output}")


@click.command(short_help="Describe a spectrogram file.")
@click.argument("path", type=existing_file)
@data_options
@friendly
def info(path, group, dataset, freqs_dataset, times_dataset, labels_dataset):
    """Describe a spectrogram file: layout, rows, image size, axes, bad rows, labels."""
    import numpy as np

    from gpuclust.data.spectrograms import open_spectrograms

    with open_spectrograms(path, group, dataset, freqs_dataset, times_dataset, labels_dataset) as sf:
        health = sf.row_health()
        n_nan = int((~health.finite).sum())
        n_zero = int((health.finite & ~health.energy).sum())
        click.echo(f"{path}: {sf.layout} layout, dataset {sf.dataset}")
        click.echo(f"  rows: {sf.n_rows} ({n_nan} with NaN/inf, {n_zero} all zero"
                   + (": a dead channel or power that underflowed" if n_zero else "") + ")")
        if not health.nonnegative[health.usable].all():
            click.echo("  values: some negative (not a power spectrum: use --norm l2 or maxabs, not log)")
        click.echo(f"  image: {sf.shape[0]} x {sf.shape[1]}")
        if sf.freqs is not None:
            click.echo(f"  frequency: {sf.freqs[0]:.3f} .. {sf.freqs[-1]:.3f} Hz")
        if sf.times is not None:
            click.echo(f"  time: {sf.times[0]:.2f} .. {sf.times[-1]:.2f} s")
        click.echo(f"  traces: {'yes' if sf.trace_dataset else 'no'}; catalogue: {'yes' if sf.catalogue_dataset else 'no'}")
        labels = sf.labels()
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            counts = np.bincount(labels[labels >= 0], minlength=len(sf.class_names))
            names = sf.class_names or [str(i) for i in range(len(counts))]
            click.echo("  ground truth: " + ", ".join(f"{n}={c}" for n, c in zip(names, counts)))


@click.command(short_help="Encode every row; latents with row index.")
@click.argument("checkpoint", type=existing_file)
@click.argument("path", type=existing_file)
@data_options
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="latents.h5", show_default=True,
              help="Latent file to write (HDF5: latent, row, truth).")
@click.option("--norm", type=click.Choice(NORMALISATIONS), default=None,
              help="The normalisation used in training [read from the checkpoint's run directory].")
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
    model, _ = load_model(checkpoint, backend.device)  # first: a missing or damaged checkpoint is named as such
    norm = norm or training_norm(checkpoint)
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
    click.echo(f"wrote {len(rows)} latents of {host.shape[1]} dims to {out} (--norm {norm})"
               + (f" ({n_bad} bad rows skipped)" if n_bad else ""))


def training_norm(checkpoint: str) -> str:
    """The normalisation of the run a checkpoint belongs to (RUN/checkpoints/x.pt: RUN/config.json)."""
    import json

    from gpuclust.errors import GpuclustError

    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))), "config.json")
    try:
        with open(cfg) as fh:
            return json.load(fh)["norm"]
    except (OSError, ValueError, KeyError, TypeError):
        raise GpuclustError(f"{checkpoint}: not inside a run directory with a config.json; "
                            "say which normalisation it was trained with: --norm")
