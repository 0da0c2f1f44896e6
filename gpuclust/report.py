"""One self-contained HTML page per run (figures embedded), plus the metrics.json machines read."""
from __future__ import annotations

import base64
import glob
import html
import json
import os

from .atomic import write_text
from .errors import GpuclustError

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f6fa}td:first-child,th:first-child{text-align:left}
.headline{display:flex;gap:1em;flex-wrap:wrap}.card{background:#f2f6fa;border-radius:8px;padding:.6em 1em}
.card b{display:block;font-size:1.5em}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.muted{color:#666;font-size:.9em}code{background:#f4f4f4;padding:0 .2em}
table.kv td{text-align:left}
"""

FIGURES = [("loss.png", "Training and validation loss"), ("k_selection.png", "Choosing K"),
           ("tsne.png", "t-SNE map and cluster sizes"), ("confusion.png", "Clusters against ground truth"),
           ("temporal.png", "Events per cluster over time")]


def _img(path: str, alt: str) -> str:
    with open(path, "rb") as fh:
        data = base64.b64encode(fh.read()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _load(run_dir, name, default=None):
    p = os.path.join(run_dir, name)
    if not os.path.exists(p):
        return default
    with open(p) as fh:
        return json.load(fh)


def _table(rows: list[list], head: list[str], cls: str = "") -> str:
    out = [f"<table class='{cls}'><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>")
    return "".join(out) + "</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def build_report(run_dir: str) -> str:
    """Write run_dir/report.html and return its path."""
    metrics = _load(run_dir, "metrics.json")
    if metrics is None:
        raise GpuclustError(f"{run_dir}: no metrics.json; is this a finished gpuclust run directory?")
    config = _load(run_dir, "config.json", {})
    env = _load(run_dir, "environment.json", {})
    stages = _load(run_dir, "stages.json", {})
    data = stages.get("data", {}).get("info", {})
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gpuclust report</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>gpuclust run report</h1>",
             f"<p class='muted'>{html.escape(os.path.abspath(run_dir))} · device {html.escape(str(metrics.get('device')))}"
             f" · gpuclust {html.escape(str(env.get('versions', {}).get('gpuclust', '')))}</p>"]
    cards = [("clusters", metrics["k"]), ("events", metrics["n"]), ("silhouette", metrics.get("silhouette"))]
    for key, label in (("ari", "ARI"), ("nmi", "NMI"), ("accuracy", "accuracy")):
        if key in metrics:
            cards.append((label + " vs truth", metrics[key]))
    parts.append("<div class='headline'>" + "".join(f"<div class='card'>{html.escape(n)}<b>{_fmt(v)}</b></div>"
                                                  for n, v in cards) + "</div>")
    parts.append("<h2>Data</h2>" + _table([[k, v] for k, v in data.items()], ["", "value"], "kv"))
    k = metrics["k"]
    per = [[j, metrics["cluster_sizes"][j], metrics["silhouette_per_cluster"][j],
            metrics["mean_distance_to_centre"][j]] for j in range(k)]
    head = ["cluster", "events", "silhouette", "mean distance to centre"]
    stab = metrics.get("cluster_stability")
    if stab:
        per = [r + [stab["per_cluster"][r[0]], stab["verdict"][r[0]]] for r in per]
        per.sort(key=lambda r: -r[4])
        head += ["stability", "verdict"]
    parts.append("<h2>Clusters</h2>" + _table(per, head))
    if stab:
        parts.append(f"<p class='muted'>Stability: {html.escape(stab['method'])}; most stable first. Above "
                     f"{stab['thresholds']['stable']} stable, {stab['thresholds']['unstable']} or below unstable "
                     "(the cluster splits or merges differently from refit to refit).</p>")
    overall = [[m, metrics[m]] for m in ("method", "silhouette", "calinski_harabasz", "davies_bouldin", "bic",
                                         "aic", "inertia", "ari", "nmi", "accuracy", "fitted_on") if m in metrics]
    parts.append(_table(overall, ["metric", "value"], "kv"))
    sel = _load(run_dir, "k_selection.json")
    if sel and sel.get("auto"):
        auto = sel["auto"]
        parts.append(f"<h2>Choosing K</h2><p>K = {auto['k']} by {html.escape(auto['criterion'])} "
                     f"({html.escape(auto['why'])}); runner-up {_fmt(auto.get('runner_up'))}. "
                     "The curves are in the figure <i>Choosing K</i> below.</p>"
                     + _table([[c, v["k"], v.get("runner_up"), v["why"]] for c, v in sel.get("chosen", {}).items()],
                              ["criterion", "K", "runner-up", "rule"]))
    nov = metrics.get("novelty")
    if nov:
        parts.append(
            "<h2>Monitoring</h2><p>This run is a model (<code>model/</code>): label new detections with "
            f"<code>gpuclust predict {html.escape(os.path.abspath(run_dir))} NEW.h5</code> (a spectrogram file, or "
            "waveform files cut with this run's parameters). An event scoring below the "
            f"{_fmt(nov['percentile'])} % percentile of {html.escape(nov.get('learned_on', 'the training rows of the run'))}"
            f" (score: {html.escape(nov.get('score', 'log-likelihood'))}; threshold {_fmt(nov['threshold'])})"
            f" is flagged unknown: {nov['unknown']} of this run's own {metrics['n']} events are "
            f"({100 * nov['unknown_fraction']:.1f} %).</p>")
    parts.append("<h2>Figures</h2>")
    for name, title in FIGURES:
        p = os.path.join(run_dir, name)
        if os.path.exists(p):
            parts.append(f"<h3>{html.escape(title)}</h3>{_img(p, title)}")
    gal = sorted(glob.glob(os.path.join(run_dir, "gallery", "cluster*.png")))
    if gal:
        parts.append("<h2>Cluster gallery</h2><p class='muted'>Mean spectrogram, the decoder's image of the "
                     "centre, and members from nearest to farthest; waveforms below.</p>")
        parts += [_img(p, os.path.basename(p)) for p in gal]
    empty = [j for j, size in enumerate(metrics.get("cluster_sizes") or []) if size == 0]
    if empty:
        parts.append("<p class='muted'>No event is assigned to " + ", ".join(f"cluster {j:02d}" for j in empty)
                     + ": the fitted component keeps a weight, but for no event is it the most probable one "
                     "(K may be larger than the data supports).</p>")
    parts.append("<h2>Time per stage</h2>" + _table([[s, v.get("seconds")] for s, v in stages.items()],
                                                   ["stage", "seconds"]))
    parts.append("<h2>Configuration</h2>" + _table([[k_, v] for k_, v in config.items()], ["option", "value"], "kv"))
    parts.append("<h2>Environment</h2>" + _table([[k_, v] for k_, v in env.items()], ["", ""], "kv"))
    parts.append("</body></html>")
    path = os.path.join(run_dir, "report.html")
    write_text(path, "\n".join(parts))
    return path


def build_comparison(run_dirs: list[str], out_path: str) -> str:
    """One page comparing finished runs (encoder, clusterer, scores, t-SNE maps side by side)."""
    if not run_dirs:
        raise GpuclustError("give at least one run directory to compare")
    rows, maps = [], []
    for d in run_dirs:
        metrics = _load(d, "metrics.json")
        if metrics is None:
            raise GpuclustError(f"{d}: no metrics.json; is this a finished gpuclust run directory?")
        cfg = _load(d, "config.json", {})
        stages = _load(d, "stages.json", {})
        name = os.path.basename(os.path.normpath(d))
        encoder = (cfg.get("model") or "?").upper() + ("+DEC" if cfg.get("dec") else "")
        if cfg.get("model") == "unet":
            encoder += f" (skips {cfg.get('unet_skips')})"
        rows.append([name, encoder, metrics["method"], metrics["k"], cfg.get("epochs"), metrics.get("silhouette"),
                     metrics.get("ari"), metrics.get("nmi"), metrics.get("accuracy"),
                     sum(v.get("seconds", 0) for v in stages.values())])
        p = os.path.join(d, "tsne.png")
        if os.path.exists(p):
            maps.append(f"<h3>{html.escape(name)}: {html.escape(encoder)}, {html.escape(metrics['method'])} "
                        f"K={metrics['k']}</h3>{_img(p, name)}")
    head = ["run", "encoder", "clusterer", "K", "epochs", "silhouette", "ARI", "NMI", "accuracy", "seconds"]
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gpuclust comparison</title>"
            f"<style>{CSS}</style></head><body><h1>gpuclust: runs compared</h1>"
            + _table(rows, head) + "<h2>t-SNE maps</h2>" + "".join(maps) + "</body></html>")
    write_text(out_path, page)
    return out_path
