"""QuakeML export: written event by event (gpuclust.export) against ObsPy objects written in one go (before).

Each measurement runs in a process of its own (peak memory is the process's, ru_maxrss), the two
exporters alternately at each size, on the same synthetic detections; the inputs' own memory (rows,
labels, probabilities, scores and the catalogue's entries) is measured before the export and
reported beside the peak.

    python benchmarks/bench_quakeml.py [--events 20000,100000] [--out benchmarks/results/quakeml.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

K = 8


def old_write_quakeml(path, rows, labels, catalogue, probs=None, scores=None, unknown=None, cluster_types=None,
                      run_name: str = "gpuclust", cluster_names=None, creation_time=None) -> int:
    """The exporter as it was: an ObsPy Event per detection, the Catalog written in one go (the reference)."""
    from obspy import UTCDateTime
    from obspy.core.event import (Catalog, Comment, CreationInfo, Event, EventDescription, Pick,
                                  ResourceIdentifier, WaveformStreamID)

    from gpuclust.export import detection_time

    made = CreationInfo(agency_id="gpuclust", author=run_name, creation_time=UTCDateTime(creation_time) if creation_time else UTCDateTime())
    events = []
    for i, row in enumerate(rows):
        c = catalogue[i]
        cluster = int(labels[i])
        is_unknown = bool(unknown[i]) if unknown is not None else False
        label = {"row": int(row), "cluster": cluster, "unknown": is_unknown}
        name = cluster_names[cluster] if cluster_names else None
        if name:
            label["name"] = name
        if probs is not None:
            label["probability"] = round(float(np.max(probs[i])), 6)
        if scores is not None:
            label["score"] = float(scores[i])
        base = f"smi:gpuclust/{run_name}/detection/{int(row)}"
        pick = Pick(resource_id=ResourceIdentifier(f"{base}/pick"), time=UTCDateTime(str(detection_time(c))),
                    waveform_id=WaveformStreamID(network_code=c.get("network") or "",
                                                 station_code=c.get("station") or "",
                                                 location_code=c.get("location") or "",
                                                 channel_code=c.get("channel") or ""),
                    evaluation_mode="automatic", creation_info=made)
        ev = Event(resource_id=ResourceIdentifier(base), picks=[pick], creation_info=made,
                   comments=[Comment(text=json.dumps(label, sort_keys=True),
                                     resource_id=ResourceIdentifier(f"smi:gpuclust/label/{int(row)}"))],
                   event_descriptions=[EventDescription(text="unknown (fits no cluster)" if is_unknown
                                                        else f"gpuclust cluster {cluster}" + (f": {name}" if name else ""),
                                                        type="earthquake name")])
        etype = "other event" if is_unknown else (cluster_types[cluster] if cluster_types else None)
        if etype:
            ev.event_type = etype
            ev.event_type_certainty = "suspected"
        events.append(ev)
    Catalog(events=events, resource_id=ResourceIdentifier(f"smi:gpuclust/{run_name}/catalogue"),
            creation_info=made).write(path, format="QUAKEML")
    return len(events)


def detections(n: int, seed: int = 0) -> dict:
    """n labelled detections as a run hands them to the exporter (times with and without a UTC offset)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), n)
    t0 = np.datetime64("2015-01-01T00:00:00")
    secs = np.sort(rng.uniform(0, 120 * 86400, n))
    cat = []
    for i, s in enumerate(secs):
        t = str(t0 + np.timedelta64(int(s * 1e6), "us"))
        cat.append({"Index": i, "network": "XH", "station": f"DR{1 + i % 16:02d}", "channel": "HHZ",
                    "location": "" if i % 3 else "00", "dt_on": t, "dt_peak": t + ("+00:00" if i % 2 else ""),
                    "peak": float(rng.lognormal()), "unit": "m/s", "fs": 50.0})
    return {"rows": np.arange(n), "labels": probs.argmax(1), "catalogue": cat, "probs": probs,
            "scores": rng.normal(-20, 5, n), "unknown": rng.random(n) < 0.01,
            "cluster_types": ["ice quake", None, "earthquake", None, "not existing", None, "other event", None],
            "run_name": "bench", "cluster_names": [None, "tremor", None, None, "noise", None, None, None]}


def exporter(which: str):
    if which == "old":
        return old_write_quakeml
    from gpuclust.export import write_quakeml

    return write_quakeml


def measure_one(which: str, n: int) -> dict:
    """In this process: build the detections, export them; seconds and peak memory."""
    import obspy  # noqa: F401  (imported before the baseline: both exporters need it)

    import gpuclust.export  # noqa: F401

    d = detections(n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "catalogue.xml")
        t = time.perf_counter()
        exporter(which)(path, **d)
        seconds = time.perf_counter() - t
        size = os.path.getsize(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"exporter": which, "events": n, "seconds": round(seconds, 2), "events_per_s": round(n / seconds),
            "peak_mb": round(peak), "inputs_mb": round(before), "export_mb": round(peak - before),
            "file_mb": round(size / 2**20, 1), "bytes_per_event_in_memory": round((peak - before) * 2**20 / n)}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", default="20000,100000")
    ap.add_argument("--out", default="benchmarks/results/quakeml.json")
    ap.add_argument("--one", choices=["old", "new"], help=argparse.SUPPRESS)  # one measurement, in this process
    a = ap.parse_args()
    sizes = [int(x) for x in a.events.split(",")]
    if a.one:
        print(json.dumps(measure_one(a.one, sizes[0])))
        return
    from gpuclust.atomic import write_json
    from gpuclust.environment import describe

    res = {**describe("cpu"), "load_before": uptime(), "threads": os.environ.get("OMP_NUM_THREADS", "default"),
           "method": "each measurement a fresh process (peak = ru_maxrss); old and new alternately at each size; "
                     "inputs_mb: the process before the export (Python, ObsPy, the detections), export_mb: what "
                     "the export added", "results": []}
    for n in sizes:
        for which in ("old", "new"):
            r = subprocess.run([sys.executable, __file__, "--one", which, "--events", str(n)], capture_output=True,
                               text=True, check=True)
            row = json.loads(r.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            res["results"].append(row)
        old, new = res["results"][-2:]
        res["results"].append({"events": n, "speedup": round(old["seconds"] / new["seconds"], 1),
                               "peak_ratio": round(old["peak_mb"] / new["peak_mb"], 1)})
    res["load_after"] = uptime()
    write_json(a.out, res)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
