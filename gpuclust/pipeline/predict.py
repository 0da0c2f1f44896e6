"""`gpuclust predict`: label new detections with a trained run, flag the unknown, map and export them.

    model (run/model/) + data (spectrogram file, or waveform files cut with the run's parameters)
      -> usable rows -> encoder (batches streamed from the file) -> latents / run's scale
      -> the run's mixture or K-means: nearest cluster, probabilities, novelty score
      -> unknown where the score falls below the run's threshold
      -> labels.csv, metrics.json, figures (the run's t-SNE map with the new events on it,
         counts over time with an optional driver series), catalogue (CSV or QuakeML)
Rows the run itself labelled get exactly the run's labels: same encoder, same batches, same model.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from ..atomic import output_dir, unique_dir, write_json
from ..backend import Backend, to_numpy
from ..clustering import novelty
from ..clustering.api import write_labels
from ..clustering.metrics import confusion, external_metrics
from ..data.loader import describe_bad, usable_rows
from ..data.spectrograms import open_spectrograms
from ..errors import GpuclustError
from ..threads import DEFAULT_COMPUTE_THREADS, fixed_threads
from ..times import utc
from .saved_run import RunModel, load_run_model


def predict(run_path: str, inputs: list[str], out: str | None, backend: Backend, *, fmt: str = "csv",
            percentile: float | None = None, batch_size: int | None = None, overlay: str | None = None,
            bad_rows: str = "skip", data_options: dict | None = None, log=print, explore: bool = True) -> dict:
    """Label the detections in `inputs` with the run's model; write everything to `out`; return the metrics
    (and, under "out", the directory written: by default a new <run>/predict-<time>).

    With a Dask client in the backend, the rows are encoded and labelled on its workers. explore: also
    write explore.html, every new event on the run's map (gpuclust.explore).
    """
    if out is not None:
        refuse_run_directory(out, run_path)
    model = load_run_model(run_path)
    if fmt not in ("csv", "quakeml"):
        raise GpuclustError(f"unknown --format {fmt!r}: use csv or quakeml")
    limit = model.threshold(percentile)
    drivers = read_overlay(overlay) if overlay else None
    fresh = out is None
    if fresh:  # unique even for predicts started in the same second
        out = unique_dir(os.path.join(run_path, time.strftime("predict-%Y%m%d-%H%M%S")))
    with output_dir(out, "-o", fresh=fresh), fixed_threads(_compute_threads(run_path)):
        data_path = _spectrogram_file(model, inputs, out, log)
        opts = {**{k: model.meta["data"].get(k) for k in ("group", "dataset", "freqs_dataset", "times_dataset")},
                **(data_options or {})}
        with open_spectrograms(data_path, opts.get("group"), opts.get("dataset"), opts.get("freqs_dataset"),
                               opts.get("times_dataset"), opts.get("labels_dataset")) as sf:
            check_compatible(model, sf, data_path)
            rows, n_bad = usable_rows(sf, bad_rows, model.meta["data"]["norm"])
            if n_bad:
                log(f"skipped {describe_bad(sf.row_health())}")
            z, errors = encode(model, sf, rows, backend, batch_size, opts, data_path)
            truth, catalogue, names = sf.labels(rows), sf.catalogue(rows), sf.class_names
        labels, probs, log_likelihood = label(model, z, backend)
        scores = model.novelty_scores(log_likelihood, errors)
        unknown = novelty.flags(scores, limit)
        metrics = summarise(model, labels, unknown, scores, limit, truth, names, percentile)
        metrics.update(data=os.path.abspath(data_path), rows=int(len(rows)), bad_rows=int(n_bad),
                       device=backend.device)
        named = (model.meta.get("classes") or {}).get("cluster_names")  # from `gpuclust name`
        write_labels(os.path.join(out, "labels.csv"), rows, labels, probs, catalogue, truth, names, log_likelihood,
                     unknown, named, scores if model.needs_errors else None, errors)
        write_json(os.path.join(out, "metrics.json"), metrics)
        made = figures(model, z, labels, unknown, rows, catalogue, truth, names, drivers, out, backend, log)
        if fmt == "quakeml":
            from ..export import quakeml_types, write_quakeml

            classes = [n or c for n, c in zip(named or [None] * model.k, model.class_of_cluster() or [None] * model.k)]
            write_quakeml(os.path.join(out, "catalogue.xml"), rows, labels, catalogue, probs, scores, unknown,
                          quakeml_types(classes), os.path.basename(os.path.normpath(run_path)), named)
            made.append("catalogue.xml")
        metrics["outputs"] = ["labels.csv", "metrics.json", *made]
        write_json(os.path.join(out, "metrics.json"), metrics)
        if explore:
            from ..explore import write_explore_or_warn

            write_explore_or_warn(out, run=run_path, latents=(rows, z), device=backend.device, log=log)
    return {**metrics, "out": out}


def refuse_run_directory(out: str, run_path: str) -> None:
    """predict writes labels.csv, metrics.json and figures: never into a run's own directory, over its outputs."""
    if not os.path.isdir(out):
        return
    if os.path.samefile(out, run_path) or os.path.exists(os.path.join(out, "stages.json")) \
            or os.path.isdir(os.path.join(out, "model")):
        raise GpuclustError(f"{out}: is a run directory; predict would overwrite the run's own labels.csv and "
                            f"metrics.json there: give another -o, or none for {os.path.join(run_path, 'predict-<time>')}")


def _compute_threads(run_path: str):
    """The run's fixed thread count (its config.json), so that new events are encoded and scored as its own
    were; the default for a model made by `gpuclust cluster`."""
    try:
        with open(os.path.join(run_path, "config.json")) as fh:
            return json.load(fh).get("compute_threads", DEFAULT_COMPUTE_THREADS)
    except (OSError, ValueError):
        return DEFAULT_COMPUTE_THREADS


def _spectrogram_file(model: RunModel, inputs, out, log) -> str:
    """The spectrogram file to label: the one given, or one cut from waveform files with the run's parameters."""
    import h5py

    missing = [p for p in inputs if not os.path.exists(p)]
    if missing:
        raise GpuclustError(f"{missing[0]}: no such file")
    hdf5 = [p for p in inputs if os.path.isfile(p) and h5py.is_hdf5(p)]
    if hdf5 and len(inputs) > 1:
        raise GpuclustError("give one spectrogram file, or waveform files (miniSEED, SAC, ...), not both")
    if hdf5:
        return inputs[0]
    if not model.has_encoder:
        raise GpuclustError("this model has no encoder (it came from `gpuclust cluster`): give it latents, "
                            "or predict with a run's model")
    from ..data.make_spectrograms import SpectrogramParams
    from ..data.waveforms import DetectionParams, waveforms_to_ris

    params = model.meta["data"].get("waveform_params") or {}
    detection = model.meta["data"].get("waveform_detection")
    sp_fields = set(SpectrogramParams.__dataclass_fields__)
    d_fields = set(DetectionParams.__dataclass_fields__)
    p = SpectrogramParams(**{k: v for k, v in params.items() if k in sp_fields})
    d = DetectionParams(**{k: v for k, v in (detection or params).items() if k in d_fields})
    path = os.path.join(out, "spectrograms.h5")
    if detection is not None:  # the run's data came from an archive job: cut the new files the same way
        units = "counts" if detection.get("inventory") else params.get("units", "counts")
        return _cut_as_the_archive_job(inputs, path, p.check(), d.check(), detection, units, log)
    if not params:
        log("the run's data were not cut from waveforms by gpuclust: using the reference parameters "
            "(50 Hz, 3-20 Hz, 4 s windows, STA/LTA 0.5/30 s, on 15, off 10)")
    skipped = []  # one bad file is named and skipped, as by the archive job, not allowed to sink the rest
    n = waveforms_to_ris(list(inputs), path, p.check(), d.check(), units=params.get("units", "counts"),
                         skipped=skipped)
    log(f"cut {n} spectrograms from {len(inputs) - len(skipped)} waveform file(s) into {path}"
        + (f"; {len(skipped)} skipped, listed in {path}.skipped.csv" if skipped else ""))
    if skipped:
        from ..archive.job import skipped_line, write_skipped

        for name, why in skipped:
            log(skipped_line(name, why))
        write_skipped(path, skipped)
    return path


def _cut_as_the_archive_job(inputs, path: str, p, d, detection: dict, units: str, log) -> str:
    """New waveform files cut by the archive job's code with the run's thresholds, margins and response."""
    from ..archive.job import run_archive

    inventory = detection.get("inventory")
    if inventory and not os.path.exists(inventory):
        raise GpuclustError(f"the run's spectrograms were made with the response removed using {inventory}, which "
                            "is gone: put it back, or cut the new waveforms with `gpuclust spectrograms` yourself")
    s = run_archive(list(inputs), path, p, d, inventory=inventory, motion=detection.get("output", "vel"),
                    margin_s=detection.get("margin_s", 300.0), units=units, echo=log)
    for line in s.report():
        log(line)
    return path


def check_compatible(model: RunModel, sf, path) -> None:
    """New data must look like the run's: the same image size, the same frequency axis where both have one."""
    want = tuple(model.meta["data"]["image_shape"])
    if tuple(sf.shape) != want:
        raise GpuclustError(f"{path}: spectrograms of {sf.shape[0]} x {sf.shape[1]}, the run's model takes "
                            f"{want[0]} x {want[1]}; make them with the run's parameters")
    freqs = model.meta["data"].get("freqs")
    if freqs is not None and sf.freqs is not None and not np.allclose(sf.freqs, freqs, rtol=1e-4, atol=1e-6):
        raise GpuclustError(f"{path}: frequency axis {sf.freqs[0]:.3f}..{sf.freqs[-1]:.3f} Hz, the run's is "
                            f"{freqs[0]:.3f}..{freqs[-1]:.3f} Hz; make the spectrograms with the run's parameters")


def encode(model: RunModel, sf, rows, backend: Backend, batch_size: int | None, opts: dict, path: str):
    """(latents, reconstruction errors or None) of the rows, streamed from the file in batches, the latents on the
    backend's device (or the Dask workers), the errors on the host, measured where the model's novelty score
    needs them."""
    from ..latents.encode import encode_arrays

    norm = model.meta["data"]["norm"]
    want = model.meta["latent"]["dim"]
    if backend.client is not None:
        from ..distributed.encode import encode_distributed

        spec = {"path": os.path.abspath(path), **{k: opts.get(k) for k in ("group", "dataset", "freqs_dataset",
                                                                              "times_dataset", "labels_dataset")}}
        return encode_distributed(spec, os.path.join(model.path, "encoder.pt"), rows, norm, want,
                                  backend, errors=model.needs_errors)  # the latents stay partitioned on the workers
    enc = model.encoder(backend.device)
    z, errors = encode_arrays(enc, sf, rows, norm, backend.device, batch_size, errors=model.needs_errors)
    if z.shape[1] != want:
        raise GpuclustError(f"the encoder gives {z.shape[1]} latent dimensions, the clusterer takes {want}")
    return z, errors


def label(model: RunModel, z, backend: Backend):
    """(nearest cluster, probabilities or None, novelty scores) of latents z under the run's clusterer (host).

    A Dask array of latents is labelled partition by partition on the workers; only the results come back.
    """
    if hasattr(z, "map_blocks"):
        return _label_partitions(model, z, backend.latent_dtype)
    x = backend.asarray(z, dtype=backend.float_dtype) / model.scale
    c = model.clusterer
    if hasattr(c, "predict_proba"):
        probs = c.predict_proba(x)
        labels = to_numpy(probs).argmax(axis=1)
        probs = to_numpy(probs)
    else:
        labels, probs = to_numpy(c.predict(x)), None
    return labels.astype(np.int64), probs, novelty.scores(c, x)


def _label_block(zb, clusterer, scale, k, dtype):
    """On a worker: [nearest cluster, novelty score, probabilities...] of a block of latents (in the backend's dtype)."""
    from ..backend import namespace

    xp, _ = namespace(zb)
    x = xp.astype(zb, getattr(xp, np.dtype(dtype).name)) / scale
    probs = clusterer.predict_proba(x) if hasattr(clusterer, "predict_proba") else None
    lab = xp.argmax(probs, axis=1) if probs is not None else clusterer.predict(x)
    cols = [xp.astype(lab, xp.float64)[:, None], xp.asarray(novelty.scores(clusterer, x))[:, None]]
    if probs is not None:
        cols.append(xp.astype(probs, xp.float64))
    return to_numpy(xp.concat(cols, axis=1))


def _label_partitions(model: RunModel, dz, dtype):
    k = model.k
    width = 2 + (k if hasattr(model.clusterer, "predict_proba") else 0)
    out = dz.map_blocks(_label_block, model.clusterer, model.scale, k, dtype, chunks=(dz.chunks[0], (width,)),
                        dtype=np.float64, meta=np.empty((0, width))).compute()
    probs = out[:, 2:] if width > 2 else None
    return out[:, 0].astype(np.int64), probs, out[:, 1]


def summarise(model: RunModel, labels, unknown, scores, limit, truth, names, percentile) -> dict:
    k = model.k
    m = {"k": k, "n": int(len(labels)), "cluster_sizes": np.bincount(labels, minlength=k).tolist(),
         "novelty": {"percentile": model.meta["novelty"]["percentile"] if percentile is None else percentile,
                     "threshold": limit, "unknown": int(unknown.sum()),
                     "unknown_fraction": float(unknown.mean()) if len(unknown) else 0.0}}
    if truth is not None and len(truth):
        t = np.asarray(truth, np.int64)
        m.update(external_metrics(t, labels))
        known = ~unknown
        if known.any():
            m["known_only"] = external_metrics(t[known], labels[known])
        per = {}
        for c in np.unique(t[t >= 0]):
            sel = t == c
            name = names[c] if names and c < len(names) else str(int(c))
            per[name] = {"events": int(sel.sum()), "flagged_unknown": float(unknown[sel].mean())}
        m["unknown_by_class"] = per
    return m


def figures(model: RunModel, z, labels, unknown, rows, catalogue, truth, names, drivers, out, backend, log) -> list:
    """The run's t-SNE map with the new events on it; counts over time (with the driver); the confusion matrix."""
    from ..plots.figures import confusion_figure, map_figure, temporal_figure

    made = []
    if hasattr(z, "compute"):
        z = to_numpy(z.compute())
    if model.tsne is not None and len(z):
        from ..embedding.tsne import place_on_map, subsample

        if backend.device == "cuda":
            log("t-SNE placement runs on the CPU (openTSNE): cuML's t-SNE cannot add points to an existing map")
        idx = subsample(len(z), 5000, 0)
        xy = place_on_map(model.tsne["latents"], model.tsne["xy"], to_numpy(z)[idx], model.tsne["perplexity"],
                          int(model.tsne.get("seed", 0)))
        ref_labels = model.tsne.get("labels")
        if ref_labels is None:
            ref_labels = _ref_labels(model)
        map_figure(model.tsne["xy"], ref_labels, xy, labels[idx], unknown[idx], model.k,
                   os.path.join(out, "map.png"))
        made.append("map.png")
    if catalogue and temporal_figure(catalogue, labels, model.k, os.path.join(out, "temporal.png"),
                                     unknown=unknown, overlay=drivers):
        made.append("temporal.png")
    if truth is not None and len(truth):
        confusion_figure(confusion(truth, np.where(unknown, model.k, labels), len(names) or None, model.k + 1),
                         names, os.path.join(out, "confusion.png"),
                         cluster_names=[str(j) for j in range(model.k)] + ["unknown"])
        made.append("confusion.png")
    return made


def _ref_labels(model: RunModel) -> np.ndarray:
    """Clusters of the map's reference points, from the run's model itself."""
    x = np.asarray(model.tsne["latents"], dtype=np.float64) / model.scale
    return np.asarray(to_numpy(model.clusterer.predict(x)), dtype=np.int64)


def read_overlay(path: str):
    """(times, values) from a CSV of time,value rows (ISO 8601 times, read as UTC: see gpuclust.times)."""
    import csv

    if not os.path.isfile(path):
        raise GpuclustError(f"{path}: no such overlay file")
    times, values = [], []
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header and len(header) >= 2:
                try:
                    first = utc(header[0]), float(header[1])
                except ValueError:
                    first = None  # a header line
                if first:
                    times.append(first[0])
                    values.append(first[1])
            for line in reader:
                if not line:
                    continue
                times.append(utc(line[0]))
                values.append(float(line[1]))
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        raise GpuclustError(f"{path}: not a CSV of time,value rows with ISO times ({type(e).__name__}: {e})")
    if not times:
        raise GpuclustError(f"{path}: no time,value rows")
    name = os.path.splitext(os.path.basename(path))[0].split(".h5.")[-1]  # data.h5.temperature.csv: temperature
    return {"name": name, "times": times, "values": np.asarray(values, dtype=np.float64)}
