"""Commands that make, describe and encode spectrogram files."""
from __future__ import annotations

import os

import click

from .boundary import friendly
from .options import NORMALISATIONS, data_options, device_option, existing_file


@click.command(short_help="Write the synthetic benchmark (or a deployment scenario, or a waveform archive).")
@click.argument("output", type=click.Path(dir_okay=False), required=False)
@click.option("-n", "--rows", type=click.IntRange(1, 427_798), default=20_000, show_default=True,
              help="Number of spectrograms (up to the full RIS size, 427,798).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same file.")
@click.option("--scenario", type=click.Choice(["benchmark", "deployment"]), default="benchmark", show_default=True,
              help="benchmark: 8 classes drawn independently (the built-in data); deployment: a 120-day timeline "
                   "of 9 stations with episodes, daily and tidal cycles, a temperature and a tide driver (written "
                   "beside the file), per-station classes, instrument glitches and a class that starts half-way.")
@click.option("--archive", "archive", type=click.Path(file_okay=False), default=None,
              help="Write a continuous waveform archive instead: SDS miniSEED day files at 100 Hz with the "
                   "deployment scenario's events in station noise, inventory.xml and catalogue.csv of the "
                   "planted events.")
@click.option("--days", type=click.IntRange(1, 366), default=3, show_default=True, help="With --archive: days.")
@click.option("--stations", type=click.IntRange(1, 999), default=1, show_default=True,
              help="With --archive: stations.")
@friendly
def synth(output, rows, seed, scenario, archive, days, stations):
    """Write synthetic spectrograms with ground truth (/4.0/Label) in the RIS layout, and a catalogue CSV;
    or, with --archive DIR, a synthetic continuous waveform archive."""
    from tqdm import tqdm

    from gpuclust.atomic import ensure_writable_dir, ensure_writable_file
    from gpuclust.errors import GpuclustError

    if archive is not None:
        from gpuclust.archive.synthetic import write_archive

        if output is not None:
            raise GpuclustError("give OUTPUT (a spectrogram file) or --archive DIR (waveforms), not both")
        ensure_writable_dir(archive, "--archive")
        with tqdm(total=days * stations, unit="station-day", desc="synth", disable=None) as bar:
            info = write_archive(archive, days, stations, seed=seed, progress=bar.update)
        click.echo(f"wrote {info['station_days']} station-days with {info['events']} planted events to {archive} "
                   f"(inventory: {info['inventory']}, catalogue: {info['catalogue']})")
        return
    if output is None:
        raise GpuclustError("give OUTPUT, the spectrogram file to write (or --archive DIR for waveforms)")
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


@click.command(short_help="Waveform archive or files to spectrograms (STA/LTA), in parallel, resumable.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="RIS file to write.")
@click.option("--start", default=None, help="First day to process (YYYY-MM-DD; SDS archives).")
@click.option("--end", default=None, help="Day after the last one to process (YYYY-MM-DD, exclusive; SDS archives).")
@click.option("--stations", default=None, help="Stations to process, comma-separated wildcards (e.g. DR0?,RS01).")
@click.option("--channels", "--channel", "channels", default="*Z", show_default=True,
              help="Channels to process, comma-separated wildcards.")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Worker processes on this machine, each processing one unit (station-channel-day or file).")
@click.option("--dask", default=None, help="Process units on Dask instead: local, tcp://HOST:PORT or a scheduler "
              "file (as for `run`).")
@click.option("--resume", is_flag=True, help="Continue the interrupted job writing OUTPUT (rerunning the same "
              "command does so too); with OUTPUT complete, do nothing.")
@click.option("--strict", is_flag=True, help="Stop at the first unit that cannot be processed, instead of skipping "
              "it and naming it in OUTPUT.skipped.csv.")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), default=None,
              help="StationXML: remove the instrument response (the result's units are stored in the file).")
@click.option("--motion", type=click.Choice(["disp", "vel", "acc"]), default="vel", show_default=True,
              help="With --inventory: ground displacement, velocity or acceleration.")
@click.option("--margin", type=click.FloatRange(0), default=300.0, show_default=True,
              help="Seconds read from the neighbouring days of a station-day, for the taper (a fifth of it, at most "
                   "60 s), the filters and the LTA's warm-up; a file outside an SDS archive has no neighbours: there "
                   "it sets only the taper.")
@click.option("--append", is_flag=True, help="Add to an existing file made with the same parameters (plain files, "
              "in one process; safely: a copy is renamed over it).")
@click.option("--fs", type=click.FloatRange(0, min_open=True), default=50.0, show_default=True,
              help="Sampling rate every file is brought to (Hz); a file sampled too slowly for --fmax is named "
                   "and skipped.")
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
@click.option("--units", type=click.Choice(["counts", "m/s"]), default="counts", show_default=True,
              help="Units of the waveforms without --inventory: raw counts, or m/s when the response was removed.")
@friendly
def spectrograms(inputs, output, start, end, stations, channels, workers, dask, resume, strict, inventory, motion,
                 margin, append, fs, nperseg, beta, noverlap, nfft, fmin, fmax, frames, sta, lta, on_, off, min_gap,
                 units):
    """Detect events in a waveform archive or files and write their spectrograms (RIS layout).

    INPUTS are SDS archive roots (YEAR/NET/STA/CHAN.TYPE/NET.STA.LOC.CHAN.TYPE.YEAR.DOY), directories
    (searched recursively), globs or files (miniSEED, SAC, anything ObsPy reads). A station-channel-day
    of an SDS archive is read with margins from its neighbouring days; any other file is processed alone.
    A unit that cannot be processed is skipped and named in OUTPUT.skipped.csv; an interrupted job is
    continued by running the same command again.
    """
    from gpuclust.atomic import ensure_writable_file
    from gpuclust.data.make_spectrograms import SpectrogramParams
    from gpuclust.data.waveforms import DetectionParams

    p = SpectrogramParams(fs=fs, nperseg=nperseg, beta=beta, noverlap=noverlap, nfft=nfft,
                          fmin=fmin, fmax=fmax, n_frames=frames)
    d = DetectionParams(sta_s=sta, lta_s=lta, on=on_, off=off, min_gap_s=min_gap, channel=channels)
    p.check()
    d.check()
    ensure_writable_file(output, "--output", inputs=inputs)
    if append:
        from gpuclust.data.waveforms import waveforms_to_ris

        _check_append(output, start=start, end=end, stations=stations, workers=workers > 1, dask=dask, resume=resume,
                      strict=strict, inventory=inventory, margin=margin != 300.0, channels="," in channels)

        n = waveforms_to_ris(list(inputs), output, p, d, append=True, units=units)
        click.echo(f"appended {n} spectrograms to {output}")
        return
    from gpuclust.archive.job import run_archive

    split = lambda text: [s.strip() for s in text.split(",") if s.strip()] if text else None  # noqa: E731
    from gpuclust.distributed.client import open_backend

    with open_backend("cpu", dask, n_workers=workers if workers > 1 else None) as backend:  # the archive's work is NumPy and ObsPy: only the client matters
        s = run_archive(list(inputs), output, p, d, start=start, end=end, stations=split(stations),
                        channels=split(channels), workers=workers, client=backend.client, resume=resume,
                        strict=strict, inventory=inventory, motion=motion, margin_s=margin, units=units,
                        echo=click.echo)
    for line in s.report():
        click.echo(line)


def _check_append(output, **given):
    """--append is the single-process path for plain files: the archive job's options would be ignored there."""
    from gpuclust.errors import GpuclustError

    ignored = [f"--{k}" + (" with a comma list" if k == "channels" else "") for k, v in given.items() if v]
    if ignored:
        raise GpuclustError(f"--append does not take {', '.join(ignored)} (they are the archive job's); "
                            "write a new file instead")
    import os

    import h5py

    from gpuclust.archive.job import MANIFEST

    if os.path.exists(output):
        with h5py.File(output, "r") as h5:
            if MANIFEST in h5:
                click.echo(f"note: {output} was made by an archive job; the rows appended are cut file by file "
                           "(no margins from neighbouring days; the response is not removed)")


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
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Spectrograms encoded at a time [128 on the CPU, 1024 on a GPU].")
@device_option
@friendly
def embed(checkpoint, path, group, dataset, freqs_dataset, times_dataset, labels_dataset, out, norm, bad_rows,
          batch_size, device):
    """Encode every row of a spectrogram file in file order; write latents with their row index."""
    from tqdm import tqdm

    from gpuclust.atomic import ensure_writable_file
    from gpuclust.backend import resolve_backend
    from gpuclust.data.loader import usable_rows
    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.errors import GpuclustError
    from gpuclust.latents import Latents, save_latents
    from gpuclust.latents.encode import encode_rows
    from gpuclust.latents.handoff import to_array
    from gpuclust.threads import fixed_threads
    from gpuclust.training.checkpoint import load_model

    ensure_writable_file(out, "-o", inputs=(checkpoint, path))  # before the encoding, not at its end
    backend = resolve_backend(device)
    model, _ = load_model(checkpoint, backend.device)  # first: a missing or damaged checkpoint is named as such
    norm = norm or training_norm(checkpoint)
    # the fixed thread count of runs: oneDNN lays out a batch's sums by thread count, so the latents differ in
    # their last bits with it (at 128 rows a batch, the CPU's): at the fixed count, a run's embed stage's latents
    with open_spectrograms(path, group, dataset, freqs_dataset, times_dataset, labels_dataset) as sf, \
            fixed_threads():
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
