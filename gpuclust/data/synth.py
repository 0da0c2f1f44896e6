"""A synthetic Ross-Ice-Shelf-like benchmark with ground truth.

Eight event classes, drawn with unequal frequencies (events of interest are a
minority), each a physically motivated waveform at 50 Hz buried in station
noise, passed through the same band-pass and spectrogram code as real data
and written in the RIS layout with a `Label` dataset beside the spectrograms.
Some classes overlap on purpose (a doublet with a weak second arrival looks
like an icequake; slow gliding tremor looks like harmonic tremor; low-SNR
events look like noise), so a good method scores well but not perfectly.

Rows are generated in fixed blocks, each seeded from (seed, block), so any
size up to the full 427,798 is written without holding it in memory and the
same seed always gives the same file. The blocks are independent, so they are
made in parallel, one process per core, and written in order: the same file as
one process writes, in a fraction of the time (a block of 2,048 rows takes
about 10 s of one core; the full size is 209 blocks).
"""
from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from .ris_writer import RISWriter
from .make_spectrograms import SpectrogramParams, bandpass, spectrograms

# name, share of the rows, one line of physics
CLASSES = [
    ("background_noise", 0.28, "no event: coloured station noise that triggered the detector"),
    ("icequake", 0.22, "impulsive broadband crack, 8-16 Hz, decaying within a second"),
    ("emergent_burst", 0.14, "band-limited 6-12 Hz noise with a slow rise and decay (ice-shelf rumble)"),
    ("swell_low_frequency", 0.10, "long, emergent energy at the 3-4.5 Hz floor of the band (swell-driven flexure)"),
    ("doublet", 0.08, "two impulsive arrivals of one source 0.6-1.8 s apart (repeating fracture)"),
    ("dispersed_arrival", 0.07, "a downward chirp from ~16 to ~4 Hz over seconds (dispersed teleseismic-like wave)"),
    ("harmonic_tremor", 0.06, "steady fundamental 3.5-6 Hz with overtones (resonating fluid or rift)"),
    ("gliding_tremor", 0.05, "harmonic tremor whose fundamental glides 0.3-1.5 Hz/s up or down"),
]
CLASS_NAMES = [c[0] for c in CLASSES]
STATIONS = [f"DR{i:02d}" for i in range(1, 17)] + [f"RS{i:02d}" for i in range(1, 19)]
BLOCK = 2048
DURATION_S = 16.0
START, END = dt.datetime(2014, 12, 1), dt.datetime(2016, 11, 30)


def _band_noise(rng, m, n, fs, fc, bw):
    """Gaussian-spectrum noise centred on fc (m,) with width bw (m,), unit RMS, shaped in the FFT domain."""
    f = np.fft.rfftfreq(n, 1 / fs)[None, :]
    shape = np.exp(-0.5 * ((f - fc[:, None]) / bw[:, None]) ** 2)
    spec = (rng.standard_normal((m, f.size)) + 1j * rng.standard_normal((m, f.size))) * shape
    x = np.fft.irfft(spec, n=n, axis=1)
    return x / (x.std(axis=1, keepdims=True) + 1e-12)


def _decay(t, t0, tau):
    return np.where(t >= t0, np.exp(-np.clip(t - t0, 0, None) / tau), 0.0)


def _harmonics(rng, t, t0, f0, rate, dur):
    m = len(f0)
    tt = t[None, :] - t0[:, None]
    phase = 2 * np.pi * (f0[:, None] * tt + 0.5 * rate[:, None] * tt**2)
    amp = np.array([1.0, 0.6, 0.35])
    x = sum(a * np.sin(k * phase + rng.uniform(0, 2 * np.pi, (m, 1))) for k, a in zip((1, 2, 3), amp))
    env = np.clip(tt / 0.5, 0, 1) * np.clip((dur[:, None] - tt) / 0.5, 0, 1)
    return x * env


def _events(rng, cls, t, fs):
    """Unit-peak signals (m, n) for class index cls, and the detection-peak time (m,) in s."""
    m, n = len(cls), t.size
    x = np.zeros((m, n))
    t0 = rng.uniform(6.0, 9.0, m)
    u = lambda lo, hi: rng.uniform(lo, hi, m)  # noqa: E731
    name = CLASS_NAMES[cls[0]]
    if name == "background_noise":
        return x, t0
    if name in ("icequake", "doublet"):
        fc, tau = u(8, 16), u(0.15, 0.6)
        carrier = _band_noise(rng, m, n, fs, fc, u(2, 4))
        x = carrier * _decay(t[None], t0[:, None], tau[:, None])
        if name == "doublet":
            gap, ratio = u(0.6, 1.8), u(0.35, 1.0)
            x += ratio[:, None] * np.roll(carrier, 7, axis=1) * _decay(t[None], (t0 + gap)[:, None], tau[:, None])
    elif name == "emergent_burst":
        rise, fall = u(1.0, 2.0), u(1.0, 2.5)
        tt = t[None] - t0[:, None]
        env = np.clip((tt + rise[:, None]) / rise[:, None], 0, 1) * np.exp(-np.clip(tt, 0, None) / fall[:, None])
        x = _band_noise(rng, m, n, fs, u(6, 12), u(1.5, 3.5)) * env
    elif name == "swell_low_frequency":
        env = np.exp(-0.5 * ((t[None] - t0[:, None]) / u(1.5, 3.0)[:, None]) ** 2)
        x = _band_noise(rng, m, n, fs, u(3.2, 4.5), u(0.4, 0.8)) * env
    elif name == "dispersed_arrival":
        dur, f1, f2 = u(2.5, 4.0), u(13, 17), u(3.5, 5)
        tt = np.clip(t[None] - t0[:, None], 0, None) / dur[:, None]
        k = np.log(f2 / f1)[:, None]
        phase = 2 * np.pi * f1[:, None] * dur[:, None] * (np.exp(k * tt) - 1) / k
        env = np.sin(np.pi * np.clip(tt, 0, 1)) ** 2
        x = np.sin(phase) * env
    else:  # harmonic or gliding tremor
        rate = np.zeros(m) if name == "harmonic_tremor" else rng.choice([-1, 1], m) * u(0.3, 1.5)
        f0 = u(3.5, 6.0) + np.where(rate < 0, 1.5, 0.0)
        x = _harmonics(rng, t, t0 - 1.0, f0, rate, u(2.5, 5.0))
        t0 = t0 + 0.5
    return x / (np.abs(x).max(axis=1, keepdims=True) + 1e-12), t0


def _station_noise(rng, stations, n):
    """Coloured noise whose level and low-frequency tilt depend on the station."""
    st_rng = np.random.default_rng(12345)  # station character is a property of the network, not the seed
    level = st_rng.lognormal(0, 0.4, len(STATIONS))[stations]
    tilt = st_rng.uniform(0.5, 0.95, len(STATIONS))[stations]
    white = rng.standard_normal((len(stations), n))
    red = np.empty_like(white)
    acc = np.zeros(len(stations))
    for i in range(n):  # first-order IIR, vectorised over rows
        acc = tilt * acc + white[:, i]
        red[:, i] = acc
    red /= red.std(axis=1, keepdims=True)
    return level[:, None] * (0.6 * white + 0.4 * red)


def synth_block(seed: int, block: int, n_rows: int, first_row: int, total: int, p: SpectrogramParams):
    """Spectrograms, traces, catalogue rows and labels of one block of the benchmark."""
    rng = np.random.default_rng([seed, block])
    fs = p.fs
    n = int(DURATION_S * fs)
    t = np.arange(n) / fs
    shares = np.array([c[1] for c in CLASSES])
    labels = rng.choice(len(CLASSES), size=n_rows, p=shares / shares.sum())
    stations = rng.integers(0, len(STATIONS), n_rows)
    noise = _station_noise(rng, stations, n)
    signal_ = np.zeros((n_rows, n))
    peak_t = np.zeros(n_rows)
    for c in range(len(CLASSES)):
        rows = np.flatnonzero(labels == c)
        if rows.size:
            signal_[rows], peak_t[rows] = _events(rng, np.full(rows.size, c), t, fs)
    snr = np.exp(rng.uniform(np.log(1.5), np.log(40.0), n_rows))
    scale = np.exp(rng.uniform(np.log(1e-8), np.log(1e-6), n_rows))  # m/s
    x = scale[:, None] * (snr[:, None] * signal_ + noise)
    x = bandpass(x.astype(np.float32), fs, p.fmin, p.fmax)
    peak = np.clip((peak_t * fs).astype(int), 0, n - 1)
    spec, traces, first = spectrograms(x, peak, p)
    span = (END - START).total_seconds()
    cat = []
    for i in range(n_rows):
        on = START + dt.timedelta(seconds=span * (first_row + i + rng.uniform()) / total)
        cat.append(catalogue_row(on, peak_t[i], first[i], traces[i], STATIONS[stations[i]], CLASS_NAMES[labels[i]],
                                 p))
    return spec, traces, cat, labels.astype(np.int16)


def catalogue_row(on: dt.datetime, peak_t: float, first: int, trace, station: str, class_name: str,
                  p: SpectrogramParams) -> dict:
    """The catalogue entry of one synthetic detection triggered at `on` (the RIS fields, plus its class)."""
    fs = p.fs
    t_peak = on + dt.timedelta(seconds=float(peak_t - 6.0))
    spec_start = on + dt.timedelta(seconds=float(first / fs - 6.0))
    return {
        "network": "XH", "station": station, "channel": "HHZ",
        "dt_on": on.isoformat(), "dt_off": (on + dt.timedelta(seconds=4)).isoformat(),
        "dt_peak": t_peak.isoformat(), "peak": float(np.abs(trace).max()), "unit": "m/s",
        "fs": fs, "delta": 1 / fs, "npts": p.trace_len, "STA": 0.5, "LTA": 30.0, "on": 15.0, "off": 10.0,
        "spec_start": spec_start.isoformat(),
        "spec_stop": (spec_start + dt.timedelta(seconds=p.n_frames * p.hop / fs)).isoformat(),
        "class": class_name,
    }


def write_synthetic(path, n_rows: int, seed: int = 0, progress=None, workers: int | None = None,
                    distinct_rows: int | None = None) -> None:
    """Write the benchmark of `n_rows` rows to `path` (RIS layout plus /4.0/Label), block by block.

    workers: processes making blocks at once (default: one per core when there are more than two
    blocks); the file is the same for any number. distinct_rows: make only the blocks holding the
    first distinct_rows rows and repeat them up to n_rows, their catalogue times moved on so that
    time still increases: a file of the full size in seconds, for timing only (its repeated events
    say nothing about cluster quality).
    """
    p = SpectrogramParams()
    spans = [(b, lo, min(BLOCK, n_rows - lo)) for b, lo in enumerate(range(0, n_rows, BLOCK))]
    made = spans if distinct_rows is None else spans[:max(1, -(-distinct_rows // BLOCK))]
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), len(made)) if len(made) > 2 else 1  # the cores this process may use
    with RISWriter(path, p.freqs, p.times, trace_len=p.trace_len, class_names=CLASS_NAMES) as w:
        blocks = _blocks(seed, made, n_rows, p, workers)
        kept = []
        for (b, lo, m), block in zip(made, blocks):
            w.write(*block)
            if distinct_rows is not None:
                kept.append((lo, block))
            if progress is not None:
                progress(m)
        for b, lo, m in spans[len(made):]:
            src_lo, (spec, traces, cat, labels) = kept[b % len(kept)]  # a full block: only the last is short
            shift = dt.timedelta(seconds=(END - START).total_seconds() * (lo - src_lo) / n_rows)
            w.write(spec[:m], traces[:m], [_moved(r, shift) for r in cat[:m]], labels[:m])
            if progress is not None:
                progress(m)


def _blocks(seed, spans, total, p, workers):
    """The blocks' contents, in order; made by `workers` processes, a few blocks ahead of the writer at most."""
    if workers <= 1:
        for b, lo, m in spans:
            yield synth_block(seed, b, m, lo, total, p)
        return
    # spawn, not fork: the parent may hold threads (PyTorch, BLAS) that a forked child would inherit mid-lock
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending = []
        for b, lo, m in spans:
            pending.append(pool.submit(synth_block, seed, b, m, lo, total, p))
            if len(pending) > workers + 1:  # bounded: a block of 2,048 rows is 73 MB
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()


def _moved(row: dict, shift: dt.timedelta) -> dict:
    """A catalogue row with its times moved on by `shift` (for a repeated block)."""
    out = dict(row)
    for key in ("dt_on", "dt_off", "dt_peak", "spec_start", "spec_stop"):
        out[key] = (dt.datetime.fromisoformat(row[key]) + shift).isoformat()
    return out
