"""Catalogues seismologists use: the labelled detections as QuakeML, through ObsPy's event classes.

One Event per detection: a Pick at the detection's peak time on its station's waveform stream
(network.station.location.channel), the cluster, its probability, the novelty score and the unknown
flag in a typed Comment (JSON text, resource id smi:gpuclust/label), and an event_type where the
cluster's class name has a QuakeML type ("icequake" -> "ice quake"; an unknown event is an
"other event"). The file reads back with obspy.read_events and every one of these comes back.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .atomic import atomic_path
from .errors import GpuclustError
from .times import utc

LABEL_COMMENT = "smi:gpuclust/label"
# Class names of the synthetic benchmark (and others) that name a QuakeML event type.
QUAKEML_TYPES = {"icequake": "ice quake", "ice_quake": "ice quake", "background_noise": "not existing",
                 "noise": "not existing", "earthquake": "earthquake", "landslide": "landslide",
                 "avalanche": "avalanche", "explosion": "explosion", "spike": "other event", "glitch": "other event"}


def detection_time(entry: dict):
    for key in ("dt_peak", "dt_on"):
        if entry.get(key):
            return entry[key]
    return None


def write_quakeml(path, rows, labels, catalogue, probs=None, scores=None, unknown=None, cluster_types=None,
                  run_name: str = "gpuclust", cluster_names=None) -> int:
    """Write the detections to `path` as QuakeML; returns the number of events. One-line errors.

    Written event by event into a temporary file renamed at the end, so that memory does not grow
    with the number of events: `catalogue` may be any iterable of the rows' entries, read once.
    (ObsPy objects for every event, the Catalog written in one go, took about 16 KB an event:
    benchmarks/bench_quakeml.py measures both.) The file is what ObsPy's QuakeML writer makes of
    the same events, and reads back with obspy.read_events.
    """
    entries = iter(catalogue if catalogue is not None else ())
    first = next(entries, None)
    if first is None:
        raise GpuclustError("QuakeML needs the time and station of every detection, and this file has no catalogue "
                            "(RIS /Catalogue); use --format csv")
    if detection_time(first) is None:
        raise GpuclustError("QuakeML needs detection times: the catalogue has no dt_peak or dt_on; use --format csv")
    entries = itertools.chain([first], entries)
    when = dt.datetime.now(dt.timezone.utc).strftime(TIME_FORMAT)
    made = {depth: _creation_info(run_name, when, depth) for depth in (4, 6, 8)}
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", buffering=2**20) as fh:
        fh.write("<?xml version='1.0' encoding='utf-8'?>\n"
                 '<q:quakeml xmlns="http://quakeml.org/xmlns/bed/1.2" xmlns:q="http://quakeml.org/xmlns/quakeml/1.2">\n'
                 f'  <eventParameters publicID={quoteattr(f"smi:gpuclust/{run_name}/catalogue")}>\n{made[4]}')
        for i, row in enumerate(rows):
            c = next(entries, None)
            if c is None:
                raise GpuclustError(f"the catalogue has {i} entries for {len(rows)} rows; QuakeML needs one per row")
            t = detection_time(c)
            if t is None:
                raise GpuclustError(f"row {int(row)}: no detection time in the catalogue; use --format csv")
            label = {"row": int(row), "cluster": int(labels[i]),
                     "unknown": bool(unknown[i]) if unknown is not None else False}
            if cluster_names and cluster_names[label["cluster"]]:
                label["name"] = cluster_names[label["cluster"]]
            if probs is not None:
                label["probability"] = round(float(np.max(probs[i])), 6)
            if scores is not None:
                label["score"] = float(scores[i])
            fh.write(_event_xml(label, c, quakeml_time(t), cluster_types, run_name, made))
            n += 1
        fh.write("  </eventParameters>\n</q:quakeml>\n")
    return n


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as ObsPy writes a UTCDateTime


def quakeml_time(text) -> str:
    """A catalogue time (ISO 8601; naive is UTC, an offset is honoured) as QuakeML holds it, in UTC."""
    try:
        return utc(str(text)).strftime(TIME_FORMAT)
    except ValueError:  # a form only ObsPy reads
        from obspy import UTCDateTime

        try:
            return str(UTCDateTime(str(text)))
        except Exception as e:
            raise GpuclustError(f"{text!r}: not a time QuakeML can hold ({e})")


def _creation_info(run_name: str, when: str, depth: int) -> str:
    pad = " " * depth
    return (f"{pad}<creationInfo>\n{pad}  <agencyID>gpuclust</agencyID>\n{pad}  <author>{escape(run_name)}</author>\n"
            f"{pad}  <creationTime>{when}</creationTime>\n{pad}</creationInfo>\n")


def _event_xml(label: dict, c: dict, time: str, cluster_types, run_name: str, made: dict) -> str:
    """One <event>: its type (if known), description, label comment, creation info and pick, in ObsPy's order."""
    row, cluster, name = label["row"], label["cluster"], label.get("name")
    base = f"smi:gpuclust/{run_name}/detection/{row}"
    etype = "other event" if label["unknown"] else (cluster_types[cluster] if cluster_types else None)
    what = ("unknown (fits no cluster)" if label["unknown"]
            else f"gpuclust cluster {cluster}" + (f": {name}" if name else ""))
    stream = " ".join(f"{key}={quoteattr(c.get(field) or '')}" for key, field in (
        ("networkCode", "network"), ("stationCode", "station"), ("locationCode", "location"),
        ("channelCode", "channel")))
    return "".join((
        f"    <event publicID={quoteattr(base)}>\n",
        f"      <type>{etype}</type>\n      <typeCertainty>suspected</typeCertainty>\n" if etype else "",
        f"      <description>\n        <text>{escape(what)}</text>\n        <type>earthquake name</type>\n"
        "      </description>\n",
        f"      <comment id={quoteattr(f'{LABEL_COMMENT}/{row}')}>\n"
        f"        <text>{escape(json.dumps(label, sort_keys=True))}</text>\n      </comment>\n",
        made[6],
        f"      <pick publicID={quoteattr(base + '/pick')}>\n        <time>\n          <value>{time}</value>\n"
        f"        </time>\n        <waveformID {stream}></waveformID>\n"
        "        <evaluationMode>automatic</evaluationMode>\n",
        made[8],
        "      </pick>\n    </event>\n"))


def read_labels_from_quakeml(path) -> list[dict]:
    """The label comment of every event of a QuakeML file written here (for checks and round trips)."""
    import obspy

    out = []
    for ev in obspy.read_events(str(path)):
        texts = [c.text for c in ev.comments if str(c.resource_id).startswith(LABEL_COMMENT)]
        label = json.loads(texts[0]) if texts else {}
        pick = ev.picks[0] if ev.picks else None
        out.append({**label, "time": str(pick.time) if pick else None,
                    "stream": pick.waveform_id.get_seed_string() if pick else None,
                    "event_type": ev.event_type})
    return out


def quakeml_types(cluster_to_class) -> list | None:
    """QuakeML event type per cluster from the cluster's class name, where there is one."""
    if not cluster_to_class:
        return None
    return [QUAKEML_TYPES.get(str(name).lower()) if name else None for name in cluster_to_class]
