"""The explore page and the maps behind it, measured.

Pages: file size and time to first render in headless Debian chromium (software rendering, --disable-gpu)
at 6,000, 100,000 and 427,798 events, for gpuclust's page (plain JavaScript on a canvas pixel buffer:
"canvas" with the points and their fields alone, "gpuclust" with 15 MB of thumbnails embedded as a run's
page has) and, for the choice of approach, Plotly's WebGL scatter (scattergl) and Bokeh's WebGL backend
holding the same points and hover fields. The points are
synthetic (eight Gaussian blobs); only their number matters here. Time to first render is the page's own
clock (performance.now(), from the start of navigation) when its first frame is drawn.

Maps: seconds to give every event a map position, and the mean fraction of each event's 10 nearest map
neighbours that share its cluster, for gpuclust's two maps: t-SNE (openTSNE on a 5,000-event sample, every
other event placed with its transform) and UMAP (umap-learn on up to 50,000 events, the rest placed with its
transform). The latents are a finished run's (--run) up to its size; above it they are drawn from the run's
fitted mixture, clusters being the mixture components. The load (`uptime`) is recorded beside every time.

    python benchmarks/bench_explore.py --run runs/default [--sizes 6000,100000,427798] [--map-sizes 6000,100000]
        [--libs canvas,plotly,bokeh] [--screenshot docs/explore-page.png] [--out benchmarks/results/explore.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
RENDER_TIMEOUT_S = 120


def load() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


# -- pages ---------------------------------------------------------------------------------------

def synthetic_events(n: int, k: int = 8, seed: int = 0):
    from gpuclust.explore.rundata import Events

    rng = np.random.default_rng(seed)
    c = rng.integers(0, k, n)
    xy = rng.normal(0, 30, (k, 2))[c] + rng.normal(0, 4, (n, 2))
    ev = Events(np.arange(n), c, rng.random(n) < 0.01, rng.random(n), rng.normal(0, 5, n), rng.integers(0, 20, n),
                [f"XH.S{j:02d}" for j in range(20)], 1.4e12 + np.sort(rng.random(n)) * 3e10)
    return ev, xy


def canvas_page(n: int, path: str, thumbnails: bool = False) -> None:
    """gpuclust's page: the points alone (for the choice of approach), or with 15 MB of thumbnails as written."""
    from gpuclust.atomic import write_text
    from gpuclust.explore.page import build_page
    from gpuclust.explore.rundata import Source
    from gpuclust.explore.thumbs import DEFAULT_BUDGET_MB, WAVE_BINS, choose_rows

    ev, xy = synthetic_events(n)
    th, tw = 43, 50  # the thumbnails of 87 x 100 spectrograms
    pick = choose_rows(ev, int(DEFAULT_BUDGET_MB * 2**20), th * tw + 2 * WAVE_BINS)
    rng = np.random.default_rng(1)
    emb = {"index": pick, "h": th, "w": tw, "thumbs": rng.integers(0, 256, (len(pick), th, tw), dtype=np.uint8),
           "waves": rng.integers(-127, 128, (len(pick), 2 * WAVE_BINS)).astype(np.int8),
           "means": rng.integers(0, 256, (8, th, tw), dtype=np.uint8), "file_rows": n, "traces": True}
    src = Source("bench", "run", "bench", {"path": None}, "log-aligned",
                 {"clusterer": {"k": 8}, "novelty": {"threshold": -10.0}, "classes": {}})
    write_text(path, build_page(src, ev, xy, "tsne", emb if thumbnails else None))


def plotly_page(n: int, path: str) -> None:
    import plotly.graph_objects as go

    ev, xy = synthetic_events(n)
    fields = np.stack([ev.rows, ev.probability, ev.log_likelihood], 1).astype(np.float32)
    fig = go.Figure(go.Scattergl(x=xy[:, 0].astype(np.float32), y=xy[:, 1].astype(np.float32), mode="markers",
                                 marker={"color": ev.cluster.astype(np.uint8), "colorscale": "Viridis", "size": 3},
                                 customdata=fields,
                                 hovertemplate="row %{customdata[0]}<br>p %{customdata[1]:.3f}"
                                               "<br>ll %{customdata[2]:.2f}"))
    fig.write_html(path, include_plotlyjs=True, full_html=True,
                   post_script="document.body.dataset.t = performance.now(); document.body.dataset.ready = '1';")


def bokeh_page(n: int, path: str) -> None:
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.palettes import Category10
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    ev, xy = synthetic_events(n)
    colours = np.array(Category10[8])[ev.cluster]
    src = ColumnDataSource({"x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32), "c": colours,
                            "row": ev.rows.astype(np.int32), "p": ev.probability.astype(np.float32),
                            "ll": ev.log_likelihood.astype(np.float32)})
    p = figure(output_backend="webgl", width=1100, height=800, tools="pan,wheel_zoom,lasso_select")
    p.scatter("x", "y", source=src, color="c", size=3)
    p.add_tools(HoverTool(tooltips=[("row", "@row"), ("p", "@p"), ("ll", "@ll")]))
    # Bokeh's DocumentReady event does not fire in a standalone file: the first frame after its views exist
    ready = ("<script>(function wait() { if (window.Bokeh && Bokeh.index && Object.keys(Bokeh.index).length) "
             "requestAnimationFrame(() => { document.body.dataset.t = performance.now(); "
             "document.body.dataset.ready = '1'; }); else setTimeout(wait, 10); })();</script></body>")
    with open(path, "w") as fh:
        fh.write(file_html(p, INLINE, "bench").replace("</body>", ready))


BUILDERS = {"canvas": canvas_page, "gpuclust": lambda n, path: canvas_page(n, path, thumbnails=True),
            "plotly": plotly_page, "bokeh": bokeh_page}


def first_render(browser, path: str) -> dict:
    """Seconds to the first frame (the page's clock), and to the same from outside, or None past the timeout."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    t = time.perf_counter()
    page.goto("file://" + os.path.abspath(path), wait_until="commit", timeout=RENDER_TIMEOUT_S * 1000)
    try:
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=RENDER_TIMEOUT_S * 1000)
        outside = time.perf_counter() - t
        inside = page.evaluate("window.explore ? window.explore.rendered : +document.body.dataset.t") / 1000
        out = {"render_s": round(inside, 2), "render_s_outside": round(outside, 2)}
    except Exception:
        out = {"render_s": None, "note": f"no first frame within {RENDER_TIMEOUT_S} s"}
    if errors:
        out["errors"] = errors[:3]
    page.close()
    return out


def bench_pages(sizes, libs, tmp) -> list:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        profile = os.path.join(tmp, "profile")
        browser = p.chromium.launch_persistent_context(profile, executable_path=shutil.which("chromium"), args=FLAGS,
                                                       headless=True, viewport={"width": 1400, "height": 900})
        for n in sizes:
            for lib in libs:
                path = os.path.join(tmp, f"{lib}-{n}.html")
                t = time.perf_counter()
                BUILDERS[lib](n, path)
                row = {"events": n, "page": lib, "write_s": round(time.perf_counter() - t, 2),
                       "mb": round(os.path.getsize(path) / 2**20, 1), "load_before": load()}
                row.update(first_render(browser, path))
                rows.append(row)
                print(json.dumps(row), flush=True)
                os.remove(path)
        browser.close()
    return rows


# -- maps ----------------------------------------------------------------------------------------

def latents_of(run: str, n: int, seed: int = 0):
    """(latents, clusters, where they come from) of n events: the run's own up to its size, else drawn
    from its fitted mixture."""
    import csv

    from gpuclust.latents import load_latents

    lat = load_latents(os.path.join(run, "latents.h5"))
    with open(os.path.join(run, "labels.csv")) as fh:
        cl = {int(r["row"]): int(r["cluster"]) for r in csv.DictReader(fh)}
    labels = np.array([cl[int(r)] for r in lat.rows])
    if n <= len(lat.z):
        idx = np.sort(np.random.default_rng(seed).choice(len(lat.z), n, replace=False))
        return np.asarray(lat.z[idx], np.float64), labels[idx], f"the run's own latents ({n} of {len(lat.z)})"
    meta = json.load(open(os.path.join(run, "model", "model.json")))
    scale = meta["latent"]["scale"]
    with np.load(os.path.join(run, "model", "clusterer.npz")) as z:
        w, mu, cov = z["weights"], z["means"], z["covariances"]
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(w), n, p=w / w.sum())
    x = np.empty((n, mu.shape[1]))
    for j in range(len(w)):
        m = comp == j
        x[m] = rng.multivariate_normal(mu[j], cov[j], m.sum())
    return x * scale, comp, "drawn from the run's fitted mixture (clusters: its components)"


def bench_maps(run: str, sizes, seed: int = 0) -> list:
    from gpuclust.backend import Backend
    from gpuclust.embedding.maps import fit_umap, neighbour_agreement, umap_every_event
    from gpuclust.embedding.tsne import DEFAULT_MAX_POINTS_CPU, place_on_map, reference_settings, subsample, tsne

    t = time.perf_counter()
    fit_umap(np.random.default_rng(0).normal(size=(200, 4)))  # numba compiles umap-learn once per machine
    warm = round(time.perf_counter() - t, 1)
    rows = []
    for n in sizes:
        z, labels, source = latents_of(run, n, seed)
        before = load()
        t = time.perf_counter()
        idx = subsample(n, DEFAULT_MAX_POINTS_CPU, seed)
        xy = np.empty((n, 2))
        xy[idx] = tsne(z[idx], Backend(), seed)
        t_fit = time.perf_counter() - t
        rest = np.setdiff1d(np.arange(n), idx)
        if rest.size:
            xy[rest] = place_on_map(z[idx], xy[idx], z[rest], reference_settings(len(idx))["perplexity"], seed)
        t_all = time.perf_counter() - t
        row = {"events": n, "map": "tsne", "latents": source, "fitted_on": int(len(idx)), "fit_s": round(t_fit, 1),
               "seconds": round(t_all, 1), "neighbour_agreement_10": round(neighbour_agreement(xy, labels), 3),
               "load_before": before, "load_after": load()}
        rows.append(row)
        print(json.dumps(row), flush=True)
        before = load()
        t = time.perf_counter()
        xy, idx, _, _ = umap_every_event(z, "cpu", seed)
        row = {"events": n, "map": "umap", "latents": source, "fitted_on": int(len(idx)),
               "seconds": round(time.perf_counter() - t, 1), "compile_s_once": warm,
               "neighbour_agreement_10": round(neighbour_agreement(xy, labels), 3),
               "load_before": before, "load_after": load()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def screenshot(page_path: str, png: str) -> None:
    """The page of a run, a lasso selection made and an event hovered, as a picture for the README."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        b = p.chromium.launch_persistent_context(profile, executable_path=shutil.which("chromium"), args=FLAGS,
                                                 headless=True, viewport={"width": 1400, "height": 860})
        page = b.new_page()
        page.goto("file://" + os.path.abspath(page_path))
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
        n = page.evaluate("window.explore.n")
        xy = np.array(page.evaluate(f"Array.from({{length: {n}}}, (_, i) => window.explore.screenOf(i))"))
        cx, cy = xy[n // 3]  # a lasso around an event, so the counts show a selection, then that event hovered
        page.keyboard.down("Shift")
        page.mouse.move(cx - 90, cy - 70)
        page.mouse.down()
        for x, y in ((cx + 90, cy - 70), (cx + 110, cy + 60), (cx - 80, cy + 80), (cx - 90, cy - 70)):
            page.mouse.move(x, y, steps=8)
        page.mouse.up()
        page.keyboard.up("Shift")
        page.mouse.move(cx, cy)
        page.screenshot(path=png)
        b.close()


def main(argv=None) -> int:
    from gpuclust.atomic import write_json

    from gpuclust.environment import describe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a finished run directory: its latents and mixture for the maps")
    ap.add_argument("--sizes", default="6000,100000,427798")
    ap.add_argument("--map-sizes", default="6000,100000")
    ap.add_argument("--libs", default="canvas,plotly,bokeh,gpuclust",
                    help="canvas: gpuclust's page, points only; gpuclust: the same with 15 MB of thumbnails")
    ap.add_argument("--screenshot", help="PNG of the run's explore.html, an event hovered")
    ap.add_argument("--merge", action="store_true",
                    help="keep the sections of --out not measured this time (pages or maps), each with its own load")
    ap.add_argument("--out", default="benchmarks/results/explore.json")
    a = ap.parse_args(argv)
    doc = {"machine": describe("cpu"), "load_at_start": load(), "command": " ".join(["bench_explore.py", *(argv or
           __import__("sys").argv[1:])]),
           "browser": "Debian chromium, headless, --disable-gpu (software rendering)"}
    with tempfile.TemporaryDirectory() as tmp:
        if a.sizes:
            doc["pages"] = bench_pages([int(s) for s in a.sizes.split(",")], a.libs.split(","), tmp)
    if a.run and a.map_sizes:
        doc["maps"] = bench_maps(a.run, [int(s) for s in a.map_sizes.split(",")])
    if a.run and a.screenshot:
        screenshot(os.path.join(a.run, "explore.html"), a.screenshot)
    doc["load_at_end"] = load()
    if a.merge and os.path.exists(a.out):
        with open(a.out) as fh:
            old = json.load(fh)
        for key in ("pages", "maps"):
            if key not in doc and key in old:
                doc[key] = old[key]
                doc[f"{key}_measured"] = old.get(f"{key}_measured", {"date": old["machine"]["date"],
                                                                      "load_at_start": old.get("load_at_start")})
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    write_json(a.out, doc)  # whole or not at all, NaN as null
    print(f"wrote {a.out}: " + ", ".join(k for k in ("pages", "maps") if k in doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
