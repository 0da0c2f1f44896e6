"""From a waveform archive to spectrograms: bad files skipped and named, resume, workers, day boundaries,
instrument response. Archives are made here, small: SDS day files holding a few hours each."""
import csv
import json
import os
import warnings

import h5py
import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime

from gpuclust.archive.job import run_archive
from gpuclust.archive.synthetic import sds_path
from gpuclust.data.make_spectrograms import SpectrogramParams
from gpuclust.data.spectrograms import open_spectrograms
from gpuclust.data.waveforms import DetectionParams
from gpuclust.errors import GpuclustError

FS = 50.0
DAY1 = UTCDateTime("2015-01-01")
MIDNIGHT = DAY1 + 86400


def burst(amplitude, seconds=2.0, f=9.0, fs=FS):
    """A 9 Hz burst with a Hann envelope: inside the band, peak `amplitude`."""
    t = np.arange(int(seconds * fs)) / fs
    return amplitude * np.sin(2 * np.pi * f * t) * np.sin(np.pi * t / seconds) ** 2


def write_span(root, station, t0, t1, events=(), seed=0, fs=FS, path=None):
    """SDS file(s) of white noise from t0 to t1 with bursts (time, amplitude) planted, split at midnight."""
    n = int(round((t1 - t0) * fs))
    x = np.random.default_rng([seed, int(t0.timestamp)]).normal(0, 10.0, n)
    for t, a in events:
        b = burst(a, fs=fs)
        i = int(round((t - t0) * fs))
        lo, hi = max(i, 0), min(i + b.size, n)
        if lo < hi:
            x[lo:hi] += b[lo - i:hi - i]
    tr = Trace(np.round(x).astype(np.int32), header={"network": "XX", "station": station, "channel": "HHZ",
                                                    "sampling_rate": fs, "starttime": t0})
    day = UTCDateTime(t0.date)
    while day < t1:
        part = tr.slice(day, day + 86400 - 1 / fs)
        if part.stats.npts:
            p = path or sds_path(root, station, day.date, net="XX")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            Stream([part]).write(p, format="MSEED", encoding="STEIM2")
        day += 86400


def args(**kw):
    # 50 Hz input (no decimation) and low thresholds: the bursts are 20-60x the noise.
    return dict(p=SpectrogramParams(), d=DetectionParams(on=8.0, off=2.0), echo=lambda *_: None, **kw)


def kill_after(units, inputs, out, monkeypatch):
    """Run the archive job and kill it (KeyboardInterrupt) after `units` units were written."""
    from gpuclust.archive import job

    real_write, calls = job.StreamWriter.write, []

    def write_then_die(self, r):
        if len(calls) == units:
            raise KeyboardInterrupt
        calls.append(r.key)
        real_write(self, r)

    monkeypatch.setattr(job.StreamWriter, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_archive(inputs, out, **args())
    monkeypatch.setattr(job.StreamWriter, "write", real_write)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Three stations, an hour either side of midnight each, one burst every ten minutes."""
    root = tmp_path_factory.mktemp("sds")
    for k, sta in enumerate(("AA01", "AA02", "AA03")):
        events = [(MIDNIGHT - 3600 + 300 + 600 * i + 17 * k, 500.0) for i in range(11)]
        write_span(root, sta, MIDNIGHT - 3600, MIDNIGHT + 3600, events, seed=k)
    return root


def contents(path):
    """Everything a reader sees in a RIS file: every dataset and attribute."""
    out = {}
    with h5py.File(path) as h5:
        def visit(name, obj):
            out[name] = (obj[()] if isinstance(obj, h5py.Dataset) else None, dict(obj.attrs))
        h5.visititems(visit)
    return out


def assert_same_file(a, b):
    ca, cb = contents(a), contents(b)
    assert ca.keys() == cb.keys()
    for k in ca:
        np.testing.assert_array_equal(ca[k][0], cb[k][0], err_msg=k)
        assert ca[k][1] == cb[k][1], k


def test_an_archive_gives_one_unit_per_station_day_readable_by_the_reader(archive, tmp_path):
    out = tmp_path / "o.h5"
    s = run_archive([archive], out, **args())
    assert s.units == 6 and not s.skipped  # 3 stations x 2 days
    sf = open_spectrograms(out)
    assert sf.layout == "ris" and sf.shape == (87, 100) and sf.n_rows == s.rows == 33
    cat = sf.catalogue()
    assert [c["Index"] for c in cat] == list(range(33))
    assert {c["station"] for c in cat} == {"AA01", "AA02", "AA03"}
    assert os.path.exists(f"{out}.csv") and not os.path.exists(f"{out}.partial")


def test_selection_by_day_station_and_channel(archive, tmp_path):
    s = run_archive([archive], tmp_path / "o.h5", start="2015-01-02", stations=["AA0[12]"], **args())
    assert s.units == 2
    with pytest.raises(GpuclustError, match="no waveform file"):
        run_archive([archive], tmp_path / "n.h5", channels=["BH?"], **args())


def test_bad_files_are_skipped_and_named_and_the_rest_is_processed(archive, tmp_path):
    import shutil

    root = tmp_path / "sds"
    shutil.copytree(archive, root)
    good = run_archive([root], tmp_path / "good.h5", **args())
    day = obspy.UTCDateTime("2015-01-01").date
    empty = sds_path(root, "BB01", day, net="XX")
    os.makedirs(os.path.dirname(empty))
    open(empty, "w").close()
    truncated = sds_path(root, "BB02", day, net="XX")
    write_span(root, "BB02", MIDNIGHT - 3600, MIDNIGHT - 1, [(MIDNIGHT - 1800, 500.0)])
    data = open(truncated, "rb").read()
    open(truncated, "wb").write(data[: len(data) // 2 + 100])
    text = root / "notes" / "README.txt"
    os.makedirs(text.parent)
    text.write_text("station log: nothing to see\n" * 50)

    out = tmp_path / "o.h5"
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        s = run_archive([root], out, **args())
    assert not [w for w in raw if "obspy" in w.filename]  # said in gpuclust's words, not ObsPy's
    with open(f"{out}.skipped.csv") as fh:
        skipped = {r["unit"]: r["reason"] for r in csv.DictReader(fh)}
    assert len(skipped) == 3
    assert "empty" in skipped["XX.BB01..HHZ.2015.001"]
    assert "truncated" in skipped["XX.BB02..HHZ.2015.001"]
    assert "not a waveform file" in skipped[str(text)]
    # The good units' spectrograms are all there, the same as without the bad files.
    np.testing.assert_array_equal(open_spectrograms(out).read_block(0, s.rows),
                                  open_spectrograms(tmp_path / "good.h5").read_block(0, good.rows))
    assert any("skipped" in line for line in s.report())
    with pytest.raises(GpuclustError, match="(not a waveform file|empty file).*--strict"):
        run_archive([root], tmp_path / "strict.h5", strict=True, **args())
    assert not os.path.exists(tmp_path / "strict.h5")


def test_a_killed_job_resumes_to_exactly_the_file_of_an_uninterrupted_run(archive, tmp_path, monkeypatch):
    whole = tmp_path / "whole.h5"
    run_archive([archive], whole, **args())
    out = tmp_path / "o.h5"
    kill_after(3, [archive], out, monkeypatch)
    assert not out.exists() and os.path.exists(f"{out}.partial")
    s = run_archive([archive], out, resume=True, **args())
    assert s.done_before == 3
    assert_same_file(out, whole)
    # Once complete, --resume has nothing to do; another command does not continue this one's file.
    assert run_archive([archive], out, resume=True, **args()).done_before == 6


def test_one_and_two_workers_give_identical_files(archive, tmp_path):
    run_archive([archive], tmp_path / "one.h5", workers=1, **args())
    run_archive([archive], tmp_path / "two.h5", workers=2, **args())
    assert_same_file(tmp_path / "one.h5", tmp_path / "two.h5")


def test_events_at_midnight_are_found_once_with_their_true_amplitude(tmp_path):
    """An event across midnight is cut once; events in the first and last minutes of a day keep their
    amplitude (no taper inside the day), the same as events in the middle of the data."""
    events = [(MIDNIGHT - 3000, 600.0), (MIDNIGHT + 3000, 600.0),  # reference: far from midnight
              (MIDNIGHT - 120, 600.0), (MIDNIGHT + 120, 600.0),  # the last and first minutes of a day
              (MIDNIGHT - 1.0, 600.0)]  # its window crosses midnight
    write_span(tmp_path / "sds", "CC01", MIDNIGHT - 3600, MIDNIGHT + 3600, events)
    out = tmp_path / "o.h5"
    run_archive([tmp_path / "sds"], out, **args())
    cat = open_spectrograms(out).catalogue()
    on = np.array([UTCDateTime(c["dt_on"]) - MIDNIGHT for c in cat])
    peak = np.array([c["peak"] for c in cat])
    assert np.sum(np.abs(on + 1.0) < 2.5) == 1  # the one across midnight, once
    assert len(cat) == len(events)
    ref = peak[np.abs(np.abs(on) - 3000) < 5].mean()
    near = peak[np.abs(np.abs(on) - 120) < 5]
    assert near.size == 2
    np.testing.assert_allclose(near, ref, rtol=0.05)


def test_response_removal_stores_the_units(tmp_path):
    """ObsPy's bundled BW.RJOB recording, in ten minutes of its own noise, with its StationXML inventory."""
    inv = os.path.join(os.path.dirname(obspy.__file__), "core", "data", "BW_RJOB.xml")
    ev = obspy.read().select(channel="EHZ")[0]
    noise = np.random.default_rng(0).normal(0, ev.data[:300].std(), int(600 * ev.stats.sampling_rate))
    i = int(300 * ev.stats.sampling_rate)
    noise[i:i + ev.stats.npts] += ev.data - ev.data.mean()
    tr = Trace(np.round(noise).astype(np.int32), header={**dict(ev.stats), "npts": noise.size,
                                                        "starttime": ev.stats.starttime - 300})
    path = tmp_path / "rjob.mseed"
    Stream([tr]).write(str(path), format="MSEED")
    counts = tmp_path / "c.h5"
    run_archive([path], counts, **args())
    vel = tmp_path / "v.h5"
    run_archive([path], vel, inventory=inv, **args())
    disp = tmp_path / "d.h5"
    run_archive([path], disp, inventory=inv, motion="disp", **args())
    units = {}
    for name, f in (("counts", counts), ("vel", vel), ("disp", disp)):
        with h5py.File(f) as h5:
            units[name] = (h5["4.0/Spectrogram"].attrs["AmplUnits"], h5["4.0"].attrs["units"])
        assert {c["unit"] for c in open_spectrograms(f).catalogue()} == {units[name][1]}
    assert units == {"counts": ("counts^2/Hz", "counts"), "vel": ("(m/s)^2/Hz", "m/s"), "disp": ("(m)^2/Hz", "m")}
    # Velocity is counts over the sensitivity, within the band where the response is flat.
    c, v = (open_spectrograms(f).catalogue()[0]["peak"] for f in (counts, vel))
    assert 0.5 < v * 2.5168e9 / c < 2.0


def test_synth_archive_command_writes_sds_files_inventory_and_catalogue(tmp_path):
    from click.testing import CliRunner

    from gpuclust_cli.commands import cli

    r = CliRunner().invoke(cli, ["synth", "--archive", str(tmp_path / "a"), "--days", "1", "--stations", "1"])
    assert r.exit_code == 0, r.output
    day = sds_path(tmp_path / "a", "DR01", obspy.UTCDateTime("2015-01-01").date)
    st = obspy.read(day)
    assert st[0].stats.sampling_rate == 100.0 and st[0].stats.npts == 8_640_000
    inv = obspy.read_inventory(str(tmp_path / "a" / "inventory.xml"))
    assert inv.get_response("XH.DR01..HHZ", st[0].stats.starttime).instrument_sensitivity.value == pytest.approx(5e8, rel=1e-3)
    with open(tmp_path / "a" / "catalogue.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["station"] for r in rows} == {"DR01"}
    assert json.dumps(rows[0])  # a plain table


def test_bench_archive_runs_at_a_tiny_size(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "a.json"
    r = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "bench_archive.py"), "--tiny",
                        "--cache", str(tmp_path / "cache"), "--out", str(out)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.load(open(out))
    assert doc["archive"]["station_days"] == 2 and "load average" in doc["load_before"]
    for key in ("today", "archive_1_worker", "archive_2_workers"):
        assert doc[key]["seconds_per_station_day"] > 0
    n = doc["archive_1_worker"]["detections"]
    assert n > 0 and doc["archive_2_workers"]["detections"] == doc["archive_dask_2_workers"]["detections"] == n
    assert 0 < doc["recall"]["recall"] <= 1 and set(doc["peak_memory"]) == {
        "archive_1_worker_1_station_days_mb", "archive_1_worker_2_station_days_mb", "today_1_station_days_mb"}
    assert doc["projection_37000_station_days_16_cores"]["hours"] > 0


def test_a_window_across_a_gap_is_dropped_not_zero_filled(tmp_path):
    from gpuclust.archive.sources import find_units
    from gpuclust.archive.unit import UnitConfig, process_unit

    gap = MIDNIGHT - 3600  # a minute of no data from 23:00
    events = [(gap - 1800, 600.0), (gap - 7, 6000.0), (gap + 1800, 600.0)]  # the middle one's window crosses it
    write_span(tmp_path / "a", "DD01", gap - 3600, gap, events[:2], path=tmp_path / "a.mseed")
    write_span(tmp_path / "b", "DD01", gap + 60, MIDNIGHT - 1, events[2:], path=tmp_path / "b.mseed")
    path = sds_path(tmp_path / "sds", "DD01", DAY1.date, net="XX")
    os.makedirs(os.path.dirname(path))
    (obspy.read(str(tmp_path / "a.mseed")) + obspy.read(str(tmp_path / "b.mseed"))).write(path, format="MSEED")
    r = process_unit(find_units([tmp_path / "sds"])[0], UnitConfig(d=DetectionParams(on=8.0, off=2.0)))
    assert r.skipped is None and r.dropped_at_gaps == 1
    on = sorted(UTCDateTime(c["dt_on"]) - gap for c in r.catalogue)
    assert len(on) == 2 and abs(on[0] + 1800) < 3 and abs(on[1] - 1800) < 3
    assert np.isfinite(r.spec).all() and (r.spec > 0).all()


def test_files_at_other_sampling_rates_are_brought_to_fs_and_a_channel_too_slow_is_left_out_and_named(tmp_path):
    """Regression: a job took the first file's rate and skipped every file at another (ObsPy's own recordings
    are at 20, 40, 50, 100 and 200 Hz)."""
    t0 = DAY1 + 3600
    events = [(t0 + 400 + 300 * i, 500.0) for i in range(3)]
    for fs in (50.0, 100.0, 40.0):
        write_span(tmp_path, f"R{fs:03.0f}", t0, t0 + 1500, events, fs=fs, path=tmp_path / f"r{fs:g}.mseed")
    slow = obspy.read(str(tmp_path / "r100.mseed"))
    slow += Trace(np.zeros(1500, np.int32), header={"network": "XX", "station": "R100", "channel": "LHZ",
                                                   "sampling_rate": 1.0, "starttime": t0})
    slow.write(str(tmp_path / "r100.mseed"), format="MSEED")
    s = run_archive([tmp_path], tmp_path / "o.h5", **args())
    with open(f"{tmp_path / 'o.h5'}.csv") as fh:
        cat = list(csv.DictReader(fh))
    assert s.skipped == [(str(tmp_path / "r40.mseed"), f"{tmp_path / 'r40.mseed'}: XX.R040..HHZ sampled at 40 Hz, "
                          "whose Nyquist frequency is not above --fmax 20 Hz")]
    assert sorted(r["station"] for r in cat) == ["R050"] * 3 + ["R100"] * 3
    assert {r["fs"] for r in cat} == {"50.0"}
    assert any("XX.R100..LHZ sampled at 1 Hz left out" in n for n in s.notes)
    on = sorted({round(UTCDateTime(r["dt_on"]) - t0) for r in cat})
    assert len(on) == 3 and all(abs(a - b) <= 2 for a, b in zip(on, (400, 700, 1000)))


def test_a_partial_file_of_other_options_is_refused_not_wiped_and_an_output_inside_the_input_is_not_read(
        archive, tmp_path, monkeypatch):
    """Regression: a mismatched OUT.h5.partial was silently truncated (hours of units lost), and an output
    written inside its input folder was read back as an input unit on the rerun."""
    import shutil

    root = tmp_path / "arch"
    shutil.copytree(archive, root)
    out = root / "o.h5"  # inside the input folder
    kill_after(2, [root], out, monkeypatch)
    shutil.copy(f"{out}.partial", tmp_path / "before.h5")
    other = args()
    other["d"] = DetectionParams(on=9.0, off=2.0)
    with pytest.raises(GpuclustError, match="cannot be continued.*delete it"):
        run_archive([root], out, **other)
    assert_same_file(f"{out}.partial", tmp_path / "before.h5")
    s = run_archive([root], out, **args())  # the same command continues: the partial is not one of its units
    assert s.done_before == 2 and s.units == 6 and not s.skipped


def test_an_unforeseen_error_in_one_unit_skips_that_unit_only(archive, tmp_path, monkeypatch):
    from gpuclust.archive import unit

    real = unit._process

    def fails_on_one(u, cfg):
        if "AA02" in u.key and u.day == "2015-01-01":
            raise ValueError("Can't merge traces with same ids but differing data types!")
        return real(u, cfg)

    monkeypatch.setattr(unit, "_process", fails_on_one)
    s = run_archive([archive], tmp_path / "o.h5", **args())
    assert [k for k, _ in s.skipped] == ["XX.AA02..HHZ.2015.001"] and "differing data types" in s.skipped[0][1]
    assert s.rows > 0 and s.units == 6


def test_a_margin_shorter_than_the_warm_up_is_refused_in_one_line(archive, tmp_path):
    with pytest.raises(GpuclustError, match=r"--margin 100 s is shorter.*give --margin 330 or more"):
        run_archive([archive], tmp_path / "o.h5", margin_s=100.0,
                    **{**args(), "d": DetectionParams(on=8.0, off=2.0, lta_s=90.0)})
    assert not os.path.exists(tmp_path / "o.h5.partial")


def test_append_refuses_the_archive_jobs_options_and_says_how_it_cuts_rows_into_an_archive_made_file(archive, tmp_path):
    from click.testing import CliRunner

    from gpuclust_cli.commands import cli

    made = tmp_path / "a.h5"
    run_archive([archive], made, **args())
    runner = CliRunner()
    r = runner.invoke(cli, ["spectrograms", str(archive), "-o", str(tmp_path / "b.h5"), "--append", "--workers", "2"])
    assert r.exit_code == 2 and "--append does not take --workers" in r.output
    r = runner.invoke(cli, ["spectrograms", str(archive), "-o", str(made), "--append", "--on", "1e9", "--off", "1e8"])
    assert "note:" in r.output and "made by an archive job; the rows appended are cut file by file" in r.output


def test_predict_cuts_new_waveforms_as_the_archive_job_cut_the_runs_data(archive, tmp_path):
    """Regression: predict on waveform files used the reference thresholds (on 15, off 10) and a whole-file
    taper whatever the run's archive job had used: rows cut another way than the run's own."""
    from types import SimpleNamespace

    from gpuclust.data.spectrograms import open_spectrograms
    from gpuclust.pipeline.predict import _spectrogram_file
    from gpuclust.pipeline.stages.common import data_description

    made = tmp_path / "train.h5"
    run_archive([archive], made, **args())  # on=8, off=2: the low thresholds
    with open_spectrograms(str(made)) as sf:
        description = data_description(SimpleNamespace(norm="log", group=None, dataset=None, freqs_dataset=None,
                                                       times_dataset=None, data=str(made)), sf)
    assert description["waveform_detection"]["on"] == 8.0
    model = SimpleNamespace(meta={"data": description}, has_encoder=True)
    day = sorted(str(p) for p in archive.rglob("*.001"))[0]
    (tmp_path / "p").mkdir()
    path = _spectrogram_file(model, [day], str(tmp_path / "p"), log=lambda *_: None)
    alone = tmp_path / "alone.h5"
    run_archive([day], alone, **args())  # the same file through the archive job with the run's options
    assert_same_file(path, alone)


def test_predict_on_waveform_files_skips_a_bad_file_and_labels_the_rest(archive, tmp_path):
    """Regression: one empty file among predict's waveform files ended the job (exit 2, no output at all);
    as in the archive job, it is named, listed in skipped.csv and skipped."""
    from types import SimpleNamespace

    from gpuclust.pipeline.predict import _spectrogram_file

    model = SimpleNamespace(meta={"data": {"waveform_params": {"on": 8.0, "off": 2.0}}}, has_encoder=True)
    days = sorted(str(p) for p in archive.rglob("*.001"))[:2]
    (tmp_path / "empty.mseed").write_bytes(b"")
    (tmp_path / "p").mkdir()
    said = []
    path = _spectrogram_file(model, [days[0], str(tmp_path / "empty.mseed"), days[1]], str(tmp_path / "p"),
                             log=said.append)
    with open_spectrograms(path) as sf:
        assert sf.n_rows > 0
    assert any("empty.mseed: ObsPy cannot read it" in s and s.startswith("skipped") for s in said), said
    rows = list(csv.reader(open(path + ".skipped.csv")))
    assert rows[0] == ["unit", "reason"] and [r[0] for r in rows[1:]] == [str(tmp_path / "empty.mseed")]
    with pytest.raises(GpuclustError, match="none of the 1 waveform file"):
        _spectrogram_file(model, [str(tmp_path / "empty.mseed")], str(tmp_path / "p"), log=said.append)


def test_a_job_whose_every_file_is_unreadable_says_so_not_to_lower_the_thresholds(tmp_path):
    for name in ("a.mseed", "b.mseed"):
        (tmp_path / name).write_bytes(b"not a waveform")
    with pytest.raises(GpuclustError, match=r"none of the 2 unit\(s\) could be used; the first: .*a.mseed") as e:
        run_archive([str(tmp_path / "a.mseed"), str(tmp_path / "b.mseed")], tmp_path / "o.h5", **args())
    assert "thresholds" not in str(e.value) and not os.path.exists(tmp_path / "o.h5.partial")
