"""Spectrogram thumbnails and waveforms, display-ready: the same bytes embedded in the page or served per row.

A thumbnail is the event's spectrogram normalised as the run's encoder saw it, block-averaged to
at most THUMB_SIDE pixels a side, scaled between its 1st and 99th percentile to 0..255 and
flipped so that low frequencies are at the bottom. A waveform is the min/max envelope of the
trace in WAVE_BINS bins, as int8 of the largest amplitude. 427,798 of them would not fit in a
page: `choose_rows` picks a bounded set, spread over the clusters (and the unknowns).
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..data.loader import load_rows
from ..data.spectrograms import open_spectrograms
from ..errors import GpuclustError
from .rundata import Events, Source

THUMB_SIDE = 64
WAVE_BINS = 150
DEFAULT_BUDGET_MB = 15.0  # every event of the default 6,000-event run
MEAN_SAMPLE = 400  # members averaged into a cluster's mean spectrogram


def open_data(src: Source):
    """The run's data file, or a clear error naming it when it is gone."""
    d = src.data
    if not d.get("path") or not os.path.exists(d["path"]):
        raise GpuclustError(f"{d.get('path')}: the data file of {src.path} is not there (moved?); its "
                            "spectrograms cannot be shown")
    return open_spectrograms(d["path"], d.get("group"), d.get("dataset"), d.get("freqs_dataset"),
                             d.get("times_dataset"))


def thumb_shape(image_shape) -> tuple[int, int, int]:
    """(block factor, height, width) of the thumbnails of images of this shape."""
    h, w = image_shape
    f = max(1, math.ceil(max(h, w) / THUMB_SIDE))
    return f, h // f, w // f


def thumbnails(images: np.ndarray) -> np.ndarray:
    """uint8 (n, h, w) display images of normalised spectrograms (n, H, W) (see the module docstring)."""
    n, h, w = images.shape
    f, th, tw = thumb_shape((h, w))
    if n == 0:
        return np.zeros((0, th, tw), np.uint8)
    x = images[:, : th * f, : tw * f].reshape(n, th, f, tw, f).mean(axis=(2, 4))
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    lo = np.percentile(x.reshape(n, -1), 1, axis=1)[:, None, None]
    hi = np.percentile(x.reshape(n, -1), 99, axis=1)[:, None, None]
    scaled = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)[:, ::-1, :]


def envelopes(traces: np.ndarray) -> np.ndarray:
    """int8 (n, 2 * WAVE_BINS): per bin the minimum then the maximum, of the trace's largest amplitude."""
    n, m = traces.shape
    edges = np.linspace(0, m, WAVE_BINS + 1).astype(int)
    t = np.nan_to_num(traces.astype(np.float64))
    lo = np.minimum.reduceat(t, edges[:-1], axis=1)
    hi = np.maximum.reduceat(t, edges[:-1], axis=1)
    peak = np.abs(t).max(axis=1, keepdims=True)
    peak[peak == 0] = 1.0
    out = np.empty((n, 2 * WAVE_BINS), np.int8)
    out[:, 0::2] = np.round(127 * lo / peak)
    out[:, 1::2] = np.round(127 * hi / peak)
    return out


def read_display(sf, norm: str, rows) -> tuple[np.ndarray, np.ndarray | None]:
    """(thumbnails, envelopes or None) of file rows, in the order given."""
    rows = np.asarray(rows, np.int64)
    if len(rows) > READ_BLOCK:  # full-size images are ~35 KB each: read and shrink a block at a time
        parts = [read_display(sf, norm, rows[i:i + READ_BLOCK]) for i in range(0, len(rows), READ_BLOCK)]
        waves = [w for _, w in parts]
        return (np.concatenate([t for t, _ in parts]),
                None if any(w is None for w in waves) else np.concatenate(waves))
    thumbs = thumbnails(load_rows(sf, rows, norm))
    traces = sf.traces(rows) if len(rows) else None
    return thumbs, (envelopes(traces) if traces is not None and traces.ndim == 2 else None)


READ_BLOCK = 2048


def choose_rows(events: Events, budget_bytes: int, bytes_each: int, seed: int = 0) -> np.ndarray:
    """Indices (into events) of the events whose thumbnails are embedded: as many as the budget holds,
    shared equally between the clusters and the unknowns (a small group gives its share to the others),
    chosen at random within each."""
    n_max = max(0, budget_bytes // max(1, bytes_each))
    if n_max >= len(events):
        return np.arange(len(events))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(events.unknown)]
    groups += [np.flatnonzero((events.cluster == j) & ~events.unknown) for j in np.unique(events.cluster)]
    groups = sorted((g for g in groups if g.size), key=len)
    chosen, left = [], n_max
    for i, g in enumerate(groups):
        take = min(g.size, left // (len(groups) - i))
        chosen.append(rng.choice(g, take, replace=False))
        left -= take
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def embedded(src: Source, events: Events, budget_mb: float = DEFAULT_BUDGET_MB, seed: int = 0) -> dict:
    """The thumbnails (and waveforms) embedded in the page, and every cluster's mean spectrogram."""
    with open_data(src) as sf:
        _, th, tw = thumb_shape(sf.shape)
        has_traces = sf.trace_dataset is not None
        each = th * tw + (2 * WAVE_BINS if has_traces else 0)
        pick = choose_rows(events, int(budget_mb * 2**20), each, seed)
        thumbs, waves = read_display(sf, src.norm, events.rows[pick])
        means = mean_thumbnails(sf, src, events, seed)
        n_file = sf.n_rows
    return {"index": pick, "h": th, "w": tw, "thumbs": thumbs, "waves": waves, "means": means,
            "file_rows": int(n_file), "traces": has_traces}


def mean_thumbnails(sf, src: Source, events: Events, seed: int = 0) -> np.ndarray:
    """uint8 (K, h, w): the mean normalised spectrogram of a sample of each cluster's events."""
    _, th, tw = thumb_shape(sf.shape)
    rng = np.random.default_rng(seed)
    out = np.zeros((src.k, th, tw), np.uint8)
    for j in range(src.k):
        members = np.flatnonzero(events.cluster == j)
        if members.size == 0:
            continue
        if members.size > MEAN_SAMPLE:
            members = rng.choice(members, MEAN_SAMPLE, replace=False)
        mean = load_rows(sf, np.sort(events.rows[members]), src.norm).mean(axis=0)
        out[j] = thumbnails(mean[None])[0]
    return out
