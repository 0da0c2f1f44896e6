"""The deployment scenario keeps its rules, and the benchmark generator stays exactly as it was."""
import csv
import datetime as dt
import hashlib
import json

import h5py
import numpy as np
import pytest

from gpuclust.data import scenario as sc
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.synth import write_synthetic

# Content of `gpuclust synth -n 300 --seed 0` as the benchmark generator wrote it before the scenarios
# existed (the default data and every published figure depend on it): datasets, attributes, catalogue CSV.
BENCHMARK_300_SEED0 = "cce23b0d122a3b6d5d90ecde775507d763766843d23c890ba92eb4e4ffc3ee0f"
BENCHMARK_300_SEED0_CSV = "e304916c0b40486024d497b9884512b77f1423775985943dfe3a6d7f368035eb"


def content_digest(path) -> str:
    h = hashlib.sha256()
    with h5py.File(path) as f:
        g = f["4.0"]
        for name in ("Spectrogram", "Trace", "Label"):
            h.update(name.encode())
            h.update(np.ascontiguousarray(g[name][:]).tobytes())
        for s in g["Catalogue"][:]:
            h.update(s if isinstance(s, bytes) else s.encode())
        h.update(repr(sorted((k, str(v)) for k, v in g.attrs.items())).encode())
        h.update(repr(sorted((k, str(v)) for k, v in g["Spectrogram"].attrs.items())).encode())
        h.update(str(g["Label"].attrs["class_names"]).encode())
    return h.hexdigest()


def test_the_benchmark_generator_is_unchanged(tmp_path):
    write_synthetic(tmp_path / "b.h5", 300, seed=0)
    assert content_digest(tmp_path / "b.h5") == BENCHMARK_300_SEED0
    assert hashlib.sha256((tmp_path / "b.h5.csv").read_bytes()).hexdigest() == BENCHMARK_300_SEED0_CSV


@pytest.fixture(scope="module")
def events():
    """60,000 draws of the scenario's detections (times, stations, classes): the rules, without waveforms."""
    return sc.draw_events(60_000, seed=3)


def hourly(times, mask, days=sc.DAYS):
    return np.bincount((times[mask] // 3600).astype(int), minlength=days * 24)


def test_the_late_class_is_absent_from_the_first_half(events):
    t, s, c, _ = events
    late = c == sc.CLASSES.index("calving")
    half = sc.DAYS * 86400 / 2
    assert not late[t < half].any() and late[t >= half].sum() > 1000
    assert set(np.unique(s[late])) <= {sc.STATIONS.index(x) for x in sc.FRONT}


def test_tremor_comes_in_episodes(events):
    """Tremor happens in swarms of hours, at a few stations at a time, and not in between."""
    t, s, c, episodes = events
    for name in ("harmonic_tremor", "gliding_tremor"):
        mine = [e for e in episodes if e["class"] == name]
        idx = np.flatnonzero(c == sc.CLASSES.index(name))
        inside = np.zeros(idx.size, bool)
        for e in mine:
            st = np.isin(s[idx], [sc.STATIONS.index(x) for x in e["stations"]])
            inside |= st & (t[idx] >= e["start_h"] * 3600) & (t[idx] <= (e["end_h"] + 1) * 3600)
        covered = sum(e["end_h"] - e["start_h"] + 1 for e in mine) / (sc.DAYS * 24)
        assert inside.mean() > 0.99 and covered < 0.5 and len(mine) >= 20
        counts = hourly(t, c == sc.CLASSES.index(name))
        assert counts.var() / counts.mean() > 8  # far more clustered in time than a steady rate (1)


def test_icequakes_follow_temperature_and_the_daily_cycle(events):
    t, _, c, _ = events
    daily = np.bincount((t[c == sc.CLASSES.index("icequake")] // 86400).astype(int), minlength=sc.DAYS)
    temp = sc.temperature(sc.hours(), 3).reshape(sc.DAYS, 24).mean(axis=1)
    assert np.corrcoef(daily, temp)[0, 1] > 0.6
    hour = (t[c == sc.CLASSES.index("icequake")] % 86400) // 3600
    by_hour = np.bincount(hour.astype(int), minlength=24)
    assert by_hour[12:18].sum() > 2 * by_hour[0:6].sum()  # afternoon cracking


def test_swell_follows_the_tide(events):
    t, _, c, _ = events
    daily = np.bincount((t[c == sc.CLASSES.index("swell_low_frequency")] // 86400).astype(int), minlength=sc.DAYS)
    amp = sc.tidal_amplitude(sc.hours()).reshape(sc.DAYS, 24).mean(axis=1)
    assert np.corrcoef(daily, amp)[0, 1] > 0.6  # spring tides, more swell events


def test_stations_see_different_classes(events):
    _, s, c, _ = events
    front = np.isin(s, [sc.STATIONS.index(x) for x in sc.FRONT])
    emergent = c == sc.CLASSES.index("emergent_burst")
    assert emergent[front].mean() > 5 * emergent[~front].mean()
    for glitch in ("spike", "step"):
        g = c == sc.CLASSES.index(glitch)
        assert (s[g] == sc.STATIONS.index(sc.GLITCHY_STATION)).mean() > 0.7
    hum = c == sc.CLASSES.index("hum")
    assert set(np.unique(s[hum])) == {sc.STATIONS.index(sc.HUM_STATION)}
    noise = c == sc.CLASSES.index("background_noise")
    noisy = s == sc.STATIONS.index(sc.NOISY_STATION)
    assert noise[noisy].mean() > 1.5 * noise[~noisy].mean()


def test_teleseismic_arrivals_reach_every_station_at_once(events):
    t, s, c, _ = events
    tele = np.flatnonzero(c == sc.CLASSES.index("dispersed_arrival"))
    first = tele[0]
    close = tele[np.abs(t[tele] - t[first]) < 120]
    assert len(np.unique(s[close])) == len(sc.STATIONS)


def test_a_small_file_written_block_by_block(tmp_path):
    info = sc.write_deployment(tmp_path / "d.h5", 1500, seed=1)
    again = sc.write_deployment(tmp_path / "e.h5", 1500, seed=1)
    assert content_digest(tmp_path / "d.h5") == content_digest(tmp_path / "e.h5")
    with open_spectrograms(tmp_path / "d.h5") as sf:
        assert sf.n_rows == 1500 and sf.class_names == sc.CLASSES
        x = sf.read_block(0, 1500)
        labels, cat = sf.labels(), sf.catalogue()
    assert np.isfinite(x).all()
    times = [dt.datetime.fromisoformat(r["dt_on"]) for r in cat]
    assert times == sorted(times) and times[0] >= sc.START
    assert [r["class"] for r in cat] == [sc.CLASSES[i] for i in labels]
    # the noisy station's noise has its own 8-12 Hz hump
    freqs = sc.SpectrogramParams().freqs
    band = (freqs > 8.5) & (freqs < 11.5)
    noise = labels == sc.CLASSES.index("background_noise")
    stations = np.array([r["station"] for r in cat])
    rel = x[:, band].mean(axis=(1, 2)) / x.mean(axis=(1, 2))
    assert rel[noise & (stations == sc.NOISY_STATION)].mean() > 1.5 * rel[noise & (stations != sc.NOISY_STATION)].mean()
    assert info["drivers"] == again["drivers"][:0] + info["drivers"]
    json.load(open(tmp_path / "d.h5.scenario.json"))


def test_the_drivers_are_written_beside_the_file(tmp_path):
    from gpuclust.pipeline.predict import read_overlay

    sc.write_deployment(tmp_path / "d.h5", 50, seed=2)
    for name in ("temperature", "tide"):
        path = tmp_path / f"d.h5.{name}.csv"
        rows = list(csv.DictReader(open(path)))
        assert len(rows) == sc.DAYS * 24 and rows[0]["time"] == sc.START.isoformat()
        series = read_overlay(str(path))
        assert len(series["times"]) == sc.DAYS * 24 and np.isfinite(series["values"]).all()
        assert series["name"] == name  # d.h5.temperature.csv is drawn as "temperature"


def test_a_driver_is_drawn_over_the_events_time_span_only():
    import datetime as dt

    from gpuclust.plots.figures import clip_overlay

    times = [sc.START + dt.timedelta(hours=h) for h in range(sc.DAYS * 24)]
    series = {"name": "tide", "times": times, "values": np.arange(len(times), dtype=float)}
    lo, hi = sc.START + dt.timedelta(days=60), sc.START + dt.timedelta(days=61)
    part = clip_overlay(series, lo, hi)
    assert part["times"][0] == lo and part["times"][-1] == hi and len(part["values"]) == 25
    assert part["values"][0] == 60 * 24
    assert clip_overlay(series, lo.replace(year=2030), hi.replace(year=2030)) is None
