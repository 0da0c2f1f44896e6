"""explore.html: one self-contained page (no network, no server needed) holding every event of a run.

The events travel as little-endian typed arrays in base64 (`<script type="application/octet-stream">`),
not as JSON of numbers: 427,798 events take about 30 bytes each before base64. The page itself is
plain JavaScript drawing on a 2-D canvas pixel buffer (page.js): measured against the alternatives in
benchmarks/bench_explore.py, it is the smallest file and the fastest to first render.
"""
from __future__ import annotations

import base64
import html
import json
import os

import numpy as np

from .rundata import Events, Source
from .thumbs import WAVE_BINS

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_VERSION = 1


def cluster_colours(k: int) -> list[str]:
    """tab10 / tab20 for up to 20 clusters, evenly spaced hues beyond."""
    import colorsys

    from matplotlib import colormaps

    if k <= 10:
        rgb = [colormaps["tab10"](j)[:3] for j in range(k)]
    elif k <= 20:
        rgb = [colormaps["tab20"](j)[:3] for j in range(k)]
    else:
        rgb = [colorsys.hsv_to_rgb((j * 0.618034) % 1.0, 0.75, 0.85) for j in range(k)]
    return ["#%02x%02x%02x" % tuple(int(round(255 * c)) for c in col) for col in rgb]


def colour_table(name: str = "magma") -> str:
    """256 RGB entries of a matplotlib colormap as hex, for drawing thumbnails."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    return "".join("%02x%02x%02x" % tuple(int(round(255 * c)) for c in cmap(i / 255)[:3]) for i in range(256))


def _blob(name: str, arr: np.ndarray) -> str:
    data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return (f'<script type="application/octet-stream" id="b-{name}">'
            f"{base64.b64encode(data).decode('ascii')}</script>\n")


def event_blobs(events: Events, xy: np.ndarray) -> dict[str, np.ndarray]:
    prob = np.nan_to_num(events.probability, nan=0.0)
    return {
        "x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32),
        "cl": events.cluster.astype(np.uint16), "unk": events.unknown.astype(np.uint8),
        "pr": np.round(np.clip(prob, 0, 1) * 65535).astype(np.uint16),
        "ll": events.log_likelihood.astype(np.float32), "st": events.station.astype(np.uint16),
        "t": events.time_ms.astype(np.float64), "row": events.rows.astype(np.int32),
    }


def score_label(meta: dict) -> str:
    """What the novelty threshold is set on, in a few words."""
    if str((meta.get("novelty") or {}).get("score", "")).startswith("combined"):
        return "combined score"
    return "log-likelihood" if meta["clusterer"].get("method", "gmm") == "gmm" else "score"


def build_page(src: Source, events: Events, xy: np.ndarray, method: str, emb: dict | None,
               note: str = "") -> str:
    """The page's HTML. `emb`: thumbs.embedded(...) or None when the data file could not be read."""
    blobs = event_blobs(events, xy)
    meta = {
        "version": PAGE_VERSION, "n": len(events), "k": src.k, "kind": src.kind,
        "run": os.path.basename(os.path.normpath(src.model_path)), "dir": os.path.abspath(src.path),
        "data": src.data.get("path"), "method": method, "threshold": src.threshold,
        "names": src.cluster_names(), "hints": src.majority_classes(), "colours": cluster_colours(src.k),
        "stations": events.station_names, "lut": colour_table(),
        "has_prob": bool(np.isfinite(events.probability).any()),
        "has_ll": bool(np.isfinite(events.log_likelihood).any()),
        "has_time": bool(np.isfinite(events.time_ms).any()), "note": note,
        "score_label": score_label(src.meta),
        "thumbs": 0, "th": 0, "tw": 0, "waves": False, "wave_len": 2 * WAVE_BINS, "file_rows": None,
        "traces": False,
    }
    if meta["threshold"] is not None and not np.isfinite(meta["threshold"]):
        meta["threshold"] = None
    if emb is not None:
        meta.update(thumbs=int(len(emb["index"])), th=emb["h"], tw=emb["w"], waves=emb["waves"] is not None,
                    file_rows=emb["file_rows"], traces=emb["traces"])
        blobs.update(ti=emb["index"].astype(np.int32), tp=emb["thumbs"].reshape(-1), tm=emb["means"].reshape(-1))
        if emb["waves"] is not None:
            blobs["tw"] = emb["waves"].reshape(-1)
    with open(os.path.join(HERE, "page.html")) as fh:
        template = fh.read()
    with open(os.path.join(HERE, "page.js")) as fh:
        script = fh.read()
    meta_json = json.dumps(meta, allow_nan=False, default=lambda o: None).replace("</", "<\\/")
    return (template.replace("__TITLE__", html.escape(f"explore {meta['run']}"))
            .replace("/*__META__*/", meta_json)
            .replace("<!--__BLOBS__-->", "".join(_blob(k, v) for k, v in blobs.items()))
            .replace("/*__SCRIPT__*/", script))
