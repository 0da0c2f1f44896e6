"""Waveform archive to spectrograms: station-days per second, peak memory, recall of planted events.

On a synthetic SDS archive at 100 Hz (`gpuclust synth --archive`), measured in one run:
  today       the single-process ObsPy loop the `spectrograms` command used to run (obspy.read, then
              gpuclust.data.waveforms.spectrograms_from_stream: detrend, 5 % taper, decimate, band-pass,
              STA/LTA, cut), per station-day, with a profile of where its time goes
  archive     gpuclust.archive (the `spectrograms` command now) with 1 and 2 worker processes and on a
              local Dask cluster of 2 workers
  memory      peak resident memory of the whole command (a fresh process each) at a few and at ten times
              as many station-days, against today's code at the smaller size
  recall      planted events (the archive's catalogue.csv) found by the detector, within 3 s, same station
  projection  hours for 37,000 station-days on a 16-core node: one worker's rate x 16 x the parallel
              efficiency measured with 2 workers here (reading from a local disk; a network filesystem
              may be slower)

    python benchmarks/bench_archive.py                      # the committed figures (about 15 min, 2 cores)
    python benchmarks/bench_archive.py --tiny --out x.json  # seconds: the code path only (tests)
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"node": platform.node(), "cpu": model or platform.processor(), "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}


def make_archive(root, stations, days, day_s, seed=0):
    """The archive under root, made once (a stamp beside it says with what); short days get more events."""
    from gpuclust.archive.synthetic import write_archive

    stamp = root.rstrip("/") + ".made.json"  # beside the archive, not in it
    per_day = 24.0 * 86400 / day_s  # about one an hour, at least
    want = {"stations": stations, "days": days, "day_s": day_s, "seed": seed, "per_station_day": per_day}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        return root
    t = time.perf_counter()
    write_archive(root, days, stations, seed=seed, day_s=day_s, per_station_day=per_day)
    json.dump(want, open(stamp, "w"))
    print(f"  made {stations} x {days} station-days in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return root


def params(on, off):
    from gpuclust.data.make_spectrograms import SpectrogramParams
    from gpuclust.data.waveforms import DetectionParams

    return SpectrogramParams(), DetectionParams(on=on, off=off)


def today(files, p, d):
    """Today's code path, one station-day at a time: (seconds per station-day, detections, profile)."""
    import obspy

    from gpuclust.data.waveforms import spectrograms_from_stream

    n, times = 0, []
    for f in files:
        t = time.perf_counter()
        n += len(spectrograms_from_stream(obspy.read(f), p, d))
        times.append(time.perf_counter() - t)
    per = min(times)  # the least disturbed station-day, as the archive runs take their best run
    prof = cProfile.Profile()
    prof.enable()
    spectrograms_from_stream(obspy.read(files[0]), p, d)
    prof.disable()
    st = pstats.Stats(prof)
    total = max(v[3] for v in st.stats.values())

    def cum(fn_name, file_part):
        return sum(v[3] for k, v in st.stats.items() if k[2] == fn_name and file_part in k[0])

    profile = {"total_s": total, "polynomial_detrend_s": cum("polynomial", "detrend"),
               "decimate_s": cum("decimate", "trace.py"), "filter_s": cum("filter", "trace.py"),
               "sta_lta_s": cum("recursive_sta_lta", "trigger"), "spectrograms_s": cum("spectrograms", "spectrogram")}
    return per, n, profile


REPEAT = 1


def archive_run(root, out, p, d, **kw):
    """(seconds, summary) of one run of the `spectrograms` command's library function."""
    from gpuclust.archive.job import run_archive

    for f in (out, out + ".csv", out + ".skipped.csv"):
        if os.path.exists(f):
            os.remove(f)
    t = time.perf_counter()
    s = run_archive([root], out, p, d, echo=lambda *_: None, **kw)
    return time.perf_counter() - t, s


def side_by_side(units, p, d) -> dict:
    """Today's code and one archive worker on the same station-days, one after the other, unit by unit."""
    import obspy

    from gpuclust.archive.unit import UnitConfig, process_unit
    from gpuclust.data.waveforms import spectrograms_from_stream

    cfg = UnitConfig(p=p, d=d)
    pairs = []
    for u in units:
        t = time.perf_counter()
        spectrograms_from_stream(obspy.read(u.files[0]), p, d)
        old = time.perf_counter() - t
        t = time.perf_counter()
        process_unit(u, cfg)
        pairs.append((old, time.perf_counter() - t))
    ratios = sorted(o / n for o, n in pairs)
    return {"seconds_today_and_archive": pairs, "median_ratio": ratios[len(ratios) // 2],
            "note": "per station-day, reading included, writing not"}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        try:
            for task in os.listdir(f"/proc/{q}/task"):
                with open(f"/proc/{q}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return 0.0


def peak_memory(cmd) -> float:
    """Peak resident memory (MB) of a fresh process and the processes it starts: their high-water marks,
    summed, polled every 0.1 s (wait4's ru_maxrss would count this benchmark's own memory: Linux keeps a
    parent's high-water mark across fork and exec)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict = {}
    while proc.poll() is None:
        for q in _tree(proc.pid):
            seen[q] = max(seen.get(q, 0.0), _hwm_mb(q))
        time.sleep(0.1)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {err[-2000:]}")
    return sum(seen.values())


TODAY_CMD = r'''
import sys
from gpuclust.data.make_spectrograms import SpectrogramParams
from gpuclust.data.waveforms import DetectionParams, waveforms_to_ris
waveforms_to_ris(sys.argv[4:], sys.argv[1], SpectrogramParams(), DetectionParams(on=float(sys.argv[2]), off=float(sys.argv[3])))
'''


def recall(root, out):
    from obspy import UTCDateTime

    from gpuclust.data.spectrograms import open_spectrograms

    with open(os.path.join(root, "catalogue.csv")) as fh:
        planted = list(csv.DictReader(fh))
    found = {}
    for c in open_spectrograms(out).catalogue():
        found.setdefault(c["station"], []).append(UTCDateTime(c["dt_peak"]).timestamp)
    by_class, strong = {}, [0, 0]
    hits = 0
    for e in planted:
        t = UTCDateTime(e["time"]).timestamp
        hit = any(abs(x - t) <= 3.0 for x in found.get(e["station"], []))
        hits += hit
        k = by_class.setdefault(e["class"], [0, 0])
        k[0] += hit
        k[1] += 1
        if float(e["snr"]) >= 10:
            strong[0] += hit
            strong[1] += 1
    return {"planted": len(planted), "found": hits, "recall": hits / max(len(planted), 1),
            "recall_snr_at_least_10": strong[0] / max(strong[1], 1), "planted_snr_at_least_10": strong[1],
            "by_class": {k: {"planted": v[1], "recall": v[0] / v[1]} for k, v in sorted(by_class.items())}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=2, help="throughput archive: stations")
    ap.add_argument("--days", type=int, default=3, help="throughput archive: days")
    ap.add_argument("--memory-days", default="3,30", help="station-days of the two memory measurements")
    ap.add_argument("--today-units", type=int, default=2, help="station-days timed with today's code")
    ap.add_argument("--on", type=float, default=15.0)
    ap.add_argument("--off", type=float, default=10.0)
    ap.add_argument("--tiny", action="store_true", help="half-hour days, 1-2 station-days: checks the code path")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each archive configuration; the best counts")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gpuclust-bench-archive"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "archive.json"))
    a = ap.parse_args(argv)
    day_s = 1800.0 if a.tiny else 86400.0
    if a.tiny:
        a.stations, a.days, a.memory_days, a.today_units = 1, 2, "1,2", 1
        a.on, a.off = min(a.on, 6.0), min(a.off, 3.0)
    mem_days = [int(x) for x in a.memory_days.split(",")]
    global REPEAT
    REPEAT = 1 if a.tiny else max(1, a.repeat)
    load_before = uptime()
    p, d = params(a.on, a.off)
    from gpuclust.archive.sources import find_units

    root = make_archive(os.path.join(a.cache, f"tp-{a.stations}x{a.days}-{int(day_s)}"), a.stations, a.days, day_s)
    units = find_units([root])
    n = len(units)
    work = tempfile.mkdtemp(prefix="bench-archive-")
    res = {"benchmark": "archive", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "load_before": load_before, "command": " ".join([sys.executable, *sys.argv]),
           "archive": {"stations": a.stations, "days": a.days, "station_days": n, "fs_hz": 100.0,
                       "seconds_per_day": day_s},
           "detection": {"on": a.on, "off": a.off}, "repeat": REPEAT}
    print("today's code ...", file=sys.stderr)
    files = [u.files[0] for u in units[:a.today_units]]
    per_today, _, profile = today(files, p, d)
    res["today"] = {"seconds_per_station_day": per_today, "station_days_timed": len(files), "profile": profile}
    rates = {}
    from gpuclust.archive.job import process_pool

    print("today's code and one archive worker, unit by unit, alternately ...", file=sys.stderr)
    res["side_by_side"] = side_by_side(units[:max(a.today_units, 2)], p, d)
    t = time.perf_counter()
    pool = process_pool(2)
    list(pool.map(abs, range(2)))  # started, as a long job's pool is after its first units
    start = time.perf_counter() - t
    runs = {"1 worker": [], "2 workers": []}
    try:
        for _ in range(REPEAT):  # alternately, so that a change of load on a shared machine hits both alike
            print("archive, 1 worker, then 2 workers ...", file=sys.stderr)
            runs["1 worker"].append(archive_run(root, os.path.join(work, "1.h5"), p, d, workers=1))
            runs["2 workers"].append(archive_run(root, os.path.join(work, "2.h5"), p, d, workers=2, executor=pool))
    finally:
        pool.shutdown()
    for name, got in runs.items():
        secs, s = min(got, key=lambda r: r[0])
        rates[name] = n / secs
        res[f"archive_{name.replace(' ', '_')}"] = {"seconds": secs, "all_seconds": [r[0] for r in got],
                                                    "station_days_per_s": n / secs, "seconds_per_station_day": secs / n,
                                                    "detections": s.rows}
    res["archive_2_workers"]["pool_start_s"] = start
    if not a.no_dask:
        from gpuclust.distributed.client import connect, disconnect

        print("archive, Dask (local, 2 workers) ...", file=sys.stderr)
        t = time.perf_counter()
        client = connect("local", n_workers=2)
        start = time.perf_counter() - t
        try:
            secs, s = archive_run(root, os.path.join(work, "dask.h5"), p, d, client=client)
        finally:
            disconnect(client)
        rates["dask"] = n / secs
        res["archive_dask_2_workers"] = {"seconds": secs, "cluster_start_s": start, "station_days_per_s": n / secs,
                                         "detections": s.rows}
    res["recall"] = recall(root, os.path.join(work, "1.h5"))
    print("peak memory ...", file=sys.stderr)
    mem = {}
    mroot = make_archive(os.path.join(a.cache, f"mem-1x{max(mem_days)}-{int(day_s)}"), 1, max(mem_days), day_s)
    start_day = dt.date(2015, 1, 1)
    for k in mem_days:
        end = (start_day + dt.timedelta(days=k)).isoformat()
        cmd = [sys.executable, "-c", "from gpuclust_cli.main import main; main()", "spectrograms", mroot, "-o", os.path.join(work, f"m{k}.h5"),
               "--end", end, "--on", str(a.on), "--off", str(a.off)]
        mem[f"archive_1_worker_{k}_station_days_mb"] = peak_memory(cmd)
    k = mem_days[0]
    mfiles = [u.files[0] for u in find_units([mroot], end=(start_day + dt.timedelta(days=k)).isoformat())]
    mem[f"today_{k}_station_days_mb"] = peak_memory([sys.executable, "-c", TODAY_CMD, os.path.join(work, "t.h5"),
                                                     str(a.on), str(a.off), *mfiles])
    res["peak_memory"] = mem
    one, two = rates["1 worker"], rates["2 workers"]
    eff = min(1.0, two / (2 * one))
    res["ratios"] = {"one_worker_over_today": one * per_today,
                     "one_worker_over_today_side_by_side": res["side_by_side"]["median_ratio"],
                     "two_workers_over_one": two / one,
                     "dask_over_one": rates.get("dask", float("nan")) / one,
                     "targets": {"one_worker_over_today >= 3": one * per_today >= 3,
                                 "side_by_side >= 3": res["side_by_side"]["median_ratio"] >= 3,
                                 "two_workers_over_one >= 1.7": two / one >= 1.7}}
    res["projection_37000_station_days_16_cores"] = {
        "hours": 37000 / (one * 16 * eff) / 3600, "assumes": f"one worker's rate x 16 x the parallel efficiency "
        f"measured here with 2 workers ({eff:.2f}); today's code on one core: "
        f"{37000 * per_today / 3600:.1f} h"}
    res["load_after"] = uptime()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=2)
    r = res["ratios"]
    print(f"today {per_today:.2f} s/station-day; archive {1 / one:.2f} s/station-day with 1 worker "
          f"({r['one_worker_over_today']:.1f}x; side by side {r['one_worker_over_today_side_by_side']:.1f}x), 2 workers {r['two_workers_over_one']:.2f}x one; "
          f"projection {res['projection_37000_station_days_16_cores']['hours']:.2f} h; memory {mem}; "
          f"recall {res['recall']['recall']:.2f}; wrote {a.out}")
    return res


if __name__ == "__main__":
    main()
