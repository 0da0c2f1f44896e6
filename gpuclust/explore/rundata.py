"""What the explore page shows, read from the output files of a run (or of a predict) and its model.

Only files are read (labels.csv, latents.h5, config.json or metrics.json, model/), so the page
does not depend on how the pipeline's stages are arranged. The score the page's novelty threshold
moves over is labels.csv's `novelty_score` where the model has the combined score, else its
log-likelihood column (`score` in older runs, `log_likelihood` in newer ones).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import GpuclustError
from ..times import utc

LOG_LIKELIHOOD_COLUMNS = ("novelty_score", "log_likelihood", "score")  # the first found is the novelty score
TIME_COLUMNS = ("dt_peak", "dt_on")


@dataclass
class Events:
    """One entry per labelled event, in labels.csv order."""

    rows: np.ndarray  # row in the data file
    cluster: np.ndarray
    unknown: np.ndarray  # bool: flagged by the run's novelty threshold
    probability: np.ndarray  # NaN where the clusterer has none (K-means)
    log_likelihood: np.ndarray  # the novelty score (the log-likelihood, or the combined score); NaN where none
    station: np.ndarray  # index into station_names
    station_names: list[str]
    time_ms: np.ndarray  # ms since 1970 (UTC), NaN where unknown
    true_class: list[str] | None = None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Source:
    """Where the events came from: the directory, its model, and the data file to read images from."""

    path: str  # the run or predict directory
    kind: str  # "run" or "predict"
    model_path: str  # the run directory whose model labelled the events
    data: dict  # path, group, dataset, freqs_dataset, times_dataset
    norm: str
    meta: dict = field(repr=False, default_factory=dict)  # model.json

    @property
    def k(self) -> int:
        return int(self.meta["clusterer"]["k"])

    @property
    def threshold(self) -> float | None:
        return (self.meta.get("novelty") or {}).get("threshold")

    def cluster_names(self) -> list:
        """The user's names of the clusters (None where unnamed), from `gpuclust name`."""
        names = (self.meta.get("classes") or {}).get("cluster_names") or []
        return [names[j] if j < len(names) else None for j in range(self.k)]

    def majority_classes(self) -> list:
        c = (self.meta.get("classes") or {}).get("cluster_to_class") or []
        return [c[j] if j < len(c) else None for j in range(self.k)]


def read_json(path: str, what: str) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise GpuclustError(f"{path}: missing; {what}")
    except (OSError, ValueError) as e:
        raise GpuclustError(f"{path}: not readable JSON ({type(e).__name__}: {e})")


def open_source(path: str, run: str | None = None) -> Source:
    """A run directory, or a predict output directory with the run that labelled it (`run`)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise GpuclustError(f"{path}: no such run directory")
    if not os.path.exists(os.path.join(path, "labels.csv")):
        raise GpuclustError(f"{path}: has no labels.csv; explore a finished run (or predict) directory")
    is_run = os.path.exists(os.path.join(path, "config.json")) and os.path.isdir(os.path.join(path, "model"))
    model_path = path if is_run else run
    parent = os.path.dirname(os.path.abspath(path))
    if model_path is None and os.path.exists(os.path.join(parent, "model", "model.json")):
        model_path = parent  # predict's default output directory is inside its run
    if model_path is None:
        raise GpuclustError(f"{path}: not a run directory (no config.json and model/); for a predict output "
                            "directory, give the run that labelled it")
    meta = read_json(os.path.join(model_path, "model", "model.json"),
                     "the run has no saved model; rerun it with `gpuclust run ... --resume`")
    if is_run:
        cfg = read_json(os.path.join(path, "config.json"), "not a run directory")
        data = {"path": cfg.get("data"), **{k: cfg.get(k) for k in ("group", "dataset", "freqs_dataset",
                                                                     "times_dataset")}}
    else:
        m = read_json(os.path.join(path, "metrics.json"), "not a predict output directory")
        data = {"path": m.get("data"), **{k: meta["data"].get(k) for k in ("group", "dataset", "freqs_dataset",
                                                                            "times_dataset")}}
    return Source(path, "run" if is_run else "predict", model_path, data, meta["data"]["norm"], meta)


def read_events(path: str) -> Events:
    """The events of labels.csv (see the module docstring for its columns)."""
    rows, cluster, unknown, prob, ll, station, times, truth = [], [], [], [], [], [], [], []
    stations: dict[str, int] = {}
    with open(os.path.join(path, "labels.csv"), newline="") as fh:
        reader = csv.DictReader(fh)
        head = reader.fieldnames or []
        if "row" not in head or "cluster" not in head:
            raise GpuclustError(f"{path}/labels.csv: no row and cluster columns")
        ll_col = next((c for c in LOG_LIKELIHOOD_COLUMNS if c in head), None)
        t_cols = [c for c in TIME_COLUMNS if c in head]
        for r in reader:
            rows.append(int(r["row"]))
            cluster.append(int(r["cluster"]))
            unknown.append(r.get("unknown") == "1")
            prob.append(float(r["probability"]) if r.get("probability") else np.nan)
            ll.append(float(r[ll_col]) if ll_col and r.get(ll_col) else np.nan)
            name = ".".join(p for p in (r.get("network"), r.get("station")) if p) or "?"
            station.append(stations.setdefault(name, len(stations)))
            times.append(_ms(next((r[c] for c in t_cols if r.get(c)), None)))
            if "true_class" in r:
                truth.append(r["true_class"])
    return Events(np.asarray(rows, np.int64), np.asarray(cluster, np.int64), np.asarray(unknown, bool),
                  np.asarray(prob, np.float64), np.asarray(ll, np.float64), np.asarray(station, np.int64),
                  list(stations), np.asarray(times, np.float64), truth or None)


def _ms(text: str | None) -> float:
    if not text:
        return np.nan
    try:
        t = utc(text)
    except ValueError:
        return np.nan
    return t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000.0


def model_file(model_path: str, *parts) -> str:
    return os.path.join(model_path, "model", *parts)


def update_model_meta(model_path: str, change) -> dict:
    """Apply change(meta) to the run's model.json and write it back whole (atomically)."""
    from ..atomic import write_json

    path = model_file(model_path, "model.json")
    meta = read_json(path, "the run has no saved model")
    change(meta)
    write_json(path, meta)
    return meta
