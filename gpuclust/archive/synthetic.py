"""A synthetic continuous archive (`gpuclust synth --archive DIR`): SDS miniSEED day files at 100 Hz.

The deployment scenario's events (gpuclust.data.scenario: when, where and what) are planted in
continuous station noise, one file per station-day, with a StationXML inventory whose response is
flat over the 3-20 Hz band (so counts / sensitivity is the ground motion there) and the catalogue of
planted events, so that a detector's recall and the archive's throughput can be measured at any size.

An event whose waveform runs across midnight is written into both day files, as a real recorder would.
Noise is drawn per station-day from (seed, station, day): any day can be regenerated alone.
"""
from __future__ import annotations

import csv
import datetime as dt
import os

import numpy as np
from scipy import signal

from ..data import scenario
from ..data.synth import CLASS_NAMES as BENCHMARK_CLASSES
from ..data.synth import _events

FS = 100.0
NETWORK, CHANNEL = "XH", "HHZ"
SENSITIVITY = 5.0e8  # counts per m/s, flat in band
NOISE_MS = 2.5e-7  # typical ground-velocity noise (m/s): about 125 counts
EVENTS_PER_STATION_DAY = 24
EVENT_S = 16.0
START = dt.date(2015, 1, 1)


def station_names(n: int) -> list[str]:
    names = list(scenario.STATIONS)
    return names[:n] if n <= len(names) else names + [f"S{k:03d}" for k in range(len(names), n)]


def sds_path(root, station: str, day: dt.date, net: str = NETWORK, loc: str = "", cha: str = CHANNEL) -> str:
    doy = day.timetuple().tm_yday
    return os.path.join(root, f"{day.year}", net, station, f"{cha}.D", f"{net}.{station}.{loc}.{cha}.D.{day.year}.{doy:03d}")


def plant_events(days: int, n_stations: int, seed: int = 0, per_station_day: float = EVENTS_PER_STATION_DAY):
    """Planted events: dicts with time (s from START), station index, class, snr; noise triggers left out."""
    events = []
    for group in range(0, n_stations, len(scenario.STATIONS)):
        width = min(len(scenario.STATIONS), n_stations - group)
        n = int(round(per_station_day * len(scenario.STATIONS) * days))
        times, station, cls, _ = scenario.draw_events(n, seed + group, days)
        r = np.random.default_rng([seed, group, 8001])
        for t, s, c in zip(times, station, cls):
            name = scenario.CLASSES[c]
            if s >= width or name == "background_noise" or t > days * 86400 - EVENT_S:
                continue
            lo, hi = scenario.SNR[name]
            events.append({"time": float(t), "station": int(group + s), "class": name,
                           "snr": float(np.exp(r.uniform(np.log(lo), np.log(hi))))})
    events.sort(key=lambda e: (e["time"], e["station"]))
    for i, e in enumerate(events):
        e["id"] = i
    return events


def event_waveform(e: dict, seed: int):
    """(unit-peak signal at FS over EVENT_S s, seconds from its start to the detection peak), seeded by the event."""
    rng = np.random.default_rng([seed, e["id"], 8002])
    t = np.arange(int(EVENT_S * FS)) / FS
    c = scenario.CLASSES.index(e["class"])
    if c < len(BENCHMARK_CLASSES):
        x, t0 = _events(rng, np.array([c]), t, FS)
    else:
        x, t0 = scenario._extra_events(rng, e["class"], 1, t, FS)
    return x[0], float(t0[0])


def station_noise(seed: int, station: int, day: int, n: int) -> np.ndarray:
    """Coloured noise (m/s) with a level and tilt of the station's own, drawn from (seed, station, day)."""
    net = np.random.default_rng([54321, station])  # a property of the network, not of the seed
    level, tilt = net.lognormal(0, 0.3), net.uniform(0.5, 0.95)
    white = np.random.default_rng([seed, station, day, 8003]).standard_normal(n)
    red = signal.lfilter([1.0], [1.0, -tilt], white)
    red /= red.std()
    return NOISE_MS * level * (0.6 * white + 0.4 * red)


def day_counts(seed: int, station: int, day: int, events: list[dict], day_s: float = 86400.0) -> np.ndarray:
    """One station-day in counts (int32): noise plus every planted event overlapping the day (its first day_s s)."""
    n = int(day_s * FS)
    x = station_noise(seed, station, day, n)
    lo = day * 86400.0
    for e in events:
        if e["station"] != station:
            continue
        w, t0 = event_waveform(e, seed)
        first = int(round((e["time"] - t0 - lo) * FS))  # the detection peak falls at the planted time
        a, b = max(first, 0), min(first + w.size, n)
        if a < b:
            x[a:b] += e["snr"] * NOISE_MS * w[a - first:b - first]
    return np.round(x * SENSITIVITY).astype(np.int32)


def inventory(stations: list[str], start: dt.date):
    """StationXML inventory: a broadband velocity sensor, flat from 0.05 Hz to well above 20 Hz."""
    from obspy import UTCDateTime
    from obspy.core.inventory import Channel, Inventory, Network, Site, Station
    from obspy.core.inventory.response import Response

    zeros = [0j, 0j]
    poles = [-0.0444 + 0.0444j, -0.0444 - 0.0444j, -222.0 + 222.0j, -222.0 - 222.0j]
    t0 = UTCDateTime(start.isoformat())
    stas = []
    for k, name in enumerate(stations):
        resp = Response.from_paz(zeros, poles, stage_gain=SENSITIVITY, input_units="M/S", output_units="COUNTS",
                                 normalization_frequency=5.0)
        ch = Channel(CHANNEL, "", latitude=-78.0 - 0.1 * k, longitude=178.0, elevation=50.0, depth=0.0,
                     sample_rate=FS, response=resp, start_date=t0)
        stas.append(Station(name, latitude=-78.0 - 0.1 * k, longitude=178.0, elevation=50.0, channels=[ch],
                            site=Site(name=f"synthetic {name}"), start_date=t0))
    return Inventory(networks=[Network(NETWORK, stations=stas, start_date=t0)], source="gpuclust synth --archive")


def write_archive(root, days: int, n_stations: int, seed: int = 0, start: dt.date = START,
                  per_station_day: float = EVENTS_PER_STATION_DAY, events: list[dict] | None = None,
                  progress=None, day_s: float = 86400.0) -> dict:
    """Write the archive under `root`: SDS day files, root/inventory.xml, root/catalogue.csv.

    `events` replaces the scenario's (dicts with time in s from `start`, station index, class, snr).
    day_s < 86400 writes only the first day_s seconds of every day (a quick archive for tests: the days
    are then not continuous, and the planted events outside the recorded hours are left out).
    Returns the paths written and the number of planted events.
    """
    from obspy import Stream, Trace, UTCDateTime

    from ..atomic import atomic_path

    names = station_names(n_stations)
    events = plant_events(days, n_stations, seed, per_station_day) if events is None else \
        [{"id": i, **e} for i, e in enumerate(events)]
    events = [e for e in events if (e["time"] % 86400) < day_s - EVENT_S]
    by_station = {s: [e for e in events if e["station"] == s] for s in range(n_stations)}
    for s, name in enumerate(names):
        for d in range(days):
            day = start + dt.timedelta(days=d)
            near = [e for e in by_station[s] if -EVENT_S < e["time"] - d * 86400 < 86400 + EVENT_S]
            tr = Trace(day_counts(seed, s, d, near, day_s), header={
                "network": NETWORK, "station": name, "location": "", "channel": CHANNEL, "sampling_rate": FS,
                "starttime": UTCDateTime(day.isoformat())})
            path = sds_path(root, name, day)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with atomic_path(path) as tmp:
                Stream([tr]).write(tmp, format="MSEED", encoding="STEIM2", reclen=4096)
            if progress:
                progress(1)
    inv_path = os.path.join(root, "inventory.xml")
    with atomic_path(inv_path) as tmp:
        inventory(names, start).write(tmp, format="STATIONXML")
    cat_path = os.path.join(root, "catalogue.csv")
    t0 = dt.datetime.combine(start, dt.time())
    with atomic_path(cat_path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "time", "network", "station", "channel", "class", "snr", "peak_m_s"])
        for e in events:
            w.writerow([e["id"], (t0 + dt.timedelta(seconds=e["time"])).isoformat(timespec="milliseconds"),
                        NETWORK, names[e["station"]], CHANNEL, e["class"], f"{e['snr']:.3f}",
                        f"{e['snr'] * NOISE_MS:.4e}"])
    return {"root": os.fspath(root), "inventory": inv_path, "catalogue": cat_path, "events": len(events),
            "station_days": days * n_stations}


def read_planted(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
