"""A synthetic scenario that behaves like a real ice-shelf deployment (`gpuclust synth --scenario deployment`).

The benchmark generator (gpuclust.data.synth) draws every row independently; real monitoring data are
not like that. Here every detection has a time on a continuous timeline and a station, and what it is
depends on both, through rules a seismologist would recognise:

  rates over time
    icequake, doublet     thermal cracking: a daily cycle (most in the afternoon) times exp(temperature / 8 C);
                          the temperature series is written beside the file (<file>.temperature.csv)
    swell_low_frequency   driven by a tide-like series (semi-diurnal M2 + S2: a spring-neap cycle), written
                          beside the file (<file>.tide.csv): rate proportional to the tidal amplitude squared
    harmonic_tremor,      episodes: swarms lasting 2-10 hours starting a few times a week at a group of
    gliding_tremor        nearby stations, silent in between
    dispersed_arrival     teleseismic-like: one origin time seen by every station within a minute
    emergent_burst        steady, mostly at the ice-front stations
    calving               a rare class that only begins in the second half of the timeline, at the front
  stations
    DR01-DR04 lie at the ice front (emergent bursts, icequakes and calving mostly there); RS01-RS04 lie
    inland, where icequakes are 4x rarer; DR05 has an 8-12 Hz noise hump of its own (a noisy station
    whose noise forms its own cluster); RS04's digitiser throws spikes and steps
  amplitude and SNR depend on the class (swell and calving strong, tremor weak, glitches strong)
  instrument glitches and cultural noise (classes the run should call unknown)
    spike                 a single-sample spike (a broadband line in the spectrogram), mostly RS04
    step                  an offset step with a short dropout, mostly RS04
    hum                   a narrow-band 16.7 Hz line from a generator at DR02, on during working hours
Ground truth is stored as in the benchmark (/4.0/Label with class_names, the catalogue's "class").

Deterministic per seed; any size: the N events are N independent draws from the normalised intensity
(which, given N, is what a Poisson process with that intensity gives), then the waveforms are
synthesised and written block by block, each block seeded from (seed, block), without holding the file.
"""
from __future__ import annotations

import csv
import datetime as dt

import numpy as np

from ..atomic import atomic_path
from .ris_writer import RISWriter
from .make_spectrograms import SpectrogramParams, bandpass, spectrograms
from .synth import CLASS_NAMES as BENCHMARK_CLASSES
from .synth import DURATION_S, _band_noise, _decay, _events, catalogue_row

CLASSES = BENCHMARK_CLASSES + ["spike", "step", "hum", "calving"]
GLITCHES = ("spike", "step", "hum")
LATE_CLASS = "calving"
STATIONS = ["DR01", "DR02", "DR03", "DR04", "DR05", "RS01", "RS02", "RS03", "RS04"]
FRONT = {"DR01", "DR02", "DR03", "DR04"}
NOISY_STATION = "DR05"
GLITCHY_STATION = "RS04"
HUM_STATION = "DR02"
START = dt.datetime(2015, 1, 1)
DAYS = 120
BIN_S = 600.0  # intensity resolution: ten minutes
BLOCK = 1024
# Relative rates of the classes (events per station-hour at a typical time and station).
BASE_RATE = {"background_noise": 2.0, "icequake": 2.0, "emergent_burst": 1.0, "swell_low_frequency": 0.6,
             "doublet": 0.5, "dispersed_arrival": 0.0, "harmonic_tremor": 0.0, "gliding_tremor": 0.0,
             "spike": 0.08, "step": 0.04, "hum": 0.0, "calving": 0.0}
# log-uniform SNR range per class: amplitude depends on what the event is
SNR = {"icequake": (2.0, 60.0), "emergent_burst": (1.5, 15.0), "swell_low_frequency": (3.0, 25.0),
       "doublet": (2.0, 40.0), "dispersed_arrival": (2.0, 12.0), "harmonic_tremor": (1.5, 8.0),
       "gliding_tremor": (1.5, 8.0), "spike": (30.0, 300.0), "step": (20.0, 200.0), "hum": (3.0, 10.0),
       "calving": (8.0, 80.0)}


# -- drivers: smooth environmental series ---------------------------------------------------------

def hours(days: int = DAYS) -> np.ndarray:
    return np.arange(0, days * 24, 1.0)


def temperature(h, rng_seed: int) -> np.ndarray:
    """Air temperature (C): a daily cycle (warmest 15:00) on slow synoptic swings and a warming trend."""
    r = np.random.default_rng([rng_seed, 7001])
    phases = r.uniform(0, 2 * np.pi, 3)
    days = h / 24.0
    synoptic = sum(a * np.sin(2 * np.pi * days / p + ph) for a, p, ph in zip((4.0, 2.5, 1.5), (9.0, 4.3, 2.7), phases))
    return -8.0 + 0.05 * days + 5.0 * np.sin(2 * np.pi * (h % 24 - 9) / 24) + synoptic


def tide(h) -> np.ndarray:
    """Sea level (m): M2 (12.42 h) plus S2 (12.00 h), whose beat is the 14.8-day spring-neap cycle."""
    return 0.8 * np.cos(2 * np.pi * h / 12.4206) + 0.35 * np.cos(2 * np.pi * h / 12.0)


def tidal_amplitude(h) -> np.ndarray:
    """Envelope of the semi-diurnal tide: large at spring tides, small at neap tides."""
    beat = 2 * np.pi * h * (1 / 12.0 - 1 / 12.4206)
    return np.sqrt(0.8 ** 2 + 0.35 ** 2 + 2 * 0.8 * 0.35 * np.cos(beat))


# -- the intensity over time x station x class ---------------------------------------------------

def intensity(seed: int, days: int = DAYS):
    """lambda[time bin, station, class] (relative), and the episodes of tremor that shape it."""
    r = np.random.default_rng([seed, 7002])
    n_bins = int(days * 86400 / BIN_S)
    t_h = (np.arange(n_bins) + 0.5) * BIN_S / 3600.0  # bin centres in hours
    lam = np.zeros((n_bins, len(STATIONS), len(CLASSES)))
    front = np.array([s in FRONT for s in STATIONS])
    temp = np.interp(t_h, hours(days), temperature(hours(days), seed))
    daily = 1.0 + 0.8 * np.sin(2 * np.pi * (t_h % 24 - 9) / 24)  # afternoon maximum
    thermal = daily * np.exp(temp / 8.0)
    thermal /= thermal.mean()
    swell = tidal_amplitude(t_h) ** 2
    swell /= swell.mean()
    c = {name: i for i, name in enumerate(CLASSES)}
    station_scale = np.where(front, 1.0, 0.25)
    lam[:, :, c["background_noise"]] = BASE_RATE["background_noise"]
    lam[:, STATIONS.index(NOISY_STATION), c["background_noise"]] *= 2.5
    lam[:, :, c["icequake"]] = BASE_RATE["icequake"] * thermal[:, None] * station_scale[None, :]
    lam[:, :, c["doublet"]] = BASE_RATE["doublet"] * thermal[:, None] * station_scale[None, :]
    lam[:, :, c["swell_low_frequency"]] = BASE_RATE["swell_low_frequency"] * swell[:, None]
    lam[:, :, c["emergent_burst"]] = BASE_RATE["emergent_burst"] * np.where(front, 1.0, 0.1)[None, :]
    glitchy = STATIONS.index(GLITCHY_STATION)
    for g in ("spike", "step"):
        lam[:, :, c[g]] = BASE_RATE[g]
        lam[:, glitchy, c[g]] *= 40.0
    work = ((t_h % 24) >= 8) & ((t_h % 24) < 17) & (((t_h // 24) % 7) < 5)  # weekdays, 8-17
    lam[:, STATIONS.index(HUM_STATION), c["hum"]] = 12.0 * work
    half = n_bins // 2
    lam[half:, :, c["calving"]] = 1.2 * front[None, :]
    episodes = []
    for name in ("harmonic_tremor", "gliding_tremor"):
        n_ep = r.poisson(days * 3 / 7)  # about three swarms a week
        for _ in range(n_ep):
            start = r.uniform(0, n_bins)
            length = r.uniform(2, 10) * 3600 / BIN_S
            group = r.choice(len(STATIONS), size=r.integers(2, 5), replace=False)
            lo, hi = int(start), int(min(n_bins, start + length))
            lam[lo:hi + 1, group, c[name]] += r.uniform(8, 20)
            episodes.append({"class": name, "start_h": float(lo * BIN_S / 3600), "end_h": float(hi * BIN_S / 3600),
                             "stations": [STATIONS[g] for g in group]})
    return lam, episodes


def draw_events(n_rows: int, seed: int, days: int = DAYS):
    """(times in s from START sorted, station index, class index) of n_rows detections, and the tremor episodes."""
    lam, episodes = intensity(seed, days)
    r = np.random.default_rng([seed, 7003])
    n_tele = int(round(0.04 * n_rows / len(STATIONS))) if n_rows >= 200 else 0
    n_local = n_rows - n_tele * len(STATIONS)
    p = lam.ravel() / lam.sum()
    cells = np.sort(r.choice(p.size, size=n_local, p=p))
    t_bin, rest = np.divmod(cells, lam.shape[1] * lam.shape[2])
    station, cls = np.divmod(rest, lam.shape[2])
    times = (t_bin + r.uniform(size=n_local)) * BIN_S
    # Teleseismic-like arrivals: every station within a minute of one origin time.
    origin = r.uniform(0, days * 86400 - 120, n_tele)
    t_tele = (origin[:, None] + r.uniform(0, 60, (n_tele, len(STATIONS)))).ravel()
    s_tele = np.tile(np.arange(len(STATIONS)), n_tele)
    c_tele = np.full(t_tele.size, CLASSES.index("dispersed_arrival"))
    times = np.concatenate([times, t_tele])
    station = np.concatenate([station, s_tele])
    cls = np.concatenate([cls, c_tele])
    order = np.argsort(times, kind="stable")
    return times[order], station[order], cls[order], episodes


# -- waveforms of the classes the benchmark does not have ----------------------------------------------

def _extra_events(rng, name: str, m: int, t, fs):
    """Unit-peak signals (m, n) of a glitch or the late class, and the detection-peak time (m,)."""
    n = t.size
    t0 = rng.uniform(6.0, 9.0, m)
    x = np.zeros((m, n))
    idx = np.clip((t0 * fs).astype(int), 0, n - 1)
    if name == "spike":
        x[np.arange(m), idx] = rng.choice([-1.0, 1.0], m)
    elif name == "step":
        step = np.where(t[None, :] >= t0[:, None], rng.uniform(0.5, 1.0, m)[:, None], 0.0)
        gap = (t[None, :] >= t0[:, None] + 0.2) & (t[None, :] < t0[:, None] + rng.uniform(0.3, 1.0, m)[:, None])
        x = np.where(gap, 0.0, step)  # an offset, then a short dropout of the digitiser
    elif name == "hum":
        f = 16.67 + rng.normal(0, 0.05, m)
        env = np.clip((t[None, :] - 1.0) / 1.0, 0, 1) * np.clip((15.0 - t[None, :]) / 1.0, 0, 1)
        x = np.sin(2 * np.pi * f[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (m, 1))) * env
        t0 = np.full(m, 8.0)
    elif name == "calving":
        rise, fall = rng.uniform(0.3, 0.8, m), rng.uniform(3.0, 6.0, m)
        tt = t[None, :] - t0[:, None]
        env = np.clip((tt + rise[:, None]) / rise[:, None], 0, 1) * np.exp(-np.clip(tt, 0, None) / fall[:, None])
        low = _band_noise(rng, m, n, fs, rng.uniform(3.0, 4.5, m), rng.uniform(0.8, 1.5, m))
        high = _band_noise(rng, m, n, fs, rng.uniform(9.0, 14.0, m), rng.uniform(2.0, 4.0, m))
        x = (low + 0.6 * high * _decay(t[None, :], t0[:, None], 0.8)) * env
    return x / (np.abs(x).max(axis=1, keepdims=True) + 1e-12), t0


def _station_noise(rng, stations: np.ndarray, n: int, fs: float):
    """Coloured noise with a character per station; the noisy station adds an 8-12 Hz hump of its own."""
    st = np.random.default_rng(54321)  # a property of the network, not of the seed
    level = st.lognormal(0, 0.3, len(STATIONS))[stations]
    tilt = st.uniform(0.5, 0.95, len(STATIONS))[stations]
    white = rng.standard_normal((len(stations), n))
    red = np.empty_like(white)
    acc = np.zeros(len(stations))
    for i in range(n):
        acc = tilt * acc + white[:, i]
        red[:, i] = acc
    red /= red.std(axis=1, keepdims=True)
    noise = 0.6 * white + 0.4 * red
    noisy = stations == STATIONS.index(NOISY_STATION)
    if noisy.any():
        k = int(noisy.sum())
        noise[noisy] += 1.5 * _band_noise(rng, k, n, fs, np.full(k, 10.0), np.full(k, 1.2))
    return level[:, None] * noise


def scenario_block(seed: int, block: int, times, station, cls, p: SpectrogramParams):
    """Spectrograms, traces, catalogue rows and labels of one block of the scenario."""
    rng = np.random.default_rng([seed, block, 7004])
    fs = p.fs
    n = int(DURATION_S * fs)
    t = np.arange(n) / fs
    m = len(times)
    noise = _station_noise(rng, station, n, fs)
    sig = np.zeros((m, n))
    peak_t = rng.uniform(6.0, 9.0, m)
    snr = np.ones(m)
    for c in np.unique(cls):
        rows = np.flatnonzero(cls == c)
        name = CLASSES[c]
        if name == "background_noise":
            continue
        if c < len(BENCHMARK_CLASSES):
            sig[rows], peak_t[rows] = _events(rng, np.full(rows.size, c), t, fs)
        else:
            sig[rows], peak_t[rows] = _extra_events(rng, name, rows.size, t, fs)
        lo, hi = SNR[name]
        snr[rows] = np.exp(rng.uniform(np.log(lo), np.log(hi), rows.size))
        if name in ("icequake", "doublet", "calving"):
            snr[rows] *= np.where(np.isin(station[rows], [STATIONS.index(s) for s in FRONT]), 1.5, 0.7)
    scale = np.exp(rng.uniform(np.log(1e-8), np.log(1e-6), m))  # m/s
    x = scale[:, None] * (snr[:, None] * sig + noise)
    x = bandpass(x.astype(np.float32), fs, p.fmin, p.fmax)
    peak = np.clip((peak_t * fs).astype(int), 0, n - 1)
    spec, traces, first = spectrograms(x, peak, p)
    cat = [catalogue_row(START + dt.timedelta(seconds=float(times[i])), peak_t[i], first[i], traces[i],
                         STATIONS[station[i]], CLASSES[cls[i]], p) for i in range(m)]
    return spec, traces, cat, cls.astype(np.int16)


def write_drivers(path, seed: int, days: int = DAYS) -> list[str]:
    """<path>.temperature.csv and <path>.tide.csv: hourly time,value rows over the timeline."""
    h = hours(days)
    made = []
    for name, values in (("temperature", temperature(h, seed)), ("tide", tide(h))):
        out = f"{path}.{name}.csv"
        with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["time", "value"])
            for hh, v in zip(h, values):
                w.writerow([(START + dt.timedelta(hours=float(hh))).isoformat(), f"{v:.4f}"])
        made.append(out)
    return made


def write_deployment(path, n_rows: int, seed: int = 0, progress=None, days: int = DAYS) -> dict:
    """Write the deployment scenario of n_rows detections to `path` (RIS layout plus /4.0/Label) and its drivers."""
    import json

    p = SpectrogramParams()
    times, station, cls, episodes = draw_events(n_rows, seed, days)
    with RISWriter(path, p.freqs, p.times, trace_len=p.trace_len, class_names=CLASSES) as w:
        for b, lo in enumerate(range(0, n_rows, BLOCK)):
            hi = min(lo + BLOCK, n_rows)
            w.write(*scenario_block(seed, b, times[lo:hi], station[lo:hi], cls[lo:hi], p))
            if progress is not None:
                progress(hi - lo)
    drivers = write_drivers(path, seed, days)
    info = {"scenario": "deployment", "rows": n_rows, "seed": seed, "start": START.isoformat(), "days": days,
            "stations": STATIONS, "front": sorted(FRONT), "noisy_station": NOISY_STATION,
            "glitchy_station": GLITCHY_STATION, "hum_station": HUM_STATION, "classes": CLASSES,
            "glitches": list(GLITCHES), "late_class": LATE_CLASS, "late_class_from": (START + dt.timedelta(
                days=days / 2)).isoformat(), "drivers": drivers, "tremor_episodes": episodes}
    with atomic_path(f"{path}.scenario.json") as tmp, open(tmp, "w") as fh:
        json.dump(info, fh, indent=2)
    return info
