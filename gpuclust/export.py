"""Catalogues seismologists use: the labelled detections as QuakeML, through ObsPy's event classes.

One Event per detection: a Pick at the detection's peak time on its station's waveform stream
(network.station.location.channel), the cluster, its probability, the novelty score and the unknown
flag in a typed Comment (JSON text, resource id smi:gpuclust/label), and an event_type where the
cluster's class name has a QuakeML type ("icequake" -> "ice quake"; an unknown event is an
"other event"). The file reads back with obspy.read_events and every one of these comes back.
"""
from __future__ import annotations

import json

import numpy as np

from .atomic import atomic_path
from .errors import GpuclustError

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
    """Write the detections to `path` as QuakeML; returns the number of events. One-line errors."""
    from obspy import UTCDateTime
    from obspy.core.event import (Catalog, Comment, CreationInfo, Event, EventDescription, Pick,
                                  ResourceIdentifier, WaveformStreamID)

    if not catalogue:
        raise GpuclustError("QuakeML needs the time and station of every detection, and this file has no catalogue "
                            "(RIS /Catalogue); use --format csv")
    if detection_time(catalogue[0]) is None:
        raise GpuclustError("QuakeML needs detection times: the catalogue has no dt_peak or dt_on; use --format csv")
    made = CreationInfo(agency_id="gpuclust", author=run_name, creation_time=UTCDateTime())
    events = []
    for i, row in enumerate(rows):
        c = catalogue[i]
        t = detection_time(c)
        if t is None:
            raise GpuclustError(f"row {int(row)}: no detection time in the catalogue; use --format csv")
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
        pick = Pick(resource_id=ResourceIdentifier(f"{base}/pick"), time=UTCDateTime(str(t)),
                    waveform_id=WaveformStreamID(network_code=c.get("network") or "",
                                                 station_code=c.get("station") or "",
                                                 location_code=c.get("location") or "",
                                                 channel_code=c.get("channel") or ""),
                    evaluation_mode="automatic", creation_info=made)
        ev = Event(resource_id=ResourceIdentifier(base), picks=[pick], creation_info=made,
                   comments=[Comment(text=json.dumps(label, sort_keys=True),
                                     resource_id=ResourceIdentifier(f"{LABEL_COMMENT}/{int(row)}"))],
                   event_descriptions=[EventDescription(text="unknown (fits no cluster)" if is_unknown
                                                        else f"gpuclust cluster {cluster}" + (f": {name}" if name else ""),
                                                        type="earthquake name")])
        etype = "other event" if is_unknown else (cluster_types[cluster] if cluster_types else None)
        if etype:
            ev.event_type = etype
            ev.event_type_certainty = "suspected"
        events.append(ev)
    with atomic_path(path) as tmp:
        Catalog(events=events, resource_id=ResourceIdentifier(f"smi:gpuclust/{run_name}/catalogue"),
                creation_info=made).write(tmp, format="QUAKEML")
    return len(events)


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
